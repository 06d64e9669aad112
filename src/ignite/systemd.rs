//! systemd helpers: path escaping (`systemd-escape --path`) and unit checks.

/// `systemd-escape --path`: `/dev/disk/by-label/X` → `dev-disk-by\x2dlabel-X`.
pub fn escape_path(path: &str) -> String {
    let trimmed: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if trimmed.is_empty() {
        return "-".to_string();
    }
    let joined = trimmed.join("/");
    let mut out = String::with_capacity(joined.len() + 8);
    for (i, b) in joined.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b if b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'.' => {
                out.push(b as char)
            }
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// Unit types Ignition accepts as a unit name suffix.
const UNIT_SUFFIXES: &[&str] = &[
    ".service",
    ".socket",
    ".device",
    ".mount",
    ".automount",
    ".swap",
    ".target",
    ".path",
    ".timer",
    ".snapshot",
    ".slice",
    ".scope",
];

pub fn valid_unit_name(name: &str) -> bool {
    UNIT_SUFFIXES
        .iter()
        .any(|s| name.len() > s.len() && name.ends_with(s))
}

/// Whether unit text has an `[Install]` section (so `enabled` does something).
pub fn has_install_section(contents: &str) -> bool {
    contents.lines().any(|l| l.trim() == "[Install]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_systemd() {
        assert_eq!(
            escape_path("/dev/disk/by-label/SECRETS"),
            "dev-disk-by\\x2dlabel-SECRETS"
        );
        assert_eq!(escape_path("/mnt/secrets"), "mnt-secrets");
        assert_eq!(escape_path("/"), "-");
        assert_eq!(escape_path("//var//lib/"), "var-lib");
        assert_eq!(escape_path("/.hidden/a b"), "\\x2ehidden-a\\x20b");
        assert_eq!(escape_path("/ü"), "\\xc3\\xbc");
    }

    #[test]
    fn unit_names() {
        assert!(valid_unit_name("k3s.service"));
        assert!(valid_unit_name("mnt-secrets.mount"));
        assert!(!valid_unit_name("k3s"));
        assert!(!valid_unit_name(".service"));
        assert!(!valid_unit_name("x.conf"));
    }

    #[test]
    fn install_section() {
        assert!(has_install_section("[Unit]\n\n[Install]\nWantedBy=x\n"));
        assert!(!has_install_section("[Service]\nExecStart=/bin/true\n"));
    }
}
