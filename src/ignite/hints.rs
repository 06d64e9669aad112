//! Hints for keys that belong to the other dialect (users mix them up).

use super::dialect::Dialect;

/// Help text for an unknown `key` that the other dialect knows.
pub(super) fn cross_dialect(dialect: Dialect, key: &str) -> Option<String> {
    let help = match (dialect, key) {
        (Dialect::Butane { .. }, "networkd") => {
            "`networkd` is Container Linux Config; in Butane write each unit as a file under /etc/systemd/network/ (storage.files)"
        }
        (Dialect::Butane { .. }, "update" | "locksmith") => {
            "`update`/`locksmith` are Container Linux Config; in Butane write /etc/flatcar/update.conf as a file"
        }
        (Dialect::Butane { .. }, "docker" | "etcd" | "flannel") => {
            "this is Container Linux Config sugar; in Butane write the systemd unit or drop-in yourself"
        }
        (Dialect::Butane { .. }, "filesystem") => {
            "Butane has no `filesystem` key: paths are absolute paths in the root filesystem"
        }
        (Dialect::Butane { .. }, "remote") => "Butane names remote contents `source: URL`",
        (Dialect::Butane { .. }, "enable") => "Butane spells it `enabled`",
        (Dialect::Butane { .. }, "append") => {
            "Butane names child configs `merge` (Container Linux Config's `append`)"
        }
        (Dialect::Clc, "variant") => {
            "`variant` is Butane's; a Butane config needs `variant: flatcar` and `version: 1.0.0` or `1.1.0` as top-level keys"
        }
        (Dialect::Clc, "source") => {
            "Container Linux Config names remote contents `remote: {url: URL}`"
        }
        (Dialect::Clc, "merge") => "Container Linux Config names child configs `append`",
        (
            Dialect::Clc,
            "kernel_arguments" | "trees" | "luks" | "contents_local" | "ssh_authorized_keys_local",
        ) => "this key exists only in Butane configs (`variant: flatcar`)",
        _ => return None,
    };
    Some(help.to_string())
}
