//! Env files: reading the user's `--secrets FILE`, writing systemd EnvironmentFiles.

use anyhow::{Result, bail, ensure};

use super::{Input, Origin, Secret};

/// Parses `KEY=value` lines (shell style: `#` comments, blank lines, optional
/// `export `, optional single or double quotes, ` #` starting a comment after
/// an unquoted value). Every bad line is reported with its number; neither the
/// values nor the text before `=` of a bad line (a wrapped value may have an
/// `=` in it) are ever echoed.
pub(crate) fn parse(path: &str, text: &str) -> Result<Vec<Input>> {
    let mut out: Vec<Input> = Vec::new();
    let mut problems = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let (key, value) = match split(raw) {
            Line::Blank => continue,
            Line::Pair(key, value) => (key, value),
            Line::NoEquals => {
                problems.push(format!(
                    "{path}:{line}: expected KEY=value (a value wrapped onto its own line, or a line without '='; the text is not shown)"
                ));
                continue;
            }
        };
        if !is_variable_name(key) {
            problems.push(format!(
                "{path}:{line}: the text before '=' is not a variable name (letters, digits and '_'; not shown, it may be part of a value)"
            ));
            continue;
        }
        if let Some(first) = out.iter().find(|i| i.key == key) {
            let first_line = match &first.origin {
                Origin::File { line, .. } => *line,
                _ => 0,
            };
            problems.push(format!(
                "{path}:{line}: {key} is set again (first set on line {first_line}); keep one"
            ));
            continue;
        }
        match unquote(value.trim()) {
            Ok(value) => out.push(Input {
                key: key.to_string(),
                value: Secret::new(value),
                origin: Origin::File {
                    path: path.to_string(),
                    line,
                },
            }),
            Err(e) => problems.push(format!("{path}:{line}: {key}: {e}")),
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n"));
    }
    Ok(out)
}

/// One line of an env file, split but not yet checked.
enum Line<'a> {
    /// Blank, or a `#` comment.
    Blank,
    /// The trimmed key and the raw value.
    Pair(&'a str, &'a str),
    NoEquals,
}

/// A shell variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_variable_name(key: &str) -> bool {
    !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !key.as_bytes()[0].is_ascii_digit()
}

fn split(raw: &str) -> Line<'_> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Line::Blank;
    }
    let body = trimmed.strip_prefix("export ").unwrap_or(trimmed);
    match body.split_once('=') {
        Some((key, value)) => Line::Pair(key.trim(), value),
        None => Line::NoEquals,
    }
}

/// The key names of an env file, never its values: what `inspect` shows of a
/// secrets file. Lenient (a stick may have been edited): lines that are not
/// `KEY=value` are skipped.
pub(crate) fn keys(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| match split(l) {
            Line::Pair(key, _) => Some(key.to_string()),
            Line::Blank | Line::NoEquals => None,
        })
        .collect()
}

fn unquote(v: &str) -> Result<String> {
    if let Some(inner) = v.strip_prefix('\'') {
        return match inner.split_once('\'') {
            Some((s, rest)) if is_comment_or_nothing(rest) => Ok(s.to_string()),
            Some(_) => bail!("text after the closing quote"),
            None => bail!("unterminated single quote"),
        };
    }
    if let Some(inner) = v.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(n @ ('"' | '\\' | '$' | '`')) => out.push(n),
                    Some(n) => {
                        out.push('\\');
                        out.push(n);
                    }
                    None => bail!("unterminated double quote"),
                },
                '"' => {
                    ensure!(
                        is_comment_or_nothing(chars.as_str()),
                        "text after the closing quote"
                    );
                    return Ok(out);
                }
                c => out.push(c),
            }
        }
        bail!("unterminated double quote");
    }
    let v = strip_comment(v);
    if v.contains(['"', '\'']) {
        bail!("quote inside an unquoted value; quote the whole value");
    }
    Ok(v.to_string())
}

/// An unquoted value without its comment: as in a shell, `#` starts one only
/// at the start of a word (`a#b` is a value, `a #b` is `a`).
fn strip_comment(v: &str) -> &str {
    let mut prev_space = true;
    for (i, c) in v.char_indices() {
        if c == '#' && prev_space {
            return v[..i].trim_end();
        }
        prev_space = c.is_whitespace();
    }
    v
}

/// What may follow a closing quote: nothing, or whitespace and a comment.
fn is_comment_or_nothing(rest: &str) -> bool {
    let body = rest.trim_start();
    body.is_empty() || (body.starts_with('#') && body.len() < rest.len())
}

/// Renders values as a systemd EnvironmentFile: every value double-quoted, with
/// `"`, `\`, `` ` `` and `$` backslash-escaped (systemd removes exactly those
/// escapes; values never hold newlines, validation refuses them).
pub(crate) fn render(values: &[(String, Secret)]) -> String {
    let mut out = String::new();
    for (key, value) in values {
        out.push_str(key);
        out.push_str("=\"");
        for c in value.expose().chars() {
            if matches!(c, '"' | '\\' | '`' | '$') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push_str("\"\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_carry_values() {
        let text = "# K3S_TOKEN=x\nK3S_TOKEN=\"secret\"\n\nexport K3S_URL=u\nnot a pair\n";
        assert_eq!(keys(text), ["K3S_TOKEN", "K3S_URL"]);
    }

    #[test]
    fn parses_shell_style_lines() {
        let text = "# comment\n\nexport K3S_TOKEN=abc\nHEARTBEAT_URL='https://x/y'\nNAMECHEAP_DDNS_PASS=\"p\\\"w\\$d\"\n";
        let got = parse("s.env", text).unwrap();
        let pairs: Vec<(&str, &str)> = got
            .iter()
            .map(|i| (i.key.as_str(), i.value.expose()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("K3S_TOKEN", "abc"),
                ("HEARTBEAT_URL", "https://x/y"),
                ("NAMECHEAP_DDNS_PASS", "p\"w$d")
            ]
        );
        assert_eq!(
            got[1].origin,
            Origin::File {
                path: "s.env".into(),
                line: 4
            }
        );
    }

    #[test]
    fn reports_every_bad_line_without_values() {
        let err = parse("s.env", "NOEQUALS\nK3S_TOKEN=\"open-secret\n1BAD=x\n").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("s.env:1: expected KEY=value"), "{msg}");
        assert!(
            msg.contains("s.env:2: K3S_TOKEN: unterminated double quote"),
            "{msg}"
        );
        assert!(msg.contains("s.env:3:"), "{msg}");
        assert!(!msg.contains("open-secret"), "{msg}");
    }

    #[test]
    fn comments_follow_shell_rules() {
        let text = "A_X=abc #note\nB_X=a#b\nC_X='q #x' # c\nD_X=\"d\" #c\nE_X=#all\n";
        let got = parse("s.env", text).unwrap();
        let values: Vec<&str> = got.iter().map(|i| i.value.expose()).collect();
        assert_eq!(values, ["abc", "a#b", "q #x", "d", ""]);
        assert!(parse("s.env", "A_X=\"d\"#c\n").is_err());
    }

    #[test]
    fn duplicate_key_names_both_lines() {
        let err = parse("s.env", "K3S_TOKEN=a\n# x\nK3S_TOKEN=b\n").unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "s.env:3: K3S_TOKEN is set again (first set on line 1); keep one"
        );
    }

    #[test]
    fn malformed_lines_never_echo_text() {
        let text =
            "K3S_TOKEN=abc\ndefSECRETghi\nK3S:SECRETx=y\nX_Y=\"SECRETbroken\nSECRET wrapped=z\n";
        let msg = format!("{:#}", parse("s.env", text).unwrap_err());
        assert!(!msg.contains("SECRET"), "{msg}");
        for line in 2..=5 {
            assert!(msg.contains(&format!("s.env:{line}:")), "{msg}");
        }
    }

    #[test]
    fn render_round_trips_through_parse() {
        let values = vec![("K3S_TOKEN".to_string(), Secret::new(r#"a"b\c$d`e f"#))];
        let text = render(&values);
        assert_eq!(text, "K3S_TOKEN=\"a\\\"b\\\\c\\$d\\`e f\"\n");
        let back = parse("x", &text).unwrap();
        assert_eq!(back[0].value.expose(), r#"a"b\c$d`e f"#);
    }
}
