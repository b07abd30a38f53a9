//! `cargo xtask ci`: everything CI checks, each once, in the order that fails fastest:
//! format, clippy `-D warnings`, the docs build, then `itest --long` (the whole suite on the
//! pinned nats-server with the long fault tests, and the store and runtime tests on the
//! oldest supported nats-server).

use anyhow::{bail, Result};
use xshell::{cmd, Shell};

pub(crate) fn run(sh: &Shell, extra: &[String]) -> Result<()> {
    if let Some(arg) = extra.first() {
        bail!("`cargo xtask ci` takes no arguments, got {arg:?} (`cargo xtask itest [--long] [ARGS]` runs a part of the suite)");
    }
    cmd!(sh, "cargo fmt --all -- --check").run()?;
    cmd!(
        sh,
        "cargo clippy --workspace --all-targets --all-features -- -D warnings"
    )
    .run()?;
    {
        let _env = sh.push_env("RUSTDOCFLAGS", "-D warnings");
        cmd!(sh, "cargo doc --workspace --no-deps --all-features").run()?;
    }
    crate::itest::run(sh, &["--long".to_owned()])?;
    eprintln!("xtask: ci passed");
    Ok(())
}
