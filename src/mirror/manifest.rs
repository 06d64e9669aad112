//! `mkstick-verified.json`, beside the files of a mirrored release: what was
//! verified, when, and by which subkey, plus the digests that let
//! [`super::Release::open`] re-check the files later without the network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use serde::{Deserialize, Serialize};

use super::layout::{Arch, Channel, Version};
use crate::fetch::{Sha256Digest, Sha512Digest};

pub const FILE_NAME: &str = "mkstick-verified.json";
const FORMAT: u32 = 1;
/// A bookkeeping file lists three files: anything near this size is not one.
const LIMIT: u64 = 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub channel: Channel,
    pub arch: Arch,
    pub version: Version,
    /// Verified files by name.
    pub files: BTreeMap<String, FileRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecord {
    pub size: u64,
    pub sha256: Sha256Digest,
    /// Checked against the release's `.DIGESTS` file, when it listed one.
    pub sha512: Option<Sha512Digest>,
    /// The detached signature file kept beside it, if the file was signed.
    pub signature: Option<String>,
    /// Fingerprint of the signing subkey.
    pub signed_by: Option<String>,
    /// When the signature was made (Unix seconds).
    pub signed_at: Option<u32>,
}

impl Manifest {
    pub fn new(channel: Channel, arch: Arch, version: Version) -> Self {
        Self {
            format: FORMAT,
            channel,
            arch,
            version,
            files: BTreeMap::new(),
        }
    }

    pub fn path(release_dir: &Path) -> PathBuf {
        release_dir.join(FILE_NAME)
    }

    /// Reads the manifest of `release_dir`; `Ok(None)` when there is none yet.
    pub fn load(release_dir: &Path) -> Result<Option<Self>> {
        let path = Self::path(release_dir);
        let Some(bytes) = super::local::read_bounded(&path, LIMIT)? else {
            return Ok(None);
        };
        let manifest: Self = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is corrupt (it only records what mkstick verified: delete it, or let \
                 `mkstick mirror` rebuild it)",
                path.display()
            )
        })?;
        ensure!(
            manifest.format == FORMAT,
            "{} has format {}, this mkstick reads format {FORMAT}",
            path.display(),
            manifest.format
        );
        Ok(Some(manifest))
    }

    /// Writes the manifest atomically (a fresh temporary file, then rename).
    pub fn save(&self, release_dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).context("serializing the manifest")?;
        super::local::replace_file(&Self::path(release_dir), (json + "\n").as_bytes())
    }
}
