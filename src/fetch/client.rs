//! The one HTTP client: blocking reqwest on rustls with the ring provider.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result};
use reqwest::blocking::Client;

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
        .build()
        .context("setting up the HTTPS client (rustls with the ring provider)")
}

/// [`build`], but a redirect is answered to the caller instead of followed
/// (a server whose answer *is* the redirect, like k3s's channel server).
pub fn build_without_redirects(stall: Duration) -> Result<Client> {
    builder(stall)
        .redirect(reqwest::redirect::Policy::none())
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
