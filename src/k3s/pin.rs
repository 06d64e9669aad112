//! The k3s pin: one release tag and, per architecture, the binary's URL
//! and SHA-256, found once when the stick is written.

use anyhow::{Context, Result, bail, ensure};
use serde::Serialize;
use url::Url;

use super::release::{Tag, VersionSpec, binary_asset, sums_asset};
use super::{channel, sums};
use crate::fetch::Fetcher;
use crate::model::Sha256Digest;
use crate::model::flatcar::Arch;

/// Where k3s's GitHub releases are downloaded from: `<base>/<tag>/<asset>`.
pub const DEFAULT_BASE_URL: &str = "https://github.com/k3s-io/k3s/releases/download";
/// Upper bound for a `sha256sum-<arch>.txt` (real ones are under 1 KB).
pub const SUMS_LIMIT: u64 = 64 * 1024;

/// What the user asked for, as typed values.
#[derive(Clone, Debug)]
pub struct K3sSource {
    pub version: VersionSpec,
    /// `--k3s-sha256`: the binary's hash, pinned by hand (no network).
    pub sha256: Option<Sha256Digest>,
    pub base_url: Url,
    pub channel_url: Url,
}

/// A k3s release pinned for a stick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct K3sPin {
    pub version: Tag,
    /// One per architecture the stick serves, in the order asked.
    pub binaries: Vec<PinnedBinary>,
}

/// The k3s binary of one architecture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PinnedBinary {
    pub arch: Arch,
    #[serde(serialize_with = "as_text")]
    pub url: Url,
    pub sha256: Sha256Digest,
}

fn as_text<S: serde::Serializer>(url: &Url, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(url)
}

impl K3sPin {
    pub fn binary(&self, arch: Arch) -> Option<&PinnedBinary> {
        self.binaries.iter().find(|b| b.arch == arch)
    }
}

/// `--k3s-base-url`: checked when parsed, GitHub's release downloads by default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseBaseUrl(pub Url);

/// `--k3s-channel-url`: checked when parsed, k3s's channel server by default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelServerUrl(pub Url);

impl Default for ReleaseBaseUrl {
    fn default() -> Self {
        Self(Url::parse(DEFAULT_BASE_URL).expect("the default release URL parses"))
    }
}

impl Default for ChannelServerUrl {
    fn default() -> Self {
        Self(Url::parse(super::DEFAULT_CHANNEL_URL).expect("the default channel URL parses"))
    }
}

impl std::str::FromStr for ReleaseBaseUrl {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        parse_base_url(s, "--k3s-base-url").map(Self)
    }
}

impl std::str::FromStr for ChannelServerUrl {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        parse_base_url(s, "--k3s-channel-url").map(Self)
    }
}

impl std::fmt::Display for ReleaseBaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for ChannelServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Checks a release base URL (`--k3s-base-url`) or channel server URL:
/// http(s), no credentials, query or fragment, and only characters the
/// `k3s_release` file can carry.
pub fn parse_base_url(text: &str, flag: &str) -> Result<Url> {
    let url = Url::parse(text).with_context(|| format!("{flag} {text:?} is not a URL"))?;
    ensure!(
        matches!(url.scheme(), "http" | "https"),
        "{flag} {text:?}: only http and https URLs are supported"
    );
    ensure!(
        url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none(),
        "{flag} {text:?}: a base URL takes no user name, password, query or fragment"
    );
    ensure!(
        super::release_file::is_safe_value(url.as_str()),
        "{flag} {text:?}: use only letters, digits and . _ ~ : / % + - in the URL"
    );
    Ok(url)
}

/// `<base>/<tag>/<asset>`, with `+` in the tag written `%2B`.
pub fn asset_url(base: &Url, tag: &Tag, asset: &str) -> Result<Url> {
    let text = format!(
        "{}/{}/{asset}",
        base.as_str().trim_end_matches('/'),
        tag.url_segment()
    );
    Url::parse(&text).with_context(|| format!("building the URL of {asset} of k3s {tag}"))
}

/// Resolves the channel (if any) and reads each architecture's hash from
/// the release's checksum file, or takes the hand-pinned `--k3s-sha256`
/// without touching the network.
pub fn resolve(source: &K3sSource, arches: &[Arch], fetcher: &Fetcher) -> Result<K3sPin> {
    if let Some(pin) = by_hand(source, arches)? {
        return Ok(pin);
    }
    let version = resolve_tag(source, fetcher)?;
    let mut binaries = Vec::with_capacity(arches.len());
    for &arch in arches {
        binaries.push(PinnedBinary {
            arch,
            url: asset_url(&source.base_url, &version, binary_asset(arch))?,
            sha256: read_sha256(fetcher, &source.base_url, &version, arch)?,
        });
    }
    Ok(K3sPin { version, binaries })
}

/// The pin `--k3s-sha256` gives, with no network and no HTTP client;
/// `None` without it. It needs a tag and one architecture.
pub fn by_hand(source: &K3sSource, arches: &[Arch]) -> Result<Option<K3sPin>> {
    let Some(sha256) = source.sha256 else {
        return Ok(None);
    };
    let VersionSpec::Tag(version) = &source.version else {
        return given_tag(&source.version).map(|_| None);
    };
    let [arch] = arches else {
        bail!(
            "--k3s-sha256 pins one binary, but the stick serves {} architectures; \
             drop --k3s-sha256 (the hashes come from the release) or choose one --arch",
            arches.len()
        );
    };
    Ok(Some(K3sPin {
        version: version.clone(),
        binaries: vec![PinnedBinary {
            arch: *arch,
            url: asset_url(&source.base_url, version, binary_asset(*arch))?,
            sha256,
        }],
    }))
}

/// The tag named by hand; a channel is an error when pinned by hand.
fn given_tag(version: &VersionSpec) -> Result<Tag> {
    match version {
        VersionSpec::Tag(tag) => Ok(tag.clone()),
        VersionSpec::Channel(c) => bail!(
            "--k3s-sha256 pins the binary of one release, but --k3s-version names the channel \
             \"{c}\", whose release changes; name the release tag (--k3s-version v1.31.4+k3s1)"
        ),
    }
}

/// The tag to pin: as given, or what the channel names today.
pub fn resolve_tag(source: &K3sSource, fetcher: &Fetcher) -> Result<Tag> {
    match &source.version {
        VersionSpec::Channel(c) if source.sha256.is_none() => {
            channel::resolve(fetcher, &source.channel_url, c)
        }
        version => given_tag(version),
    }
}

/// The SHA-256 the release's `sha256sum-<arch>.txt` lists for the binary.
pub fn read_sha256(fetcher: &Fetcher, base: &Url, tag: &Tag, arch: Arch) -> Result<Sha256Digest> {
    let text = read_sums(fetcher, base, tag, arch)?;
    let url = asset_url(base, tag, &sums_asset(arch))?;
    sums::sha256_for(&text, binary_asset(arch), url.as_str()).context(
        "pin the binary by hand with --k3s-sha256 or use a mirror that has it (--k3s-base-url)",
    )
}

/// The text of the release's `sha256sum-<arch>.txt`; a 404 means no such release.
pub fn read_sums(fetcher: &Fetcher, base: &Url, tag: &Tag, arch: Arch) -> Result<String> {
    let url = asset_url(base, tag, &sums_asset(arch))?;
    let fix = "pin the binary by hand with --k3s-sha256 or use a mirror (--k3s-base-url)";
    let bytes = fetcher
        .get_optional(url.as_str(), SUMS_LIMIT)
        .with_context(|| format!("reading the checksums of k3s {tag} for {arch}; {fix}"))?;
    let Some(bytes) = bytes else {
        bail!(
            "k3s release {tag} not found: {url} answered HTTP 404; check --k3s-version \
             (tags look like v1.31.4+k3s1) and --k3s-base-url, or {fix}"
        );
    };
    String::from_utf8(bytes).with_context(|| format!("{url} is not text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_urls_encode_the_tag() {
        let base = parse_base_url(DEFAULT_BASE_URL, "--k3s-base-url").unwrap();
        let tag: Tag = "v1.31.4+k3s1".parse().unwrap();
        assert_eq!(
            asset_url(&base, &tag, "k3s").unwrap().as_str(),
            "https://github.com/k3s-io/k3s/releases/download/v1.31.4%2Bk3s1/k3s"
        );
        let slash = parse_base_url("http://10.0.0.1:8080/k3s/", "--k3s-base-url").unwrap();
        assert_eq!(
            asset_url(&slash, &tag, "k3s-arm64").unwrap().as_str(),
            "http://10.0.0.1:8080/k3s/v1.31.4%2Bk3s1/k3s-arm64"
        );
    }

    #[test]
    fn url_flags_default_and_parse() {
        assert_eq!(ReleaseBaseUrl::default().to_string(), DEFAULT_BASE_URL);
        assert_eq!(
            ChannelServerUrl::default().to_string(),
            super::super::DEFAULT_CHANNEL_URL
        );
        let err = "ftp://h".parse::<ChannelServerUrl>().unwrap_err();
        assert!(format!("{err:#}").contains("--k3s-channel-url"), "{err:#}");
    }

    #[test]
    fn base_urls_are_checked() {
        for bad in [
            "ftp://h/x",
            "not a url",
            "https://user:pw@h/x",
            "https://h/x?a=b",
            "https://h/x#f",
            "https://h/a'b",
        ] {
            let err = parse_base_url(bad, "--k3s-base-url").unwrap_err();
            assert!(format!("{err:#}").contains("--k3s-base-url"), "{err:#}");
        }
    }

    #[test]
    fn a_hand_pin_needs_no_network_and_a_tag() {
        let source = K3sSource {
            version: "v1.31.4+k3s1".parse().unwrap(),
            sha256: Some(Sha256Digest::of(b"k3s")),
            base_url: parse_base_url(DEFAULT_BASE_URL, "b").unwrap(),
            // Nothing listens here: a request would fail the test.
            channel_url: parse_base_url("http://127.0.0.1:9/", "c").unwrap(),
        };
        let fetcher = Fetcher::new(crate::fetch::Progress::hidden()).unwrap();
        let pin = resolve(&source, &[Arch::Amd64], &fetcher).unwrap();
        assert_eq!(pin.version.as_str(), "v1.31.4+k3s1");
        assert_eq!(pin.binaries[0].sha256, Sha256Digest::of(b"k3s"));
        let err = resolve(&source, &[Arch::Amd64, Arch::Arm64], &fetcher).unwrap_err();
        assert!(format!("{err:#}").contains("pins one binary"), "{err:#}");
        let channel = K3sSource {
            version: "stable".parse().unwrap(),
            ..source
        };
        let err = resolve(&channel, &[Arch::Amd64], &fetcher).unwrap_err();
        assert!(format!("{err:#}").contains("names the channel"), "{err:#}");
    }
}
