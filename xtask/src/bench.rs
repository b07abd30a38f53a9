//! `cargo xtask bench <name>`: runs a benchmark binary of the `aether-benches` package in
//! release mode. Benchmarks print ratios against a baseline measured in the same run.

use anyhow::{bail, Result};
use xshell::{cmd, Shell};

use crate::nats;

/// A benchmark: its name (the binary is `bench-<name>`) and what it needs before it runs.
struct Bench {
    name: &'static str,
    /// A nats-server (`NATS_SERVER_BIN`, installed if the machine has none).
    needs_server: bool,
    /// The release `aether` binary (`target/release/aether`), built first.
    needs_cli: bool,
}

const BENCHES: &[Bench] = &[
    Bench::new("mem", false, false),
    Bench::new("actor", false, false),
    Bench::new("store", true, false),
    Bench::new("faults", true, false),
    Bench::new("cli", true, true),
];

impl Bench {
    const fn new(name: &'static str, needs_server: bool, needs_cli: bool) -> Self {
        Bench {
            name,
            needs_server,
            needs_cli,
        }
    }
}

pub(crate) fn run(sh: &Shell, args: &[String]) -> Result<()> {
    let Some((name, rest)) = args.split_first() else {
        bail!("usage: cargo xtask bench <{}> [ARGS]", names());
    };
    let Some(bench) = BENCHES.iter().find(|b| b.name == name) else {
        bail!("unknown benchmark {name:?}; one of: {}", names());
    };
    let _env = if bench.needs_server {
        Some(sh.push_env("NATS_SERVER_BIN", nats::ensure_server(sh)?))
    } else {
        None
    };
    if bench.needs_cli {
        cmd!(
            sh,
            "cargo build --release --package aether-cli --bin aether"
        )
        .run()?;
    }
    let bin = format!("bench-{name}");
    cmd!(
        sh,
        "cargo run --release --package aether-benches --bin {bin} -- {rest...}"
    )
    .run()?;
    Ok(())
}

fn names() -> String {
    BENCHES
        .iter()
        .map(|b| b.name)
        .collect::<Vec<_>>()
        .join(" | ")
}
