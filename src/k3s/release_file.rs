//! `k3s_release` on the stick's SECRETS volume: the pin the node installs.
//!
//! Plain `KEY=VALUE` lines, no quotes or spaces, values only from
//! `[A-Za-z0-9._~:/%+-]`, `#` comments: the node parses it and never
//! sources it, and these characters need no quoting anywhere.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail, ensure};
use serde::Serialize;

use super::pin::{K3sPin, PinnedBinary};
use super::release::{Tag, airgap_asset};
use crate::model::Sha256Digest;
use crate::model::flatcar::Arch;

/// The file's name at the root of the SECRETS volume.
pub const FILE_NAME: &str = "k3s_release";

/// Where the binaries and airgap tarballs sit on the ESP (the node mounts it
/// read-only by its label and reads them from there, with no network).
const ESP_DIR: &str = "mkstick/k3s";

/// A binary (and maybe its airgap images) carried on the ESP for `arch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OnEsp {
    pub arch: Arch,
    /// The airgap tarball's digest: the node imports it only on a match.
    pub airgap: Option<Sha256Digest>,
}

/// The binary's path on the ESP, relative to its root.
pub fn esp_binary_path(arch: Arch) -> String {
    format!("{ESP_DIR}/k3s-{arch}")
}

/// The airgap tarball's path on the ESP, relative to its root.
pub fn esp_airgap_path(arch: Arch) -> String {
    format!("{ESP_DIR}/{}", airgap_asset(arch))
}

/// Everything `k3s_release` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseFile {
    pub pin: K3sPin,
    pub on_esp: Vec<OnEsp>,
}

/// Whether `value` can stand unquoted in the file.
pub fn is_safe_value(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~:/%+-".contains(&b))
}

fn key(arch: Arch, what: &str) -> String {
    format!("K3S_RELEASE_{}_{what}", arch.as_str().to_ascii_uppercase())
}

impl ReleaseFile {
    pub fn render(&self) -> Result<String> {
        let mut out = String::from(
            "# The k3s release pinned when this stick was written (mkstick).\n\
             # KEY=VALUE lines: parse them, never source this file.\n",
        );
        let mut line = |k: &str, v: &str| -> Result<()> {
            ensure!(is_safe_value(v), "{k} would hold unsafe characters: {v:?}");
            out.push_str(&format!("{k}={v}\n"));
            Ok(())
        };
        line("K3S_RELEASE_VERSION", self.pin.version.as_str())?;
        for b in &self.pin.binaries {
            line(&key(b.arch, "URL"), b.url.as_str())?;
            line(&key(b.arch, "SHA256"), &b.sha256.to_string())?;
            if let Some(e) = self.on_esp.iter().find(|e| e.arch == b.arch) {
                line(&key(b.arch, "FILE"), &esp_binary_path(b.arch))?;
                if let Some(sha256) = e.airgap {
                    line(&key(b.arch, "AIRGAP_FILE"), &esp_airgap_path(b.arch))?;
                    line(&key(b.arch, "AIRGAP_SHA256"), &sha256.to_string())?;
                }
            }
        }
        Ok(out)
    }

    /// Reads the file back (inspect, tests). `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let mut values = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                bail!("{source}:{}: expected KEY=VALUE", n + 1);
            };
            ensure!(
                k.starts_with("K3S_RELEASE_") && is_safe_value(v),
                "{source}:{}: not a k3s_release line",
                n + 1
            );
            ensure!(
                values.insert(k.to_owned(), v.to_owned()).is_none(),
                "{source}:{}: {k} given twice",
                n + 1
            );
        }
        let mut take = |k: &str| values.remove(k);
        let version: Tag = take("K3S_RELEASE_VERSION")
            .with_context(|| format!("{source}: no K3S_RELEASE_VERSION"))?
            .parse()
            .with_context(|| format!("{source}: K3S_RELEASE_VERSION"))?;
        let mut binaries = Vec::new();
        let mut on_esp = Vec::new();
        for arch in [Arch::Amd64, Arch::Arm64] {
            let (Some(url), Some(sha)) = (take(&key(arch, "URL")), take(&key(arch, "SHA256")))
            else {
                continue;
            };
            let sha256: Sha256Digest = sha
                .parse()
                .with_context(|| format!("{source}: {}", key(arch, "SHA256")))?;
            let url = url
                .parse()
                .with_context(|| format!("{source}: {}", key(arch, "URL")))?;
            binaries.push(PinnedBinary { arch, url, sha256 });
            let file = take(&key(arch, "FILE"));
            let airgap = take(&key(arch, "AIRGAP_FILE"));
            let airgap_sha256 = take(&key(arch, "AIRGAP_SHA256"))
                .map(|s| s.parse::<Sha256Digest>())
                .transpose()
                .with_context(|| format!("{source}: {}", key(arch, "AIRGAP_SHA256")))?;
            ensure!(
                airgap.is_some() == airgap_sha256.is_some(),
                "{source}: {} and {} come together",
                key(arch, "AIRGAP_FILE"),
                key(arch, "AIRGAP_SHA256")
            );
            if let Some(file) = file {
                ensure!(
                    file == esp_binary_path(arch),
                    "{source}: {} is {file}",
                    key(arch, "FILE")
                );
                ensure!(
                    airgap.as_deref().is_none_or(|a| a == esp_airgap_path(arch)),
                    "{source}: unexpected {}",
                    key(arch, "AIRGAP_FILE")
                );
                on_esp.push(OnEsp {
                    arch,
                    airgap: airgap_sha256,
                });
            }
        }
        if let Some(k) = values.keys().next() {
            bail!("{source}: unexpected key {k}");
        }
        ensure!(!binaries.is_empty(), "{source}: no binary is pinned");
        Ok(Self {
            pin: K3sPin { version, binaries },
            on_esp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin() -> K3sPin {
        K3sPin {
            version: "v1.31.4+k3s1".parse().unwrap(),
            binaries: vec![
                PinnedBinary {
                    arch: Arch::Amd64,
                    url: "https://github.com/k3s-io/k3s/releases/download/v1.31.4%2Bk3s1/k3s"
                        .parse()
                        .unwrap(),
                    sha256: Sha256Digest::of(b"amd64"),
                },
                PinnedBinary {
                    arch: Arch::Arm64,
                    url: "http://10.0.0.1/k3s/v1.31.4%2Bk3s1/k3s-arm64"
                        .parse()
                        .unwrap(),
                    sha256: Sha256Digest::of(b"arm64"),
                },
            ],
        }
    }

    #[test]
    fn renders_the_contract_keys() {
        let file = ReleaseFile {
            pin: pin(),
            on_esp: vec![OnEsp {
                arch: Arch::Amd64,
                airgap: Some(Sha256Digest::of(b"airgap")),
            }],
        };
        let text = file.render().unwrap();
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split_once('=').unwrap().0)
            .collect();
        assert_eq!(
            keys,
            [
                "K3S_RELEASE_VERSION",
                "K3S_RELEASE_AMD64_URL",
                "K3S_RELEASE_AMD64_SHA256",
                "K3S_RELEASE_AMD64_FILE",
                "K3S_RELEASE_AMD64_AIRGAP_FILE",
                "K3S_RELEASE_AMD64_AIRGAP_SHA256",
                "K3S_RELEASE_ARM64_URL",
                "K3S_RELEASE_ARM64_SHA256",
            ]
        );
        assert!(text.contains("K3S_RELEASE_VERSION=v1.31.4+k3s1\n"));
        assert!(text.contains("K3S_RELEASE_AMD64_FILE=mkstick/k3s/k3s-amd64\n"));
        assert!(text.contains(
            "K3S_RELEASE_AMD64_AIRGAP_FILE=mkstick/k3s/k3s-airgap-images-amd64.tar.zst\n"
        ));
        assert!(text.contains(&format!(
            "K3S_RELEASE_ARM64_SHA256={}\n",
            Sha256Digest::of(b"arm64")
        )));
        assert_eq!(ReleaseFile::parse(&text, "k").unwrap(), file);
    }

    #[test]
    fn unsafe_values_are_refused_both_ways() {
        let mut bad = pin();
        bad.binaries[0].url = "https://h/x?a=b".parse().unwrap();
        let file = ReleaseFile {
            pin: bad,
            on_esp: vec![],
        };
        assert!(file.render().is_err());
        let text = "K3S_RELEASE_VERSION=v1.31.4+k3s1\nK3S_RELEASE_AMD64_URL=$(reboot)\n";
        assert!(ReleaseFile::parse(text, "k").is_err());
        assert!(ReleaseFile::parse("K3S_RELEASE_VERSION=v1.31.4+k3s1\n", "k").is_err());
    }
}
