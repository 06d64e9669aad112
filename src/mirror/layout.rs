//! Flatcar's release layout: `<base>/<channel>/<arch>-usr/<version>/<file>`,
//! the same on the CDN and in a mirror directory.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use crate::model::flatcar::{
    Arch, ArchChoice, Channel, DEFAULT_BASE_URL, INITRD, KERNEL, KERNEL_SIG_FALLBACK, VERSION_TXT,
    Version, VersionSpec,
};

/// Where one release lives, locally and remotely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseId {
    pub channel: Channel,
    pub arch: Arch,
    pub version: Version,
}

impl ReleaseId {
    /// `<root>/<channel>/<arch>-usr/<version>`
    pub fn dir(&self, root: &Path) -> PathBuf {
        board_dir(root, self.channel, self.arch).join(self.version.as_str())
    }

    /// `<base>/<channel>/<arch>-usr/<version>/<file>`
    pub fn url(&self, base: &str, file: &str) -> String {
        format!(
            "{}/{file}",
            board_url(base, self.channel, self.arch, self.version.as_str())
        )
    }
}

impl fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.channel, self.arch.board(), self.version)
    }
}

/// `<root>/<channel>/<arch>-usr`
pub fn board_dir(root: &Path, channel: Channel, arch: Arch) -> PathBuf {
    root.join(channel.as_str()).join(arch.board())
}

/// `<base>/<channel>/<arch>-usr/<version or current>`
pub fn board_url(base: &str, channel: Channel, arch: Arch, version: &str) -> String {
    format!(
        "{}/{}/{}/{version}",
        base.trim_end_matches('/'),
        channel,
        arch.board()
    )
}

/// Reads `FLATCAR_VERSION` from a `version.txt`.
pub fn parse_version_txt(text: &str, source: &str) -> Result<Version> {
    let value = text
        .lines()
        .filter_map(|line| line.trim().split_once('='))
        .find(|(key, _)| key.trim() == "FLATCAR_VERSION")
        .map(|(_, value)| value.trim().trim_matches(['"', '\'']))
        .with_context(|| format!("{source} has no FLATCAR_VERSION= line"))?;
    value
        .parse()
        .with_context(|| format!("reading FLATCAR_VERSION from {source}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_safe_path_segments() {
        assert!("4593.2.5".parse::<Version>().is_ok());
        for bad in [
            "",
            "4593",
            "../x",
            "4593.2.5/..",
            "1.2.3.4.5",
            "1..2",
            "a.b.c",
            "4593.2",
            "4593.2.5.1",
            "4593.02.5",
            "+4593.2.5",
            "4593.2.5\n",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            "current".parse::<VersionSpec>().unwrap(),
            VersionSpec::Current
        );
    }

    #[test]
    fn layout_matches_the_cdn() {
        let id = ReleaseId {
            channel: Channel::Stable,
            arch: Arch::Amd64,
            version: "4593.2.5".parse().unwrap(),
        };
        assert_eq!(
            id.url("https://m.example/flatcar/", KERNEL),
            "https://m.example/flatcar/stable/amd64-usr/4593.2.5/flatcar_production_pxe.vmlinuz"
        );
        assert_eq!(
            id.dir(Path::new("/m")),
            Path::new("/m/stable/amd64-usr/4593.2.5")
        );
    }

    #[test]
    fn reads_version_txt() {
        let text = "FLATCAR_BUILD=4593\nFLATCAR_VERSION=4593.2.5\nFLATCAR_VERSION_ID=4593.2.5\n";
        assert_eq!(parse_version_txt(text, "v").unwrap().as_str(), "4593.2.5");
        let err = parse_version_txt("FLATCAR_BUILD=1\n", "v.txt").unwrap_err();
        assert!(format!("{err:#}").contains("v.txt has no FLATCAR_VERSION"));
        assert!(parse_version_txt("FLATCAR_VERSION=../../etc\n", "v").is_err());
    }
}
