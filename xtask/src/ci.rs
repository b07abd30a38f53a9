//! `cargo xtask ci`: everything CI checks, in the order that fails fastest.

use anyhow::Result;
use xshell::{cmd, Shell};

pub(crate) fn run(sh: &Shell, _extra: &[String]) -> Result<()> {
    cmd!(sh, "cargo fmt --all -- --check").run()?;
    cmd!(
        sh,
        "cargo clippy --workspace --all-targets --all-features -- -D warnings"
    )
    .run()?;
    crate::itest::run(sh, &[])?;
    {
        let _env = sh.push_env("RUSTDOCFLAGS", "-D warnings");
        cmd!(sh, "cargo doc --workspace --no-deps --all-features").run()?;
    }
    eprintln!("xtask: ci passed");
    Ok(())
}
