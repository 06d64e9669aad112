//! Flatcar's `<file>.DIGESTS`: sections headed `# SHA512 HASH` (and MD5,
//! SHA1, ...) with `<hex>  <file name>` lines. Only SHA-512 is used.

use anyhow::{Result, bail};

use crate::fetch::Sha512Digest;

/// The SHA-512 listed for `file`, if the DIGESTS text lists one.
pub(super) fn sha512_for(text: &str, file: &str, source: &str) -> Result<Option<Sha512Digest>> {
    let mut in_sha512 = false;
    let mut found: Option<Sha512Digest> = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(header) = line.strip_prefix('#') {
            in_sha512 = header.trim().eq_ignore_ascii_case("SHA512 HASH");
            continue;
        }
        if !in_sha512 {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(hex), Some(name)) = (fields.next(), fields.next()) else {
            continue;
        };
        // `sha512sum -b` marks binary mode with a leading `*`.
        if name.trim_start_matches('*') != file {
            continue;
        }
        let digest: Sha512Digest = match hex.parse() {
            Ok(d) => d,
            Err(e) => bail!("{source}: bad SHA-512 for {file}: {e:#}"),
        };
        if found.is_some_and(|f| f != digest) {
            bail!("{source} lists two different SHA-512 digests for {file}");
        }
        found = Some(digest);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "flatcar_production_pxe_image.cpio.gz";

    #[test]
    fn picks_the_sha512_section() {
        let sha512 = Sha512Digest::of(b"x");
        let text = format!(
            "# MD5 HASH\n{md5}  {FILE}\n# SHA1 HASH\n{sha1}  {FILE}\n# SHA512 HASH\n{sha512}  {FILE}\n",
            md5 = "0".repeat(32),
            sha1 = "1".repeat(40),
        );
        assert_eq!(sha512_for(&text, FILE, "d").unwrap(), Some(sha512));
        assert_eq!(sha512_for(&text, "other", "d").unwrap(), None);
        assert_eq!(sha512_for("# MD5 HASH\n", FILE, "d").unwrap(), None);
    }

    #[test]
    fn rejects_garbage_and_conflicts() {
        let bad = format!("# SHA512 HASH\nnothex  {FILE}\n");
        assert!(sha512_for(&bad, FILE, "d").is_err());
        let conflict = format!(
            "# SHA512 HASH\n{a}  {FILE}\n{b}  *{FILE}\n",
            a = Sha512Digest::of(b"a"),
            b = Sha512Digest::of(b"b")
        );
        let err = sha512_for(&conflict, FILE, "d.DIGESTS").unwrap_err();
        assert!(format!("{err:#}").contains("two different"));
    }
}
