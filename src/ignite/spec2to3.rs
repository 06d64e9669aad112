//! Ignition spec 2.3 → 3.x, following coreos/ign-converter's v24tov31 rules,
//! plus networkd units as /etc/systemd/network files.

use serde_json::Value as Json;

use super::SpecVersion;
use super::dataurl;
use super::walk::{Ctx, JMap, obj_entry};

/// Converts a validated spec-2.3 config to `target` (3.3.0 or 3.4.0).
pub fn convert(ctx: &mut Ctx<'_>, cfg: Json, target: SpecVersion) -> Option<Json> {
    let Json::Object(mut cfg) = cfg else {
        return None;
    };
    let errors_before = ctx.diags.errors();
    let mut out = JMap::new();
    if let Some(Json::Object(mut ign)) = cfg.remove("ignition") {
        if let Some(Json::Object(mut config)) = ign.remove("config") {
            if let Some(append) = config.remove("append") {
                config.insert("merge".into(), append);
            }
            ign.insert("config".into(), Json::Object(config));
        }
        ign.insert("version".into(), Json::String(target.as_str().into()));
        out.insert("ignition".into(), Json::Object(ign));
    }
    if let Some(passwd) = cfg.remove("passwd") {
        if let Some(users) = passwd.get("users").and_then(Json::as_array) {
            for (i, u) in users.iter().enumerate() {
                if u.get("create").is_some() {
                    let d = ctx.error_at(
                        &format!("$.passwd.users.{i}.create"),
                        "`create` cannot be translated to Ignition spec 3",
                    );
                    ctx.diags.push(d.with_help(
                        "move its fields (uid, groups, shell, …) up into the user itself",
                    ));
                }
            }
        }
        out.insert("passwd".into(), passwd);
    }
    let mut storage = match cfg.remove("storage") {
        Some(Json::Object(s)) => s,
        _ => JMap::new(),
    };
    let prefixes = filesystems(ctx, &mut storage);
    for list in ["files", "directories", "links"] {
        let Some(Json::Array(nodes)) = storage.get_mut(list) else {
            continue;
        };
        for (i, n) in nodes.iter_mut().enumerate() {
            let Json::Object(n) = n else { continue };
            let fs = match n.remove("filesystem") {
                Some(Json::String(s)) => s,
                _ => "root".into(),
            };
            let prefix = match prefixes.iter().find(|(name, _)| *name == fs) {
                Some((_, p)) => p.clone(),
                None if fs == "root" => String::new(),
                None => {
                    let d = ctx.error_at(&format!("$.storage.{list}.{i}.filesystem"), format!("filesystem \"{fs}\" has no path, so its files cannot be placed in Ignition spec 3"));
                    ctx.diags.push(d);
                    continue;
                }
            };
            if let Some(Json::String(p)) = n.get_mut("path") {
                *p = format!("{}{}", prefix.trim_end_matches('/'), p);
                // Flatcar reads its update settings from /etc/flatcar; the
                // /etc/coreos name is a compatibility symlink that spec-3
                // Ignition will not write through.
                if p == "/etc/coreos/update.conf" {
                    *p = "/etc/flatcar/update.conf".into();
                }
            }
            if list == "files" {
                file(n);
            }
        }
    }
    let mut systemd = match cfg.remove("systemd") {
        Some(Json::Object(s)) => s,
        _ => JMap::new(),
    };
    if let Some(Json::Array(units)) = systemd.get_mut("units") {
        for u in units.iter_mut() {
            let Json::Object(u) = u else { continue };
            if let Some(enable) = u.remove("enable")
                && enable == Json::Bool(true)
            {
                u.insert("enabled".into(), Json::Bool(true));
            }
        }
    }
    networkd(ctx, cfg.remove("networkd"), &mut storage);
    out.insert("storage".into(), Json::Object(storage));
    out.insert("systemd".into(), Json::Object(systemd));
    drop_empty(&mut out);
    obj_entry(&mut out, "ignition").insert("version".into(), Json::String(target.as_str().into()));
    if ctx.diags.errors() > errors_before {
        return None;
    }
    Some(Json::Object(out))
}

/// Spec-2 files overwrite by default and spell appending as a flag.
fn file(n: &mut JMap) {
    let append = n.remove("append") == Some(Json::Bool(true));
    let contents = n.remove("contents");
    if append {
        if let Some(c) = contents {
            n.insert("append".into(), Json::Array(vec![c]));
        }
        n.insert("overwrite".into(), Json::Bool(false));
    } else {
        if let Some(c) = contents {
            n.insert("contents".into(), c);
        }
        n.entry("overwrite").or_insert(Json::Bool(true));
    }
}

/// Flattens `mount` into the filesystem and returns each name's path prefix.
fn filesystems(ctx: &mut Ctx<'_>, storage: &mut JMap) -> Vec<(String, String)> {
    let mut prefixes = Vec::new();
    let Some(Json::Array(list)) = storage.get_mut("filesystems") else {
        return prefixes;
    };
    for (i, fs) in list.iter_mut().enumerate() {
        let Json::Object(fs) = fs else { continue };
        let name = fs
            .remove("name")
            .and_then(|n| n.as_str().map(str::to_string));
        let path = fs.get("path").and_then(Json::as_str).map(str::to_string);
        if let (Some(name), Some(path)) = (&name, &path) {
            prefixes.push((name.clone(), path.clone()));
        }
        if let Some(Json::Object(mut mount)) = fs.remove("mount") {
            if let Some(Json::Object(create)) = mount.remove("create") {
                if create.get("force") != Some(&Json::Bool(true)) {
                    let d = ctx.error_at(
                        &format!("$.storage.filesystems.{i}.mount.create"),
                        "`create` without `force: true` cannot be translated to Ignition spec 3",
                    );
                    ctx.diags.push(d.with_help(
                        "use `wipe_filesystem: true` to recreate the filesystem, or drop `create`",
                    ));
                }
                mount.insert("wipeFilesystem".into(), Json::Bool(true));
                if let Some(Json::Array(opts)) = create.get("options") {
                    let mut all = opts.clone();
                    if let Some(Json::Array(more)) = mount.remove("options") {
                        all.extend(more);
                    }
                    mount.insert("options".into(), Json::Array(all));
                }
            }
            for (k, v) in mount {
                fs.insert(k, v);
            }
        }
    }
    prefixes
}

/// networkd units → /etc/systemd/network/<name> (+ `<name>.d/<drop-in>`) files.
fn networkd(ctx: &mut Ctx<'_>, networkd: Option<Json>, storage: &mut JMap) {
    let Some(units) = networkd
        .as_ref()
        .and_then(|n| n.get("units"))
        .and_then(Json::as_array)
    else {
        return;
    };
    let files = storage
        .entry("files")
        .or_insert_with(|| Json::Array(Vec::new()));
    let Json::Array(files) = files else { return };
    let mut add = |ctx: &mut Ctx<'_>, path: String, text: &str, from: String| {
        if let Some(span) = ctx.span_of(&from) {
            ctx.spans
                .insert(format!("$.storage.files.{}", files.len()), span);
        }
        files.push(serde_json::json!({
            "path": path,
            "contents": { "source": dataurl::plain(text.as_bytes()) },
            "mode": 0o644,
            "overwrite": true,
        }));
    };
    for (i, u) in units.iter().enumerate() {
        let name = u.get("name").and_then(Json::as_str).unwrap_or("");
        if let Some(text) = u.get("contents").and_then(Json::as_str) {
            add(
                ctx,
                format!("/etc/systemd/network/{name}"),
                text,
                format!("$.networkd.units.{i}"),
            );
        }
        for (j, d) in u
            .get("dropins")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let dname = d.get("name").and_then(Json::as_str).unwrap_or("");
            let text = d.get("contents").and_then(Json::as_str).unwrap_or("");
            add(
                ctx,
                format!("/etc/systemd/network/{name}.d/{dname}"),
                text,
                format!("$.networkd.units.{i}.dropins.{j}"),
            );
        }
    }
}

/// Spec 3 writers omit empty objects and lists.
fn drop_empty(map: &mut JMap) {
    map.retain(|_, v| match v {
        Json::Object(m) => {
            drop_empty(m);
            !m.is_empty()
        }
        Json::Array(a) => {
            for item in a.iter_mut() {
                if let Json::Object(m) = item {
                    drop_empty(m);
                }
            }
            !a.is_empty()
        }
        _ => true,
    });
}
