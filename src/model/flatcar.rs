//! Flatcar's vocabulary: channels, architectures, versions, the release file
//! names and the CDN. One definition, used by the writer, the mirror and qemu.

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// The Flatcar CDN origin (no redirect, unlike `<channel>.release.flatcar-linux.net`).
pub const DEFAULT_BASE_URL: &str = "https://flatcar.cdn.cncf.io";

/// The PXE kernel (it embeds the first-stage initramfs).
pub const KERNEL: &str = "flatcar_production_pxe.vmlinuz";
/// Where the kernel's signature may live instead: newer releases publish the
/// kernel under its generic name and sign only that name.
pub const KERNEL_SIG_FALLBACK: &str = "flatcar_production_image.vmlinuz.sig";
/// The PXE initrd (the `/usr` squashfs, about 375 MB).
pub const INITRD: &str = "flatcar_production_pxe_image.cpio.gz";
/// `FLATCAR_VERSION=...` and friends.
pub const VERSION_TXT: &str = "version.txt";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    #[default]
    Stable,
    Beta,
    Alpha,
    Lts,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Stable => "stable",
            Channel::Beta => "beta",
            Channel::Alpha => "alpha",
            Channel::Lts => "lts",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The board directory name, e.g. `amd64-usr`.
    pub fn board(self) -> String {
        format!("{}-usr", self.as_str())
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The architectures a user asks for: one, or both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ArchChoice {
    #[default]
    Amd64,
    Arm64,
    /// Both (a stick carries both iPXE binaries; the script picks by iPXE's build).
    All,
}

impl ArchChoice {
    pub fn arches(self) -> &'static [Arch] {
        match self {
            ArchChoice::Amd64 => &[Arch::Amd64],
            ArchChoice::Arm64 => &[Arch::Arm64],
            ArchChoice::All => &[Arch::Amd64, Arch::Arm64],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ArchChoice::Amd64 => "amd64",
            ArchChoice::Arm64 => "arm64",
            ArchChoice::All => "all",
        }
    }
}

/// A concrete Flatcar version such as `4593.2.5`: dot-separated numbers,
/// so it is always safe as a path segment and in a URL.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version(String);

impl Version {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this version is `min` or newer, comparing numerically.
    pub fn at_least(&self, min: &[u64]) -> bool {
        let parts: Vec<u64> = self.0.split('.').map(|p| p.parse().unwrap_or(0)).collect();
        parts.as_slice() >= min
    }
}

impl FromStr for Version {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        // Exactly MAJOR.MINOR.PATCH, each a plain decimal without leading
        // zeros: one spelling per release, so paths and URLs are canonical.
        let parts: Vec<&str> = s.split('.').collect();
        let canonical = parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 9
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        });
        if parts.len() != 3 || !canonical {
            bail!(
                "{:?} is not a Flatcar version: the form is MAJOR.MINOR.PATCH, three numbers without leading zeros such as 4593.2.5 (or `current`)",
                s.escape_debug().to_string()
            );
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for Version {
    type Error = anyhow::Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Version> for String {
    fn from(v: Version) -> String {
        v.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the user asked for: a pinned version, or whatever `current` names today.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum VersionSpec {
    #[default]
    Current,
    Exact(Version),
}

impl FromStr for VersionSpec {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "current" => Ok(VersionSpec::Current),
            v => v.parse().map(VersionSpec::Exact),
        }
    }
}

impl fmt::Display for VersionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSpec::Current => f.write_str("current"),
            VersionSpec::Exact(v) => v.fmt(f),
        }
    }
}
