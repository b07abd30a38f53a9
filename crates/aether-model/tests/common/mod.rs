//! Helpers shared by the integration tests: file paths and exact snapshot comparison.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a subset of the helpers"
)]

use std::path::PathBuf;

/// A path relative to the workspace root.
pub fn workspace_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// A path under this crate's `tests/snapshots/`.
pub fn snapshot_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name)
}

/// Compares `actual` with the committed file exactly. With `AETHER_BLESS=1` in the
/// environment it writes the file instead (then review the diff and commit it).
pub fn assert_matches_file(path: PathBuf, actual: &str) {
    if std::env::var_os("AETHER_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); run the test with AETHER_BLESS=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} is stale: first difference at line {}\n--- expected\n{}\n--- actual\n{}\n\
             (run with AETHER_BLESS=1 to regenerate, then review the diff)",
            path.display(),
            first + 1,
            expected.lines().nth(first).unwrap_or("<end of file>"),
            actual.lines().nth(first).unwrap_or("<end of file>"),
        );
    }
}
