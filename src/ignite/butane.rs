//! Butane `variant: flatcar` 1.0.0 / 1.1.0 → Ignition 3.3.0 / 3.4.0.

use std::path::Path;

use rustc_hash::FxHashMap;

use serde_json::Value as Json;

use super::diag::Diagnostic;
use super::resource;
use super::systemd;
use super::walk::{Ctx, Dialect, Field, JMap, STRS, Special, Ty, f, f11, obj_entry};
use super::yaml::{Node, Span, Value};

const RESOURCE: Ty = Ty::Custom(resource::resource);
const ID_NAME: Ty = Ty::Obj(&[f("id", Ty::Int), f("name", Ty::Str)]);

const IGNITION: &[Field] = &[
    f(
        "config",
        Ty::Obj(&[f("merge", Ty::List(&RESOURCE)), f("replace", RESOURCE)]),
    ),
    f(
        "proxy",
        Ty::Obj(&[
            f("http_proxy", Ty::Str),
            f("https_proxy", Ty::Str),
            f("no_proxy", STRS),
        ]),
    ),
    f(
        "security",
        Ty::Obj(&[f(
            "tls",
            Ty::Obj(&[f("certificate_authorities", Ty::List(&RESOURCE))]),
        )]),
    ),
    f(
        "timeouts",
        Ty::Obj(&[
            f("http_response_headers", Ty::Int),
            f("http_total", Ty::Int),
        ]),
    ),
];

const USER: &[Field] = &[
    f("name", Ty::Str),
    f("password_hash", Ty::Str),
    f("ssh_authorized_keys", STRS),
    f11("ssh_authorized_keys_local", Ty::Special(Special::KeysLocal)),
    f("uid", Ty::Int),
    f("gecos", Ty::Str),
    f("home_dir", Ty::Str),
    f("no_create_home", Ty::Bool),
    f("primary_group", Ty::Str),
    f("groups", STRS),
    f("no_user_group", Ty::Bool),
    f("no_log_init", Ty::Bool),
    f("shell", Ty::Str),
    f("should_exist", Ty::Bool),
    f("system", Ty::Bool),
];

const GROUP: &[Field] = &[
    f("name", Ty::Str),
    f("gid", Ty::Int),
    f("password_hash", Ty::Str),
    f("should_exist", Ty::Bool),
    f("system", Ty::Bool),
];

const PARTITION: &[Field] = &[
    f("label", Ty::Str),
    f("number", Ty::Int),
    f("size_mib", Ty::Int),
    f("start_mib", Ty::Int),
    f("type_guid", Ty::Str),
    f("guid", Ty::Str),
    f("wipe_partition_entry", Ty::Bool),
    f("should_exist", Ty::Bool),
    f("resize", Ty::Bool),
];

const FILE: &[Field] = &[
    f("path", Ty::Str),
    f("overwrite", Ty::Bool),
    f("user", ID_NAME),
    f("group", ID_NAME),
    f("contents", RESOURCE),
    f("append", Ty::List(&RESOURCE)),
    f("mode", Ty::Mode { dir: false }),
];

const DIRECTORY: &[Field] = &[
    f("path", Ty::Str),
    f("overwrite", Ty::Bool),
    f("user", ID_NAME),
    f("group", ID_NAME),
    f("mode", Ty::Mode { dir: true }),
];

const LINK: &[Field] = &[
    f("path", Ty::Str),
    f("overwrite", Ty::Bool),
    f("user", ID_NAME),
    f("group", ID_NAME),
    f("target", Ty::Str),
    f("hard", Ty::Bool),
];

const FILESYSTEM: &[Field] = &[
    f("device", Ty::Str),
    f("format", Ty::Str),
    f("wipe_filesystem", Ty::Bool),
    f("label", Ty::Str),
    f("uuid", Ty::Str),
    f("options", STRS),
    f("path", Ty::Str),
    f("mount_options", STRS),
    f("with_mount_unit", Ty::Special(Special::Capture)),
];

/// Read as Butane's types do (base/v0_5/schema.go:17), then refused when
/// not empty: the flatcar field filter (config/flatcar/v1_1/translate.go:27).
const CLEVIS: &[Field] = &[
    f(
        "custom",
        Ty::Obj(&[
            f("config", Ty::Str),
            f("needs_network", Ty::Bool),
            f("pin", Ty::Str),
        ]),
    ),
    f(
        "tang",
        Ty::List(&Ty::Obj(&[
            f("thumbprint", Ty::Str),
            f("url", Ty::Str),
            f11("advertisement", Ty::Str),
        ])),
    ),
    f("threshold", Ty::Int),
    f("tpm2", Ty::Bool),
];

const LUKS: &[Field] = &[
    f("name", Ty::Str),
    f("device", Ty::Str),
    f("key_file", RESOURCE),
    f("label", Ty::Str),
    f("uuid", Ty::Str),
    f("options", STRS),
    f("wipe_volume", Ty::Bool),
    f("clevis", Ty::Obj(CLEVIS)),
    f11("discard", Ty::Bool),
    f11("open_options", STRS),
];

const STORAGE: &[Field] = &[
    f(
        "disks",
        Ty::List(&Ty::Obj(&[
            f("device", Ty::Str),
            f("wipe_table", Ty::Bool),
            f("partitions", Ty::List(&Ty::Obj(PARTITION))),
        ])),
    ),
    f(
        "raid",
        Ty::List(&Ty::Obj(&[
            f("name", Ty::Str),
            f("level", Ty::Str),
            f("devices", STRS),
            f("spares", Ty::Int),
            f("options", STRS),
        ])),
    ),
    f("filesystems", Ty::List(&Ty::Obj(FILESYSTEM))),
    f("files", Ty::List(&Ty::Obj(FILE))),
    f("directories", Ty::List(&Ty::Obj(DIRECTORY))),
    f("links", Ty::List(&Ty::Obj(LINK))),
    f("luks", Ty::List(&Ty::Obj(LUKS))),
    f("trees", Ty::Special(Special::Capture)),
];

const DROPIN: &[Field] = &[
    f("name", Ty::Str),
    f("contents", Ty::Str),
    f11("contents_local", Ty::Special(Special::ContentsLocal)),
];

const UNIT: &[Field] = &[
    f("name", Ty::Str),
    f("enabled", Ty::Bool),
    f("mask", Ty::Bool),
    f("contents", Ty::Str),
    f11("contents_local", Ty::Special(Special::ContentsLocal)),
    f("dropins", Ty::List(&Ty::Obj(DROPIN))),
];

/// The top level. `variant`/`version` are read before the walk.
const ROOT: &[Field] = &[
    f("variant", Ty::Special(Special::Capture)),
    f("version", Ty::Special(Special::Capture)),
    f("ignition", Ty::Obj(IGNITION)),
    f(
        "kernel_arguments",
        Ty::Obj(&[f("should_exist", STRS), f("should_not_exist", STRS)]),
    ),
    f(
        "passwd",
        Ty::Obj(&[
            f("users", Ty::List(&Ty::Obj(USER))),
            f("groups", Ty::List(&Ty::Obj(GROUP))),
        ]),
    ),
    f("storage", Ty::Obj(STORAGE)),
    f("systemd", Ty::Obj(&[f("units", Ty::List(&Ty::Obj(UNIT)))])),
];

/// Translates a Butane document whose `variant`/`version` were already read.
pub fn translate(ctx: &mut Ctx<'_>, root: &Node, minor: u8) -> Option<Json> {
    let Json::Object(mut out) = ctx.walk(root, &Ty::Obj(ROOT), "$")? else {
        return None;
    };
    let captured = std::mem::take(&mut ctx.captured);
    let mut mount_units = Vec::new();
    for (parent, key, node) in &captured {
        match *key {
            "trees" => trees(ctx, &mut out, node),
            "with_mount_unit" => {
                if let Some(unit) = mount_unit(ctx, &out, parent, node) {
                    mount_units.push(unit);
                }
            }
            _ => {}
        }
    }
    if !mount_units.is_empty() {
        merge_units(ctx, &mut out, mount_units);
    }
    drop_zero_partition_numbers(&mut out);
    prune_empty(&mut out);
    refuse_clevis(ctx, &mut out);
    let version = if minor == 0 { "3.3.0" } else { "3.4.0" };
    obj_entry(&mut out, "ignition").insert("version".into(), Json::String(version.into()));
    Some(Json::Object(out))
}

/// `number: 0` is left out: in the Ignition 3 types it is the one plain
/// (non-pointer) `omitempty` field a Butane config can set to a zero value
/// (`Partition.Number`, butane base/v0_5/schema.go:147).
fn drop_zero_partition_numbers(out: &mut JMap) {
    let disks = out
        .get_mut("storage")
        .and_then(|s| s.get_mut("disks"))
        .and_then(Json::as_array_mut);
    for disk in disks.into_iter().flatten() {
        let parts = disk.get_mut("partitions").and_then(Json::as_array_mut);
        for p in parts.into_iter().flatten().filter_map(Json::as_object_mut) {
            if p.get("number").and_then(Json::as_i64) == Some(0) {
                p.remove("number");
            }
        }
    }
}

/// The flatcar variants filter `storage.luks.clevis`: an error when it is
/// not empty after Butane's pruning (config/util/filter.go:97), where a set
/// `false`/`0`/`""` counts (pointers) and `tang: []` does not.
fn refuse_clevis(ctx: &mut Ctx<'_>, out: &mut JMap) {
    let luks = out
        .get_mut("storage")
        .and_then(|s| s.get_mut("luks"))
        .and_then(Json::as_array_mut);
    for (i, l) in luks.into_iter().flatten().enumerate() {
        if l.as_object_mut().and_then(|l| l.remove("clevis")).is_some() {
            let d = ctx.error_at(
                &format!("$.storage.luks.{i}.clevis"),
                "clevis is not supported in this spec version",
            );
            ctx.diags.push(d.with_help(
                "Flatcar's Ignition has no clevis support: unlock with `key_file` instead",
            ));
        }
    }
}

/// Butane drops empty structs and lists (Go `omitempty`).
fn prune_empty(map: &mut JMap) {
    map.retain(|_, v| {
        if let Json::Object(m) = v {
            prune_empty(m);
            !m.is_empty()
        } else if let Json::Array(a) = v {
            for item in a.iter_mut() {
                if let Json::Object(m) = item {
                    prune_empty(m);
                }
            }
            !a.is_empty()
        } else {
            true
        }
    });
}

/// `with_mount_unit: true` on `storage.filesystems[i]` → a generated mount
/// (or swap) unit, placed before the user's units.
fn mount_unit(ctx: &mut Ctx<'_>, out: &JMap, parent: &str, node: &Node) -> Option<(Json, Span)> {
    let Value::Scalar(s) = &node.value else {
        ctx.type_error(node, "a boolean (true or false)");
        return None;
    };
    let Some(on) = s.as_bool() else {
        ctx.type_error(node, "a boolean (true or false)");
        return None;
    };
    if !on {
        return None;
    }
    let fs = lookup(out, parent)?;
    let get = |k: &str| fs.get(k).and_then(Json::as_str).map(str::to_string);
    let device = get("device").unwrap_or_default();
    let Some(format) = get("format") else {
        ctx.diags.push(Diagnostic::error(
            "format is required if with_mount_unit is true",
            Some(node.span),
        ));
        return None;
    };
    let options: Vec<String> = fs
        .get("mountOptions")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|o| o.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let esc_dev = systemd::escape_path(&device);
    let (name, contents) = if format == "swap" {
        let mut c = format!("# Generated by Butane\n[Swap]\nWhat={device}\n");
        if !options.is_empty() {
            c.push_str(&format!("Options={}\n", options.join(",")));
        }
        c.push_str("\n[Install]\nRequiredBy=swap.target");
        (format!("{esc_dev}.swap"), c)
    } else {
        let Some(path) = get("path") else {
            ctx.diags.push(Diagnostic::error(
                "path is required if with_mount_unit is true and format is not swap",
                Some(node.span),
            ));
            return None;
        };
        let mut c = format!(
            "# Generated by Butane\n[Unit]\nRequires=systemd-fsck@{esc_dev}.service\nAfter=systemd-fsck@{esc_dev}.service\n\n[Mount]\nWhere={path}\nWhat={device}\nType={format}\n"
        );
        if !options.is_empty() {
            c.push_str(&format!("Options={}\n", options.join(",")));
        }
        c.push_str("\n[Install]\nRequiredBy=local-fs.target");
        (format!("{}.mount", systemd::escape_path(&path)), c)
    };
    let mut unit = JMap::new();
    unit.insert("contents".into(), Json::String(contents));
    unit.insert("enabled".into(), Json::Bool(true));
    unit.insert("name".into(), Json::String(name));
    Some((Json::Object(unit), node.span))
}

/// Butane merges the generated units (parent) with the user's (child) as
/// Ignition merges configs (base/v0_5/translate.go:475, ignition
/// config/merge/merge.go:283): a user unit of the same name is merged into
/// the generated one in its place (its set fields win, drop-ins added),
/// the others follow. Spans move with the units so findings still point
/// at the user's YAML.
fn merge_units(ctx: &mut Ctx<'_>, out: &mut JMap, generated: Vec<(Json, Span)>) {
    let systemd = obj_entry(out, "systemd");
    let user = match systemd.remove("units") {
        Some(Json::Array(u)) => u,
        _ => Vec::new(),
    };
    let n = generated.len();
    let mut moved: Vec<usize> = Vec::with_capacity(user.len());
    let (mut units, spans): (Vec<Json>, Vec<Span>) = generated.into_iter().unzip();
    for u in user {
        let name = u.get("name").and_then(Json::as_str).map(str::to_string);
        let target = name.as_deref().and_then(|name| {
            units[..n]
                .iter()
                .position(|g| g.get("name").and_then(Json::as_str) == Some(name))
        });
        match (target, u) {
            (Some(j), Json::Object(child)) => {
                if let Some(Json::Object(parent)) = units.get_mut(j) {
                    parent.extend(child);
                }
                moved.push(j);
            }
            (_, u) => {
                moved.push(units.len());
                units.push(u);
            }
        }
    }
    let prefix = "$.systemd.units.";
    let old: Vec<(String, Span)> = ctx
        .spans
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, s)| (k.clone(), *s))
        .collect();
    for (k, _) in &old {
        ctx.spans.remove(k);
    }
    for (k, span) in old {
        let rest = &k[prefix.len()..];
        let (idx, tail) = rest.split_at(rest.find('.').unwrap_or(rest.len()));
        if let Some(&to) = idx.parse::<usize>().ok().and_then(|i| moved.get(i)) {
            ctx.spans.insert(format!("{prefix}{to}{tail}"), span);
        }
    }
    for (j, span) in spans.into_iter().enumerate() {
        ctx.spans.entry(format!("{prefix}{j}")).or_insert(span);
    }
    systemd.insert("units".into(), Json::Array(units));
}

/// Follows a `$.a.b.0` path in the output.
fn lookup<'j>(out: &'j JMap, path: &str) -> Option<&'j JMap> {
    let mut cur: Option<&Json> = None;
    for part in path
        .trim_start_matches('$')
        .split('.')
        .filter(|p| !p.is_empty())
    {
        cur = match cur {
            None => out.get(part),
            Some(Json::Object(m)) => m.get(part),
            Some(Json::Array(a)) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
            Some(_) => None,
        };
    }
    cur.and_then(Json::as_object)
}

/// `storage.trees`: regular files → files, symlinks → links; explicit
/// entries for the same path keep their mode and get the contents.
fn trees(ctx: &mut Ctx<'_>, out: &mut JMap, node: &Node) {
    let Value::Seq(items) = &node.value else {
        ctx.type_error(node, "a list");
        return;
    };
    // Output entries by path, so that a tree of many files stays linear.
    let mut index = TreeIndex::default();
    for item in items {
        let Value::Map(entries) = &item.value else {
            ctx.type_error(item, "a mapping");
            continue;
        };
        let mut local = None;
        let mut prefix = "/".to_string();
        for e in entries {
            match e.key.as_str() {
                "local" => local = ctx.string(&e.value).map(|s| (s, e.value.span)),
                "path" => prefix = ctx.string(&e.value).unwrap_or(prefix),
                other => ctx.diags.push(
                    Diagnostic::warning(format!("unknown key `{other}`"), Some(e.key_span))
                        .with_help("a tree has `local` and `path`"),
                ),
            }
        }
        let Some((local, span)) = local else {
            ctx.diags.error("local is required", item.span);
            continue;
        };
        let root = match ctx.local.resolve(&local) {
            Ok(root) => root,
            Err(e) => {
                ctx.local_error(&e, span);
                continue;
            }
        };
        if !root.is_dir() {
            ctx.diags.error(
                format!("root of tree must be a directory: {}", root.display()),
                span,
            );
            continue;
        }
        let mut found = Vec::new();
        if let Err(e) = walk_dir(&root, &root, &mut found) {
            ctx.diags
                .error(format!("cannot read tree {}: {e}", root.display()), span);
            continue;
        }
        for (rel, kind) in found {
            // slashpath.Join (translate.go:354) cleans the joined path.
            let dest = super::validate3::clean(&format!("{prefix}/{rel}"));
            match kind {
                TreeEntry::File { exec } => {
                    // Through the files directory again: confined and bounded.
                    let Some(data) = ctx.read_local(&format!("{local}/{rel}"), span) else {
                        continue;
                    };
                    ctx.note_embedded(&data, &format!("tree:{dest}"));
                    index.fill(ctx, out, "files", &dest, span, |m| {
                        // Only a set `source` conflicts; an explicit
                        // `compression` says the file is compressed already.
                        let mut contents = match m.remove("contents") {
                            Some(Json::Object(c)) => c,
                            _ => JMap::new(),
                        };
                        if contents.get("source").is_some() {
                            m.insert("contents".into(), Json::Object(contents));
                            return false;
                        }
                        let user = contents.get("compression").and_then(Json::as_str);
                        let enc = super::dataurl::shortest(&data, user);
                        contents.insert("compression".into(), Json::String(enc.compression));
                        contents.insert("source".into(), Json::String(enc.url));
                        m.insert("contents".into(), Json::Object(contents));
                        m.entry("mode")
                            .or_insert(Json::from(if exec { 0o755 } else { 0o644 }));
                        true
                    });
                }
                TreeEntry::Link(target) => {
                    index.fill(ctx, out, "links", &dest, span, |m| {
                        if m.contains_key("target") {
                            return false;
                        }
                        m.insert("target".into(), Json::String(target.clone()));
                        true
                    });
                }
                TreeEntry::Other(what) => ctx.diags.error(
                    format!(
                        "trees may only contain files, directories, and symlinks: {} is {what}",
                        root.join(&rel).display()
                    ),
                    span,
                ),
            }
        }
    }
}

/// Positions of `storage.files` / `storage.links` entries by path, and the
/// directories' paths (Butane's `nodeTracker`, base/v0_5/util.go:28).
#[derive(Default)]
struct TreeIndex {
    built: bool,
    files: FxHashMap<String, usize>,
    links: FxHashMap<String, usize>,
    dirs: FxHashMap<String, usize>,
}

impl TreeIndex {
    /// Fills the explicit entry for `dest` in `storage.<list>`, or appends
    /// one; a node of another type at `dest` is an error (translate.go:366).
    fn fill(
        &mut self,
        ctx: &mut Ctx<'_>,
        out: &mut JMap,
        list: &str,
        dest: &str,
        span: Span,
        fill: impl Fn(&mut JMap) -> bool,
    ) {
        let storage = obj_entry(out, "storage");
        if !self.built {
            self.built = true;
            for (name, map) in [
                ("files", &mut self.files),
                ("links", &mut self.links),
                ("directories", &mut self.dirs),
            ] {
                if let Some(Json::Array(arr)) = storage.get(name) {
                    for (i, n) in arr.iter().enumerate() {
                        if let Some(p) = n.get("path").and_then(Json::as_str) {
                            map.entry(p.to_string()).or_insert(i);
                        }
                    }
                }
            }
        }
        let exists = |ctx: &mut Ctx<'_>| {
            ctx.diags.error(
                format!("matching filesystem node has existing contents or different type: {dest}"),
                span,
            );
        };
        let (map, others) = if list == "files" {
            (&mut self.files, [&self.links, &self.dirs])
        } else {
            (&mut self.links, [&self.files, &self.dirs])
        };
        let arr = storage
            .entry(list.to_string())
            .or_insert_with(|| Json::Array(Vec::new()));
        let Json::Array(arr) = arr else { return };
        if let Some(Json::Object(m)) = map.get(dest).and_then(|&i| arr.get_mut(i)) {
            if !fill(m) {
                exists(ctx);
            }
            return;
        }
        if others.iter().any(|o| o.contains_key(dest)) {
            return exists(ctx);
        }
        let mut m = JMap::new();
        m.insert("path".into(), Json::String(dest.to_string()));
        fill(&mut m);
        ctx.spans
            .insert(format!("$.storage.{list}.{}", arr.len()), span);
        map.insert(dest.to_string(), arr.len());
        arr.push(Json::Object(m));
    }
}

enum TreeEntry {
    File {
        exec: bool,
    },
    Link(String),
    /// A device node, FIFO or socket: what it is.
    Other(&'static str),
}

/// Lists a directory recursively in lexical path order (as Go's `filepath.Walk`).
fn walk_dir(root: &Path, dir: &Path, out: &mut Vec<(String, TreeEntry)>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let meta = std::fs::symlink_metadata(&path)?;
        let rel = path
            .strip_prefix(root)
            .map_err(|_| std::io::Error::other(format!("{} left the tree", path.display())))?
            .to_string_lossy()
            .into_owned();
        if meta.is_dir() {
            walk_dir(root, &path, out)?;
        } else if meta.is_file() {
            out.push((
                rel,
                TreeEntry::File {
                    exec: meta.permissions().mode() & 0o111 != 0,
                },
            ));
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)?;
            out.push((rel, TreeEntry::Link(target.to_string_lossy().into_owned())));
        } else {
            out.push((
                rel,
                TreeEntry::Other(crate::model::file_kind(meta.file_type())),
            ));
        }
    }
    Ok(())
}

/// Reads `variant`/`version`; `Some(minor)` for the supported versions.
pub fn read_version(ctx: &mut Ctx<'_>, root: &Node) -> Option<u8> {
    let Value::Map(entries) = &root.value else {
        return None;
    };
    let variant = entries.iter().find(|e| e.key == "variant")?;
    let text = ctx.string(&variant.value)?;
    if text != "flatcar" {
        ctx.diags.push(
            Diagnostic::error(
                format!("unsupported variant `{text}`"),
                Some(variant.value.span),
            )
            .with_help(
                "mkstick reads `variant: flatcar` (Butane) or Container Linux Configs (no variant)",
            ),
        );
        return None;
    }
    let Some(version) = entries.iter().find(|e| e.key == "version") else {
        ctx.diags.push(
            Diagnostic::error(
                "error parsing version; must be a valid semver",
                Some(variant.key_span),
            )
            .with_help(
                "add `version: 1.0.0` (Ignition 3.3.0) or `version: 1.1.0` (Ignition 3.4.0)",
            ),
        );
        return None;
    };
    let v = ctx.string(&version.value)?;
    match v.as_str() {
        "1.0.0" => Some(0),
        "1.1.0" => Some(1),
        // config/config.go:166: go-semver refuses it before any translator is looked up.
        v if super::clc_sugar::Semver::parse(v).is_err() => {
            ctx.diags.push(
                Diagnostic::error(
                    "error parsing version; must be a valid semver",
                    Some(version.value.span),
                )
                .with_help(
                    "write `version: 1.0.0` (Ignition 3.3.0) or `version: 1.1.0` (Ignition 3.4.0)",
                ),
            );
            None
        }
        _ => {
            ctx.diags.push(
                Diagnostic::error(
                    format!("no translator exists for variant flatcar with version {v}"),
                    Some(version.value.span),
                )
                .with_help("supported versions: 1.0.0 (Ignition 3.3.0) and 1.1.0 (Ignition 3.4.0)"),
            );
            None
        }
    }
}

pub const DIALECT_10: Dialect = Dialect::Butane { minor: 0 };
