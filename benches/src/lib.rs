//! Shared helpers of Aether's benchmark binaries: alternating rounds and median ratios.

use std::time::Duration;

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
