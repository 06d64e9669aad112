//! What kind of file some bytes look like, for errors about a file given to the
//! wrong flag (a secrets file as `--ssh-key`): the message names the kind and
//! never quotes the content.

/// A short description such as "a KEY=value env file (like a --secrets file)".
pub(crate) fn kind(bytes: &[u8]) -> &'static str {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return "a binary file";
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let Some(first) = lines.first() else {
        return "an empty file (or only comments)";
    };
    if text.contains("PRIVATE KEY-----") {
        return "a private key";
    }
    if first.starts_with("-----BEGIN") {
        return "a PEM file (certificate or key)";
    }
    if first.starts_with('{') || first.starts_with('[') {
        return "JSON";
    }
    if first.starts_with("ssh-") || first.starts_with("ecdsa-") || first.starts_with("sk-") {
        return "an SSH public key";
    }
    let env_like = lines.iter().all(|l| {
        let l = l.strip_prefix("export ").unwrap_or(l);
        l.split_once('=')
            .is_some_and(|(k, _)| super::envfile::is_variable_name(k.trim()))
    });
    if env_like {
        return "a KEY=value env file (like a --secrets file)";
    }
    if lines.iter().any(|l| l.contains(": ") || l.ends_with(':')) {
        return "YAML";
    }
    "text of an unknown kind"
}

/// Top-level keys of a Butane config or a Container Linux Config.
const CONFIG_KEYS: &[&str] = &[
    "variant",
    "version",
    "ignition",
    "storage",
    "systemd",
    "passwd",
    "networkd",
    "etcd",
    "flannel",
    "update",
    "locksmith",
    "docker",
    "kernel_arguments",
    "boot_device",
    "grub",
];

/// Whether YAML text could be a Butane config or a Container Linux Config: every
/// top-level key is one of theirs. Checked before transpiling, whose errors
/// quote source lines, so a secrets file given as `--ignition` is never shown.
pub(crate) fn looks_like_config_yaml(text: &str) -> bool {
    let mut any = false;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty()
            || line.starts_with([' ', '\t', '#', '-'])
            || line == "..."
            || line.starts_with("---")
        {
            continue;
        }
        let key = line
            .split_once(':')
            .map(|(k, _)| k.trim().trim_matches(['"', '\'']));
        match key {
            Some(k) if CONFIG_KEYS.contains(&k) => any = true,
            _ => return false,
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::{kind, looks_like_config_yaml};

    #[test]
    fn config_yaml() {
        assert!(looks_like_config_yaml(
            "---\nvariant: flatcar\nversion: 1.0.0\n# c\npasswd:\n  users: []\n"
        ));
        assert!(looks_like_config_yaml("systemd:\n  units: []\n"));
        assert!(!looks_like_config_yaml("K3S_TOKEN: abc\n"));
        assert!(!looks_like_config_yaml("variant: flatcar\nK3S_TOKEN=abc\n"));
        assert!(!looks_like_config_yaml(""));
    }

    #[test]
    fn kinds() {
        assert_eq!(
            kind(b"# s\nK3S_TOKEN=abc\nexport X=1\n"),
            "a KEY=value env file (like a --secrets file)"
        );
        assert_eq!(kind(b"{\"a\":1}"), "JSON");
        assert_eq!(kind(b"variant: flatcar\nversion: 1.0.0\n"), "YAML");
        assert_eq!(
            kind(b"-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n"),
            "a private key"
        );
        assert_eq!(kind(b"\xff\xfe\0"), "a binary file");
        assert_eq!(kind(b"\n# only\n"), "an empty file (or only comments)");
    }
}
