//! Go's `omitempty` on the Ignition 2.3 types that ct marshals its output
//! with (flatcar/ignition v0.36.2 `config/v2_3/types/schema.go`): a false
//! bool, `""`, `0` or an empty list is left out where the field is a plain
//! value marked `omitempty`. Pointer fields (`mode`, `overwrite`, `enabled`,
//! `label`, `uid`, a user's `passwordHash`, …) keep their zero values, and
//! structs are never omitted (hence ct's `"verification": {}`).

use serde_json::Value as Json;

use super::walk::JMap;

/// Removes the zero-valued `omitempty` plain fields from a spec-2 config.
pub(super) fn apply_v2(cfg: &mut JMap) {
    if let Some(ign) = obj(cfg, "ignition") {
        if let Some(c) = obj(ign, "config") {
            drop_zero(c, &["append"]);
        }
        if let Some(tls) = obj(ign, "security").and_then(|s| obj(s, "tls")) {
            drop_zero(tls, &["certificateAuthorities"]);
        }
    }
    if let Some(st) = obj(cfg, "storage") {
        for d in items(st, "disks") {
            drop_zero(d, &["wipeTable"]);
            for p in items(d, "partitions") {
                drop_zero(p, &["guid", "number", "typeGuid", "wipePartitionEntry"]);
            }
            drop_zero(d, &["partitions"]);
        }
        for r in items(st, "raid") {
            drop_zero(r, &["options", "spares"]);
        }
        for fs in items(st, "filesystems") {
            drop_zero(fs, &["name"]);
            if let Some(m) = obj(fs, "mount") {
                drop_zero(m, &["wipeFilesystem", "options"]);
                if let Some(c) = obj(m, "create") {
                    drop_zero(c, &["force", "options"]);
                }
            }
        }
        for (list, own) in [
            ("files", &["append"][..]),
            ("directories", &[][..]),
            ("links", &["hard"][..]),
        ] {
            for n in items(st, list) {
                drop_zero(n, own);
                for owner in ["user", "group"] {
                    if let Some(o) = obj(n, owner) {
                        drop_zero(o, &["name"]);
                    }
                }
                if let Some(c) = obj(n, "contents") {
                    drop_zero(c, &["compression", "source"]);
                }
            }
        }
        drop_zero(
            st,
            &[
                "directories",
                "disks",
                "files",
                "filesystems",
                "links",
                "raid",
            ],
        );
    }
    const USER: &[&str] = &[
        "gecos",
        "groups",
        "homeDir",
        "noCreateHome",
        "noLogInit",
        "noUserGroup",
        "primaryGroup",
        "sshAuthorizedKeys",
        "shell",
        "system",
    ];
    if let Some(pw) = obj(cfg, "passwd") {
        for u in items(pw, "users") {
            drop_zero(u, USER);
            if let Some(c) = obj(u, "create") {
                drop_zero(c, USER);
            }
        }
        for g in items(pw, "groups") {
            drop_zero(g, &["passwordHash", "system"]);
        }
        drop_zero(pw, &["users", "groups"]);
    }
    for (section, unit_fields) in [
        ("systemd", &["contents", "enable", "mask"][..]),
        ("networkd", &["contents"][..]),
    ] {
        if let Some(sec) = obj(cfg, section) {
            for u in items(sec, "units") {
                drop_zero(u, unit_fields);
                for d in items(u, "dropins") {
                    drop_zero(d, &["contents"]);
                }
                drop_zero(u, &["dropins"]);
            }
            drop_zero(sec, &["units"]);
        }
    }
}

fn obj<'m>(m: &'m mut JMap, key: &str) -> Option<&'m mut JMap> {
    m.get_mut(key).and_then(Json::as_object_mut)
}

fn items<'m>(m: &'m mut JMap, key: &str) -> impl Iterator<Item = &'m mut JMap> {
    m.get_mut(key)
        .and_then(Json::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Json::as_object_mut)
}

/// Go's zero values: false, "", 0, and (for slices) an empty list.
fn drop_zero(m: &mut JMap, keys: &[&str]) {
    for k in keys {
        let zero = match m.get(*k) {
            Some(Json::Bool(b)) => !b,
            Some(Json::String(s)) => s.is_empty(),
            Some(Json::Number(n)) => n.as_i64() == Some(0),
            Some(Json::Array(a)) => a.is_empty(),
            Some(Json::Null) => true,
            _ => false,
        };
        if zero {
            m.remove(*k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_plain_zeros_and_keeps_pointers() {
        let mut cfg = serde_json::json!({
            "storage": {
                "links": [{"path": "/a", "target": "/b", "hard": false, "overwrite": false,
                           "user": {"name": "", "id": 0}}],
                "files": [{"path": "/f", "append": false, "mode": 0,
                           "contents": {"source": "", "verification": {}}}],
                "disks": [{"device": "/dev/sda", "wipeTable": false,
                           "partitions": [{"number": 0, "label": "", "startMiB": 0}]}]
            },
            "systemd": {"units": [{"name": "a.service", "enable": false, "enabled": false,
                                   "mask": false, "dropins": []}]}
        });
        let Json::Object(m) = &mut cfg else {
            unreachable!()
        };
        apply_v2(m);
        assert_eq!(
            cfg,
            serde_json::json!({
                "storage": {
                    "links": [{"path": "/a", "target": "/b", "overwrite": false, "user": {"id": 0}}],
                    "files": [{"path": "/f", "mode": 0, "contents": {"verification": {}}}],
                    "disks": [{"device": "/dev/sda",
                               "partitions": [{"label": "", "startMiB": 0}]}]
                },
                "systemd": {"units": [{"name": "a.service", "enabled": false}]}
            })
        );
    }
}
