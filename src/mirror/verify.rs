//! Re-verifies a mirrored file from disk, as if it had just been downloaded:
//! its detached OpenPGP signature (kept beside it) from a subkey of the
//! pinned key, and the SHA-512 of its `.DIGESTS` file where there is one.
//! The mirror's bookkeeping file is never consulted: it is a cache a hostile
//! or broken mirror can rewrite, so every use of a file checks the file.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail, ensure};
use pgp::crypto::hash::HashAlgorithm;

use crate::fetch::inspect::{Feed, Sha256Hasher, Sha512Hasher, Worker};
use crate::fetch::{Sha256Digest, Sha512Digest};

use super::digests;
use super::keyring::Keyring;
use super::layout::{self, KERNEL, KERNEL_SIG_FALLBACK, Version};
use super::local::{Links, open_checked, read_bounded};
use super::manifest::FileRecord;
use super::rollback::{self, SignedAt};
use super::signature::Detached;
use super::{SMALL_LIMIT, VerifiedFile};

/// Bytes hashed per read.
const CHUNK: usize = 256 * 1024;

/// The signature file names `name` may have, in the order they are tried.
pub(super) fn signature_candidates(name: &str) -> Vec<String> {
    let mut candidates = vec![format!("{name}.sig")];
    if name == KERNEL {
        candidates.push(KERNEL_SIG_FALLBACK.to_owned());
    }
    candidates
}

/// Checks `release_dir/name` against its signature and DIGESTS on disk, and
/// the signature's date against `version` (see [`rollback`]).
/// `Ok(None)` when the file is not there; an error says what is wrong.
pub(super) fn release_file(
    release_dir: &Path,
    name: &str,
    version: &Version,
    keyring: &Keyring,
    limit: u64,
) -> Result<Option<(VerifiedFile, FileRecord)>> {
    let path = release_dir.join(name);
    let Some((mut file, size)) = open_checked(&path, Links::Refuse)? else {
        return Ok(None);
    };
    ensure!(
        size <= limit,
        "{} has {size} bytes, more than the {limit} allowed for {name}",
        path.display()
    );
    let (sig_name, sig_bytes) = signature_on_disk(release_dir, name)?;
    let sig_path = release_dir.join(&sig_name);
    let sig = Detached::parse(&sig_bytes, &sig_path.display().to_string())?;
    let signer = keyring.signer_for(sig.signature()).with_context(|| {
        format!(
            "{}: its signature {sig_name} is not trusted",
            path.display()
        )
    })?;
    // Before reading the file: a rolled-back release fails at once.
    let signed_at = signed_at(&sig)?;
    rollback::check_date(
        version,
        SignedAt {
            file: &path.display().to_string(),
            at: signed_at,
        },
    )?;
    let digests_name = format!("{name}.DIGESTS");
    let sha512 = match read_bounded(&release_dir.join(&digests_name), SMALL_LIMIT)? {
        Some(text) => digests::sha512_for(
            &String::from_utf8_lossy(&text),
            name,
            &release_dir.join(&digests_name).display().to_string(),
        )?,
        None => None,
    };

    let sha256 = Worker::spawn(Sha256Hasher::default());
    let signed = Worker::spawn(sig.hasher()?);
    let sha512_worker = (sha512.is_some() && sig.hash_alg() != HashAlgorithm::Sha512)
        .then(|| Worker::spawn(Sha512Hasher::default()));
    let mut feeds: Vec<&dyn Feed> = vec![&sha256, &signed];
    if let Some(w) = &sha512_worker {
        feeds.push(w);
    }
    let mut read = 0u64;
    loop {
        // One byte past the size seen at open tells a growing file.
        let mut buf = vec![0u8; CHUNK];
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        buf.truncate(n);
        read += n as u64;
        ensure!(read <= size, "{} grew while being verified", path.display());
        let chunk = Arc::new(buf);
        for f in &feeds {
            f.feed(&chunk)?;
        }
    }
    drop(feeds);
    ensure!(
        read == size,
        "{} shrank while being verified",
        path.display()
    );
    let sha256 = sha256.finish()?;
    let signed = signed.finish()?;
    let actual512 = match sha512_worker {
        Some(w) => Some(w.finish()?),
        None => Sha512Digest::from_slice(&signed.digest),
    };
    sig.verify(&signer, signed).map_err(|e| {
        anyhow!(
            "{} fails its OpenPGP signature check against {sig_name}: {e:#}",
            path.display()
        )
    })?;
    if let Some(expected) = sha512
        && actual512 != Some(expected)
    {
        bail!(
            "{}: SHA-512 does not match {digests_name} (expected {expected})",
            path.display()
        );
    }
    let verified = VerifiedFile { path, size, sha256 };
    let record = FileRecord {
        size,
        sha256,
        sha512,
        signature: Some(sig_name),
        signed_by: Some(signer.fingerprint.to_string()),
        signed_at: Some(signed_at),
    };
    Ok(Some((verified, record)))
}

/// When `sig` was made (Unix seconds); a trusted signature always says.
pub(super) fn signed_at(sig: &Detached) -> Result<u32> {
    sig.signature()
        .created()
        .map(|t| t.as_secs())
        .context("the signature carries no creation time")
}

/// Checks `version.txt`: it must name `version`, and its signature must
/// verify when it has one (older releases published none).
pub(super) fn version_txt(
    release_dir: &Path,
    version: &Version,
    keyring: &Keyring,
) -> Result<Option<FileRecord>> {
    let path = release_dir.join(layout::VERSION_TXT);
    let Some(text) = read_bounded(&path, SMALL_LIMIT)? else {
        return Ok(None);
    };
    let named =
        layout::parse_version_txt(&String::from_utf8_lossy(&text), &path.display().to_string())?;
    ensure!(
        named == *version,
        "{} names version {named}, not {version}",
        path.display()
    );
    let mut record = FileRecord {
        size: text.len() as u64,
        sha256: Sha256Digest::of(&text),
        sha512: None,
        signature: None,
        signed_by: None,
        signed_at: None,
    };
    let sig_name = format!("{}.sig", layout::VERSION_TXT);
    if let Some(sig_bytes) = read_bounded(&release_dir.join(&sig_name), SMALL_LIMIT)? {
        let sig = Detached::parse(
            &sig_bytes,
            &release_dir.join(&sig_name).display().to_string(),
        )?;
        let signer = keyring.signer_for(sig.signature())?;
        let mut hasher = sig.hasher()?;
        crate::fetch::inspect::Inspect::update(&mut hasher, &text);
        sig.verify(&signer, crate::fetch::inspect::Inspect::finish(hasher))
            .with_context(|| format!("{}: OpenPGP signature check failed", path.display()))?;
        record.signature = Some(sig_name);
        record.signed_by = Some(signer.fingerprint.to_string());
        record.signed_at = sig.signature().created().map(|t| t.as_secs());
    }
    Ok(Some(record))
}

/// The first signature file of `name` present on disk.
fn signature_on_disk(release_dir: &Path, name: &str) -> Result<(String, Vec<u8>)> {
    let candidates = signature_candidates(name);
    for candidate in &candidates {
        if let Some(bytes) = read_bounded(&release_dir.join(candidate), SMALL_LIMIT)? {
            return Ok((candidate.clone(), bytes));
        }
    }
    bail!(
        "{} has no signature beside it (looked for {}); refusing an unsigned file",
        release_dir.join(name).display(),
        candidates.join(", ")
    )
}
