//! The schema walker: YAML nodes + a static schema → Ignition JSON, collecting
//! every diagnostic on the way and remembering where each output value came from.
//!
//! Both dialects describe their sections as [`Field`] tables; the walker does
//! the type checks, unknown-key reports and renaming, and calls back into
//! [`Special`] handlers for the few fields that are not a plain rename.

use rustc_hash::{FxHashMap, FxHashSet};
use std::borrow::Cow;
use std::path::Path;

use serde_json::{Map, Value as Json};

use super::diag::{Diagnostic, Diagnostics};
pub use super::dialect::Dialect;
use super::local::{LocalError, LocalFiles};
use super::modes;
use super::yaml::{Node, Scalar, Span, Value};

pub type JMap = Map<String, Json>;

/// The type of a field's value.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str,
    Bool,
    Int,
    /// An unsigned int (Go `*uint`): a negative value is a type error.
    Uint,
    /// A file or directory mode (an int; Butane adds warnings).
    Mode {
        dir: bool,
    },
    List(&'static Ty),
    Obj(&'static [Field]),
    Special(Special),
    /// A dialect's own translation of a value (Butane resources, CLC
    /// contents, sizes, …): the walker calls it and knows nothing more.
    Custom(Custom),
}

/// A dialect's handler for a value at an output path.
pub type Custom = fn(&mut Ctx<'_>, &Node, &str) -> Option<Json>;

/// Fields the walker handles with knowledge of their sibling keys.
#[derive(Debug, Clone, Copy)]
pub enum Special {
    /// Butane `contents_local`: file text copied verbatim into `contents`.
    ContentsLocal,
    /// Butane `ssh_authorized_keys_local`: keys appended after the inline ones.
    KeysLocal,
    /// A key kept for a later pass (captured, not emitted): `trees`,
    /// `with_mount_unit`, CLC sugar sections.
    Capture,
}

/// One key of a mapping.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub key: &'static str,
    /// Output name; empty = camelCase of `key`.
    pub json: &'static str,
    pub ty: Ty,
    /// Lowest Butane minor version that has this key (0 = all).
    pub since_minor: u8,
}

pub const fn f(key: &'static str, ty: Ty) -> Field {
    Field {
        key,
        json: "",
        ty,
        since_minor: 0,
    }
}

pub const fn fj(key: &'static str, json: &'static str, ty: Ty) -> Field {
    Field {
        key,
        json,
        ty,
        since_minor: 0,
    }
}

pub const fn f11(key: &'static str, ty: Ty) -> Field {
    Field {
        key,
        json: "",
        ty,
        since_minor: 1,
    }
}

pub const STRS: Ty = Ty::List(&Ty::Str);

/// snake_case → camelCase, with Ignition's `MiB` spelling.
pub fn camel(key: &str) -> Cow<'_, str> {
    if !key.contains('_') {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len());
    for (i, part) in key.split('_').enumerate() {
        if i == 0 {
            out.push_str(part);
        } else if part == "mib" {
            out.push_str("MiB");
        } else {
            let mut cs = part.chars();
            if let Some(c) = cs.next() {
                out.extend(c.to_uppercase());
                out.push_str(cs.as_str());
            }
        }
    }
    Cow::Owned(out)
}

/// `out[key]` as an object, created (or made one) when it is not.
pub fn obj_entry<'m>(out: &'m mut JMap, key: &str) -> &'m mut JMap {
    let v = out
        .entry(key.to_string())
        .or_insert_with(|| Json::Object(JMap::new()));
    if !v.is_object() {
        *v = Json::Object(JMap::new());
    }
    match v {
        Json::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// Everything the walk produces besides the JSON itself.
pub struct Ctx<'a> {
    pub dialect: Dialect,
    /// The `-d/--files-dir` files, confined and bounded.
    pub local: LocalFiles<'a>,
    pub diags: Diagnostics,
    /// Output JSON path (`$.storage.files.0.path`) → where it came from.
    pub spans: FxHashMap<String, Span>,
    /// Captured nodes by output path of their parent object + key.
    pub captured: Vec<(String, &'static str, Node)>,
    /// Output paths of embedded contents holding a private key block,
    /// noted while the raw bytes are at hand.
    pub private_keys: FxHashSet<String>,
}

impl<'a> Ctx<'a> {
    pub fn new(dialect: Dialect, files_dir: Option<&'a Path>) -> Self {
        Self {
            dialect,
            local: LocalFiles::new(files_dir),
            diags: Diagnostics::default(),
            spans: FxHashMap::default(),
            captured: Vec::new(),
            private_keys: FxHashSet::default(),
        }
    }

    /// Notes embedded `data` at output `path` if it holds a private key.
    pub fn note_embedded(&mut self, data: &[u8], path: &str) {
        let has = |needle: &[u8]| data.windows(needle.len()).any(|w| w == needle);
        if has(b"-----BEGIN") && has(b"PRIVATE KEY-----") {
            self.private_keys.insert(path.to_string());
        }
    }

    fn minor(&self) -> u8 {
        self.dialect.minor()
    }

    /// The nearest recorded source position for an output path.
    pub fn span_of(&self, path: &str) -> Option<Span> {
        let mut p = path;
        loop {
            if let Some(s) = self.spans.get(p) {
                return Some(*s);
            }
            p = &p[..p.rfind('.')?];
        }
    }

    pub fn error_at(&mut self, path: &str, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::error(msg, self.span_of(path)).with_path(path)
    }

    /// Walks `node` as `ty`; `None` when absent (null) or invalid.
    pub fn walk(&mut self, node: &Node, ty: &Ty, path: &str) -> Option<Json> {
        if node.is_null() {
            return None;
        }
        self.spans.insert(path.to_string(), node.span);
        match ty {
            Ty::Str => self.string(node).map(Json::String),
            Ty::Bool => self.boolean(node).map(Json::Bool),
            Ty::Int => self.int(node).map(Json::from),
            Ty::Uint => match self.int(node)? {
                n if n < 0 => {
                    self.type_error(node, "a non-negative integer");
                    None
                }
                n => Some(Json::from(n)),
            },
            Ty::Mode { dir } => {
                let mode = self.int(node)?;
                if matches!(self.dialect, Dialect::Butane { .. }) {
                    self.mode_warnings(mode, *dir, node.span);
                }
                Some(Json::from(mode))
            }
            Ty::List(item) => {
                let Value::Seq(items) = &node.value else {
                    self.type_error(node, "a list");
                    return None;
                };
                // Indices follow the output, so that validation finds the
                // source of each emitted entry even after a dropped one.
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    let p = format!("{path}.{}", out.len());
                    if let Some(v) = self.walk(it, item, &p) {
                        out.push(v);
                    }
                }
                Some(Json::Array(out))
            }
            Ty::Obj(fields) => self.object(node, fields, path).map(Json::Object),
            // Handled in `object`, where the sibling keys are known.
            Ty::Special(Special::ContentsLocal | Special::KeysLocal | Special::Capture) => None,
            Ty::Custom(handler) => handler(self, node, path),
        }
    }

    pub fn object(&mut self, node: &Node, fields: &'static [Field], path: &str) -> Option<JMap> {
        let Value::Map(entries) = &node.value else {
            self.type_error(node, "a mapping");
            return None;
        };
        let mut out = JMap::new();
        let mut local_keys: Option<(&Node, String)> = None;
        for e in entries {
            let minor = self.minor();
            let Some(field) = fields
                .iter()
                .find(|fl| fl.key == e.key && fl.since_minor <= minor)
            else {
                self.unknown_key(&e.key, e.key_span, fields, path);
                continue;
            };
            let json = if field.json.is_empty() {
                camel(field.key).into_owned()
            } else {
                field.json.to_string()
            };
            let p = format!("{path}.{json}");
            match field.ty {
                Ty::Special(Special::Capture) => {
                    if !e.value.is_null() {
                        self.captured
                            .push((path.to_string(), field.key, e.value.clone()));
                    }
                }
                Ty::Special(Special::KeysLocal) => local_keys = Some((&e.value, p)),
                Ty::Special(Special::ContentsLocal) => {
                    if e.value.is_null() {
                        continue;
                    }
                    if entries
                        .iter()
                        .any(|x| x.key == "contents" && !x.value.is_null())
                    {
                        self.diags.push(Diagnostic::error(
                            "only one of the following can be set: contents, contents_local",
                            Some(e.key_span),
                        ));
                        continue;
                    }
                    let p = format!("{path}.contents");
                    self.spans.insert(p, e.value.span);
                    if let Some(text) = self
                        .string(&e.value)
                        .and_then(|rel| self.read_local(&rel, e.value.span))
                    {
                        out.insert(
                            "contents".into(),
                            Json::String(String::from_utf8_lossy(&text).into_owned()),
                        );
                    }
                }
                _ => {
                    if let Some(v) = self.walk(&e.value, &field.ty, &p) {
                        out.insert(json, v);
                    }
                    // A whole section is best shown by its key, a scalar by its value.
                    if matches!(e.value.value, Value::Map(_) | Value::Seq(_)) {
                        self.spans.insert(p, e.key_span);
                    }
                }
            }
        }
        if let Some((node, p)) = local_keys {
            self.local_keys(node, &p, &mut out);
        }
        Some(out)
    }

    fn local_keys(&mut self, node: &Node, p: &str, out: &mut JMap) {
        let Some(Json::Array(files)) = self.walk(node, &STRS, p) else {
            return;
        };
        let mut keys = match out.remove("sshAuthorizedKeys") {
            Some(Json::Array(k)) => k,
            _ => Vec::new(),
        };
        let Value::Seq(items) = &node.value else {
            return;
        };
        for (rel, item) in files.iter().zip(items) {
            let Some(rel) = rel.as_str() else { continue };
            if let Some(data) = self.read_local(rel, item.span) {
                let text = String::from_utf8_lossy(&data);
                keys.extend(
                    text.split('\n')
                        .map(|l| l.strip_suffix('\r').unwrap_or(l))
                        .filter(|l| !l.is_empty())
                        .map(|l| Json::String(l.to_string())),
                );
            }
        }
        out.insert("sshAuthorizedKeys".into(), Json::Array(keys));
    }

    pub fn unknown_key(&mut self, key: &str, span: Span, fields: &[Field], path: &str) {
        let minor = self.minor();
        let mut d = Diagnostic::warning(format!("unknown key `{key}`"), Some(span))
            .with_path(format!("{path}.{key}"));
        if let Some(f) = fields.iter().find(|f| f.key == key) {
            d = Diagnostic::warning(
                format!("`{key}` needs variant flatcar version 1.{}.0 or newer (this file is 1.{minor}.0)", f.since_minor),
                Some(span),
            )
            .with_help(format!("change `version:` to 1.{}.0", f.since_minor));
        } else if let Some(help) = super::hints::cross_dialect(self.dialect, key) {
            d = d.with_help(help);
        } else if let Some(best) = fields
            .iter()
            .filter(|f| f.since_minor <= minor)
            .map(|f| (strsim::jaro_winkler(key, f.key), f.key))
            .filter(|(s, _)| *s > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
        {
            d = d.with_help(format!("did you mean `{}`?", best.1));
        }
        self.diags.push(d);
    }

    pub fn type_error(&mut self, node: &Node, expected: &str) {
        let mut d = Diagnostic::error(
            format!("expected {expected}, found {}", describe(node)),
            Some(node.span),
        );
        if let Value::Scalar(s) = &node.value
            && !s.plain
            && expected == "an integer"
            && super::yaml::parse_go_int(&s.text).is_some()
        {
            d = d.with_help(format!(
                "remove the quotes: `{}` (a leading 0 means octal)",
                s.text
            ));
        }
        self.diags.push(d);
    }

    pub fn string(&mut self, node: &Node) -> Option<String> {
        match &node.value {
            Value::Scalar(s) => Some(s.text.clone()),
            _ => {
                self.type_error(node, "a string");
                None
            }
        }
    }

    pub fn boolean(&mut self, node: &Node) -> Option<bool> {
        match &node.value {
            Value::Scalar(s) if s.as_bool().is_some() => s.as_bool(),
            _ => {
                self.type_error(node, "a boolean (true or false)");
                None
            }
        }
    }

    pub fn int(&mut self, node: &Node) -> Option<i64> {
        match &node.value {
            Value::Scalar(s) if s.as_int().is_some() => s.as_int(),
            _ => {
                self.type_error(node, "an integer");
                None
            }
        }
    }

    fn mode_warnings(&mut self, mode: i64, dir: bool, span: Span) {
        for w in modes::warnings(mode, dir) {
            let d = Diagnostic::warning(w.message, Some(span));
            self.diags.push(match w.help {
                Some(help) => d.with_help(help),
                None => d,
            });
        }
    }

    /// Reads a file named by a `local`-style key, or reports why not at `span`.
    pub fn read_local(&mut self, rel: &str, span: Span) -> Option<Vec<u8>> {
        self.local
            .read(rel)
            .map_err(|e| self.local_error(&e, span))
            .ok()
    }

    /// Reports a refused local path at `span`.
    pub fn local_error(&mut self, e: &LocalError, span: Span) {
        self.diags
            .push(Diagnostic::error(e.to_string(), Some(span)).with_help(e.help()));
    }
}

fn describe(node: &Node) -> String {
    match &node.value {
        Value::Scalar(Scalar {
            text, plain: false, ..
        }) => format!("the string \"{text}\""),
        Value::Scalar(s) if !s.is_null() && s.as_bool().is_none() && s.as_int().is_none() => {
            format!("the string \"{}\"", s.text)
        }
        Value::Scalar(s) if s.as_int().is_some() || s.as_bool().is_some() => {
            format!("{} `{}`", node.kind(), s.text)
        }
        _ => node.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case() {
        assert_eq!(camel("ssh_authorized_keys"), "sshAuthorizedKeys");
        assert_eq!(camel("size_mib"), "sizeMiB");
        assert_eq!(camel("name"), "name");
    }
}
