//! The one downloader: HTTP(S) with rustls+ring, streaming hashes, progress,
//! `.part` files renamed only after verification, and HTTP Range resume.
//!
//! [`download_sha256`] is the whole story for a file pinned by SHA-256 (the
//! iPXE binary); [`Fetcher`] plus [`inspect`] workers serve callers that check
//! more (the Flatcar mirror verifies OpenPGP signatures while downloading).

pub mod client;
pub mod inspect;
pub mod progress;
mod transfer;

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::Digest as _;

pub use crate::model::digest::{Sha256Digest, Sha512Digest};
pub use client::check_http_url;
pub use progress::Progress;
pub use transfer::{Fetcher, PartFile, RetryPolicy};

/// The most [`download_sha256`] takes when the caller knows no tighter
/// bound: room for the largest pinned asset mkstick fetches (k3s' air-gap
/// image archive, a few hundred MB), not for a server that never stops.
pub const PINNED_DOWNLOAD_LIMIT: u64 = 2 * 1024 * 1024 * 1024;

use inspect::{Sha256Hasher, Worker};

/// Downloads `url` into `cache_dir` unless a file with `expected` SHA-256 is
/// already cached there, and returns its path.
///
/// The file is named `<sha256>-<last URL segment>`, so two pins never share a
/// file. A mismatch deletes the download and fails naming the URL and both
/// digests. Progress goes to stderr when it is a terminal.
pub fn download_sha256(url: &str, expected: &Sha256Digest, cache_dir: &Path) -> Result<PathBuf> {
    download_sha256_with(&Fetcher::new(Progress::stderr())?, url, expected, cache_dir)
}

/// [`download_sha256`] with a caller-configured [`Fetcher`].
pub fn download_sha256_with(
    fetcher: &Fetcher,
    url: &str,
    expected: &Sha256Digest,
    cache_dir: &Path,
) -> Result<PathBuf> {
    download_sha256_within(fetcher, url, expected, cache_dir, PINNED_DOWNLOAD_LIMIT)
}

/// [`download_sha256_with`] refusing a body of more than `limit` bytes.
pub fn download_sha256_within(
    fetcher: &Fetcher,
    url: &str,
    expected: &Sha256Digest,
    cache_dir: &Path,
    limit: u64,
) -> Result<PathBuf> {
    fs::create_dir_all(cache_dir)
        .with_context(|| format!("creating the download cache {}", cache_dir.display()))?;
    let dest = cache_dir.join(format!("{expected}-{}", file_name_of(url)));
    if dest.is_file() {
        if sha256_file(&dest)? == *expected {
            return Ok(dest);
        }
        // A cached file that no longer matches its name was damaged: fetch it again.
        fs::remove_file(&dest)
            .with_context(|| format!("removing the damaged cache file {}", dest.display()))?;
    }
    let hasher = Worker::spawn(Sha256Hasher::default());
    let part = fetcher.download(url, &dest, limit, &[&hasher])?;
    let actual = hasher.finish()?;
    if actual != *expected {
        let len = part.len();
        part.discard()?;
        bail!(
            "{url}: SHA-256 mismatch: expected {expected}, got {actual} ({len} bytes); \
             the download was deleted. Check the URL and the pinned SHA-256."
        );
    }
    part.commit()
}

/// SHA-256 of a file on disk, streamed.
pub fn sha256_file(path: &Path) -> Result<Sha256Digest> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            return Ok(hasher.into());
        }
        hasher.update(&buf[..n]);
    }
}

/// The last path segment of `url`, reduced to characters safe in a file name.
fn file_name_of(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let last = path.rsplit('/').next().unwrap_or_default();
    let safe: String = last
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    if safe.trim_matches('.').is_empty() {
        "download".to_owned()
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_names_come_from_the_url_path() {
        assert_eq!(file_name_of("https://h/x/ipxe.efi?v=2#f"), "ipxe.efi");
        assert_eq!(file_name_of("https://h/x/"), "download");
        assert_eq!(file_name_of("https://h/../.."), "download");
        assert_eq!(file_name_of("https://h/a b$c.efi"), "abc.efi");
    }
}
