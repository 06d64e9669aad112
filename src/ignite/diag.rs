//! Diagnostics: every problem found in a config, with its source position,
//! rendered rustc-style (`error: msg`, ` --> file:line:col`, source line, carets).

use std::fmt::{self, Write as _};

use std::hash::BuildHasher as _;

use rustc_hash::{FxBuildHasher, FxHashMap};

use super::span::Span;

/// At most this many findings are rendered; a hostile or generated config can
/// have hundreds of thousands, and the first ones say what is wrong.
pub const MAX_RENDERED: usize = 100;

/// How bad a finding is. Warnings fail the run in strict mode (the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One finding: a message, where it is (if anywhere), and an optional hint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub span: Option<Span>,
    /// JSON path of the offending value (`$.storage.files.0.mode`), when known.
    pub path: Option<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>, span: Option<Span>) -> Self {
        Self {
            severity: Severity::Error,
            message: message.into(),
            span,
            path: None,
            help: None,
        }
    }

    pub fn warning(message: impl Into<String>, span: Option<Span>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(message, span)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }
}

/// At most this many findings are kept (all are counted): a generated or
/// hostile config can have millions, and memory must not grow with them.
pub const MAX_KEPT: usize = 10_000;

/// The findings of one run, in source order once sorted.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
    /// Indices of kept findings by hash, so that dedup stays linear.
    seen: FxHashMap<u64, Vec<usize>>,
    /// Every finding, kept or not.
    errors: usize,
    warnings: usize,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        // The same finding can be reached twice (e.g. a shared anchor); say it once.
        let hash = FxBuildHasher.hash_one(&d);
        let same = self.seen.get(&hash).into_iter().flatten();
        if same.copied().any(|i| self.items[i] == d) {
            return;
        }
        match d.severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
        }
        if self.items.len() < MAX_KEPT {
            self.seen.entry(hash).or_default().push(self.items.len());
            self.items.push(d);
        }
    }

    /// Errors found, including those past [`MAX_KEPT`].
    pub fn errors(&self) -> usize {
        self.errors
    }

    /// Warnings found, including those past [`MAX_KEPT`].
    pub fn warnings(&self) -> usize {
        self.warnings
    }

    pub fn error(&mut self, message: impl Into<String>, span: Span) {
        self.push(Diagnostic::error(message, Some(span)));
    }

    pub fn warning(&mut self, message: impl Into<String>, span: Span) {
        self.push(Diagnostic::warning(message, Some(span)));
    }

    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    pub fn extend(&mut self, other: Diagnostics) {
        let (errors, warnings) = (other.errors, other.warnings);
        let (mut kept_errors, mut kept_warnings) = (0, 0);
        for d in other.items {
            match d.severity {
                Severity::Error => kept_errors += 1,
                Severity::Warning => kept_warnings += 1,
            }
            self.push(d);
        }
        // Findings the other set counted but did not keep.
        self.errors += errors - kept_errors;
        self.warnings += warnings - kept_warnings;
    }

    /// Sorts by position (unpositioned findings first), keeping the
    /// discovery order for equal positions.
    pub fn sort(&mut self) {
        self.items
            .sort_by_key(|d| d.span.map(|s| (s.start.line, s.start.col)));
    }
}

/// Renders one diagnostic against its source text.
pub fn render(d: &Diagnostic, file: &str, source: &str) -> String {
    let mut out = format!("{}: {}\n", d.severity, d.message);
    let Some(span) = d.span else {
        let _ = writeln!(out, " --> {file}");
        if let Some(help) = &d.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        return out;
    };
    let line_no = span.start.line as usize;
    let width = line_no.to_string().len();
    let pad = " ".repeat(width);
    let _ = writeln!(
        out,
        "{pad}--> {file}:{}:{}",
        span.start.line, span.start.col
    );
    let _ = writeln!(out, "{pad} |");
    let text = line_at(source, span.start.offset, line_no);
    let _ = writeln!(out, "{line_no} | {text}");
    let start_col = span.start.col.saturating_sub(1) as usize;
    let line_chars = text.chars().count();
    let len = if span.end.line == span.start.line && span.end.col > span.start.col {
        (span.end.col - span.start.col) as usize
    } else {
        // Multi-line or empty span: underline up to the next whitespace.
        text.chars()
            .skip(start_col)
            .take_while(|c| !c.is_whitespace())
            .count()
    };
    let len = len.min(line_chars.saturating_sub(start_col)).max(1);
    // Keep tabs so the carets line up with the source line.
    let lead: String = text
        .chars()
        .take(start_col)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let _ = writeln!(out, "{pad} | {lead}{}", "^".repeat(len));
    if let Some(path) = &d.path {
        let _ = writeln!(out, "{pad} = at: {path}");
    }
    if let Some(help) = &d.help {
        let _ = writeln!(out, "{pad} = help: {help}");
    }
    out
}

/// The text of line `line_no` (1-based), found from the byte offset of a
/// position on it, so that rendering many findings stays linear.
fn line_at(source: &str, offset: usize, line_no: usize) -> &str {
    // Offset 0 past line 1 is a position made up by a pass, not the parser.
    let trusted = offset > 0 || line_no == 1;
    match source.get(..offset).filter(|_| trusted) {
        Some(before) => {
            let start = before.rfind('\n').map_or(0, |i| i + 1);
            let end = source[start..]
                .find('\n')
                .map_or(source.len(), |i| start + i);
            let text = &source[start..end];
            text.strip_suffix('\r').unwrap_or(text)
        }
        None => source.lines().nth(line_no.saturating_sub(1)).unwrap_or(""),
    }
}

/// Renders the findings (at most [`MAX_RENDERED`]), separated by blank lines.
pub fn render_all(diags: &Diagnostics, file: &str, source: &str) -> String {
    let mut out = String::new();
    for d in diags.items().iter().take(MAX_RENDERED) {
        out.push_str(&render(d, file, source));
        out.push('\n');
    }
    let hidden = (diags.errors() + diags.warnings()).saturating_sub(MAX_RENDERED);
    if hidden > 0 {
        let _ = writeln!(
            out,
            "note: {hidden} more finding{} not shown (the first {MAX_RENDERED} are above)\n",
            if hidden == 1 { "" } else { "s" }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ignite::span::{Pos, Span};

    fn span(line: u32, col: u32, end_col: u32) -> Span {
        Span {
            start: Pos {
                line,
                col,
                offset: 0,
            },
            end: Pos {
                line,
                col: end_col,
                offset: 0,
            },
        }
    }

    #[test]
    fn keeps_a_bounded_number_and_counts_all() {
        let mut d = Diagnostics::default();
        for i in 0..MAX_KEPT + 5 {
            d.push(Diagnostic::warning(format!("w{i}"), None));
        }
        d.push(Diagnostic::warning("w0", None));
        d.push(Diagnostic::error("e", None));
        assert_eq!(d.items().len(), MAX_KEPT);
        assert_eq!((d.warnings(), d.errors()), (MAX_KEPT + 5, 1));
        assert!(d.has_errors());
        let mut all = Diagnostics::default();
        all.extend(d);
        assert_eq!((all.warnings(), all.errors()), (MAX_KEPT + 5, 1));
    }

    #[test]
    fn renders_rustc_style() {
        let src = "a: 1\nb:\n  path: etc/x\n";
        let d = Diagnostic::error("path not absolute", Some(span(3, 9, 14)));
        assert_eq!(
            render(&d, "c.yml", src),
            "error: path not absolute\n --> c.yml:3:9\n  |\n3 |   path: etc/x\n  |         ^^^^^\n"
        );
    }

    #[test]
    fn multiline_span_underlines_to_whitespace() {
        let src = "x:\n  - path: /a b\n";
        let mut s = span(2, 5, 1);
        s.end.line = 4;
        let d = Diagnostic::warning("dup", Some(s)).with_help("rename it");
        let r = render(&d, "f", src);
        assert!(
            r.contains("2 |   - path: /a b\n  |     ^^^^^\n  = help: rename it\n"),
            "{r}"
        );
    }
}
