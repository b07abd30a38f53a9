//! `cargo xtask tidy`: the rules of the codebase that are checked, not remembered. It
//! reads the workspace's `.rs` files (and the commit subjects) and fails, naming
//! `file:line`, when
//!
//! * a library function (`crates/*/src`, test modules and `tests`/`examples`/`benches`
//!   directories left out) is longer than [`FN_LINES_BUDGET`] lines, unless it is in
//!   [`OVER_BUDGET`] (then it is a warning; a listed function that fits fails, so the
//!   list only shrinks);
//! * a second minimum nats-server version appears: a `MIN_*VERSION` or `MIN_*SERVER`
//!   constant, or a version tuple of the minimum's major and minor, outside
//!   [`VERSION_HOME`] (where `aether_core::support::MIN_NATS_SERVER` lives);
//! * a source file of `crates/*/src`, `xtask/src` or `benches/src` does not begin with
//!   `//!` module docs (after attributes and blank lines);
//! * any `.rs` file has an `#[ignore]` test;
//! * `crates/*/src` has an `#[allow(..)]` (it must be `#[expect(.., reason = "..")]`), or
//!   another source file an `#[allow(..)]` without a `reason`;
//! * a commit after [`SUBJECTS_SINCE`] has a subject of 72 characters or more.
//!
//! Comments, strings and character literals are blanked before the code checks, so the
//! checks see code only; the function scanner matches braces in what is left.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use aether_core::support::MIN_NATS_SERVER;
use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// The longest a library function may be: lines from its `fn` line to its closing brace.
const FN_LINES_BUDGET: usize = 80;

/// Library functions longer than [`FN_LINES_BUDGET`] for now, as `"<path>: fn <name>"`:
/// reported as warnings. A listed function that fits the budget (or is gone) is an error,
/// so this list can only shrink; empty it as the functions are split.
const OVER_BUDGET: &[&str] = &[];

/// The one home of the minimum nats-server version, exempt from the one-version check.
const VERSION_HOME: &str = "crates/aether-core/src/support/server_version.rs";

/// Commits up to this one (HEAD when the subject rule came in) keep their longer subjects.
const SUBJECTS_SINCE: &str = "5c435738a11af96daa5a782ea924e7bb6323c17a";

/// The longest commit subject allowed, in characters ("under 72").
const SUBJECT_MAX_CHARS: usize = 71;

pub(crate) fn run(sh: &Shell, extra: &[String]) -> Result<()> {
    crate::ci::no_arguments("tidy", extra)?;
    let files = load_sources(&sh.current_dir())?;
    let mut report = Report::default();
    check_fn_lengths(&files, &mut report);
    for file in &files {
        check_one_version(file, &mut report);
        check_module_docs(file, &mut report);
        check_no_ignore(file, &mut report);
        check_no_allow(file, &mut report);
    }
    check_commit_subjects(sh, &mut report);
    report.finish(files.len())
}

/// One problem, at a place in a file (line 0: the file, or no file).
struct Finding {
    place: String,
    line: usize,
    message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.place, self.message),
            line => write!(f, "{}:{line}: {}", self.place, self.message),
        }
    }
}

/// What the checks found: errors fail the task, warnings are printed.
#[derive(Default)]
struct Report {
    errors: Vec<Finding>,
    warnings: Vec<Finding>,
}

impl Report {
    fn error(&mut self, place: &str, line: usize, message: String) {
        let place = place.to_owned();
        self.errors.push(Finding {
            place,
            line,
            message,
        });
    }

    fn warn(&mut self, place: &str, line: usize, message: String) {
        let place = place.to_owned();
        self.warnings.push(Finding {
            place,
            line,
            message,
        });
    }

    fn finish(self, files: usize) -> Result<()> {
        for w in &self.warnings {
            println!("warning: {w}");
        }
        for e in &self.errors {
            println!("error: {e}");
        }
        let (errors, warnings) = (self.errors.len(), self.warnings.len());
        if errors > 0 {
            bail!("tidy failed: errors: {errors}, warnings: {warnings}, in {files} files (above)");
        }
        eprintln!("xtask: tidy passed ({files} files; warnings: {warnings})");
        Ok(())
    }
}

/// A `.rs` file of the workspace: its path from the root (with `/`), its text, and its
/// text with comments and literals blanked ([`mask`]).
struct Source {
    path: String,
    text: String,
    code: Vec<u8>,
}

impl Source {
    fn new(path: String, text: String) -> Source {
        let code = mask(&text);
        Source { path, text, code }
    }

    fn parts(&self) -> Vec<&str> {
        self.path.split('/').collect()
    }

    /// `crates/<crate>/src/**`.
    fn in_crate_src(&self) -> bool {
        matches!(self.parts()[..], ["crates", _, "src", _, ..])
    }

    /// Library code: `crates/*/src/**` outside `tests`, `examples` and `benches` folders.
    fn is_library(&self) -> bool {
        self.in_crate_src()
            && !self.parts()[3..]
                .iter()
                .any(|p| matches!(*p, "tests" | "examples" | "benches"))
    }

    /// The files that must open with module docs.
    fn needs_module_docs(&self) -> bool {
        self.in_crate_src() || matches!(self.parts()[..], ["xtask" | "benches", "src", _, ..])
    }
}

/// Every `.rs` file under `root`, `target` and hidden folders left out, sorted by path.
fn load_sources(root: &Path) -> Result<Vec<Source>> {
    let mut paths = Vec::new();
    collect_rs_files(root, &mut paths)?;
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let rel: Vec<_> = rel.iter().map(|p| p.to_string_lossy()).collect();
            Ok(Source::new(rel.join("/"), text))
        })
        .collect()
}

fn collect_rs_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            if name != "target" && !name.starts_with('.') {
                collect_rs_files(&path, out)?;
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

// ---- the checks -------------------------------------------------------------------------

/// Library functions over [`FN_LINES_BUDGET`]: errors, or warnings for [`OVER_BUDGET`].
fn check_fn_lengths(files: &[Source], report: &mut Report) {
    let test_files = test_module_files(files);
    let mut listed_and_long = BTreeSet::new();
    for file in files {
        if !file.is_library() || test_files.contains(&file.path) {
            continue;
        }
        for f in fn_spans(&file.code)
            .iter()
            .filter(|f| f.lines > FN_LINES_BUDGET)
        {
            let what = format!(
                "fn {} is {} lines, over the budget of {FN_LINES_BUDGET}",
                f.name, f.lines
            );
            let entry = format!("{}: fn {}", file.path, f.name);
            if let Some(&listed) = OVER_BUDGET.iter().find(|&&l| l == entry) {
                listed_and_long.insert(listed);
                report.warn(&file.path, f.line, format!("{what} (listed: being split)"));
            } else {
                report.error(&file.path, f.line, format!("{what}: split it into steps"));
            }
        }
    }
    for &listed in OVER_BUDGET {
        if !listed_and_long.contains(listed) {
            let (path, name) = listed.split_once(": fn ").unwrap_or((listed, "?"));
            let message = format!(
                "fn {name} is listed in tidy's OVER_BUDGET but is not over \
                 {FN_LINES_BUDGET} lines (or is gone): remove it from the list"
            );
            report.error(path, 0, message);
        }
    }
}

/// The files of test modules declared `#[cfg(test)] mod name;` (their code is tests).
fn test_module_files(files: &[Source]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for file in files {
        let (_, modules) = test_items(&file.code);
        if modules.is_empty() {
            continue;
        }
        let (dir, stem) = file.path.rsplit_once('/').unwrap_or(("", &file.path));
        let stem = stem.trim_end_matches(".rs");
        let base = match stem {
            "lib" | "main" | "mod" => dir.to_owned(),
            _ => format!("{dir}/{stem}"),
        };
        for m in modules {
            out.insert(format!("{base}/{m}.rs"));
            out.insert(format!("{base}/{m}/mod.rs"));
        }
    }
    out
}

/// A second minimum nats-server version outside [`VERSION_HOME`].
fn check_one_version(file: &Source, report: &mut Report) {
    if file.path == VERSION_HOME {
        return;
    }
    for (line, message) in second_versions(&file.code, MIN_NATS_SERVER.major, MIN_NATS_SERVER.minor)
    {
        let message = format!(
            "{message}: the minimum nats-server version is \
             aether_core::support::MIN_NATS_SERVER ({VERSION_HOME}), use it"
        );
        report.error(&file.path, line, message);
    }
}

/// Source files without `//!` module docs.
fn check_module_docs(file: &Source, report: &mut Report) {
    if file.needs_module_docs() && !has_module_docs(&file.text) {
        let message = "no module docs: the file must begin with `//!` lines saying what it \
                       holds (after attributes and blank lines)";
        report.error(&file.path, 1, message.to_owned());
    }
}

/// `#[ignore]` tests, anywhere.
fn check_no_ignore(file: &Source, report: &mut Report) {
    for line in ignore_attributes(&file.code) {
        let message = "#[ignore]: gate a slow or server-backed test with a feature or a \
                       helper that fails loudly instead";
        report.error(&file.path, line, message.to_owned());
    }
}

/// `#[allow(..)]` in `crates/*/src`; elsewhere (tests, examples, benches, xtask), an
/// `#[allow(..)]` without a `reason = ".."` (there `expect` cannot always serve: a helper
/// module shared by test binaries is dead code in some of them only).
fn check_no_allow(file: &Source, report: &mut Report) {
    let in_src = file.in_crate_src();
    for (line, attribute) in allow_attributes_with_text(&file.code) {
        if in_src {
            let message = "#[allow(..)]: use #[expect(.., reason = \"..\")], which says why \
                           and fails once the lint no longer fires";
            report.error(&file.path, line, message.to_owned());
        } else if !attribute.contains("reason") {
            let message = "#[allow(..)] without a reason: add `reason = \"..\"` (or use \
                           #[expect(..)])";
            report.error(&file.path, line, message.to_owned());
        }
    }
}

/// The `#[allow(..)]` attributes of masked `code`: their lines and their text up to the
/// closing `)]` (string contents are blanked, so the text says whether `reason` is given).
fn allow_attributes_with_text(code: &[u8]) -> Vec<(usize, String)> {
    let lines = LineIndex::new(code);
    let mut found = Vec::new();
    for needle in [&b"#[allow("[..], b"#![allow("] {
        let mut from = 0;
        while let Some(at) = find_bytes(code, from, needle) {
            let end = find_bytes(code, at, b")]").map_or(code.len(), |e| e + 2);
            let text = String::from_utf8_lossy(&code[at..end]).into_owned();
            found.push((lines.line_of(at), text));
            from = at + 1;
        }
    }
    found.sort_unstable();
    found
}

/// Commit subjects after [`SUBJECTS_SINCE`] of 72 characters or more. Outside a git
/// checkout, or in one without that commit (a shallow clone), a warning says what was not
/// checked.
fn check_commit_subjects(sh: &Shell, report: &mut Report) {
    let since = format!("{SUBJECTS_SINCE}^{{commit}}");
    let known = cmd!(sh, "git cat-file -e {since}")
        .quiet()
        .ignore_stderr()
        .run()
        .is_ok();
    let range = format!("{SUBJECTS_SINCE}..HEAD");
    let log = known.then(|| cmd!(sh, "git log --format=%h%x09%s {range}").quiet().read());
    let Some(Ok(log)) = log else {
        let message = format!(
            "not checked: commit {SUBJECTS_SINCE} is not in this checkout (no git, or a \
             shallow clone)"
        );
        return report.warn("commit subjects", 0, message);
    };
    for (hash, subject) in log.lines().filter_map(|l| l.split_once('\t')) {
        let chars = subject.chars().count();
        if chars > SUBJECT_MAX_CHARS {
            let message = format!(
                "subject is {chars} characters, over {SUBJECT_MAX_CHARS}: {subject:?} \
                 (reword it before it is pushed)"
            );
            report.error(&format!("commit {hash}"), 0, message);
        }
    }
}

// ---- reading Rust source ----------------------------------------------------------------

/// `src` with every comment, string literal and character literal turned into spaces
/// (newlines kept, so lines still count), leaving code only. Lifetimes and labels stay.
fn mask(src: &str) -> Vec<u8> {
    let bytes = src.as_bytes();
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i < bytes.len() {
        match literal_end(bytes, i) {
            Some(end) => {
                for b in &mut out[i..end] {
                    if *b != b'\n' {
                        *b = b' ';
                    }
                }
                i = end;
            }
            None => i += 1,
        }
    }
    out
}

/// Where the comment or literal starting at `i` ends (exclusive); `None` when none starts
/// there.
fn literal_end(b: &[u8], i: usize) -> Option<usize> {
    match (b[i], b.get(i + 1)) {
        (b'/', Some(b'/')) => Some(find_from(b, i, b'\n').unwrap_or(b.len())),
        (b'/', Some(b'*')) => Some(block_comment_end(b, i)),
        (b'"', _) => Some(string_end(b, i + 1)),
        (b'\'', _) => char_literal_end(b, i),
        (b'r', _) if starts_token(b, i) => raw_string_end(b, i),
        _ => None,
    }
}

/// Whether `b[i]` starts a token: no identifier character before it, or only a `b`/`c`
/// prefix that itself starts one (`br"..."`).
fn starts_token(b: &[u8], i: usize) -> bool {
    match i.checked_sub(1).map(|p| b[p]) {
        None => true,
        Some(b'b' | b'c') => i < 2 || !is_ident_byte(b[i - 2]),
        Some(prev) => !is_ident_byte(prev),
    }
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn find_from(b: &[u8], from: usize, byte: u8) -> Option<usize> {
    b.get(from..)?
        .iter()
        .position(|&x| x == byte)
        .map(|p| p + from)
}

/// The end of a (nested) block comment starting at `i`.
fn block_comment_end(b: &[u8], i: usize) -> usize {
    let (mut depth, mut j) = (0usize, i);
    while j + 1 < b.len() {
        match (b[j], b[j + 1]) {
            (b'/', b'*') => (depth, j) = (depth + 1, j + 2),
            (b'*', b'/') => {
                (depth, j) = (depth - 1, j + 2);
                if depth == 0 {
                    return j;
                }
            }
            _ => j += 1,
        }
    }
    b.len()
}

/// The end of a string whose contents start at `j` (just after its `"`).
fn string_end(b: &[u8], mut j: usize) -> usize {
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

/// The end of a character literal at `i` (`'x'`, `'\n'`, `'\''`, `'é'`); `None` for a
/// lifetime or label (`'a`, `'static`).
fn char_literal_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i + 1)? {
        b'\\' => find_from(b, i + 3, b'\'').map(|p| p + 1),
        first => {
            let width = match first {
                0..=0x7f => 1,
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                _ => 4,
            };
            (b.get(i + 1 + width) == Some(&b'\'')).then_some(i + 2 + width)
        }
    }
}

/// The end of a raw string at `i` (`r"..."`, `r#"..."#`); `None` for a raw identifier
/// (`r#type`) or a plain `r`.
fn raw_string_end(b: &[u8], i: usize) -> Option<usize> {
    let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
    let open = i + 1 + hashes;
    if b.get(open) != Some(&b'"') {
        return None;
    }
    let mut j = open + 1;
    while let Some(quote) = find_from(b, j, b'"') {
        let tail = b.get(quote + 1..quote + 1 + hashes);
        if tail.is_some_and(|t| t.iter().all(|&c| c == b'#')) {
            return Some(quote + 1 + hashes);
        }
        j = quote + 1;
    }
    Some(b.len())
}

/// A function in masked code: its name, the line of its `fn`, and its length in lines
/// from that line to its closing brace.
#[derive(Debug, PartialEq)]
struct FnSpan {
    name: String,
    line: usize,
    lines: usize,
}

/// Every function with a body in masked `code`, test items (`#[cfg(test)]`) left out.
fn fn_spans(code: &[u8]) -> Vec<FnSpan> {
    let (tests, _) = test_items(code);
    let lines = LineIndex::new(code);
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(at) = find_word(code, from, b"fn") {
        from = at + 2;
        if tests.iter().any(|t| t.contains(&at)) {
            continue;
        }
        let Some((name, after)) = name_after(code, at + 2) else {
            continue; // a function pointer type: `fn(u32)`
        };
        let Some(close) = body_start(code, after).and_then(|open| matching_brace(code, open))
        else {
            continue; // a declaration without a body: `fn f(&self);`
        };
        let line = lines.line_of(at);
        let lines = lines.line_of(close) - line + 1;
        spans.push(FnSpan { name, line, lines });
    }
    spans
}

/// The ranges of items under a test-only `#[cfg(..test..)]` in masked `code`, and the
/// names of test modules declared without a body (`#[cfg(test)] mod tests;`).
fn test_items(code: &[u8]) -> (Vec<RangeInclusive<usize>>, Vec<String>) {
    let (mut ranges, mut modules) = (Vec::new(), Vec::new());
    let mut from = 0;
    while let Some(at) = find_bytes(code, from, b"#[cfg(") {
        from = at + 1;
        let Some(attr_end) = matching(code, at + 1, b'[', b']') else {
            continue;
        };
        let attr = String::from_utf8_lossy(&code[at..=attr_end]).replace(' ', "");
        if !has_word(attr.as_bytes(), b"test") || attr.contains("not(test") {
            continue;
        }
        match body_start_or_semicolon(code, attr_end + 1) {
            Some((open, b'{')) => {
                if let Some(close) = matching_brace(code, open) {
                    ranges.push(at..=close);
                }
            }
            Some((semi, _)) => modules.extend(declared_module(&code[attr_end + 1..semi])),
            None => {}
        }
    }
    (ranges, modules)
}

/// The module name of `mod name` at the end of an item's head (after its attributes).
fn declared_module(head: &[u8]) -> Option<String> {
    let at = find_word(head, 0, b"mod")?;
    name_after(head, at + 3).map(|(name, _)| name)
}

/// After `fn` or `mod` at `from`: whitespace, then a name (`r#` allowed); the name and the
/// position after it.
fn name_after(code: &[u8], from: usize) -> Option<(String, usize)> {
    let spaces = code[from..]
        .iter()
        .take_while(|b| b.is_ascii_whitespace())
        .count();
    let mut start = from + spaces;
    if spaces == 0 || start >= code.len() {
        return None;
    }
    if code[start..].starts_with(b"r#") {
        start += 2;
    }
    let len = code[start..]
        .iter()
        .take_while(|&&b| is_ident_byte(b))
        .count();
    if len == 0 || code[start].is_ascii_digit() {
        return None;
    }
    let name = String::from_utf8_lossy(&code[start..start + len]).into_owned();
    Some((name, start + len))
}

/// The `{` opening the body of the item whose head starts at `from`; `None` when the item
/// ends with `;` first.
fn body_start(code: &[u8], from: usize) -> Option<usize> {
    match body_start_or_semicolon(code, from)? {
        (open, b'{') => Some(open),
        _ => None,
    }
}

/// The first `{` or `;` outside parentheses and brackets from `from`, with which it is.
fn body_start_or_semicolon(code: &[u8], from: usize) -> Option<(usize, u8)> {
    let mut depth = 0usize;
    for (i, &b) in code.iter().enumerate().skip(from) {
        match b {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth = depth.checked_sub(1)?,
            b'{' | b';' if depth == 0 => return Some((i, b)),
            b'}' if depth == 0 => return None,
            _ => {}
        }
    }
    None
}

fn matching_brace(code: &[u8], open: usize) -> Option<usize> {
    matching(code, open, b'{', b'}')
}

/// The position of the `close` matching the `open` at `at`.
fn matching(code: &[u8], at: usize, open: u8, close: u8) -> Option<usize> {
    let mut depth = 0usize;
    for (i, &b) in code.iter().enumerate().skip(at) {
        if b == open {
            depth += 1;
        } else if b == close {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

fn find_bytes(code: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    code.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// `word` at or after `from`, not part of a longer identifier.
fn find_word(code: &[u8], mut from: usize, word: &[u8]) -> Option<usize> {
    while let Some(at) = find_bytes(code, from, word) {
        let before = at.checked_sub(1).map(|p| code[p]);
        let after = code.get(at + word.len()).copied();
        if !before.is_some_and(is_ident_byte) && !after.is_some_and(is_ident_byte) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn has_word(code: &[u8], word: &[u8]) -> bool {
    find_word(code, 0, word).is_some()
}

/// Line numbers (from 1) of byte positions.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(code: &[u8]) -> LineIndex {
        let newlines = code.iter().enumerate().filter(|(_, &b)| b == b'\n');
        let starts = std::iter::once(0).chain(newlines.map(|(i, _)| i + 1));
        LineIndex {
            starts: starts.collect(),
        }
    }

    fn line_of(&self, pos: usize) -> usize {
        self.starts.partition_point(|&s| s <= pos)
    }
}

/// The lines of masked `code` holding a second minimum nats-server version: a
/// `MIN_*VERSION` or `MIN_*SERVER` constant or static, or a version tuple
/// `(major, minor, ..)` of the minimum's major and minor (bare, or as `Version(..)` or
/// `new(..)` arguments), with what is wrong.
fn second_versions(code: &[u8], major: u32, minor: u32) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in code.split(|&b| b == b'\n').enumerate() {
        for keyword in [&b"const"[..], b"static"] {
            let named =
                find_word(line, 0, keyword).and_then(|at| name_after(line, at + keyword.len()));
            if let Some((name, _)) = named.filter(|(name, _)| is_min_version_name(name)) {
                found.push((n + 1, format!("a second minimum-version constant `{name}`")));
            }
        }
        let compact: Vec<u8> = line
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        if has_version_tuple(&compact, major, minor) {
            found.push((
                n + 1,
                format!("a nats-server version tuple ({major}, {minor}, ..)"),
            ));
        }
    }
    found
}

fn is_min_version_name(name: &str) -> bool {
    name.starts_with("MIN_") && (name.ends_with("VERSION") || name.ends_with("SERVER"))
}

/// Whether a line without whitespace holds `(major,minor,` or `(major,minor)` as a tuple
/// or as the arguments of `Version(..)`/`new(..)`, or any `Version(major,`.
fn has_version_tuple(compact: &[u8], major: u32, minor: u32) -> bool {
    let tuple = format!("({major},{minor}");
    let mut from = 0;
    while let Some(at) = find_bytes(compact, from, tuple.as_bytes()) {
        from = at + 1;
        let next = compact.get(at + tuple.len());
        if !matches!(next, Some(b',' | b')')) {
            continue;
        }
        let callee = compact[..at]
            .rsplit(|&b| !is_ident_byte(b))
            .next()
            .unwrap_or_default();
        if callee.is_empty() || callee == b"new" || callee.ends_with(b"Version") {
            return true;
        }
    }
    find_bytes(compact, 0, format!("Version({major},").as_bytes()).is_some()
}

/// The lines of `#[ignore..]` and of `#[cfg_attr(.., ignore)]` in masked `code`.
fn ignore_attributes(code: &[u8]) -> Vec<usize> {
    let lines = LineIndex::new(code);
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = find_bytes(code, from, b"#[") {
        from = at + 2;
        let Some(end) = matching(code, at + 1, b'[', b']') else {
            continue;
        };
        let attr: Vec<u8> = code[at + 2..end]
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        if attr.starts_with(b"ignore") && !attr.get(6).is_some_and(|&b| is_ident_byte(b))
            || attr.starts_with(b"cfg_attr(") && has_word(&attr, b"ignore")
        {
            found.push(lines.line_of(at));
        }
    }
    found
}

/// The lines of `#[allow(` and `#![allow(` in masked `code`.
#[cfg(test)]
fn allow_attributes(code: &[u8]) -> Vec<usize> {
    allow_attributes_with_text(code)
        .into_iter()
        .map(|(line, _)| line)
        .collect()
}

/// Whether `text` begins with `//!` (or `/*!`) docs, after blank lines and attributes.
fn has_module_docs(text: &str) -> bool {
    let mut rest = text.as_bytes();
    loop {
        let skip = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        rest = &rest[skip..];
        if rest.starts_with(b"//!") || rest.starts_with(b"/*!") {
            return true;
        }
        let open = if rest.starts_with(b"#![") {
            2
        } else if rest.starts_with(b"#[") {
            1
        } else {
            return false;
        };
        match matching(rest, open, b'[', b']') {
            Some(end) => rest = &rest[end + 1..],
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(src: &str) -> Vec<(String, usize, usize)> {
        fn_spans(&mask(src))
            .into_iter()
            .map(|f| (f.name, f.line, f.lines))
            .collect()
    }

    fn span(name: &str, line: usize, lines: usize) -> (String, usize, usize) {
        (name.to_owned(), line, lines)
    }

    #[test]
    fn masking_blanks_comments_strings_and_chars_but_keeps_lines_and_lifetimes() {
        let src =
            "let a = \"{ \\\" }\"; // }\n/* { /* } */ } */ let b = '{';\nfn f<'a>(x: &'a str) {}";
        let code = String::from_utf8(mask(src)).unwrap();
        let lines: Vec<&str> = code.lines().collect();
        assert_eq!(lines.len(), 3, "{code}");
        assert_eq!(lines[0].trim_end(), format!("let a = {};", " ".repeat(8)));
        assert_eq!(lines[1].trim_start(), "let b =    ;", "{code}");
        assert_eq!(lines[2], "fn f<'a>(x: &'a str) {}", "{code}");
        assert_eq!(code.len(), src.len());
        for (src, kept) in [
            ("r#\"}\"# x", "x"),
            ("br##\"\"#}\"## x", "x"),
            ("b'}' x", "x"),
            ("'\\'' x", "x"),
            ("'\\u{7d}' x", "x"),
            ("'é' x", "x"),
            ("c\"}\" x", "x"),
        ] {
            let code = String::from_utf8(mask(src)).unwrap();
            assert_eq!(code.trim_start_matches(['b', 'c']).trim(), kept, "{src:?}");
        }
        // A raw identifier and a plain `r` are code.
        assert_eq!(mask("r#type { r }"), b"r#type { r }");
    }

    #[test]
    fn functions_are_measured_from_their_fn_line_to_their_closing_brace() {
        let src = "\
pub async fn outer(x: u32) -> Result<(), String> {
    let s = \"}}}\";
    let c = '}';
    // }
    fn inner() {
        let _ = r#\"{\"#;
    }
}
trait T {
    fn declared(&self);
    fn provided(&self) -> u32 { 1 }
}
type P = fn(u32) -> u32;
fn r#match<'a, F: Fn() -> u32>(f: F) where F: Copy {
}";
        assert_eq!(
            spans(src),
            [
                span("outer", 1, 8),
                span("inner", 5, 3),
                span("provided", 11, 1),
                span("match", 14, 2),
            ]
        );
    }

    #[test]
    fn test_items_are_not_measured_and_test_module_files_are_found() {
        let src = "\
fn kept() {
}
#[cfg(test)]
mod tests {
    fn helper() {
    }
}
#[cfg(all(test, feature = \"itest\"))]
#[allow(dead_code)]
pub(crate) mod more { fn h() {} }
#[cfg(not(test))]
fn not_test() {}
#[cfg(test)]
mod file_tests;";
        assert_eq!(spans(src), [span("kept", 1, 2), span("not_test", 12, 1)]);
        let (_, modules) = test_items(&mask(src));
        assert_eq!(modules, ["file_tests"]);
        let files = [Source::new("crates/c/src/store.rs".into(), src.into())];
        let test_files = test_module_files(&files);
        assert!(test_files.contains("crates/c/src/store/file_tests.rs"));
        let files = [Source::new("crates/c/src/lib.rs".into(), src.into())];
        assert!(test_module_files(&files).contains("crates/c/src/file_tests.rs"));
    }

    #[test]
    fn a_second_minimum_version_is_found_but_prose_strings_and_other_tuples_are_not() {
        let found = |src: &str| -> Vec<usize> {
            let found = second_versions(&mask(src), 3, 4);
            found.into_iter().map(|(line, _)| line).collect()
        };
        assert_eq!(found("pub const MIN_SERVER_VERSION: &str = \"x\";"), [1]);
        assert_eq!(found("static MIN_NATS_SERVER: u8 = 0;"), [1]);
        assert_eq!(
            found("const MIN_VERSION_TESTS: &str = \"\";"),
            [] as [usize; 0]
        );
        assert_eq!(found("const V: (u32, u32, u32) = (3, 4, 1);"), [1]);
        assert_eq!(found("let v = (3,4);"), [1]);
        assert_eq!(found("let v = Version(3, 9, 0);"), [1]);
        assert_eq!(found("let v = ServerVersion::new(3, 4, 0);"), [1]);
        assert_eq!(
            found("let v = ServerVersion::new(3, 5, 0);"),
            [] as [usize; 0]
        );
        assert_eq!(
            found("f(3, 4, 2); (3, 45, 1); (13, 4, 1)"),
            [] as [usize; 0]
        );
        assert_eq!(
            found("// (3, 4, 2)\nlet s = \"(3, 4, 2)\";"),
            [] as [usize; 0]
        );
        assert_eq!(found("\n\nconst X: V =\n    (3, 4, 0);"), [4]);
    }

    #[test]
    fn ignore_and_allow_attributes_are_found_in_code_only() {
        let src = "\
#[test]
#[ignore]
fn a() {}
#[ignore = \"slow\"]
#[cfg_attr(not(feature = \"x\"), ignore)]
#[ignored_by_nothing]
// #[ignore]
const S: &str = \"#[ignore] #[allow(x)]\";
#![allow(dead_code)]
#[allow(clippy::x)] #[expect(clippy::y, reason = \"z\")]";
        assert_eq!(ignore_attributes(&mask(src)), [2, 4, 5]);
        assert_eq!(allow_attributes(&mask(src)), [9, 10]);
    }

    #[test]
    fn an_allow_says_whether_it_gives_a_reason() {
        let src = "#![allow(dead_code)]\n#[allow(\n    dead_code,\n    reason = \"shared\"\n)]";
        let found = allow_attributes_with_text(&mask(src));
        let reasons: Vec<_> = found
            .iter()
            .map(|(line, text)| (*line, text.contains("reason")))
            .collect();
        assert_eq!(reasons, [(1, false), (2, true)]);
    }

    #[test]
    fn module_docs_may_follow_attributes_and_blank_lines() {
        assert!(has_module_docs("//! Docs.\nfn f() {}"));
        assert!(has_module_docs(
            "\n#![cfg_attr(docsrs, feature(doc_cfg))]\n\n//! Docs."
        ));
        assert!(has_module_docs(
            "#![forbid(\n    unsafe_code\n)]\n/*! Docs. */"
        ));
        assert!(!has_module_docs("// Not docs.\n//! Docs."));
        assert!(!has_module_docs("/// Item docs.\nfn f() {}"));
        assert!(!has_module_docs("use std::fmt;\n//! Docs."));
        assert!(!has_module_docs(""));
    }

    #[test]
    fn paths_are_classified_by_where_they_are() {
        let src = |p: &str| Source::new(p.to_owned(), String::new());
        assert!(src("crates/aether-core/src/lib.rs").is_library());
        assert!(src("crates/aether-core/src/support/retry.rs").is_library());
        assert!(!src("crates/aether-core/src/tests/x.rs").is_library());
        assert!(!src("crates/aether-core/tests/x.rs").is_library());
        assert!(!src("crates/aether-core/examples/x.rs").is_library());
        assert!(!src("xtask/src/main.rs").is_library());
        assert!(src("xtask/src/main.rs").needs_module_docs());
        assert!(src("benches/src/bin/bench-actor.rs").needs_module_docs());
        assert!(!src("tests/tests/common/mod.rs").needs_module_docs());
        assert!(!src("benches/src/lib.rs").in_crate_src());
    }

    #[test]
    fn the_over_budget_list_only_names_library_files() {
        for listed in OVER_BUDGET {
            let (path, name) = listed.split_once(": fn ").expect("\"<path>: fn <name>\"");
            let file = Source::new(path.to_owned(), String::new());
            assert!(file.is_library(), "{path}: not library code");
            assert!(
                !name.is_empty() && name.bytes().all(is_ident_byte),
                "{name:?}"
            );
        }
    }
}
