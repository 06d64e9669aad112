//! The one HTTP client: blocking reqwest on rustls with the ring provider.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::blocking::Client;
use reqwest::redirect::{Action, Attempt, Policy};
use url::Url;

/// Redirects followed before giving up (curl's and reqwest's default is similar).
const MAX_REDIRECTS: usize = 10;

/// Long enough for a slow DNS + TLS handshake, short enough to notice a dead mirror.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the client mkstick uses for every download.
///
/// There is no total timeout: a 375 MB initrd on a slow link takes as long
/// as it takes. The blocking client's `timeout` is a deadline for the
/// response head and then for each read of the body on its own, so a
/// connection that delivers nothing for `stall` fails instead of hanging,
/// and the download resumes (HTTP Range) on a new one.
pub fn build(stall: Duration) -> Result<Client> {
    builder(stall)
        .redirect(Policy::custom(check_redirect))
        .build()
        .context("setting up the HTTPS client (rustls with the ring provider)")
}

/// [`build`], but a redirect is answered to the caller instead of followed
/// (a server whose answer *is* the redirect, like k3s's channel server).
pub fn build_without_redirects(stall: Duration) -> Result<Client> {
    builder(stall)
        .redirect(Policy::none())
        .build()
        .context("setting up the HTTPS client (rustls with the ring provider)")
}

fn builder(stall: Duration) -> reqwest::blocking::ClientBuilder {
    install_crypto_provider();
    Client::builder()
        .user_agent(concat!("mkstick/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(stall)
}

/// Installs rustls' ring provider as the process default, once.
///
/// reqwest is built with `rustls-no-provider`, so without this the first
/// HTTPS request would fail. Another part of mkstick may have installed the
/// same provider already; that is fine, hence the ignored result.
pub fn install_crypto_provider() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Follows a redirect only to another HTTP(S) URL, never in a loop, at most
/// [`MAX_REDIRECTS`] times. A refusal is final: the transfer does not retry it.
fn check_redirect(attempt: Attempt<'_>) -> Action {
    let next = attempt.url().clone();
    let from = attempt
        .previous()
        .last()
        .map(Url::as_str)
        .unwrap_or("?")
        .to_owned();
    if !matches!(next.scheme(), "http" | "https") {
        return attempt.error(refused_redirect(&from, next.as_str()));
    }
    if attempt.previous().contains(&next) {
        let what = format!("{from} redirects in a loop (back to {next})");
        return attempt.error(what);
    }
    if attempt.previous().len() > MAX_REDIRECTS {
        let what = format!("{from}: more than {MAX_REDIRECTS} redirects");
        return attempt.error(what);
    }
    attempt.follow()
}

/// Why a redirect to `to` (not HTTP(S), or not even a URL) is not followed.
pub(super) fn refused_redirect(from: &str, to: &str) -> String {
    match Url::parse(to) {
        Ok(next) => format!(
            "{from} redirects to a {}: URL ({next}); mkstick follows redirects only to \
             http:// and https://",
            next.scheme()
        ),
        Err(_) => format!("{from} redirects to {to:?}, which is not a URL mkstick can follow"),
    }
}

/// Checks that `url` is an absolute http:// or https:// URL before any
/// request is made; `what` names the input (e.g. `--base-url`).
pub fn check_http_url(url: &str, what: &str) -> Result<Url> {
    let parsed = Url::parse(url).with_context(|| format!("{what} {url:?} is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!(
            "{what} {url:?} uses the {}: scheme; mkstick downloads only over http:// or https://",
            parsed.scheme()
        );
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        bail!("{what} {url:?} names no host");
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_pass() {
        assert!(check_http_url("https://m.example/flatcar", "--base-url").is_ok());
        assert!(check_http_url("http://127.0.0.1:8080", "--base-url").is_ok());
        for (bad, says) in [
            ("file:///etc", "file: scheme"),
            ("ftp://m.example/", "ftp: scheme"),
            ("m.example/flatcar", "is not a URL"),
            ("gopher://x", "gopher: scheme"),
        ] {
            let msg = format!("{:#}", check_http_url(bad, "--base-url").unwrap_err());
            assert!(
                msg.contains(says) && msg.contains("--base-url"),
                "{bad}: {msg}"
            );
        }
    }
}
