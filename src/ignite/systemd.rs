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

/// Whether parsed unit options include one in `[Install]` (so `enabled`
/// does something): Ignition looks for an option, not a section header
/// (config/shared/validations/unit.go).
pub fn has_install_option(options: &[UnitOption]) -> bool {
    options.iter().any(|o| o.section == "Install")
}

/// One `Name=value` line of a unit, by section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitOption {
    pub section: String,
    pub name: String,
}

/// Unit text as go-systemd's `unit.Deserialize` (v22 unit/deserialize.go,
/// the parser Ignition validates units and drop-ins with) reads it: text
/// before the first `[` is skipped, `#`/`;` lines are comments (continued
/// by a final `\`), values continue over lines ending in `\`. The error is
/// go-systemd's text. Its 2048-byte line limit depends on bufio's buffer
/// fill and is not reproduced.
pub fn parse_unit(text: &str) -> Result<Vec<UnitOption>, String> {
    let mut opts = Vec::new();
    let mut rest = text;
    let mut section: Option<String> = None;
    loop {
        let Some(c) = rest.chars().next() else {
            return Ok(opts);
        };
        let after = &rest[c.len_utf8()..];
        if c == '[' {
            let end = after.find(']').ok_or("unable to find end of section")?;
            let name = &after[..end];
            let (garbage, next) = to_eol(&after[end + 1..]);
            if !garbage.trim().is_empty() {
                return Err(format!(
                    "found garbage after section name {name}: {:?}",
                    garbage.trim()
                ));
            }
            section = Some(name.to_string());
            rest = next;
        } else if c == '#' || c == ';' {
            rest = skip_comment(after);
        } else if section.is_none() || c.is_whitespace() {
            rest = after;
        } else {
            let eq = rest.find(['=', '\n', '\r']).ok_or("EOF")?;
            if rest.as_bytes()[eq] != b'=' {
                return Err("unexpected newline encountered while parsing option name".into());
            }
            opts.push(UnitOption {
                section: section.clone().unwrap_or_default(),
                name: rest[..eq].trim().to_string(),
            });
            rest = skip_value(&rest[eq + 1..]);
        }
    }
}

/// go-systemd's `toEOL`: the line (without `\r\n`) and what follows.
fn to_eol(s: &str) -> (&str, &str) {
    let (line, rest) = match s.find('\n') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    (line.strip_suffix('\r').unwrap_or(line), rest)
}

fn skip_comment(mut s: &str) -> &str {
    loop {
        let (line, rest) = to_eol(s);
        s = rest;
        let line = line.strip_suffix(' ').unwrap_or(line);
        if !line.ends_with('\\') || s.is_empty() {
            return s;
        }
    }
}

fn skip_value(mut s: &str) -> &str {
    loop {
        let (line, rest) = to_eol(s);
        s = rest;
        if line.trim().is_empty() || !line.ends_with('\\') || s.is_empty() {
            return s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Result<Vec<String>, String> {
        parse_unit(text).map(|o| {
            o.into_iter()
                .map(|o| format!("{}.{}", o.section, o.name))
                .collect()
        })
    }

    #[test]
    fn parses_like_go_systemd() {
        assert_eq!(
            names(
                "junk before\n[Unit]\nA = 1\n# c \\\n still comment\nB=x \\\n  y\n[Install]\nWantedBy=m\n"
            ),
            Ok(vec![
                "Unit.A".into(),
                "Unit.B".into(),
                "Install.WantedBy".into()
            ])
        );
        assert_eq!(names("[Unit"), Err("unable to find end of section".into()));
        assert!(
            names("[Unit] x\n")
                .unwrap_err()
                .starts_with("found garbage")
        );
        assert_eq!(
            names("[Service]\nExecStart\n"),
            Err("unexpected newline encountered while parsing option name".into())
        );
        assert_eq!(names("[Service]\nExecStart"), Err("EOF".into()));
        // An empty [Install] section has no option in it.
        assert!(!has_install_option(&parse_unit("[Install]\n").unwrap()));
        assert_eq!(names(""), Ok(vec![]));
    }

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
        let has = |t: &str| has_install_option(&parse_unit(t).unwrap());
        assert!(has("[Unit]\n\n[Install]\nWantedBy=x\n"));
        assert!(!has("[Service]\nExecStart=/bin/true\n"));
    }
}
