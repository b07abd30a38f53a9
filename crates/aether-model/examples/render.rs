//! Loads a model file, prints its findings, and prints (or writes) its rendering.
//!
//! ```text
//! cargo run -p aether-model --example render -- docs/model/bank.toml            # summary + findings
//! cargo run -p aether-model --example render -- docs/model/bank.toml --mermaid  # the diagram
//! cargo run -p aether-model --example render -- docs/model/bank.toml --markdown docs/model/bank.md
//! ```
//!
//! Exits with status 1 when the model has errors (or cannot be read).

use std::error::Error;
use std::process::ExitCode;

use aether_model::Model;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: render <model.toml|model.json> [--mermaid | --markdown [OUT.md]]");
        return ExitCode::FAILURE;
    };
    let model = match Model::load(path) {
        Ok(model) => model,
        Err(err) => {
            eprintln!("{}", report(&err));
            return ExitCode::FAILURE;
        }
    };
    let findings = model.validate();
    for finding in &findings {
        eprintln!("{finding}");
    }
    match args.get(1).map(String::as_str) {
        Some("--mermaid") => print!("{}", model.to_mermaid()),
        Some("--markdown") => match args.get(2) {
            Some(out) => {
                if let Err(err) = std::fs::write(out, model.to_markdown()) {
                    eprintln!("cannot write {out}: {err}");
                    return ExitCode::FAILURE;
                }
                eprintln!("wrote {out}");
            }
            None => print!("{}", model.to_markdown()),
        },
        _ => print!("{}", model.summary()),
    }
    if findings.iter().any(|f| f.is_error()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// An error and its causes on one line: `cannot load model file bank.toml: invalid TOML
/// model at line 3, ...`.
fn report(err: &(dyn Error + 'static)) -> String {
    std::iter::successors(Some(err), |&e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}
