//! `mkstick-verified.json`, beside the files of a mirrored release: what was
//! verified, when, and by which subkey, plus the digests that let
//! [`super::Release::open`] re-check the files later without the network.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use serde::{Deserialize, Serialize};

use super::layout::{Arch, Channel, Version};
use crate::fetch::{Sha256Digest, Sha512Digest};

pub const FILE_NAME: &str = "mkstick-verified.json";
const FORMAT: u32 = 1;

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
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let manifest: Self = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid mkstick manifest", path.display()))?;
        ensure!(
            manifest.format == FORMAT,
            "{} has format {}, this mkstick reads format {FORMAT}",
            path.display(),
            manifest.format
        );
        Ok(Some(manifest))
    }

    /// Writes the manifest atomically (temporary file, then rename).
    pub fn save(&self, release_dir: &Path) -> Result<()> {
        let path = Self::path(release_dir);
        let tmp = release_dir.join(format!(".{FILE_NAME}.tmp"));
        let json = serde_json::to_string_pretty(self).context("serializing the manifest")?;
        fs::write(&tmp, json + "\n").with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
    }
}
