//! Container Linux Config (Flatcar `ct`) → Ignition 2.3.0.

use serde_json::Value as Json;

use super::dataurl;
use super::diag::Diagnostic;
use super::walk::{Ctx, Field, JMap, STRS, Special, Ty, f, fj, obj_entry};
use super::yaml::{Node, Value};

const VERIFICATION: Ty = Ty::Custom(verification);
const CONFIG_REF: Ty = Ty::Obj(&[f("source", Ty::Str), f("verification", VERIFICATION)]);
const ID_NAME: Ty = Ty::Obj(&[f("id", Ty::Int), f("name", Ty::Str)]);

const IGNITION: &[Field] = &[
    f(
        "config",
        Ty::Obj(&[f("append", Ty::List(&CONFIG_REF)), f("replace", CONFIG_REF)]),
    ),
    f(
        "timeouts",
        Ty::Obj(&[
            f("http_response_headers", Ty::Int),
            f("http_total", Ty::Int),
        ]),
    ),
    f(
        "security",
        Ty::Obj(&[f(
            "tls",
            Ty::Obj(&[f("certificate_authorities", Ty::List(&CONFIG_REF))]),
        )]),
    ),
];

const USER_CREATE: &[Field] = &[
    f("uid", Ty::Int),
    f("gecos", Ty::Str),
    f("home_dir", Ty::Str),
    f("no_create_home", Ty::Bool),
    f("primary_group", Ty::Str),
    f("groups", STRS),
    f("no_user_group", Ty::Bool),
    f("system", Ty::Bool),
    f("no_log_init", Ty::Bool),
    f("shell", Ty::Str),
];

const USER: &[Field] = &[
    f("name", Ty::Str),
    f("password_hash", Ty::Str),
    f("ssh_authorized_keys", STRS),
    f("uid", Ty::Int),
    f("gecos", Ty::Str),
    f("home_dir", Ty::Str),
    f("no_create_home", Ty::Bool),
    f("primary_group", Ty::Str),
    f("groups", STRS),
    f("no_user_group", Ty::Bool),
    f("system", Ty::Bool),
    f("no_log_init", Ty::Bool),
    f("shell", Ty::Str),
    f("create", Ty::Obj(USER_CREATE)),
];

const GROUP: &[Field] = &[
    f("name", Ty::Str),
    f("gid", Ty::Int),
    f("password_hash", Ty::Str),
    f("system", Ty::Bool),
];

const PARTITION: &[Field] = &[
    f("label", Ty::Str),
    f("number", Ty::Int),
    fj("size", "sizeMiB", Ty::Custom(size)),
    fj("start", "startMiB", Ty::Custom(size)),
    f("guid", Ty::Str),
    f("type_guid", Ty::Custom(type_guid)),
];

const MOUNT: &[Field] = &[
    f("device", Ty::Str),
    f("format", Ty::Str),
    f(
        "create",
        Ty::Obj(&[f("force", Ty::Bool), f("options", STRS)]),
    ),
    f("wipe_filesystem", Ty::Bool),
    f("label", Ty::Str),
    f("uuid", Ty::Str),
    f("options", STRS),
];

const NODE_COMMON: [Field; 6] = [
    f("filesystem", Ty::Str),
    f("path", Ty::Str),
    f("user", ID_NAME),
    f("group", ID_NAME),
    f("overwrite", Ty::Bool),
    f("mode", Ty::Mode { dir: false }),
];

const FILE: &[Field] = &[
    NODE_COMMON[0],
    NODE_COMMON[1],
    NODE_COMMON[2],
    NODE_COMMON[3],
    NODE_COMMON[4],
    NODE_COMMON[5],
    f("contents", Ty::Custom(file_contents)),
    f("append", Ty::Bool),
];

const DIRECTORY: &[Field] = &[
    NODE_COMMON[0],
    NODE_COMMON[1],
    NODE_COMMON[2],
    NODE_COMMON[3],
    NODE_COMMON[4],
    f("mode", Ty::Mode { dir: true }),
];

const LINK: &[Field] = &[
    NODE_COMMON[0],
    NODE_COMMON[1],
    NODE_COMMON[2],
    NODE_COMMON[3],
    NODE_COMMON[4],
    f("target", Ty::Str),
    f("hard", Ty::Bool),
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
        ])),
    ),
    f(
        "filesystems",
        Ty::List(&Ty::Obj(&[
            f("name", Ty::Str),
            f("mount", Ty::Obj(MOUNT)),
            f("path", Ty::Str),
        ])),
    ),
    f("files", Ty::List(&Ty::Obj(FILE))),
    f("directories", Ty::List(&Ty::Obj(DIRECTORY))),
    f("links", Ty::List(&Ty::Obj(LINK))),
];

const DROPIN: Ty = Ty::Obj(&[f("name", Ty::Str), f("contents", Ty::Str)]);

const UNIT: &[Field] = &[
    f("name", Ty::Str),
    f("enable", Ty::Bool),
    f("enabled", Ty::Bool),
    f("mask", Ty::Bool),
    f("contents", Ty::Str),
    f("dropins", Ty::List(&DROPIN)),
];

const NETWORKD_UNIT: &[Field] = &[
    f("name", Ty::Str),
    f("contents", Ty::Str),
    f("dropins", Ty::List(&DROPIN)),
];

const ROOT: &[Field] = &[
    f("ignition", Ty::Obj(IGNITION)),
    f("storage", Ty::Obj(STORAGE)),
    f("systemd", Ty::Obj(&[f("units", Ty::List(&Ty::Obj(UNIT)))])),
    f(
        "networkd",
        Ty::Obj(&[f("units", Ty::List(&Ty::Obj(NETWORKD_UNIT)))]),
    ),
    f(
        "passwd",
        Ty::Obj(&[
            f("users", Ty::List(&Ty::Obj(USER))),
            f("groups", Ty::List(&Ty::Obj(GROUP))),
        ]),
    ),
    f("docker", Ty::Obj(&[f("flags", STRS)])),
    f(
        "update",
        Ty::Obj(&[f("group", Ty::Str), f("server", Ty::Str)]),
    ),
    f(
        "locksmith",
        Ty::Obj(&[
            f("reboot_strategy", Ty::Str),
            f("window_start", Ty::Str),
            f("window_length", Ty::Str),
            f("group", Ty::Str),
            f("etcd_endpoints", Ty::Str),
            f("etcd_cafile", Ty::Str),
            f("etcd_certfile", Ty::Str),
            f("etcd_keyfile", Ty::Str),
        ]),
    ),
    f("etcd", Ty::Special(Special::Capture)),
    f("flannel", Ty::Special(Special::Capture)),
    f("version", Ty::Special(Special::Capture)),
];

/// Translates a Container Linux Config to Ignition 2.3.0 JSON.
pub fn translate(ctx: &mut Ctx<'_>, root: &Node) -> Option<Json> {
    if let Value::Map(entries) = &root.value
        && let Some(v) = entries.iter().find(|e| e.key == "version")
    {
        let semver = matches!(&v.value.value, Value::Scalar(s) if s.text.split('.').count() == 3);
        if semver {
            ctx.diags.push(
                    Diagnostic::error(
                        "this looks like a Butane config (`version:` is a semver), but `variant: flatcar` is missing",
                        Some(v.key_span),
                    )
                    .with_help("add `variant: flatcar` as the first line (a Container Linux Config has no `version:`)"),
                );
            return None;
        }
    }
    let Json::Object(mut out) = ctx.walk(root, &Ty::Obj(ROOT), "$")? else {
        return None;
    };
    let captured = std::mem::take(&mut ctx.captured);
    let docker = out.remove("docker");
    let update = out.remove("update");
    let locksmith = out.remove("locksmith");
    // Sugar units come before the user's (ct converts in Go file order).
    let mut sugar_units = Vec::new();
    if let Some(Json::Object(d)) = docker {
        sugar_units.push(docker_unit(&d));
    }
    for (_, key, node) in &captured {
        if let Some(unit) = match *key {
            "etcd" => wrapper_unit(
                ctx,
                node,
                "etcd-member.service",
                "20-clct-etcd-member.conf",
                "ETCD_IMAGE_TAG",
                "/usr/lib/coreos/etcd-wrapper $ETCD_OPTS",
            ),
            "flannel" => wrapper_unit(
                ctx,
                node,
                "flanneld.service",
                "20-clct-flannel.conf",
                "FLANNEL_IMAGE_TAG",
                "/usr/lib/coreos/flannel-wrapper $FLANNEL_OPTS",
            ),
            "version" => {
                if !matches!(&node.value, Value::Scalar(s) if s.as_int() == Some(0)) {
                    ctx.diags.push(Diagnostic::error(
                        "a Container Linux Config `version` must be 0",
                        Some(node.span),
                    ));
                }
                None
            }
            _ => None,
        } {
            sugar_units.push(unit);
        }
    }
    defaults(ctx, &mut out);
    if update.is_some() || locksmith.is_some() {
        let text = update_conf(ctx, update.as_ref(), locksmith.as_ref());
        let mut file = JMap::new();
        file.insert("filesystem".into(), Json::String("root".into()));
        file.insert(
            "path".into(),
            Json::String("/etc/coreos/update.conf".into()),
        );
        file.insert(
            "contents".into(),
            contents(dataurl::plain(text.as_bytes()), None),
        );
        file.insert("mode".into(), Json::from(0o644));
        let storage = obj_entry(&mut out, "storage");
        let files = storage
            .entry("files")
            .or_insert_with(|| Json::Array(Vec::new()));
        if let Json::Array(files) = files {
            let i = files.len();
            if let Some(span) = ctx
                .span_of("$.update")
                .or_else(|| ctx.span_of("$.locksmith"))
            {
                ctx.spans.insert(format!("$.storage.files.{i}"), span);
            }
            files.push(Json::Object(file));
        }
    }
    if !sugar_units.is_empty() {
        let systemd = obj_entry(&mut out, "systemd");
        if let Some(Json::Array(units)) = systemd.remove("units") {
            sugar_units.extend(units);
        }
        systemd.insert("units".into(), Json::Array(sugar_units));
    }
    Some(Json::Object(out))
}

/// ct's defaults: `filesystem: root`, modes 0644/0755 (with a warning),
/// `data:,` for files without contents, and the empty sections it always writes.
fn defaults(ctx: &mut Ctx<'_>, out: &mut JMap) {
    let ign = obj_entry(out, "ignition");
    ign.insert("version".into(), Json::String("2.3.0".into()));
    obj_entry(ign, "config");
    obj_entry(obj_entry(ign, "security"), "tls");
    obj_entry(ign, "timeouts");
    for key in ["networkd", "passwd", "storage", "systemd"] {
        obj_entry(out, key);
    }
    let storage = obj_entry(out, "storage");
    for (list, default_mode) in [
        ("files", Some(0o644)),
        ("directories", Some(0o755)),
        ("links", None),
    ] {
        let Some(Json::Array(nodes)) = storage.get_mut(list) else {
            continue;
        };
        for (i, n) in nodes.iter_mut().enumerate() {
            let Json::Object(n) = n else { continue };
            n.entry("filesystem")
                .or_insert_with(|| Json::String("root".into()));
            if list == "files" && !n.contains_key("contents") {
                n.insert("contents".into(), contents("data:,".into(), None));
            }
            if let Some(mode) = default_mode
                && !n.contains_key("mode")
            {
                n.insert("mode".into(), Json::from(mode));
                let path = format!("$.storage.{list}.{i}");
                let span = ctx.span_of(&path);
                ctx.diags.push(
                    Diagnostic::warning(format!("mode unset, defaulting to {mode:#o}"), span)
                        .with_path(path)
                        .with_help(format!("add `mode: 0{mode:o}` (or the mode you mean)")),
                );
            }
        }
    }
}

fn contents(source: String, compression: Option<Json>) -> Json {
    let mut c = JMap::new();
    c.insert("source".into(), Json::String(source));
    if let Some(comp) = compression {
        c.insert("compression".into(), comp);
    }
    c.insert("verification".into(), Json::Object(JMap::new()));
    Json::Object(c)
}

/// File `contents`: `inline` / `local` / `remote`.
fn file_contents(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Json> {
    const REMOTE: &[Field] = &[
        f("url", Ty::Str),
        f("compression", Ty::Str),
        f("verification", VERIFICATION),
    ];
    const CONTENTS: &[Field] = &[
        f("inline", Ty::Str),
        f("local", Ty::Str),
        f("remote", Ty::Obj(REMOTE)),
    ];
    let Json::Object(c) = ctx.walk(node, &Ty::Obj(CONTENTS), path)? else {
        return None;
    };
    if c.len() > 1 {
        ctx.diags.push(Diagnostic::error(
            "only one of inline, local and remote can be set",
            Some(node.span),
        ));
        return None;
    }
    if let Some(Json::String(s)) = c.get("inline") {
        ctx.note_embedded(s.as_bytes(), path);
        return Some(contents(dataurl::plain(s.as_bytes()), None));
    }
    if let Some(Json::String(rel)) = c.get("local") {
        let span = ctx.span_of(&format!("{path}.local")).unwrap_or(node.span);
        let data = ctx.read_local(rel, span)?;
        ctx.note_embedded(&data, path);
        return Some(contents(dataurl::plain(&data), None));
    }
    if let Some(Json::Object(r)) = c.get("remote") {
        let mut out = JMap::new();
        if let Some(comp) = r.get("compression") {
            out.insert("compression".into(), comp.clone());
        }
        out.insert(
            "source".into(),
            r.get("url").cloned().unwrap_or(Json::String(String::new())),
        );
        out.insert(
            "verification".into(),
            r.get("verification")
                .cloned()
                .unwrap_or(Json::Object(JMap::new())),
        );
        return Some(Json::Object(out));
    }
    Some(contents("data:,".into(), None))
}

/// `verification: {hash: {function, sum}}` → `{"hash": "function-sum"}`.
fn verification(ctx: &mut Ctx<'_>, node: &Node, path: &str) -> Option<Json> {
    const HASH: &[Field] = &[f("function", Ty::Str), f("sum", Ty::Str)];
    const VER: &[Field] = &[f("hash", Ty::Obj(HASH))];
    let Json::Object(v) = ctx.walk(node, &Ty::Obj(VER), path)? else {
        return None;
    };
    let mut out = JMap::new();
    if let Some(h) = v.get("hash") {
        let func = h.get("function").and_then(Json::as_str).unwrap_or("");
        let sum = h.get("sum").and_then(Json::as_str).unwrap_or("");
        if !func.is_empty() && !sum.is_empty() {
            out.insert("hash".into(), Json::String(format!("{func}-{sum}")));
        }
    }
    Some(Json::Object(out))
}

/// Partition `size` / `start` such as `20GiB` → MiB.
fn size(ctx: &mut Ctx<'_>, node: &Node, _path: &str) -> Option<Json> {
    let text = ctx.string(node)?;
    match parse_size_mib(&text) {
        Ok(mib) => Some(Json::from(mib)),
        Err(msg) => {
            ctx.diags.push(
                Diagnostic::error(msg, Some(node.span))
                    .with_help("write a size such as `512MiB` or `20GiB`"),
            );
            None
        }
    }
}

/// Partition `type_guid`, with ct's aliases.
fn type_guid(ctx: &mut Ctx<'_>, node: &Node, _path: &str) -> Option<Json> {
    let text = ctx.string(node)?;
    Some(Json::String(
        type_guid_alias(&text).unwrap_or(&text).to_string(),
    ))
}

/// `20GiB` → 20480 (MiB). Units are base 2; the result must be whole MiB.
pub fn parse_size_mib(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size \"{text}\""))?;
    let shift = match unit.trim() {
        "B" => 0,
        "K" | "KB" | "KiB" => 10,
        "M" | "MB" | "MiB" => 20,
        "G" | "GB" | "GiB" => 30,
        "T" | "TB" | "TiB" => 40,
        "P" | "PB" | "PiB" => 50,
        "" => return Err(format!("size \"{text}\" needs a unit")),
        u => return Err(format!("unknown size unit \"{u}\" in \"{text}\"")),
    };
    let bytes = n
        .checked_shl(shift)
        .filter(|b| b >> shift == n)
        .ok_or_else(|| format!("size \"{text}\" is too large"))?;
    if bytes % (1 << 20) != 0 {
        return Err(format!("size \"{text}\" is not a whole number of MiB"));
    }
    Ok(bytes >> 20)
}

fn type_guid_alias(name: &str) -> Option<&'static str> {
    Some(match name {
        "raid_containing_root" => "be9067b9-ea49-4f15-b4f6-f36f8c9e1818",
        "linux_filesystem_data" => "0fc63daf-8483-4772-8e79-3d69d8477de4",
        "swap_partition" => "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f",
        "raid_partition" => "a19d880f-05fc-4d3b-a006-743f0f84911e",
        _ => return None,
    })
}

/// `docker.flags` → `docker.service` enabled with a DOCKER_OPTS drop-in.
fn docker_unit(d: &JMap) -> Json {
    let flags: Vec<&str> = d
        .get("flags")
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    serde_json::json!({
        "name": "docker.service",
        "enable": true,
        "dropins": [{
            "name": "20-clct-docker.conf",
            "contents": format!("[Service]\nEnvironment=\"DOCKER_OPTS={}\"\n", flags.join(" ")),
        }],
    })
}

/// `etcd`/`flannel` → a drop-in that runs the wrapper with one `--opt="value"`
/// line per option, in the order written.
fn wrapper_unit(
    ctx: &mut Ctx<'_>,
    node: &Node,
    unit: &str,
    dropin: &str,
    tag_var: &str,
    exec: &str,
) -> Option<Json> {
    let Value::Map(entries) = &node.value else {
        ctx.type_error(node, "a mapping");
        return None;
    };
    let mut text = String::from("[Service]\n");
    let mut opts = Vec::new();
    for e in entries {
        let Some(value) = ctx.string(&e.value) else {
            continue;
        };
        if value.contains("{PRIVATE_IPV4}")
            || value.contains("{PUBLIC_IPV4}")
            || value.contains("{HOSTNAME}")
        {
            ctx.diags.push(
                Diagnostic::error("`{…}` templating needs a cloud platform's metadata, which a diskless stick node does not have", Some(e.value.span))
                    .with_help("write the value itself"),
            );
            continue;
        }
        if e.key == "version" {
            text.push_str(&format!("Environment=\"{tag_var}=v{value}\"\n"));
        } else {
            opts.push(format!(
                "  --{}={}",
                e.key.replace('_', "-"),
                go_quote(&value)
            ));
        }
    }
    text.push_str("ExecStart=\n");
    text.push_str(&format!("ExecStart={exec}"));
    for o in &opts {
        text.push_str(" \\\n");
        text.push_str(o);
    }
    text.push('\n');
    Some(serde_json::json!({
        "name": unit,
        "enable": true,
        "dropins": [{ "name": dropin, "contents": text }],
    }))
}

/// Go's `%q` for plain text: double quotes with `\"` and `\\` escaped.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `update` + `locksmith` → the text of /etc/coreos/update.conf.
fn update_conf(ctx: &mut Ctx<'_>, update: Option<&Json>, locksmith: Option<&Json>) -> String {
    let mut lines = Vec::new();
    let get = |j: Option<&Json>, k: &str| {
        j.and_then(|j| j.get(k))
            .and_then(Json::as_str)
            .map(str::to_string)
    };
    if let Some(g) = get(update, "group") {
        lines.push(format!("GROUP={}", g.to_lowercase()));
    }
    if let Some(s) = get(update, "server") {
        lines.push(format!("SERVER={s}"));
    }
    if let Some(strategy) = get(locksmith, "rebootStrategy")
        && !["reboot", "etcd-lock", "off", "best-effort"].contains(&strategy.as_str())
    {
        let d = ctx.error_at(
            "$.locksmith.rebootStrategy",
            format!("invalid reboot strategy \"{strategy}\""),
        );
        ctx.diags
            .push(d.with_help("use one of: reboot, etcd-lock, off, best-effort"));
    }
    for (key, var) in [
        ("reboot_strategy", "REBOOT_STRATEGY"),
        ("window_start", "LOCKSMITHD_REBOOT_WINDOW_START"),
        ("window_length", "LOCKSMITHD_REBOOT_WINDOW_LENGTH"),
        ("group", "LOCKSMITHD_GROUP"),
        ("etcd_endpoints", "LOCKSMITHD_ENDPOINT"),
        ("etcd_cafile", "LOCKSMITHD_ETCD_CAFILE"),
        ("etcd_certfile", "LOCKSMITHD_ETCD_CERTFILE"),
        ("etcd_keyfile", "LOCKSMITHD_ETCD_KEYFILE"),
    ] {
        // The walk already renamed the keys to camelCase.
        if let Some(v) = get(locksmith, &super::walk::camel(key)) {
            lines.push(format!("{var}={}", go_quote(&v)));
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size_mib("20GiB"), Ok(20480));
        assert_eq!(parse_size_mib("512MiB"), Ok(512));
        assert_eq!(parse_size_mib("1TB"), Ok(1 << 20));
        assert!(parse_size_mib("100KiB").is_err());
        assert!(parse_size_mib("12").is_err());
        assert!(parse_size_mib("3XB").is_err());
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("Sun 03:30"), "\"Sun 03:30\"");
        assert_eq!(go_quote("a\"b\\"), "\"a\\\"b\\\\\"");
    }
}
