//! Servers whose answer is a redirect (k3s's channel server answers
//! `302 Found` with the release page of the channel's tag in `Location`):
//! the target is read, not followed, with the downloader's retries.

use anyhow::{Context, Result, anyhow};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use url::Url;

use super::{Failure, Fetcher, status_failure};
use crate::fetch::client;

impl Fetcher {
    /// Where `url` redirects to (a relative `Location` is resolved against
    /// `url`); `Ok(None)` when the server has no such resource (404, 410).
    /// A success status instead of a redirect is an error naming the URL.
    pub fn redirect_target(&self, url: &str) -> Result<Option<Url>> {
        let client = client::build_without_redirects(self.policy.stall)?;
        self.retrying(url, |_| {
            let resp = client
                .get(url)
                .send()
                .map_err(|e| Failure::Retry(anyhow!(e)))?;
            let status = resp.status();
            match status {
                StatusCode::NOT_FOUND | StatusCode::GONE => Ok(None),
                s if s.is_redirection() => {
                    let location = resp
                        .headers()
                        .get(LOCATION)
                        .and_then(|l| l.to_str().ok())
                        .ok_or_else(|| {
                            Failure::Fatal(anyhow!(
                                "{url}: HTTP {s} without a readable Location header"
                            ))
                        })?;
                    let target = resp.url().join(location).map_err(|e| {
                        Failure::Fatal(anyhow!(
                            "{url}: HTTP {s} to a bad Location {location:?}: {e}"
                        ))
                    })?;
                    Ok(Some(target))
                }
                s if s.is_success() => Err(Failure::Fatal(anyhow!(
                    "{url}: HTTP {s} where a redirect was expected"
                ))),
                _ => Err(status_failure(&resp, url)),
            }
        })
        .with_context(|| format!("asking {url} where it redirects"))
    }
}
