//! Shared by the CLI's tests: running the built `aether` binary, and (for the server-backed
//! tests) opening stores and a plain JetStream client to fill namespaces or break them.
#![allow(dead_code, reason = "each test binary uses a part of these helpers")]

use std::process::{Command, Stdio};
use std::time::Duration;

/// What one run of `aether` did.
#[derive(Debug)]
pub(crate) struct Run {
    /// The exit code.
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// The lines of stdout.
    pub(crate) fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Stdout parsed as JSON lines.
    pub(crate) fn json(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect()
    }

    /// Asserts a run that succeeded, returning it.
    #[track_caller]
    pub(crate) fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:#?}");
        self
    }
}

/// A command running the built `aether` binary with `args`, colours off unless asked.
pub(crate) fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aether"));
    c.args(args)
        .env_remove("AETHER_NATS_URL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

/// Runs `aether` with `args` to its end.
pub(crate) fn run(args: &[&str]) -> Run {
    let out = command(args).output().expect("running the aether binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs `aether --server <url> <args>` on a blocking thread (the store's tasks keep the
/// runtime's threads).
pub(crate) async fn aether(url: &str, args: &[&str]) -> Run {
    let mut all = vec!["--server".to_owned(), url.to_owned()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        run(&args)
    })
    .await
    .expect("the run's thread")
}

/// How long a server-backed helper waits for a just-started server to settle.
pub(crate) const SETTLE: Duration = Duration::from_secs(30);
