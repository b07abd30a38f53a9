//! `cargo xtask bench <name>`: runs a benchmark binary of the `aether-benches` package in
//! release mode. Benchmarks print ratios against a baseline measured in the same run.

use anyhow::{bail, Result};
use xshell::{cmd, Shell};

use crate::nats;

const BENCHES: &[(&str, bool)] = &[
    ("mem", false),
    ("actor", false),
    ("store", true),
    ("faults", true),
];

pub(crate) fn run(sh: &Shell, args: &[String]) -> Result<()> {
    let Some((name, rest)) = args.split_first() else {
        bail!("usage: cargo xtask bench <{}> [ARGS]", names());
    };
    let Some(&(_, needs_server)) = BENCHES.iter().find(|(n, _)| n == name) else {
        bail!("unknown benchmark {name:?}; one of: {}", names());
    };
    let _env = if needs_server {
        Some(sh.push_env("NATS_SERVER_BIN", nats::ensure_server(sh)?))
    } else {
        None
    };
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
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(" | ")
}
