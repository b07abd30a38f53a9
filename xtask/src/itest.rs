//! `cargo xtask itest`: the whole test suite, server-backed tests included.

use anyhow::Result;
use xshell::{cmd, Shell};

use crate::nats;

/// The cargo features that turn on server-backed tests, one per package that has them.
pub(crate) const ITEST_FEATURES: &[&str] = &[
    "aether-testkit/itest",
    "aether-tests/itest",
    "aether-store-jetstream/itest",
];

pub(crate) fn run(sh: &Shell, extra: &[String]) -> Result<()> {
    let server = nats::ensure_server(sh)?;
    let _env = sh.push_env("NATS_SERVER_BIN", &server);
    eprintln!("xtask: using {}", server.display());
    let features = ITEST_FEATURES.join(",");
    let feature_args: Vec<String> = if features.is_empty() {
        vec![]
    } else {
        vec!["--features".into(), features]
    };
    let fa = &feature_args;
    // Doc tests first (nextest does not run them), so the run ends on the summary of the
    // whole suite.
    cmd!(sh, "cargo test --workspace --doc {fa...}").run()?;
    if has_nextest(sh) {
        cmd!(
            sh,
            "cargo nextest run --workspace --all-targets --no-fail-fast {fa...} {extra...}"
        )
        .run()?;
    } else {
        cmd!(
            sh,
            "cargo test --workspace --all-targets --no-fail-fast {fa...} {extra...}"
        )
        .run()?;
    }
    Ok(())
}

fn has_nextest(sh: &Shell) -> bool {
    cmd!(sh, "cargo nextest --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok()
}
