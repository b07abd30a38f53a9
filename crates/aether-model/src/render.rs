//! Rendering: a Mermaid flowchart (`mermaid`), a text summary (`summary`), and a Markdown
//! page around both.

mod mermaid;
mod summary;

use std::fmt::Write as _;

use crate::Model;

pub use mermaid::escape_mermaid_label;

impl Model {
    /// A Markdown page: the domain as a heading, its description, the Mermaid diagram in a
    /// ```` ```mermaid ```` block and the [summary](Model::summary) in a text block.
    ///
    /// `docs/model/bank.md` is this page for `docs/model/bank.toml`.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# {}\n", one_line(&self.domain));
        if !self.description.is_empty() {
            let _ = writeln!(out, "{}\n", self.description.trim());
        }
        out.push_str(
            "<!-- Generated from the model file by aether-model; do not edit by hand. -->\n\n",
        );
        let _ = write!(out, "```mermaid\n{}```\n\n", self.to_mermaid());
        let _ = write!(
            out,
            "```text\n{}```\n",
            self.summary().replace("```", "'''")
        );
        out
    }
}

/// A name on one line: control characters become spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
