//! `cargo xtask itest [--long] [ARGS]`: the whole test suite, server-backed tests included,
//! on the pinned nats-server (doc tests first); then the tests that lean hardest on the
//! server (the store conformance suite on one server, the actor runtime on a server) again
//! on the oldest supported nats-server, [`nats::MIN_NATS_SERVER`]. With ARGS (a filter for
//! `cargo nextest run`), only the picked tests run, on the pinned server.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};
use xshell::{cmd, Shell};

use crate::nats::{self, ServerVersion};

/// The cargo features that turn on server-backed tests, one per package that has them.
pub(crate) const ITEST_FEATURES: &[&str] = &[
    "aether/itest",
    "aether-cli/itest",
    "aether-testkit/itest",
    "aether-tests/itest",
    "aether-store-jetstream/itest",
];

/// The environment variable the fault tests read: `1` raises their repetition counts
/// (more kills, rounds and writers); `--long` sets it, and `itest` honours it when it is
/// already set (`.ci/run` does so). Unset or `0`: the normal counts.
pub(crate) const LONG_ENV: &str = "AETHER_LONG";

/// The tests that also run on the oldest supported server (a nextest filterset): the store
/// conformance suite on one server, and the runtime-on-a-server tests, whose files are
/// `tests/tests/the_runtime_*.rs`.
const MIN_VERSION_TESTS: &str =
    "(package(=aether-store-jetstream) & binary(=conformance_single_server)) \
     | (package(=aether-tests) & binary(/^the_runtime_/))";

/// What `itest` was asked for.
struct Options {
    /// Longer fault tests (`--long`).
    long: bool,
    /// Passed on to `cargo nextest run` (or `cargo test`): a filter runs a part of the suite.
    rest: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> Options {
        Options {
            long: args.iter().any(|a| a == "--long")
                || std::env::var(LONG_ENV).is_ok_and(|v| v == "1"),
            rest: args.iter().filter(|a| *a != "--long").cloned().collect(),
        }
    }
}

/// Which tests a pass runs.
enum Selection<'a> {
    /// Every test (narrowed by the caller's arguments, if any).
    All(&'a [String]),
    /// The tests of [`MIN_VERSION_TESTS`].
    MinVersion,
}

pub(crate) fn run(sh: &Shell, args: &[String]) -> Result<()> {
    let options = Options::parse(args);
    let server = nats::ensure_server(sh)?;
    let version = nats::supported_version(sh, &server)?;
    let _long = options.long.then(|| sh.push_env(LONG_ENV, "1"));
    if options.long {
        eprintln!("xtask: long mode ({LONG_ENV}=1): fault tests run longer");
    }
    // Every part runs even when an earlier one failed, so that a run shows every failure.
    let mut failed = Vec::new();
    if options.rest.is_empty() {
        // Doc tests first (nextest does not run them); they need no server.
        let f = features_args();
        if let Err(e) = cmd!(sh, "cargo test --workspace --doc {f...}").run() {
            failed.push(format!("doc tests: {e}"));
        }
    }
    if let Err(e) = pass(sh, &server, version, Selection::All(&options.rest)) {
        failed.push(format!("tests on nats-server {version}: {e:#}"));
    }
    if let Err(e) = oldest_server_pass(sh, version, &options) {
        failed.push(format!(
            "tests on nats-server {}: {e:#}",
            nats::MIN_NATS_SERVER
        ));
    }
    if !failed.is_empty() {
        bail!("itest failed:\n  {}", failed.join("\n  "));
    }
    Ok(())
}

/// The pass on [`nats::MIN_NATS_SERVER`], unless the suite just ran on it or the caller's
/// arguments picked the tests.
fn oldest_server_pass(sh: &Shell, version: ServerVersion, options: &Options) -> Result<()> {
    if !options.rest.is_empty() {
        eprintln!(
            "xtask: tests were picked by arguments: no pass on nats-server {}",
            nats::MIN_NATS_SERVER
        );
        return Ok(());
    }
    if version == nats::MIN_NATS_SERVER {
        eprintln!("xtask: the suite ran on nats-server {version}, the oldest supported");
        return Ok(());
    }
    let bin = nats::ensure_version(sh, nats::MIN_NATS_SERVER)?;
    pass(sh, &bin, nats::MIN_NATS_SERVER, Selection::MinVersion)
}

/// Runs `selection` with `server` as the tests' nats-server, and says how long it took.
fn pass(sh: &Shell, server: &Path, version: ServerVersion, selection: Selection<'_>) -> Result<()> {
    let _env = sh.push_env("NATS_SERVER_BIN", server);
    eprintln!(
        "xtask: tests on nats-server {version} ({})",
        server.display()
    );
    let started = Instant::now();
    let outcome = match (has_nextest(sh), selection) {
        (true, Selection::All(rest)) => nextest(sh, &[], rest),
        (true, Selection::MinVersion) => nextest(sh, &["-E", MIN_VERSION_TESTS], &[]),
        (false, Selection::All(rest)) => cargo_test(sh, &["--all-targets"], rest),
        (false, Selection::MinVersion) => min_version_tests_without_nextest(sh),
    };
    eprintln!(
        "xtask: tests on nats-server {version} took {:.0?}",
        started.elapsed()
    );
    outcome
}

fn nextest(sh: &Shell, select: &[&str], rest: &[String]) -> Result<()> {
    let f = features_args();
    cmd!(
        sh,
        "cargo nextest run --workspace --all-targets --no-fail-fast {f...} {select...} {rest...}"
    )
    .run()?;
    Ok(())
}

fn cargo_test(sh: &Shell, select: &[&str], rest: &[String]) -> Result<()> {
    let f = features_args();
    cmd!(
        sh,
        "cargo test --workspace --no-fail-fast {f...} {select...} {rest...}"
    )
    .run()?;
    Ok(())
}

/// [`MIN_VERSION_TESTS`] for plain `cargo test`: the same binaries named one by one.
fn min_version_tests_without_nextest(sh: &Shell) -> Result<()> {
    let mut select = vec!["--test".to_owned(), "conformance_single_server".to_owned()];
    for entry in std::fs::read_dir(sh.current_dir().join("tests").join("tests"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".rs") {
            if stem.starts_with("the_runtime_") {
                select.extend(["--test".to_owned(), stem.to_owned()]);
            }
        }
    }
    let select: Vec<&str> = select.iter().map(String::as_str).collect();
    cargo_test(sh, &select, &[])
}

/// `--features <every itest feature>`.
fn features_args() -> Vec<String> {
    vec!["--features".into(), ITEST_FEATURES.join(",")]
}

fn has_nextest(sh: &Shell) -> bool {
    cmd!(sh, "cargo nextest --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok()
}
