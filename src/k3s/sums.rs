//! A release's `sha256sum-<arch>.txt`: `sha256sum` output, one
//! `<64 hex>  <asset name>` line per asset (binary mode marks the name `*`).

use anyhow::{Result, bail};

use crate::model::Sha256Digest;

/// The SHA-256 the checksum file lists for `asset`.
///
/// `source` names the file in errors (its URL or path). A line for `asset`
/// with a malformed hash, two different hashes, or no line at all are errors
/// that say how to pin by hand instead.
pub fn sha256_for(text: &str, asset: &str, source: &str) -> Result<Sha256Digest> {
    let mut found: Option<Sha256Digest> = None;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(hex), Some(name), None) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if name.strip_prefix('*').unwrap_or(name) != asset {
            continue;
        }
        let digest: Sha256Digest = match hex.parse() {
            Ok(d) => d,
            Err(e) => bail!(
                "{source}:{}: the SHA-256 of {asset} is malformed: {e:#}",
                number + 1
            ),
        };
        if found.is_some_and(|f| f != digest) {
            bail!("{source} lists two different SHA-256 digests for {asset}; refusing to guess");
        }
        found = Some(digest);
    }
    match found {
        Some(digest) => Ok(digest),
        None => {
            bail!("{source} has no line for {asset}; is this the right release and architecture?")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of a real `sha256sum-amd64.txt` (hashes made up).
    fn sample() -> String {
        format!(
            "{a}  e2e-v1.31.4+k3s1-amd64.tar\n{b}  k3s\n{c}  k3s-airgap-images-amd64.tar.zst\n",
            a = Sha256Digest::of(b"e2e"),
            b = Sha256Digest::of(b"k3s"),
            c = Sha256Digest::of(b"airgap"),
        )
    }

    #[test]
    fn picks_the_asset_line() {
        let text = sample();
        assert_eq!(
            sha256_for(&text, "k3s", "s").unwrap(),
            Sha256Digest::of(b"k3s")
        );
        assert_eq!(
            sha256_for(&text, "k3s-airgap-images-amd64.tar.zst", "s").unwrap(),
            Sha256Digest::of(b"airgap")
        );
        let binary_mode = format!("{}  *k3s-arm64\n", Sha256Digest::of(b"arm"));
        assert_eq!(
            sha256_for(&binary_mode, "k3s-arm64", "s").unwrap(),
            Sha256Digest::of(b"arm")
        );
    }

    #[test]
    fn a_missing_line_names_the_file_and_the_fix() {
        let err = sha256_for(&sample(), "k3s-arm64", "http://h/sha256sum-amd64.txt").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("http://h/sha256sum-amd64.txt has no line for k3s-arm64"));
        assert!(sha256_for("", "k3s", "s").is_err());
    }

    #[test]
    fn malformed_and_conflicting_hashes_are_refused() {
        let text = format!("{}  k3s-arm64\nnothex  k3s\n", Sha256Digest::of(b"x"));
        let msg = format!("{:#}", sha256_for(&text, "k3s", "f.txt").unwrap_err());
        assert!(
            msg.contains("f.txt:2: the SHA-256 of k3s is malformed"),
            "{msg}"
        );
        let twice = format!(
            "{}  k3s\n{}  *k3s\n",
            Sha256Digest::of(b"a"),
            Sha256Digest::of(b"b")
        );
        let msg = format!("{:#}", sha256_for(&twice, "k3s", "f").unwrap_err());
        assert!(msg.contains("two different"), "{msg}");
    }
}
