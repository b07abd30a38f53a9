//! Shared helpers of Aether's benchmark binaries: alternating rounds and median ratios.
//!
//! Every benchmark measures a *candidate* (Aether) against a *baseline* (the simplest
//! thing that does the same work) in one run, alternating baseline and candidate rounds so
//! that drift in the machine's speed hits both alike, and reports the median of the
//! per-round ratios (candidate throughput / baseline throughput).
//!
//! ```
//! use aether_benches::{median, Rounds};
//! let mut rounds = Rounds::new("events/s");
//! rounds.record(1_000.0, 800.0);
//! rounds.record(1_000.0, 900.0);
//! rounds.record(1_000.0, 700.0);
//! assert_eq!(rounds.median_ratio(), 0.8);
//! assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
//! ```

use std::time::Duration;

pub mod commands;

/// Locks that ignore poisoning: Aether's one helper. A benchmark's shared data stays usable
/// when another task panicked while holding it (that panic fails the run on its own).
pub use aether_core::support::lock;

/// The median of `values` (the mean of the two middle values for an even count).
///
/// # Panics
/// Never; an empty slice gives 0.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Operations per second for `ops` operations in `elapsed`.
pub fn rate(ops: u64, elapsed: Duration) -> f64 {
    ops as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// The per-round ratios candidate / baseline of two series of round figures.
pub fn ratios(baseline: &[f64], candidate: &[f64]) -> Vec<f64> {
    baseline.iter().zip(candidate).map(|(b, c)| c / b).collect()
}

/// Runs the `baseline` and `candidate` expressions (which may `.await`) once per round for
/// `rounds` rounds, baseline first in even rounds and candidate first in odd ones, so drift
/// in the machine's speed hits both alike; `$r` names the round. Gives the two series.
#[macro_export]
macro_rules! alternate {
    ($rounds:expr, $r:ident, $baseline:expr, $candidate:expr) => {{
        let mut baseline = Vec::new();
        let mut candidate = Vec::new();
        for $r in 0..$rounds {
            if $r % 2 == 0 {
                baseline.push($baseline);
                candidate.push($candidate);
            } else {
                candidate.push($candidate);
                baseline.push($baseline);
            }
        }
        (baseline, candidate)
    }};
}

/// The per-round rates of a baseline and a candidate, printed as they come.
#[derive(Debug, Clone)]
pub struct Rounds {
    unit: &'static str,
    baseline: Vec<f64>,
    candidate: Vec<f64>,
}

impl Rounds {
    /// No rounds yet; rates are in `unit` (for instance `"events/s"`).
    pub fn new(unit: &'static str) -> Self {
        Rounds {
            unit,
            baseline: Vec::new(),
            candidate: Vec::new(),
        }
    }

    /// Records one round's rates and prints them with the round's ratio.
    pub fn record(&mut self, baseline: f64, candidate: f64) {
        self.baseline.push(baseline);
        self.candidate.push(candidate);
        let n = self.baseline.len();
        println!(
            "round {n:>2}: baseline {:>12.0} {unit}  candidate {:>12.0} {unit}  ratio {:.3}",
            baseline,
            candidate,
            candidate / baseline,
            unit = self.unit
        );
    }

    /// The per-round ratios, candidate / baseline.
    pub fn ratios(&self) -> Vec<f64> {
        ratios(&self.baseline, &self.candidate)
    }

    /// The median of the per-round ratios.
    pub fn median_ratio(&self) -> f64 {
        median(&self.ratios())
    }

    /// Prints the medians and the median ratio, and whether it meets `goal`; returns
    /// whether it does.
    pub fn summary(&self, goal: f64) -> bool {
        let ratio = self.median_ratio();
        println!(
            "median: baseline {:.0} {unit}, candidate {:.0} {unit}",
            median(&self.baseline),
            median(&self.candidate),
            unit = self.unit
        );
        let met = ratio >= goal;
        println!(
            "median ratio (candidate/baseline) over {} rounds: {ratio:.3} (goal >= {goal:.2}: {})",
            self.baseline.len(),
            if met { "met" } else { "NOT met" }
        );
        met
    }
}

/// The value of `--name <value>` on the command line, parsed.
///
/// # Errors
/// When the value is missing or does not parse.
pub fn arg<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>> {
    let args: Vec<String> = std::env::args().collect();
    let flag = format!("--{name}");
    match args.iter().position(|a| *a == flag) {
        None => Ok(None),
        Some(i) => {
            let v = args
                .get(i + 1)
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
            v.parse()
                .map(Some)
                .map_err(|_| anyhow::anyhow!("cannot parse {flag} {v:?}"))
        }
    }
}

/// A one-line description of the machine: CPU model, logical CPUs, OS, and the UTC date.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    format!(
        "{cpu}, {cpus} logical CPUs, {}, {date}",
        std::env::consts::OS
    )
}
