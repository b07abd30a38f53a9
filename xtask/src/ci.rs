//! `cargo xtask lint`: the checks that are not tests, in the order that fails fastest:
//! `tidy`, format, clippy `-D warnings`, the docs build. `cargo xtask ci`: `lint`, then
//! `itest --long` (the whole suite on the pinned nats-server with the long fault tests, and
//! the store and runtime tests on the oldest supported nats-server), each once.

use anyhow::{bail, Result};
use xshell::{cmd, Shell};

pub(crate) fn lint(sh: &Shell, extra: &[String]) -> Result<()> {
    no_arguments("lint", extra)?;
    crate::tidy::run(sh, &[])?;
    cmd!(sh, "cargo fmt --all -- --check").run()?;
    cmd!(
        sh,
        "cargo clippy --workspace --all-targets --all-features -- -D warnings"
    )
    .run()?;
    let _env = sh.push_env("RUSTDOCFLAGS", "-D warnings");
    cmd!(sh, "cargo doc --workspace --no-deps --all-features").run()?;
    eprintln!("xtask: lint passed");
    Ok(())
}

pub(crate) fn run(sh: &Shell, extra: &[String]) -> Result<()> {
    no_arguments("ci", extra)?;
    lint(sh, &[])?;
    crate::itest::run(sh, &["--long".to_owned()])?;
    eprintln!("xtask: ci passed");
    Ok(())
}

pub(crate) fn no_arguments(task: &str, extra: &[String]) -> Result<()> {
    if let Some(arg) = extra.first() {
        bail!(
            "`cargo xtask {task}` takes no arguments, got {arg:?} (`cargo xtask itest [--long] \
             [ARGS]` runs a part of the suite)"
        );
    }
    Ok(())
}
