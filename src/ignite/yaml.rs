//! YAML → a small tree of nodes that remember where they came from.
//!
//! The dialect readers walk this tree instead of deserializing with serde,
//! so that every finding (type errors, unknown keys, bad values) can name the
//! exact line and column, and so that all findings are reported at once.

use rustc_hash::FxHashMap;

use granit_parser::{Event, Marker, Options, Parser, ScalarStyle, ScanError};

use super::diag::Diagnostic;

pub use super::span::{Pos, Span};

/// The parser's 0-based column as our 1-based one.
fn pos_of(m: &Marker) -> Pos {
    Pos {
        line: m.line() as u32,
        col: m.col() as u32 + 1,
        offset: m.byte_offset().unwrap_or(0),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    /// Quoted and block scalars are always strings; only plain ones resolve
    /// to null, booleans and numbers.
    pub plain: bool,
    /// An explicit tag such as `!!str`, as written after the handle.
    pub tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(s) if s.is_null())
    }

    /// A short name of the node's type for messages ("a string", "a list").
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
            Value::Scalar(s) if s.is_null() => "nothing (null)",
            Value::Scalar(s) if !s.plain => "a string",
            Value::Scalar(s) if s.as_bool().is_some() => "a boolean",
            Value::Scalar(s) if s.as_int().is_some() => "an integer",
            Value::Scalar(_) => "a string",
        }
    }
}

impl Scalar {
    pub fn is_null(&self) -> bool {
        self.plain
            && self.tag.is_none()
            && matches!(self.text.as_str(), "" | "~" | "null" | "Null" | "NULL")
    }

    /// go-yaml v3 decoding a bool accepts the YAML 1.1 spellings too.
    pub fn as_bool(&self) -> Option<bool> {
        if !self.plain {
            return None;
        }
        match self.text.as_str() {
            "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
                Some(true)
            }
            "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n"
            | "N" => Some(false),
            _ => None,
        }
    }

    /// Integers as go-yaml v3 reads them into an int: `strconv.ParseInt(s, 0, 64)`,
    /// so `0644` and `0o644` are octal (420) and `0x1a4` is hex.
    pub fn as_int(&self) -> Option<i64> {
        if !self.plain {
            return None;
        }
        parse_go_int(&self.text)
    }
}

/// `strconv.ParseInt(s, 0, 64)` plus YAML's `0o` prefix and `_` separators.
pub fn parse_go_int(text: &str) -> Option<i64> {
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') {
        return None;
    }
    let clean: String = body.chars().filter(|&c| c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// Parses one YAML document. An empty input gives a null node.
pub fn parse(source: &str) -> Result<Node, Diagnostic> {
    let mut builder = Builder {
        anchors: FxHashMap::default(),
        stack: Vec::new(),
        root: None,
        documents: 0,
        nodes: 0,
        alias_nodes: 0,
    };
    // Comments carry no data; not capturing them saves work on large files.
    let mut options = Options::default();
    options.emit_comments = false;
    for item in Parser::new_from_str_with_options(source, options) {
        let (event, span) = item.map_err(|e| scan_error(source, &e))?;
        builder.event(
            event,
            Span {
                start: pos_of(&span.start),
                end: pos_of(&span.end),
            },
        )?;
    }
    Ok(builder.root.unwrap_or(Node {
        value: Value::Scalar(Scalar {
            text: String::new(),
            plain: true,
            tag: None,
        }),
        span: Span::default(),
    }))
}

/// The position of a syntax error, moved to where the problem really is when
/// the scanner only notices it later (an unclosed quote is found at the end).
fn scan_error(source: &str, e: &ScanError) -> Diagnostic {
    let pos = pos_of(e.marker());
    let info = e.info();
    let quoted = info.contains("end of stream") || info.contains("quoted scalar");
    if let Some(open) = unclosed_quote(source).filter(|_| quoted) {
        return Diagnostic::error(
            format!("invalid YAML: this quoted string is never closed ({info})"),
            Some(Span { start: open, end: open }),
        )
        .with_help("end the string with the same quote on its line, or use a `|` block for multi-line text");
    }
    let d = Diagnostic::error(
        format!("invalid YAML: {info}"),
        Some(Span {
            start: pos,
            end: pos,
        }),
    );
    if info.contains("did not find expected") {
        d.with_help("check this line's indentation against the lines above it")
    } else {
        d
    }
}

/// Finds the opening quote of a quoted scalar that never closes, by scanning
/// the source with the same quoting rules (comments, '' and \" escapes).
fn unclosed_quote(source: &str) -> Option<Pos> {
    let mut quote: Option<(char, Pos)> = None;
    let mut line = 1u32;
    let mut col = 0u32;
    let mut in_comment = false;
    let mut prev = ' ';
    let mut chars = source.char_indices().peekable();
    while let Some((off, c)) = chars.next() {
        col += 1;
        match quote {
            Some((q, _)) => {
                if q == '"' && c == '\\' {
                    chars.next();
                    col += 1;
                } else if c == q {
                    if q == '\'' && chars.peek().map(|&(_, n)| n) == Some('\'') {
                        chars.next();
                        col += 1;
                    } else {
                        quote = None;
                    }
                }
            }
            None if in_comment => {}
            None => {
                if c == '#' && (prev == ' ' || prev == '\t' || col == 1) {
                    in_comment = true;
                } else if (c == '"' || c == '\'')
                    && (col == 1 || matches!(prev, ' ' | '\t' | '[' | '{' | ',' | ':' | '-'))
                {
                    quote = Some((
                        c,
                        Pos {
                            line,
                            col,
                            offset: off,
                        },
                    ));
                }
            }
        }
        if c == '\n' {
            line += 1;
            col = 0;
            in_comment = false;
        }
        prev = c;
    }
    quote.map(|(_, p)| p)
}

enum Frame {
    Seq(Vec<Node>, Span, usize),
    Map(MapFrame),
}

/// A mapping being built.
struct MapFrame {
    entries: Vec<Entry>,
    /// The keys of `entries` with their index, so that duplicate checks and
    /// merges stay linear in mappings of any size.
    keys: FxHashMap<String, usize>,
    /// A key read whose value has not come yet.
    pending: Option<(String, Span)>,
    span: Span,
    anchor: usize,
    /// Entries from `<<` merge keys, added at the end if not overridden.
    merged: Vec<Entry>,
}

struct Builder {
    /// Anchored nodes with the number of nodes in each (for the alias budget).
    anchors: FxHashMap<usize, (Node, u64)>,
    stack: Vec<Frame>,
    root: Option<Node>,
    documents: usize,
    /// Nodes built so far, copies made for aliases included.
    nodes: u64,
    /// Of those, the nodes that are copies made for aliases.
    alias_nodes: u64,
}

/// go-yaml v3's bound on aliasing (decode.go, `allowedAliasRatio`), which
/// ct and Butane inherit: up to 400,000 nodes, 99 % of them may come from
/// aliases; from 4,000,000 on, 10 %; linear in between. A billion-laughs
/// document fails after a few thousand copies instead of exhausting memory.
fn allowed_alias_ratio(nodes: u64) -> f64 {
    const LOW: u64 = 400_000;
    const HIGH: u64 = 4_000_000;
    match nodes {
        n if n <= LOW => 0.99,
        n if n >= HIGH => 0.10,
        n => 0.99 - 0.89 * ((n - LOW) as f64 / (HIGH - LOW) as f64),
    }
}

/// The number of nodes in a tree (itself included).
fn count_nodes(node: &Node) -> u64 {
    match &node.value {
        Value::Scalar(_) => 1,
        Value::Seq(items) => 1 + items.iter().map(count_nodes).sum::<u64>(),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|e| 1 + count_nodes(&e.value))
                .sum::<u64>()
        }
    }
}

impl Builder {
    /// An alias copies its anchor's node, bounded by the rule ct and Butane
    /// use against alias bombs (checked before the copy is made).
    fn alias(&mut self, id: usize, span: Span) -> Result<(), Diagnostic> {
        let Some((node, size)) = self.anchors.get(&id) else {
            return Err(Diagnostic::error("unknown alias", Some(span)));
        };
        // Checked before copying, so that the copy itself is bounded.
        let (nodes, aliased) = (self.nodes + size, self.alias_nodes + size);
        if aliased > 100
            && nodes > 1000
            && aliased as f64 / nodes as f64 > allowed_alias_ratio(nodes)
        {
            return Err(Diagnostic::error(
                format!("document contains excessive aliasing: this alias would make {nodes} nodes, {aliased} of them copies made for aliases"),
                Some(span),
            )
            .with_help("write the repeated values out, or reuse fewer levels of anchors (a config expands every alias in full)"));
        }
        let node = Node {
            span,
            ..node.clone()
        };
        self.nodes = nodes - 1;
        self.alias_nodes = aliased;
        self.add(node, 0)?;
        Ok(())
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Diagnostic> {
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Diagnostic::error(
                        "a config must be a single YAML document",
                        Some(span),
                    )
                    .with_help("remove the second `---` document or split it into its own file"));
                }
            }
            Event::Alias(id) => self.alias(id, span)?,
            Event::UnresolvedAlias(name) => {
                return Err(Diagnostic::error(
                    format!("alias *{name} names no anchor defined before it"),
                    Some(span),
                ));
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| t.suffix().to_string());
                let scalar = Scalar {
                    text: text.into_owned(),
                    plain: style == ScalarStyle::Plain && tag.as_deref() != Some("str"),
                    tag,
                };
                self.add(
                    Node {
                        value: Value::Scalar(scalar),
                        span,
                    },
                    anchor,
                )?;
            }
            Event::SequenceStart(_, anchor, _) => {
                self.stack.push(Frame::Seq(Vec::new(), span, anchor))
            }
            Event::MappingStart(_, anchor, _) => self.stack.push(Frame::Map(MapFrame {
                entries: Vec::new(),
                keys: FxHashMap::default(),
                pending: None,
                span,
                anchor,
                merged: Vec::new(),
            })),
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items, start, anchor)) = self.stack.pop() {
                    let span = Span {
                        start: start.start,
                        end: span.end,
                    };
                    self.add(
                        Node {
                            value: Value::Seq(items),
                            span,
                        },
                        anchor,
                    )?;
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(mut map)) = self.stack.pop() {
                    // Merged keys (`<<`) come last and never override explicit ones.
                    for e in std::mem::take(&mut map.merged) {
                        if !map.keys.contains_key(&e.key) {
                            map.keys.insert(e.key.clone(), map.entries.len());
                            map.entries.push(e);
                        }
                    }
                    let (entries, anchor) = (map.entries, map.anchor);
                    let span = Span {
                        start: map.span.start,
                        end: span.end,
                    };
                    self.add(
                        Node {
                            value: Value::Map(entries),
                            span,
                        },
                        anchor,
                    )?;
                }
            }
            // Comments, anchor metadata and future event kinds carry no data.
            _ => {}
        }
        Ok(())
    }

    fn add(&mut self, node: Node, anchor: usize) -> Result<(), Diagnostic> {
        self.nodes += 1;
        if anchor != 0 {
            let size = count_nodes(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq(items, ..)) => items.push(node),
            Some(Frame::Map(map)) => match map.pending.take() {
                None => {
                    let Value::Scalar(s) = &node.value else {
                        return Err(Diagnostic::error(
                            "mapping keys must be plain strings",
                            Some(node.span),
                        ));
                    };
                    map.pending = Some((s.text.clone(), node.span));
                }
                Some((key, key_span)) if key == "<<" => {
                    merge_into(&mut map.merged, node, key_span)?
                }
                Some((key, key_span)) => {
                    if let Some(first) = map.keys.get(&key).map(|&i| &map.entries[i]) {
                        return Err(Diagnostic::error(
                            format!(
                                "duplicate key `{key}` (first defined at line {})",
                                first.key_span.start.line
                            ),
                            Some(key_span),
                        )
                        .with_help(
                            "a key may appear only once in a mapping; merge the two entries",
                        ));
                    }
                    map.keys.insert(key.clone(), map.entries.len());
                    map.entries.push(Entry {
                        key,
                        key_span,
                        value: node,
                    });
                }
            },
        }
        Ok(())
    }
}

/// YAML merge keys (`<<: *base`): keys already present win.
fn merge_into(entries: &mut Vec<Entry>, node: Node, key_span: Span) -> Result<(), Diagnostic> {
    let maps = match node.value {
        Value::Map(m) => vec![m],
        Value::Seq(items) => items
            .into_iter()
            .map(|n| match n.value {
                Value::Map(m) => Ok(m),
                _ => Err(Diagnostic::error("`<<` merges only mappings", Some(n.span))),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(Diagnostic::error(
                "`<<` merges only mappings",
                Some(key_span),
            ));
        }
    };
    let mut seen: rustc_hash::FxHashSet<String> = entries.iter().map(|e| e.key.clone()).collect();
    for map in maps {
        for e in map {
            if seen.insert(e.key.clone()) {
                entries.push(e);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(node: &Node) -> &[Entry] {
        match &node.value {
            Value::Map(m) => m,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn go_ints() {
        assert_eq!(parse_go_int("0644"), Some(420));
        assert_eq!(parse_go_int("0o644"), Some(420));
        assert_eq!(parse_go_int("0x1a4"), Some(420));
        assert_eq!(parse_go_int("755"), Some(755));
        assert_eq!(parse_go_int("-12"), Some(-12));
        assert_eq!(parse_go_int("0"), Some(0));
        assert_eq!(parse_go_int("089"), None);
        assert_eq!(parse_go_int("1.5"), None);
        assert_eq!(parse_go_int(""), None);
    }

    #[test]
    fn spans_are_one_based() {
        let n = parse("a: 1\nbb:\n  c: 'x'\n").unwrap();
        let m = map(&n);
        assert_eq!((m[1].key_span.start.line, m[1].key_span.start.col), (2, 1));
        let inner = map(&m[1].value);
        assert_eq!(
            (
                inner[0].value.span.start.line,
                inner[0].value.span.start.col
            ),
            (3, 6)
        );
        assert!(matches!(&inner[0].value.value, Value::Scalar(s) if !s.plain && s.text == "x"));
    }

    #[test]
    fn duplicate_key_is_an_error_at_the_second() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        let s = e.span.unwrap();
        assert_eq!((s.start.line, s.start.col), (3, 1));
        assert!(e.message.contains("line 1"), "{}", e.message);
    }

    #[test]
    fn unclosed_quote_points_at_the_quote() {
        let e = parse("a: 1\nb:\n  c: \"open\n  d: 2\n").unwrap_err();
        let s = e.span.unwrap();
        assert_eq!((s.start.line, s.start.col), (3, 6), "{e:?}");
    }

    #[test]
    fn anchors_and_merge_keys() {
        let n = parse("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n").unwrap();
        let c = map(&map(&n)[1].value);
        let keys: Vec<_> = c.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["y", "x"]);
    }

    #[test]
    fn empty_is_null() {
        assert!(parse("").unwrap().is_null());
        assert!(parse("# only a comment\n").unwrap().is_null());
    }
}
