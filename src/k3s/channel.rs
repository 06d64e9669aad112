//! Channel resolution through k3s's channel server.
//!
//! `GET <channels>/<name>` answers `302 Found` with `Location:
//! <redirectBase><tag>` (rancher/channelserver, `Config.Redirect`), e.g.
//! `https://github.com/k3s-io/k3s/releases/tag/v1.31.4+k3s1`; an unknown
//! channel has no redirect. k3s's `install.sh` reads the tag the same way:
//! the last path segment of the redirect target.

use anyhow::{Context, Result, bail};
use url::Url;

use super::release::{Channel, Tag};
use crate::fetch::Fetcher;

/// The channel server k3s's own installer asks.
pub const DEFAULT_CHANNEL_URL: &str = "https://update.k3s.io/v1-release/channels";

/// The tag `channel` names today, asked of the channel server at `base`.
pub fn resolve(fetcher: &Fetcher, base: &Url, channel: &Channel) -> Result<Tag> {
    let url = format!("{}/{channel}", base.as_str().trim_end_matches('/'));
    let fix = "name a release tag instead (--k3s-version v1.31.4+k3s1), \
               or point --k3s-channel-url at a reachable channel server";
    let target = fetcher
        .redirect_target(&url)
        .with_context(|| format!("resolving the k3s channel \"{channel}\"; {fix}"))?;
    let Some(target) = target else {
        bail!(
            "the k3s channel \"{channel}\" does not exist ({url}: HTTP 404); use a channel such as \
             stable, latest or v1.31, or a release tag (--k3s-version v1.31.4+k3s1)"
        );
    };
    tag_of(&target).with_context(|| {
        format!("resolving the k3s channel \"{channel}\": {url} redirected to {target}; {fix}")
    })
}

/// The tag in the last path segment of a release page URL.
fn tag_of(target: &Url) -> Result<Tag> {
    let last = target
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or_default();
    // GitHub writes `+` as is or as `%2B`; any other escape is no tag.
    let decoded = last.replace("%2B", "+").replace("%2b", "+");
    decoded
        .parse()
        .with_context(|| format!("the redirect target names no k3s release tag ({last:?})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_is_the_last_segment_of_the_release_page() {
        let url = Url::parse("https://github.com/k3s-io/k3s/releases/tag/v1.31.4+k3s1").unwrap();
        assert_eq!(tag_of(&url).unwrap().as_str(), "v1.31.4+k3s1");
        let url = Url::parse("https://github.com/k3s-io/k3s/releases/tag/v1.31.4%2Bk3s1").unwrap();
        assert_eq!(tag_of(&url).unwrap().as_str(), "v1.31.4+k3s1");
        let url = Url::parse("https://github.com/k3s-io/k3s/releases").unwrap();
        assert!(tag_of(&url).is_err());
        let url = Url::parse("https://h/releases/tag/v1.31.4+k3s1%2F..").unwrap();
        assert!(tag_of(&url).is_err());
    }
}
