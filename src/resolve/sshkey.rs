//! SSH public keys for the kernel's `sshkey=` argument: checked to really parse.

use anyhow::{Context, Result, bail, ensure};
use base64::Engine;

const TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// Parses the first key line (`TYPE BASE64 [COMMENT]`): the type must be known
/// and the blob must decode to a key of that type. Returns the key normalised
/// to single spaces, safe to quote on the iPXE command line.
pub(crate) fn parse(text: &str) -> Result<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let line = match lines[..] {
        [one] => one,
        [] => bail!("is empty; give a public key file such as ~/.ssh/id_ed25519.pub"),
        _ if !lines.iter().all(|l| TYPES.iter().any(|t| l.starts_with(t))) => bail!(
            "is not an SSH public key file: it looks like {}",
            crate::secrets::sniff::kind(text.as_bytes())
        ),
        _ => bail!(
            "holds {} keys; the kernel's sshkey= takes one (add more in the Ignition config)",
            lines.len()
        ),
    };
    ensure!(
        !line.contains("PRIVATE KEY"),
        "is a private key; give the .pub file"
    );
    let mut parts = line.split_whitespace();
    let kind = parts.next().unwrap_or_default();
    // The text itself is never quoted: a secrets file given here by mistake
    // must not end up in a terminal or a log.
    ensure!(
        TYPES.contains(&kind),
        "is not an SSH public key: it looks like {} (a public key line starts with one of {})",
        crate::secrets::sniff::kind(text.as_bytes()),
        TYPES.join(", ")
    );
    let blob = parts.next().context("has no key data after the type")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .context("key data is not valid base64")?;
    // The blob starts with the type again, as an SSH string (u32 length + bytes).
    let len = bytes
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let inner = len.and_then(|n| bytes.get(4..4 + n));
    ensure!(
        inner == Some(kind.as_bytes()),
        "key data does not hold a {kind} key"
    );
    let comment: Vec<&str> = parts.collect();
    let comment = comment.join(" ");
    ensure!(
        !comment.contains(['"', '$', '\\']),
        "the key's comment contains a quote, '$' or backslash, which the kernel command line cannot carry; edit the comment"
    );
    Ok(if comment.is_empty() {
        format!("{kind} {blob}")
    } else {
        format!("{kind} {blob} {comment}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A well-formed ed25519 public key (32 arbitrary bytes; no private half exists).
    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx1V0dkPrvV5YpQmHqFmE3FWb0S4T0bQ0m5R0u0nJ4E";

    #[test]
    fn parses_and_normalises() {
        assert_eq!(
            parse(&format!("{KEY}   me@host\n")).unwrap(),
            format!("{KEY} me@host")
        );
        assert_eq!(parse(KEY).unwrap(), KEY);
    }

    #[test]
    fn rejects_what_is_not_a_public_key() {
        for (bad, want) in [
            ("", "empty"),
            ("ssh-foo AAAA", "is not an SSH public key"),
            (
                "K3S_TOKEN=hunter2-secret",
                "it looks like a KEY=value env file",
            ),
            ("ssh-ed25519 !!!", "base64"),
            (
                "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIGx1V0dkPrvV5YpQmHqFmE3FWb0S4T0bQ0m5R0u0nJ4E",
                "does not hold",
            ),
            ("-----BEGIN OPENSSH PRIVATE KEY-----", "private key"),
        ] {
            let err = format!("{:#}", parse(bad).unwrap_err());
            assert!(err.contains(want), "{bad}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        assert!(parse(&format!("{KEY}\n{KEY}")).is_err());
        assert!(parse(&format!("{KEY} a\"b")).is_err());
    }
}
