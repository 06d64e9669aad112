//! The schema walker: YAML nodes + a static schema → Ignition JSON, collecting
//! every diagnostic on the way and remembering where each output value came from.
//!
//! Both dialects describe their sections as [`Field`] tables; the walker does
//! the type checks, unknown-key reports and renaming, and calls back into
//! [`Special`] handlers for the few fields that are not a plain rename.

use rustc_hash::{FxHashMap, FxHashSet};
use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value as Json};

use super::dataurl;
use super::diag::{Diagnostic, Diagnostics};
use super::yaml::{Node, Scalar, Span, Value};

pub type JMap = Map<String, Json>;

/// The input dialect, with what differs between versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Container Linux Config (ct).
    Clc,
    /// Butane `variant: flatcar`, `version: 1.<minor>.0`.
    Butane { minor: u8 },
}

/// The type of a field's value.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str,
    Bool,
    Int,
    /// A file or directory mode (an int; Butane adds warnings).
    Mode {
        dir: bool,
    },
    List(&'static Ty),
    Obj(&'static [Field]),
    Special(Special),
}

/// Fields whose translation is more than a rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// Butane resource: `inline`/`local`/`source` → `source` data URL.
    Resource,
    /// Butane `contents_local`: file text copied verbatim into `contents`.
    ContentsLocal,
    /// Butane `ssh_authorized_keys_local`: keys appended after the inline ones.
    KeysLocal,
    /// A key kept for a later pass (captured, not emitted): `trees`,
    /// `with_mount_unit`, CLC sugar sections.
    Capture,
    /// A key the dialect refuses with this message.
    Refused(&'static str),
    /// CLC file contents: `inline` / `local` / `remote`.
    ClcContents,
    /// CLC `verification: {hash: {function, sum}}`.
    ClcVerification,
    /// CLC partition sizes such as `20GiB` (→ MiB).
    ClcSize,
    /// CLC partition type GUID with aliases.
    ClcTypeGuid,
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

/// Everything the walk produces besides the JSON itself.
pub struct Ctx<'a> {
    pub dialect: Dialect,
    pub files_dir: Option<&'a Path>,
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
            files_dir,
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
        match self.dialect {
            Dialect::Butane { minor } => minor,
            Dialect::Clc => 0,
        }
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
            Ty::Special(sp) => self.special(*sp, node, path),
        }
    }

    fn object(&mut self, node: &Node, fields: &'static [Field], path: &str) -> Option<JMap> {
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

    fn unknown_key(&mut self, key: &str, span: Span, fields: &[Field], path: &str) {
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

    fn boolean(&mut self, node: &Node) -> Option<bool> {
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
        if let Some(octal) = decimal_mode_to_octal(mode)
            && !is_typical_mode(mode, dir)
            && is_typical_mode(octal, dir)
        {
            self.diags.push(
                    Diagnostic::warning(
                        "unreasonable mode would be reasonable if specified in octal; remember to add a leading zero",
                        Some(span),
                    )
                    .with_help(format!("write `0{mode}`")),
                );
        }
        if mode & 0o7000 != 0 {
            self.diags.warning(
                "setuid/setgid/sticky bits are not supported or functional in spec versions older than 3.6.0",
                span,
            );
        }
    }

    fn special(&mut self, sp: Special, node: &Node, path: &str) -> Option<Json> {
        match sp {
            Special::Resource => self.resource(node, path),
            Special::Refused(msg) => {
                self.diags.error(msg, node.span);
                None
            }
            Special::ClcContents
            | Special::ClcVerification
            | Special::ClcSize
            | Special::ClcTypeGuid => super::clc::special(self, sp, node, path),
            // Handled in `object`, where the sibling keys are known.
            Special::ContentsLocal | Special::KeysLocal | Special::Capture => None,
        }
    }

    /// A Butane resource (file contents, append item, CA, merge/replace child).
    fn resource(&mut self, node: &Node, path: &str) -> Option<Json> {
        const FIELDS: &[Field] = &[
            f("compression", Ty::Str),
            f(
                "http_headers",
                Ty::List(&Ty::Obj(&[f("name", Ty::Str), f("value", Ty::Str)])),
            ),
            f("source", Ty::Str),
            f("inline", Ty::Str),
            f("local", Ty::Str),
            f("verification", Ty::Obj(&[f("hash", Ty::Str)])),
        ];
        let mut obj = self.object(node, FIELDS, path)?;
        let inline = obj.remove("inline");
        let local = obj.remove("local");
        let n = [
            inline.is_some(),
            local.is_some(),
            obj.contains_key("source"),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if n > 1 {
            self.diags.push(
                Diagnostic::error(
                    "only one of the following can be set: inline, local, source",
                    Some(node.span),
                )
                .with_path(path),
            );
            return Some(Json::Object(obj));
        }
        let data = match (inline, local) {
            (Some(Json::String(s)), _) => Some(s.into_bytes()),
            (_, Some(Json::String(rel))) => {
                let span = self
                    .spans
                    .get(&format!("{path}.local"))
                    .copied()
                    .unwrap_or(node.span);
                self.read_local(&rel, span)
            }
            _ => None,
        };
        if let Some(data) = &data
            && path.starts_with("$.ignition.config.")
        {
            self.check_child_config(data, node.span, path);
        }
        if let Some(data) = data {
            self.note_embedded(&data, path);
            let compression = obj
                .get("compression")
                .and_then(Json::as_str)
                .map(str::to_string);
            let enc = dataurl::shortest(&data, compression.as_deref());
            obj.insert("source".into(), Json::String(enc.url));
            obj.insert("compression".into(), Json::String(enc.compression));
        }
        Some(Json::Object(obj))
    }

    /// Validates an embedded child config (`merge`/`replace` with
    /// `inline`/`local`) as Ignition, when it has the output's version.
    fn check_child_config(&mut self, data: &[u8], span: Span, path: &str) {
        let Dialect::Butane { minor } = self.dialect else {
            return;
        };
        let want = if minor == 0 { "3.3.0" } else { "3.4.0" };
        let child: Json = match serde_json::from_slice(data) {
            Ok(j) => j,
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(
                        format!("the child config is not valid JSON: {e}"),
                        Some(span),
                    )
                    .with_path(path),
                );
                return;
            }
        };
        let version = child
            .get("ignition")
            .and_then(|i| i.get("version"))
            .and_then(Json::as_str)
            .unwrap_or("");
        if version != want {
            self.diags.push(
                Diagnostic::warning(
                    format!("the child config has Ignition version \"{version}\", not {want}: skipping its validation"),
                    Some(span),
                )
                .with_path(path)
                .with_help(format!("give the child `\"version\": \"{want}\"` so that it can be checked")),
            );
            return;
        }
        let mut sub = Ctx::new(self.dialect, self.files_dir);
        super::validate::validate(&mut sub, &child, super::validate::Spec::V3);
        for mut d in sub.diags.items().iter().cloned() {
            d.message = format!(
                "in the child config at {}: {}",
                d.path.as_deref().unwrap_or("$"),
                d.message
            );
            d.span = Some(span);
            d.path = Some(path.to_string());
            self.diags.push(d);
        }
    }

    /// Reads a `local:` path inside the files directory; refuses escapes.
    pub fn read_local(&mut self, rel: &str, span: Span) -> Option<Vec<u8>> {
        let path = self.local_path(rel, span)?;
        match std::fs::read(&path) {
            Ok(data) => Some(data),
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(
                        format!("cannot read local file {}: {e}", path.display()),
                        Some(span),
                    )
                    .with_help("local paths are relative to the -d/--files-dir directory"),
                );
                None
            }
        }
    }

    pub fn local_path(&mut self, rel: &str, span: Span) -> Option<PathBuf> {
        let Some(dir) = self.files_dir else {
            self.diags.push(
                Diagnostic::error(
                    "local file paths are relative to a files directory that must be specified with -d/--files-dir",
                    Some(span),
                )
                .with_help("run again with `-d DIR` naming the directory that holds the file"),
            );
            return None;
        };
        let joined = normalize(&dir.join(rel));
        if !joined.starts_with(normalize(dir)) {
            self.diags.push(
                Diagnostic::error(
                    "local file path traverses outside the files directory",
                    Some(span),
                )
                .with_help(format!(
                    "move the file into {} and name it relative to that directory",
                    dir.display()
                )),
            );
            return None;
        }
        Some(joined)
    }
}

/// Lexical clean-up (`a/./b/../c` → `a/c`) of an absolute or relative path.
fn normalize(p: &Path) -> PathBuf {
    let base = if p.is_absolute() {
        PathBuf::new()
    } else {
        std::env::current_dir().unwrap_or_default()
    };
    let mut out = base;
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `0755`-looking decimal ints: the octal value their digits spell.
fn decimal_mode_to_octal(mode: i64) -> Option<i64> {
    if !(0..=7777).contains(&mode) {
        return None;
    }
    let mut out = 0;
    for div in [1000, 100, 10, 1] {
        let digit = (mode / div) % 10;
        if digit > 7 {
            return None;
        }
        out = (out << 3) | digit;
    }
    Some(out)
}

/// Whether a mode is an unsurprising one (Butane's heuristic).
fn is_typical_mode(mode: i64, dir: bool) -> bool {
    if mode == 0 {
        return true;
    }
    let (mut had_r, mut had_w, mut had_x) = (false, false, false);
    for perm in [mode & 7, (mode >> 3) & 7, (mode >> 6) & 7] {
        let (r, w, x) = (perm & 4 != 0, perm & 2 != 0, perm & 1 != 0);
        // A more specific class has every bit of a less specific one.
        if (!r && had_r) || (!w && had_w) || (!x && had_x) {
            return false;
        }
        if x && had_r && !had_x {
            return false;
        }
        if (w || x) && !r {
            return false;
        }
        had_r |= r;
        had_w |= w;
        had_x |= x;
    }
    if !had_r {
        return false;
    }
    if dir {
        had_x && mode & 0o4000 == 0 && (mode & 0o3000 == 0 || had_w)
    } else {
        (mode & 0o6000 == 0 || (had_x && mode & 2 == 0)) && mode & 0o1000 == 0
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

    #[test]
    fn decimal_modes() {
        assert_eq!(decimal_mode_to_octal(755), Some(0o755));
        assert_eq!(decimal_mode_to_octal(789), None);
        assert!(is_typical_mode(0o755, false));
        assert!(!is_typical_mode(755, false));
        assert!(is_typical_mode(0o1777, true));
        assert!(!is_typical_mode(0o1777, false));
        assert!(!is_typical_mode(0o640 | 0o001, false));
    }

    #[test]
    fn normalizes_lexically() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(normalize(Path::new("/a/../../x")), PathBuf::from("/x"));
    }
}
