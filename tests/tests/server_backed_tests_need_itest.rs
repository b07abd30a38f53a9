//! Tells a plain `cargo test` which tests it leaves out: those that need a real
//! nats-server, compiled only with their package's `itest` feature, which
//! `cargo xtask itest` turns on (providing the server). With the feature on, checks that a
//! server binary is actually configured, so a server-backed run can never pass without one.

use std::path::{Path, PathBuf};

/// The workspace root (this package lives in `<root>/tests`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Every Rust file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Test files gated on an `itest` feature, with their number of test functions.
fn server_backed_test_files() -> Vec<(String, usize)> {
    let root = workspace_root();
    let mut dirs = vec![root.join("tests").join("tests")];
    if let Ok(crates) = std::fs::read_dir(root.join("crates")) {
        for c in crates.flatten() {
            dirs.push(c.path().join("tests"));
            dirs.push(c.path().join("src"));
        }
    }
    let mut files = Vec::new();
    for d in dirs {
        rust_files(&d, &mut files);
    }
    let mut found: Vec<(String, usize)> = files
        .into_iter()
        .filter_map(|f| {
            if f.ends_with(file!().rsplit('/').next().unwrap_or_default()) {
                return None; // this notice itself
            }
            let text = std::fs::read_to_string(&f).ok()?;
            if !text.contains("feature = \"itest\"") {
                return None;
            }
            let tests = text.matches("#[test]").count() + text.matches("#[tokio::test").count();
            let rel = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
            (tests > 0 || !rel.contains("/src/")).then_some((rel, tests))
        })
        .collect();
    found.sort();
    found
}

#[cfg(not(feature = "itest"))]
#[test]
fn server_backed_tests_need_cargo_xtask_itest() {
    use std::io::Write;
    let files = server_backed_test_files();
    assert!(!files.is_empty(), "no server-backed test files found");
    let total: usize = files.iter().map(|(_, n)| n).sum();
    let mut msg = format!(
        "\nnote: {total} server-backed tests in {} files were NOT run; they need a nats-server \
         and the `itest` feature: run `cargo xtask itest`.\n",
        files.len()
    );
    for (f, n) in &files {
        msg.push_str(&format!("  {f} ({n} tests)\n"));
    }
    // Written straight to stderr so that libtest's output capture does not hide it.
    let _ = std::io::stderr().write_all(msg.as_bytes());
}

#[cfg(feature = "itest")]
#[test]
fn server_backed_tests_have_a_server() {
    let files = server_backed_test_files();
    assert!(!files.is_empty(), "no server-backed tests found");
    // Panics, naming `cargo xtask itest`, when NATS_SERVER_BIN is unset or too old.
    let bin = aether_testkit::server::server_bin();
    assert!(bin.is_file(), "{} is not a file", bin.display());
}
