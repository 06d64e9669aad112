//! Butane resources (file contents, `append` items, TLS CAs, `merge` /
//! `replace` children): `inline` / `local` / `source` → a `source` URL,
//! embedded data as the shortest data URL, embedded child configs validated.

use serde_json::Value as Json;

use super::dataurl;
use super::diag::Diagnostic;
use super::validate;
use super::walk::{Ctx, Dialect, Field, Ty, f};
use super::yaml::{Node, Span};

/// A Butane resource (file contents, append item, CA, merge/replace child).
pub fn resource(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Json> {
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
    let mut obj = ctx.object(node, FIELDS, path)?;
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
        ctx.diags.push(
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
            let span = ctx
                .spans
                .get(&format!("{path}.local"))
                .copied()
                .unwrap_or(node.span);
            ctx.read_local(&rel, span)
        }
        _ => None,
    };
    if let Some(data) = &data
        && path.starts_with("$.ignition.config.")
    {
        check_child_config(ctx, data, node.span, path);
    }
    if let Some(data) = data {
        ctx.note_embedded(&data, path);
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
fn check_child_config(ctx: &mut Ctx<'_>, data: &[u8], span: Span, path: &str) {
    let Dialect::Butane { minor } = ctx.dialect else {
        return;
    };
    let want = if minor == 0 { "3.3.0" } else { "3.4.0" };
    let child: Json = match serde_json::from_slice(data) {
        Ok(j) => j,
        Err(e) => {
            ctx.diags.push(
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
    // base/v0_5/util.go:133: only a parsed version other than the output's
    // skips the child's validation; an unparsable one is an error of it.
    let parsed = super::clc_sugar::Semver::parse(version).is_ok();
    if !parsed {
        ctx.diags.push(
            Diagnostic::error(
                "in the child config at $.ignition.version: invalid config version (couldn't parse)",
                Some(span),
            )
            .with_path(path)
            .with_help(format!("give the child `\"version\": \"{want}\"`")),
        );
    }
    if parsed && version != want {
        ctx.diags.push(
            Diagnostic::warning(
                format!("the child config has Ignition version \"{version}\", not {want}: skipping its validation"),
                Some(span),
            )
            .with_path(path)
            .with_help(format!("give the child `\"version\": \"{want}\"` so that it can be checked")),
        );
        return;
    }
    let mut sub = Ctx::new(ctx.dialect, ctx.local.dir());
    validate::validate(&mut sub, &child, validate::Spec::V3);
    for mut d in sub.diags.items().iter().cloned() {
        d.message = format!(
            "in the child config at {}: {}",
            d.path.as_deref().unwrap_or("$"),
            d.message
        );
        d.span = Some(span);
        d.path = Some(path.to_string());
        ctx.diags.push(d);
    }
}
