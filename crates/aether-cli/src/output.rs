//! What the CLI prints: aligned tables for people (colour only on a terminal, or as
//! `--color` says), JSON lines for scripts (`--json`), and a progress line on stderr while
//! a long command runs on a terminal.
//!
//! Tables are written as they come: a [`StreamingTable`] fixes its column widths from the
//! first page of rows and prints every later row with them, so a listing of millions of
//! rows never sits in memory.

use std::io::{self, BufWriter, IsTerminal, Stdout, Write};
use std::time::{Duration, Instant};

use anstyle::{AnsiColor, Style};

/// When to colour the output (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    /// Colour when stdout is a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether to colour, for output to stdout.
    fn resolve(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// The style of table headers.
pub(crate) const HEADER: Style = Style::new().bold();
/// The style of something wrong (a problem, an undecodable payload).
pub(crate) const BAD: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
/// The style of something fine (a passed check).
pub(crate) const GOOD: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
/// The style of names worth spotting (event types).
pub(crate) const NAME: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));
/// The style of secondary text (notes, sequence numbers).
pub(crate) const DIM: Style = Style::new().dimmed();

/// Where the CLI writes its results: stdout, buffered, as tables or JSON lines.
pub(crate) struct Output {
    /// JSON lines instead of tables (`--json`).
    pub(crate) json: bool,
    /// Whether to colour.
    color: bool,
    out: BufWriter<Stdout>,
}

impl Output {
    /// Output to stdout, as JSON lines when `json`, coloured as `color` says.
    pub(crate) fn new(json: bool, color: ColorChoice) -> Self {
        Output {
            json,
            color: !json && color.resolve(),
            out: BufWriter::new(io::stdout()),
        }
    }

    /// `text` in `style` when colouring, else as it is.
    pub(crate) fn paint(&self, style: Style, text: &str) -> String {
        paint(self.color, style, text)
    }

    /// Writes one line.
    pub(crate) fn line(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")
    }

    /// Writes `value` as one line of JSON.
    pub(crate) fn json_line(&mut self, value: &serde_json::Value) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")
    }

    /// Sends what is buffered to stdout.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// `text` in `style` when `color`, else as it is.
fn paint(color: bool, style: Style, text: &str) -> String {
    if color && style != Style::new() && !text.is_empty() {
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_owned()
    }
}

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    /// Text: padded on the right.
    Left,
    /// Numbers: padded on the left.
    Right,
}

/// A table column: its header, alignment and the style of its cells.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    /// The header (upper case, as the commands document it).
    pub(crate) name: &'static str,
    /// How its cells line up.
    pub(crate) align: Align,
    /// The style of its cells when colouring.
    pub(crate) style: Style,
}

impl Column {
    /// A left-aligned, unstyled column.
    pub(crate) const fn text(name: &'static str) -> Self {
        Column {
            name,
            align: Align::Left,
            style: Style::new(),
        }
    }

    /// A right-aligned, unstyled column.
    pub(crate) const fn number(name: &'static str) -> Self {
        Column {
            name,
            align: Align::Right,
            style: Style::new(),
        }
    }

    /// This column with its cells in `style`.
    pub(crate) const fn styled(mut self, style: Style) -> Self {
        self.style = style;
        self
    }
}

/// The width of `text` on a terminal, counted in characters.
fn width(text: &str) -> usize {
    text.chars().count()
}

/// The widths that fit the headers of `columns` and every cell of `rows`.
pub(crate) fn widths(columns: &[Column], rows: &[Vec<String>]) -> Vec<usize> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|cell| width(cell))
                .fold(width(c.name), usize::max)
        })
        .collect()
}

/// One line of a table: `cells` padded to `widths`, two spaces apart, styled as their
/// columns say when `color`. No line ends in spaces (the last column is not padded, and
/// empty cells at the end leave nothing); a cell wider than its column pushes the rest of
/// its line along.
pub(crate) fn format_row(
    columns: &[Column],
    widths: &[usize],
    cells: &[String],
    color: bool,
    header: bool,
) -> String {
    let mut line = String::new();
    let last = cells.len().saturating_sub(1);
    for (i, cell) in cells.iter().enumerate() {
        let column = columns.get(i).copied().unwrap_or(Column::text(""));
        let pad = widths
            .get(i)
            .copied()
            .unwrap_or(0)
            .saturating_sub(width(cell));
        if i > 0 {
            line.push_str("  ");
        }
        if column.align == Align::Right && !header {
            line.extend(std::iter::repeat_n(' ', pad));
        }
        let style = if header { HEADER } else { column.style };
        line.push_str(&paint(color, style, cell));
        if (column.align == Align::Left || header) && i < last {
            line.extend(std::iter::repeat_n(' ', pad));
        }
    }
    line.truncate(line.trim_end_matches(' ').len());
    line
}

/// A table printed as its rows come: rows are held until `page` of them are in (or
/// [`flush`](Self::flush) is called), the column widths are fixed from those, and from then
/// on every row is printed at once with those widths.
pub(crate) struct StreamingTable {
    columns: &'static [Column],
    page: usize,
    widths: Option<Vec<usize>>,
    pending: Vec<Vec<String>>,
}

impl StreamingTable {
    /// A table of `columns` whose widths are fixed from its first `page` rows.
    pub(crate) fn new(columns: &'static [Column], page: usize) -> Self {
        StreamingTable {
            columns,
            page: page.max(1),
            widths: None,
            pending: Vec::new(),
        }
    }

    /// Adds a row, printing it (and any held rows) once the widths are fixed.
    pub(crate) fn push(&mut self, out: &mut Output, row: Vec<String>) -> io::Result<()> {
        self.pending.push(row);
        if self.widths.is_some() || self.pending.len() >= self.page {
            self.flush(out)?;
        }
        Ok(())
    }

    /// Prints the held rows (with the header, the first time), fixing the widths from
    /// them if they are not fixed yet. Does nothing while no row is held.
    pub(crate) fn flush(&mut self, out: &mut Output) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.print(out)
    }

    /// Prints what is held, and the header if nothing was printed yet (a table without
    /// rows still says what it would have listed).
    pub(crate) fn finish(mut self, out: &mut Output) -> io::Result<()> {
        self.print(out)
    }

    fn print(&mut self, out: &mut Output) -> io::Result<()> {
        if self.widths.is_none() {
            let widths = widths(self.columns, &self.pending);
            let names: Vec<String> = self.columns.iter().map(|c| c.name.to_owned()).collect();
            out.line(&format_row(self.columns, &widths, &names, out.color, true))?;
            self.widths = Some(widths);
        }
        let widths = self.widths.as_deref().unwrap_or_default();
        for row in self.pending.drain(..) {
            out.line(&format_row(self.columns, widths, &row, out.color, false))?;
        }
        Ok(())
    }
}

/// Prints a whole table: the header and `rows`, with widths that fit them all.
pub(crate) fn table(
    out: &mut Output,
    columns: &'static [Column],
    rows: Vec<Vec<String>>,
) -> io::Result<()> {
    let mut t = StreamingTable::new(columns, usize::MAX);
    t.pending = rows;
    t.finish(out)
}

/// `error` and its sources, joined by `: ` (as `error:` lines print them). A source whose
/// text its error already ends with (some errors print their source themselves) is said
/// once.
pub(crate) fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let said = s.to_string();
        if !said.is_empty() && !text.ends_with(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = s.source();
    }
    text
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A progress line on stderr, redrawn at most every 100 ms, shown only when stderr is a
/// terminal (never in a pipe or a log).
pub(crate) struct Progress {
    enabled: bool,
    last: Option<Instant>,
    shown: bool,
}

impl Progress {
    /// A progress line, shown when stderr is a terminal.
    pub(crate) fn new() -> Self {
        Progress {
            enabled: io::stderr().is_terminal(),
            last: None,
            shown: false,
        }
    }

    /// Shows `message()` in place of the previous progress line, unless one was drawn less
    /// than 100 ms ago.
    pub(crate) fn update(&mut self, message: impl FnOnce() -> String) {
        const EVERY: Duration = Duration::from_millis(100);
        if !self.enabled || self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        self.shown = true;
        // Progress is a courtesy: a failed write to stderr is not worth stopping for.
        let _ = write!(io::stderr().lock(), "\r\x1b[2K{}", message());
    }

    /// Removes the progress line (before something else is printed on the terminal).
    pub(crate) fn clear(&mut self) {
        if self.shown {
            let _ = write!(io::stderr().lock(), "\r\x1b[2K");
            self.shown = false;
            self.last = None;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: &[Column] = &[
        Column::text("ACTOR"),
        Column::number("VERSION"),
        Column::text("NOTE").styled(BAD),
    ];

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn columns_are_as_wide_as_their_widest_cell_or_header() {
        let rows = [row(&["acc-1", "7", ""]), row(&["a", "1234567890", "ünï"])];
        assert_eq!(widths(COLUMNS, &rows), [5, 10, 4]);
        assert_eq!(widths(COLUMNS, &[]), [5, 7, 4]);
    }

    #[test]
    fn rows_line_up_numbers_right_and_end_without_spaces() {
        let rows = [row(&["acc-1", "7", "x"]), row(&["b", "1234567890", ""])];
        let w = widths(COLUMNS, &rows);
        let header = row(&["ACTOR", "VERSION", "NOTE"]);
        let lines: Vec<String> = std::iter::once(format_row(COLUMNS, &w, &header, false, true))
            .chain(
                rows.iter()
                    .map(|r| format_row(COLUMNS, &w, r, false, false)),
            )
            .collect();
        assert_eq!(
            lines,
            [
                "ACTOR  VERSION     NOTE",
                "acc-1           7  x",
                "b      1234567890",
            ]
        );
    }

    #[test]
    fn a_cell_wider_than_its_column_pushes_the_rest_along() {
        let w = [3, 2, 4];
        let line = format_row(COLUMNS, &w, &row(&["abcdef", "1", "n"]), false, false);
        assert_eq!(line, "abcdef   1  n");
    }

    #[test]
    fn colour_wraps_the_cell_not_its_padding() {
        let w = [5, 7, 4];
        let line = format_row(COLUMNS, &w, &row(&["a", "1", "bad"]), true, false);
        let red = BAD.render().to_string();
        let reset = BAD.render_reset().to_string();
        assert_eq!(line, format!("a            1  {red}bad{reset}"));
        let header = format_row(COLUMNS, &w, &row(&["ACTOR", "VERSION", "NOTE"]), true, true);
        assert!(
            header.starts_with(&HEADER.render().to_string()),
            "{header:?}"
        );
        assert_eq!(
            header.matches(&HEADER.render_reset().to_string()).count(),
            3
        );
    }

    #[test]
    fn causes_are_joined_and_said_once() {
        let io = std::io::Error::other("refused");
        let e = anyhow::Error::new(io)
            .context("cannot connect: refused")
            .context("listing");
        assert_eq!(causes(e.as_ref()), "listing: cannot connect: refused");
        let e = anyhow::anyhow!("low").context("high");
        assert_eq!(causes(e.as_ref()), "high: low");
    }

    #[test]
    fn byte_counts_read_for_people() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 << 30), "5.0 GiB");
        assert_eq!(bytes(u64::MAX), "16384.0 PiB");
    }
}
