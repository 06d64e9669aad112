//! `mkstick ignite`: Container Linux Config and Butane (`variant: flatcar`)
//! → Ignition JSON, with rustc-style diagnostics.
//!
//! Pipeline: YAML with spans ([`yaml`]) → dialect schema walk ([`butane`],
//! [`clc`] over [`walk`]) → Ignition JSON → sugar passes → validation
//! ([`validate`]) → secret checks → text.

pub mod butane;
pub mod clc;
mod clc_options;
pub mod clc_sugar;
mod cli;
pub mod dataurl;
pub mod diag;
pub mod dialect;
// C zlib through FFI: its window and hash table shrink to the input.
#[allow(unsafe_code)]
mod gzip;
mod hints;
pub mod input;
pub mod local;
pub mod modes;
mod omitempty;
mod output;
pub mod resource;
pub mod span;
pub mod spec2to3;
pub mod systemd;
pub mod validate;
mod validate3;
pub mod walk;
pub mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::Value as Json;

pub use cli::{IgniteArgs, run};
use diag::{Diagnostic, Diagnostics};
use walk::{Ctx, Dialect};
use yaml::Value;

/// The default node config (`ignition/ignition.yml` transpiled), embedded so
/// that a stick written without an Ignition option boots a complete node.
pub const DEFAULT_NODE_CONFIG_IGN: &str = include_str!("../../ignition/ignition.ign");

/// The Ignition spec version of an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum SpecVersion {
    #[value(name = "2.3.0")]
    V2_3,
    #[value(name = "3.3.0")]
    V3_3,
    #[value(name = "3.4.0")]
    V3_4,
}

impl SpecVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V2_3 => "2.3.0",
            SpecVersion::V3_3 => "3.3.0",
            SpecVersion::V3_4 => "3.4.0",
        }
    }
}

impl fmt::Display for SpecVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to transpile.
#[derive(Debug, Clone)]
pub struct Options {
    /// Directory that `local:` paths are relative to.
    pub files_dir: Option<PathBuf>,
    /// Warnings fail the run (the default, as the seed ran `ct --strict`).
    pub strict: bool,
    /// Output spec. `None`: the dialect's own (CLC 2.3.0, Butane 3.3.0/3.4.0).
    /// A CLC can be translated to 3.3.0 or 3.4.0.
    pub spec: Option<SpecVersion>,
    /// Pretty-print the JSON (two-space indent) or write one line.
    pub pretty: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            files_dir: None,
            strict: true,
            spec: None,
            pretty: true,
        }
    }
}

/// A transpiled config.
#[derive(Debug, Clone)]
pub struct Output {
    /// Ignition JSON text, ending in a newline.
    pub json: String,
    pub spec: SpecVersion,
    /// Rendered warnings (only possible when not strict).
    pub warnings: Vec<String>,
}

/// The config was rejected; `Display` is the rendered diagnostics.
#[derive(Debug)]
pub struct Rejected {
    pub rendered: String,
    pub errors: usize,
    pub warnings: usize,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rendered.trim_end())
    }
}

impl std::error::Error for Rejected {}

/// Transpiles a YAML config file (`-` = stdin) to Ignition JSON. The config
/// must be a regular file (or stdin) of at most [`input::MAX_CONFIG_BYTES`].
pub fn transpile_file(path: &Path, opts: &Options) -> anyhow::Result<Output> {
    let limit = input::MAX_CONFIG_BYTES;
    let (name, bytes) = if path == Path::new("-") {
        let bytes = input::read_bounded(std::io::stdin().lock(), limit)
            .context("reading the config from stdin")?;
        ("<stdin>".to_string(), bytes)
    } else {
        let bytes = input::read_regular(path, limit).with_context(|| {
            format!(
                "reading the config {} (a YAML file of at most {})",
                path.display(),
                input::size(limit)
            )
        })?;
        (path.display().to_string(), bytes)
    };
    let source = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "the config {name} is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    transpile_str(&source, &name, opts).map_err(anyhow::Error::new)
}

/// Transpiles YAML text; `name` is used in diagnostics.
pub fn transpile_str(source: &str, name: &str, opts: &Options) -> Result<Output, Rejected> {
    let mut diags = Diagnostics::default();
    let result = translate(source, opts, &mut diags);
    diags.sort();
    let (errors, warnings) = (diags.errors(), diags.warnings());
    let passed = errors == 0 && !(opts.strict && warnings > 0);
    let (json, spec) = match result {
        Some(out) if passed => out,
        _ => {
            let mut rendered = diag::render_all(&diags, name, source);
            rendered.push_str(&summary(errors, warnings, opts.strict));
            return Err(Rejected {
                rendered,
                errors,
                warnings,
            });
        }
    };
    let text = if opts.pretty {
        serde_json::to_string_pretty(&json)
    } else {
        serde_json::to_string(&json)
    };
    let mut text = text.map_err(|e| Rejected {
        rendered: format!("error: cannot write the Ignition JSON: {e}\n"),
        errors: 1,
        warnings,
    })?;
    text.push('\n');
    Ok(Output {
        json: text,
        spec,
        warnings: diags
            .items()
            .iter()
            .map(|d| diag::render(d, name, source))
            .collect(),
    })
}

fn summary(errors: usize, warnings: usize, strict: bool) -> String {
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, w) if strict => format!(
            "error: {} (warnings are fatal; pass --no-strict to accept them)\n",
            plural(w, "warning")
        ),
        (e, 0) => format!("error: config rejected with {}\n", plural(e, "error")),
        (e, w) => format!(
            "error: config rejected with {} and {}\n",
            plural(e, "error"),
            plural(w, "warning")
        ),
    }
}

fn translate(source: &str, opts: &Options, diags: &mut Diagnostics) -> Option<(Json, SpecVersion)> {
    let root = match yaml::parse(source) {
        Ok(root) => root,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let root = if root.is_null() {
        yaml::Node {
            value: Value::Map(Vec::new()),
            span: root.span,
        }
    } else {
        root
    };
    if !matches!(root.value, Value::Map(_)) {
        diags.push(Diagnostic::error(
            format!("a config must be a YAML mapping, found {}", root.kind()),
            Some(root.span),
        ));
        return None;
    }
    let is_butane = matches!(&root.value, Value::Map(m) if m.iter().any(|e| e.key == "variant"));
    let files_dir = opts.files_dir.as_deref();

    if is_butane {
        let mut ctx = Ctx::new(Dialect::Butane { minor: 0 }, files_dir);
        let out = butane::read_version(&mut ctx, &root).and_then(|minor| {
            ctx.dialect = Dialect::Butane { minor };
            let spec = if minor == 0 {
                SpecVersion::V3_3
            } else {
                SpecVersion::V3_4
            };
            if let Some(want) = opts.spec.filter(|w| *w != spec) {
                ctx.diags.push(
                    Diagnostic::error(
                        format!("this Butane file produces Ignition {spec}, not {want}"),
                        None,
                    )
                    .with_help(
                        "drop --spec, or change `version:` (1.0.0 → 3.3.0, 1.1.0 → 3.4.0)"
                            .to_string(),
                    ),
                );
                return None;
            }
            let json = butane::translate(&mut ctx, &root, minor)?;
            validate::validate(&mut ctx, &json, validate::Spec::V3);
            secrets_check(&mut ctx, &json);
            Some((json, spec))
        });
        finish(ctx, out, diags)
    } else {
        let mut ctx = Ctx::new(Dialect::Clc, files_dir);
        if no_document(source) {
            // ct config/config.go:49: a zero YAML node is a warning.
            ctx.diags.push(
                Diagnostic::warning("Configuration is empty", None)
                    .with_help("an empty config boots a node with nothing configured; pass --no-strict if that is meant"),
            );
        }
        let out = clc::translate(&mut ctx, &root).and_then(|json| {
            validate::validate(&mut ctx, &json, validate::Spec::V2);
            secrets_check(&mut ctx, &json);
            match opts.spec {
                None | Some(SpecVersion::V2_3) => Some((json, SpecVersion::V2_3)),
                Some(target) => {
                    let json = spec2to3::convert(&mut ctx, json, target)?;
                    validate::validate(&mut ctx, &json, validate::Spec::V3);
                    Some((json, target))
                }
            }
        });
        finish(ctx, out, diags)
    }
}

/// Whether the text holds no YAML document at all (blank lines and comments
/// only), which go-yaml v3 leaves as a zero node. `---` or `null` is a
/// document.
fn no_document(source: &str) -> bool {
    source.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#')
    })
}

fn finish(
    ctx: Ctx<'_>,
    out: Option<(Json, SpecVersion)>,
    diags: &mut Diagnostics,
) -> Option<(Json, SpecVersion)> {
    let bad = ctx.diags.has_errors();
    diags.extend(ctx.diags);
    if bad { None } else { out }
}

/// Warns about secrets written into the config: private keys in inline or
/// local contents (noted during the walk), or embedded files placed under a
/// `secrets` directory. They belong
/// on the SECRETS volume, which the node mounts read-only.
fn secrets_check(ctx: &mut Ctx<'_>, cfg: &Json) {
    let files = cfg
        .get("storage")
        .and_then(|s| s.get("files"))
        .and_then(Json::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (i, f) in files.iter().enumerate() {
        let path = f.get("path").and_then(Json::as_str).unwrap_or("");
        let base = format!("$.storage.files.{i}");
        let embedded = |r: &Json| {
            r.get("source")
                .and_then(Json::as_str)
                .is_some_and(|s| s.starts_with("data:"))
        };
        let appends = f
            .get("append")
            .and_then(Json::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if !f.get("contents").is_some_and(embedded) && !appends.iter().any(embedded) {
            continue;
        }
        let key_block = ctx.private_keys.contains(&format!("{base}.contents"))
            || ctx.private_keys.contains(&format!("tree:{path}"))
            || (0..appends.len()).any(|j| ctx.private_keys.contains(&format!("{base}.append.{j}")));
        let under_secrets = path.split('/').any(|c| c == "secrets");
        if key_block || under_secrets {
            let why = if key_block {
                "holds a private key block"
            } else {
                "is under a `secrets` directory"
            };
            let span = ctx.span_of(&format!("$.storage.files.{i}.contents"));
            ctx.diags.push(
                Diagnostic::warning(format!("{path} {why}: secrets written into an Ignition config are readable by anyone who can fetch the config"), span)
                    .with_help("put secrets on the stick's SECRETS volume (k3s_env, logexport_env, heartbeat_env, namecheap_ddns_env) and read them from /mnt/secrets"),
            );
        }
    }
}
