//! k3s release names: tags, channels, and the asset names of one release.
//!
//! Tags and channels are validated when parsed, so they are always safe as a
//! path segment, in a URL and in the `k3s_release` file.

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::model::flatcar::Arch;

/// The longest tag or channel name accepted (real tags are ~15 characters).
const MAX_NAME: usize = 64;

/// A concrete k3s release tag such as `v1.31.4+k3s1` or `v1.32.0-rc1+k3s1`:
/// `v`, three numbers, then optional `-prerelease` and `+build` parts made
/// of letters, digits and dots.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl Tag {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tag as a URL path segment: `+` is `%2B`, as GitHub's links spell it.
    pub fn url_segment(&self) -> String {
        self.0.replace('+', "%2B")
    }
}

impl FromStr for Tag {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        if !is_tag(s) {
            bail!(
                "{s:?} is not a k3s release tag (expected one like v1.31.4+k3s1, \
                 or a channel such as stable, latest or v1.31)"
            );
        }
        Ok(Self(s.to_owned()))
    }
}

fn is_tag(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    if s.len() > MAX_NAME {
        return false;
    }
    let (rest, build) = match rest.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (rest, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let numeric = numbers
        .iter()
        .all(|n| !n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit()));
    let ident = |p: &str| {
        !p.is_empty()
            && p.split('.')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()))
    };
    numbers.len() == 3 && numeric && pre.is_none_or(ident) && build.is_none_or(ident)
}

impl TryFrom<String> for Tag {
    type Error = anyhow::Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Tag> for String {
    fn from(t: Tag) -> String {
        t.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A k3s release channel such as `stable`, `latest`, `testing`, `v1.31`:
/// lowercase letters, digits, `.` and `-`, starting with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Channel(String);

impl Channel {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Channel {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= MAX_NAME
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !ok {
            bail!(
                "{s:?} is neither a k3s release tag (like v1.31.4+k3s1) nor a channel name \
                 (like stable, latest or v1.31)"
            );
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the user asked for: a tag, or a channel to resolve to one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionSpec {
    Tag(Tag),
    Channel(Channel),
}

impl Default for VersionSpec {
    fn default() -> Self {
        VersionSpec::Channel(Channel("stable".to_owned()))
    }
}

impl FromStr for VersionSpec {
    type Err = anyhow::Error;
    /// Three version numbers make a tag (`v1.31.4+k3s1`); anything else
    /// that is a valid channel name is a channel (`stable`, `v1.31`).
    fn from_str(s: &str) -> Result<Self> {
        // Checked before parsing: clap parses the default (`stable`) on every
        // run, and a failed `Tag` parse would build an error (and, under
        // RUST_BACKTRACE, capture a backtrace) only to drop it.
        if is_tag(s) {
            return Ok(VersionSpec::Tag(Tag(s.to_owned())));
        }
        let looks_like_tag = s.starts_with('v') && s.matches('.').count() >= 2;
        if looks_like_tag {
            // Report the tag error: `v1.31.x` is a broken tag, not a channel.
            return s.parse::<Tag>().map(VersionSpec::Tag);
        }
        s.parse().map(VersionSpec::Channel)
    }
}

impl fmt::Display for VersionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSpec::Tag(t) => t.fmt(f),
            VersionSpec::Channel(c) => c.fmt(f),
        }
    }
}

/// The release asset of the k3s binary for `arch`.
pub fn binary_asset(arch: Arch) -> &'static str {
    match arch {
        Arch::Amd64 => "k3s",
        Arch::Arm64 => "k3s-arm64",
    }
}

/// The release's checksum file for `arch`.
pub fn sums_asset(arch: Arch) -> String {
    format!("sha256sum-{arch}.txt")
}

/// The airgap images tarball for `arch` (zstd, the smallest k3s publishes).
pub fn airgap_asset(arch: Arch) -> String {
    format!("k3s-airgap-images-{arch}.tar.zst")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_parse_and_encode() {
        for good in [
            "v1.31.4+k3s1",
            "v1.32.0-rc1+k3s1",
            "v1.0.0",
            "v0.10.2",
            "v1.30.2+k3s2",
        ] {
            let tag: Tag = good.parse().unwrap();
            assert_eq!(tag.as_str(), good);
        }
        let tag: Tag = "v1.31.4+k3s1".parse().unwrap();
        assert_eq!(tag.url_segment(), "v1.31.4%2Bk3s1");
    }

    #[test]
    fn malformed_tags_are_refused() {
        for bad in [
            "",
            "1.31.4+k3s1",
            "v1.31",
            "v1.31.4+",
            "v1.31.4+k3s1/../x",
            "v1.31.4 +k3s1",
            "v1..4",
            "v1.31.4+k3s1\n",
            "v1.31.4+k3s%31",
            "v1.2.3.4",
        ] {
            assert!(bad.parse::<Tag>().is_err(), "{bad:?} accepted");
        }
        let long = format!("v1.2.3+{}", "k".repeat(60));
        assert!(long.parse::<Tag>().is_err());
    }

    #[test]
    fn specs_tell_tags_from_channels() {
        let spec: VersionSpec = "v1.31.4+k3s1".parse().unwrap();
        assert!(matches!(spec, VersionSpec::Tag(_)));
        for channel in ["stable", "latest", "testing", "v1.31", "v1.31-testing"] {
            let spec: VersionSpec = channel.parse().unwrap();
            assert_eq!(spec, VersionSpec::Channel(Channel(channel.to_owned())));
        }
        assert_eq!(VersionSpec::default().to_string(), "stable");
        let err = "v1.31.x+k3s1".parse::<VersionSpec>().unwrap_err();
        assert!(
            format!("{err:#}").contains("not a k3s release tag"),
            "{err:#}"
        );
        for bad in ["Stable", "-x", "a/b", "stable?x=1", "../etc"] {
            let err = bad.parse::<VersionSpec>().unwrap_err();
            assert!(format!("{err:#}").contains(bad), "{err:#}");
        }
    }

    #[test]
    fn asset_names_match_the_releases() {
        assert_eq!(binary_asset(Arch::Amd64), "k3s");
        assert_eq!(binary_asset(Arch::Arm64), "k3s-arm64");
        assert_eq!(sums_asset(Arch::Arm64), "sha256sum-arm64.txt");
        assert_eq!(airgap_asset(Arch::Amd64), "k3s-airgap-images-amd64.tar.zst");
    }
}
