//! `/mkstick/manifest.json`: what was written, so a stick can be checked later.
//! Secrets appear as file names, sizes and key names only: a hash of a secrets
//! file on the ESP would let anyone holding the stick confirm a guessed value
//! offline. Their hashes live on the secrets volume itself, in
//! [`SECRETS_DIGESTS_PATH`] (`sha256sum -c` reads it), so whoever can read the
//! secrets can still verify them.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::k3s::ReleaseFile;
use crate::k3s::release_file::{esp_airgap_path, esp_binary_path};
use crate::model::Sha256Digest;
use crate::model::stick::SECRETS_DIGESTS_PATH;
use crate::plan::bootscript::IgnitionSource;
use crate::plan::{Plan, PlannedFile};

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub mkstick_version: String,
    pub source_date_epoch: Option<u64>,
    pub flatcar: FlatcarEntry,
    pub kernel_args: Vec<String>,
    pub ignition: String,
    /// The pinned k3s release, when the stick runs k3s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k3s: Option<K3sEntry>,
    /// ESP files other than the manifest itself.
    pub esp_files: Vec<FileEntry>,
    pub secrets_files: Vec<SecretsEntry>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FlatcarEntry {
    pub channel: String,
    pub version: String,
    pub arch: String,
    pub base_url: String,
    /// ESP directory of the release on the stick (`--offline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_dir: Option<String>,
}

/// The pinned k3s release (`k3s_release` on the secrets volume says the same).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct K3sEntry {
    pub version: String,
    pub binaries: Vec<K3sBinaryEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct K3sBinaryEntry {
    pub arch: String,
    pub url: String,
    pub sha256: Sha256Digest,
    /// The binary's path on the ESP (`--offline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The airgap images' path on the ESP (`--k3s-airgap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub airgap_file: Option<String>,
}

impl K3sEntry {
    pub fn of(file: &ReleaseFile) -> Self {
        K3sEntry {
            version: file.pin.version.to_string(),
            binaries: file
                .pin
                .binaries
                .iter()
                .map(|b| {
                    let carried = file.on_esp.iter().find(|e| e.arch == b.arch);
                    K3sBinaryEntry {
                        arch: b.arch.as_str().into(),
                        url: b.url.to_string(),
                        sha256: b.sha256,
                        file: carried.map(|_| esp_binary_path(b.arch)),
                        airgap_file: carried
                            .filter(|e| e.airgap.is_some())
                            .map(|_| esp_airgap_path(b.arch)),
                    }
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: Sha256Digest,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SecretsEntry {
    pub path: String,
    pub size: u64,
    /// Only in manifests of mkstick before 0.1's secrets hardening: never
    /// written now (see the module comment), still read to check old sticks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256Digest>,
    pub keys: Vec<String>,
}

impl Manifest {
    pub fn of(plan: &Plan) -> Self {
        let file = |f: &PlannedFile| FileEntry {
            path: f.path.clone(),
            size: f.size,
            sha256: f.sha256,
        };
        Manifest {
            mkstick_version: env!("CARGO_PKG_VERSION").into(),
            source_date_epoch: plan.source_date_epoch,
            flatcar: FlatcarEntry {
                channel: plan.boot.channel.as_str().into(),
                version: plan.boot.version.to_string(),
                arch: plan.boot.arch.as_str().into(),
                base_url: plan.boot.base_url.to_string(),
                offline_dir: plan.boot.offline_dir.clone(),
            },
            kernel_args: plan.boot.kernel_args.clone(),
            ignition: match &plan.boot.ignition {
                IgnitionSource::Url(u) => format!("url {u}"),
                IgnitionSource::Embedded(sha) => {
                    format!("embedded sha256:{sha}")
                }
            },
            k3s: plan.k3s.clone(),
            esp_files: plan.esp.files.iter().map(file).collect(),
            secrets_files: plan
                .secrets
                .files
                .iter()
                .map(|f| SecretsEntry {
                    path: f.path.clone(),
                    size: f.size,
                    sha256: None,
                    keys: plan
                        .components
                        .iter()
                        .find(|c| c.file == f.path)
                        .map(|c| c.keys.clone())
                        .unwrap_or_default(),
                })
                .collect(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a manifest always serializes");
        v.push(b'\n');
        v
    }

    pub fn parse(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).context("parsing /mkstick/manifest.json")
    }
}

/// The secrets volume's own digest file: `<sha256>  <name>` per file, in
/// `sha256sum` form.
pub(crate) fn secrets_digests(files: &[PlannedFile]) -> Vec<u8> {
    files
        .iter()
        .map(|f| format!("{}  {}\n", f.sha256, f.path))
        .collect::<String>()
        .into_bytes()
}

/// Reads a digest file back from a stick that may be hostile: every line must
/// be a digest and a plain file name; at most `max` lines.
pub(crate) fn parse_secrets_digests(
    bytes: &[u8],
    max: usize,
) -> Result<Vec<(String, Sha256Digest)>> {
    let text = std::str::from_utf8(bytes)
        .with_context(|| format!("{SECRETS_DIGESTS_PATH} is not UTF-8 text"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        anyhow::ensure!(
            out.len() < max,
            "{SECRETS_DIGESTS_PATH} lists more than {max} files"
        );
        let parsed = line.split_once("  ").and_then(|(hex, name)| {
            let plain = !name.is_empty()
                && name.len() <= 255
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
                && !name
                    .split('/')
                    .any(|c| c.is_empty() || c == "." || c == "..");
            Some((plain.then(|| name.to_string())?, hex.parse().ok()?))
        });
        match parsed {
            Some(entry) => out.push(entry),
            None => anyhow::bail!(
                "{SECRETS_DIGESTS_PATH}:{}: not a `<sha256>  <file>` line",
                i + 1
            ),
        }
    }
    Ok(out)
}
