//! Aether's task runner: `cargo xtask <task>`.
//!
//! * `itest [--long]` — the whole test suite, with a nats-server provided for the
//!   server-backed tests, then the store and runtime tests on the oldest supported
//!   nats-server; `--long` raises the fault tests' repetition counts;
//! * `tidy` — the codebase's rules that are checked, not remembered: function length,
//!   one minimum nats-server version, module docs, no `#[ignore]`, no `#[allow]`, commit
//!   subjects;
//! * `lint` — `tidy`, format check, clippy with `-D warnings`, docs build;
//! * `ci` — `lint`, then `itest --long`;
//! * `bench <name>` — a benchmark binary in release mode;
//! * `nats-server` — prints the path of the nats-server the tests use (installing it if needed).

mod bench;
mod ci;
mod itest;
mod nats;
mod tidy;

use anyhow::{bail, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((t, r)) => (t.as_str(), r),
        None => ("help", &[][..]),
    };
    let sh = xshell::Shell::new()?;
    sh.change_dir(project_root());
    match task {
        "itest" => itest::run(&sh, rest),
        "ci" => ci::run(&sh, rest),
        "lint" => ci::lint(&sh, rest),
        "tidy" => tidy::run(&sh, rest),
        "bench" => bench::run(&sh, rest),
        "nats-server" => {
            println!("{}", nats::ensure_server(&sh)?.display());
            Ok(())
        }
        "help" | "-h" | "--help" => {
            println!("{HELP}");
            Ok(())
        }
        other => bail!("unknown task {other:?}\n\n{HELP}"),
    }
}

const HELP: &str = "\
usage: cargo xtask <task>

tasks:
  itest [--long] [ARGS]
                      run every test, server-backed ones included (provides a nats-server),
                      then the store and runtime tests on the oldest supported nats-server;
                      --long: longer fault tests (AETHER_LONG=1); ARGS go to cargo nextest
                      (a filter runs a part of the suite, on the pinned server only)
  tidy                check the rules the code keeps (function length, one minimum
                      nats-server version, module docs, no #[ignore], no #[allow],
                      commit subjects), naming file:line
  lint                tidy, fmt check, clippy -D warnings, docs build
  ci                  lint, then itest --long
  bench <NAME> [ARGS] run a benchmark in release mode (cargo xtask bench lists them)
  nats-server         print the path of the nats-server used by tests (installs it if needed)";

fn project_root() -> std::path::PathBuf {
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::current_dir().expect("current dir"));
    dir.ancestors()
        .find(|p| p.join("xtask").is_dir() && p.join("Cargo.toml").is_file())
        .map(std::path::Path::to_path_buf)
        .unwrap_or(dir)
}
