//! Container Linux Config (Flatcar `ct`) → Ignition 2.3.0.

use serde_json::Value as Json;

use super::clc_sugar::{self, Wrapper};
use super::dataurl;
use super::diag::Diagnostic;
use super::omitempty;
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
    f("uid", Ty::Uint),
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
    f("gid", Ty::Uint),
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
            f("options", STRS),
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
        Ty::Obj(&[
            f("group", Ty::Str),
            f("server", Ty::Str),
            f("pcr_policy_server", Ty::Str),
            f("download_user", Ty::Str),
            f("download_password", Ty::Str),
            f("machine_alias", Ty::Str),
        ]),
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
        let flags: Vec<&str> = d
            .get("flags")
            .and_then(Json::as_array)
            .map(|a| a.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        sugar_units.push(clc_sugar::docker_unit(&flags));
    }
    // ct runs its converters in Go file order: docker, etcd, flannel.
    for which in [Wrapper::Etcd, Wrapper::Flannel] {
        let key = match which {
            Wrapper::Etcd => "etcd",
            Wrapper::Flannel => "flannel",
        };
        for (_, _, node) in captured.iter().filter(|c| c.1 == key) {
            if let Some(unit) = clc_sugar::wrapper_unit(ctx, node, which) {
                sugar_units.push(unit);
            }
        }
    }
    for (_, _, node) in captured.iter().filter(|c| c.1 == "version") {
        if !matches!(&node.value, Value::Scalar(s) if s.as_int() == Some(0)) {
            ctx.diags.push(Diagnostic::error(
                "a Container Linux Config `version` must be 0",
                Some(node.span),
            ));
        }
    }
    defaults(ctx, &mut out);
    let text = clc_sugar::update_conf(ctx, update.as_ref(), locksmith.as_ref());
    if !text.is_empty() {
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
    omitempty::apply_v2(&mut out);
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

/// Partition `size` / `start` such as `20GiB` → MiB. Any scalar is read as
/// its text (go-yaml decodes `start: 0` into the string "0").
fn size(ctx: &mut Ctx<'_>, node: &Node, _path: &str) -> Option<Json> {
    let text = ctx.string(node)?;
    match parse_size_mib(&text) {
        Ok(mib) => mib.map(Json::from),
        Err(msg) => {
            ctx.diags.push(
                Diagnostic::error(msg, Some(node.span))
                    .with_help("write a size such as `512MiB` or `20GiB` (a bare `0` is allowed)"),
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

/// A partition `size`/`start` → MiB, as ct's `convertPartitionDimension`
/// (disks.go:106): `""` → absent, else alecthomas/units `ParseBase2Bytes`,
/// not negative, whole MiB. A bare `0` is accepted (units' special case);
/// other bare numbers have no unit and are refused.
pub fn parse_size_mib(text: &str) -> Result<Option<i64>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    const MIB: i64 = 1 << 20;
    let b = parse_base2_bytes(text)?;
    if b < 0 {
        return Err(format!("invalid dimension (negative): \"{text}\""));
    }
    if b % MIB != 0 {
        return Err("invalid dimension (finest granularity is 1MiB)".into());
    }
    Ok(Some(b / MIB))
}

/// alecthomas/units `ParseBase2Bytes`: IEC units (`KiB` … `EiB`), else the
/// old spellings (`KB` … `EB`), both base 2; `B` is bytes. A sequence such
/// as `1GiB512MiB` adds up; fractions are allowed (`1.5GiB`).
fn parse_base2_bytes(text: &str) -> Result<i64, String> {
    const IEC: [(&str, i64); 7] = [
        ("B", 0),
        ("KiB", 10),
        ("MiB", 20),
        ("GiB", 30),
        ("TiB", 40),
        ("PiB", 50),
        ("EiB", 60),
    ];
    const OLD: [(&str, i64); 7] = [
        ("B", 0),
        ("KB", 10),
        ("MB", 20),
        ("GB", 30),
        ("TB", 40),
        ("PB", 50),
        ("EB", 60),
    ];
    parse_unit(text, &IEC).or_else(|_| parse_unit(text, &OLD))
}

/// alecthomas/units `ParseUnit` (util.go) with a map of unit → power of 2.
fn parse_unit(orig: &str, units: &[(&str, i64)]) -> Result<i64, String> {
    let invalid = || format!("units: invalid {orig}");
    let (neg, mut s) = match orig.as_bytes().first() {
        Some(b'-') => (true, &orig[1..]),
        Some(b'+') => (false, &orig[1..]),
        _ => (false, orig),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut f = 0f64;
    while !s.is_empty() {
        if !(s.starts_with('.') || s.as_bytes()[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let mut g = if int_len > 0 {
            s[..int_len].parse::<i64>().map_err(|_| invalid())? as f64
        } else {
            0.0
        };
        s = &s[int_len..];
        let mut frac_len = 0;
        if let Some(rest) = s.strip_prefix('.') {
            frac_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            if frac_len > 0 {
                let x = rest[..frac_len].parse::<i64>().map_err(|_| invalid())? as f64;
                g += x / 10f64.powi(frac_len as i32);
            }
            s = &rest[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return Err(invalid());
        }
        let unit_len = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(s.len(), |(i, _)| i);
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let Some((_, shift)) = units.iter().find(|(u, _)| *u == unit) else {
            return Err(format!("units: unknown unit {unit} in {orig}"));
        };
        f += g * (1i64 << shift) as f64;
    }
    if neg {
        f = -f;
    }
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        return Err("units: overflow parsing unit".into());
    }
    Ok(f as i64)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size_mib("20GiB"), Ok(Some(20480)));
        assert_eq!(parse_size_mib("512MiB"), Ok(Some(512)));
        assert_eq!(parse_size_mib("1TB"), Ok(Some(1 << 20)));
        assert_eq!(parse_size_mib("1.5GiB"), Ok(Some(1536)));
        assert_eq!(parse_size_mib("1GiB512MiB"), Ok(Some(1536)));
        assert_eq!(parse_size_mib("0"), Ok(Some(0)));
        assert_eq!(parse_size_mib("-0"), Ok(Some(0)));
        assert_eq!(parse_size_mib(""), Ok(None));
        assert_eq!(
            parse_size_mib("100KiB"),
            Err("invalid dimension (finest granularity is 1MiB)".into())
        );
        assert_eq!(
            parse_size_mib("12"),
            Err("units: unknown unit  in 12".into())
        );
        assert_eq!(
            parse_size_mib("3XB"),
            Err("units: unknown unit XB in 3XB".into())
        );
        assert_eq!(
            parse_size_mib("-1GiB"),
            Err("invalid dimension (negative): \"-1GiB\"".into())
        );
        // Units from the two spellings do not mix.
        assert!(parse_size_mib("1GB512MiB").is_err());
        assert_eq!(
            parse_size_mib("2kB"),
            Err("units: unknown unit kB in 2kB".into())
        );
    }
}
