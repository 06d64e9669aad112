//! A stand-in k3s release and channel server for the k3s tests: small
//! files as the binaries, their real SHA-256s in `sha256sum-<arch>.txt`,
//! laid out like GitHub's release downloads (`<tag>/<asset>`, the `+` of the
//! tag written `%2B` in URLs and decoded by the server), and
//! a channel server that answers like rancher/channelserver (`302 Found`,
//! `Location: <redirect base><tag>`; no redirect for an unknown channel).
#![allow(dead_code)]
// Shared by several test crates, each using a part of it.
#![allow(unreachable_pub)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use mkstick::fetch::Sha256Digest;
use tiny_http::{Header, Response, StatusCode};

pub const TAG: &str = "v1.31.4+k3s1";
pub const TAG_URL: &str = "v1.31.4%2Bk3s1";

/// The release files, served from `root` by `tests/support/server.rs`.
pub struct Release {
    pub dir: tempfile::TempDir,
    pub amd64: Vec<u8>,
    pub arm64: Vec<u8>,
    pub airgap_amd64: Vec<u8>,
    pub airgap_arm64: Vec<u8>,
}

impl Release {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let amd64 = b"#!/bin/sh\necho stand-in k3s amd64 \"$@\"\n".repeat(50);
        let arm64 = b"#!/bin/sh\necho stand-in k3s arm64 \"$@\"\n".repeat(40);
        let airgap_amd64 = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let airgap_arm64 = (0..1000u32).map(|i| (i * 7 % 253) as u8).collect();
        let release = Self {
            dir,
            amd64,
            arm64,
            airgap_amd64,
            airgap_arm64,
        };
        fs::create_dir_all(release.tag_dir()).unwrap();
        release.put("k3s", &release.amd64.clone());
        release.put("k3s-arm64", &release.arm64.clone());
        release.put(
            "k3s-airgap-images-amd64.tar.zst",
            &release.airgap_amd64.clone(),
        );
        release.put(
            "sha256sum-amd64.txt",
            format!(
                "{}  e2e-{TAG}-amd64.tar\n{}  k3s\n{}  k3s-airgap-images-amd64.tar.zst\n",
                Sha256Digest::of(b"e2e"),
                release.amd64_sha(),
                Sha256Digest::of(&release.airgap_amd64),
            )
            .as_bytes(),
        );
        release.put(
            "k3s-airgap-images-arm64.tar.zst",
            &release.airgap_arm64.clone(),
        );
        release.put(
            "sha256sum-arm64.txt",
            format!(
                "{}  k3s-airgap-images-arm64.tar.zst\n{}  k3s-arm64\n",
                Sha256Digest::of(&release.airgap_arm64),
                release.arm64_sha()
            )
            .as_bytes(),
        );
        release
    }

    /// What the server serves: `<root>/<tag>/`.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn tag_dir(&self) -> PathBuf {
        self.root().join(TAG)
    }

    pub fn put(&self, asset: &str, bytes: &[u8]) {
        fs::write(self.tag_dir().join(asset), bytes).unwrap();
    }

    pub fn amd64_sha(&self) -> Sha256Digest {
        Sha256Digest::of(&self.amd64)
    }

    pub fn arm64_sha(&self) -> Sha256Digest {
        Sha256Digest::of(&self.arm64)
    }
}

/// k3s's channel server: `GET <base>/<name>` → 302 to the release page.
pub struct ChannelServer {
    /// `http://127.0.0.1:PORT/v1-release/channels`
    pub base: String,
    pub hits: Arc<Mutex<Vec<String>>>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl ChannelServer {
    /// Serves `channels` (name → tag).
    pub fn start(channels: &[(&str, &str)]) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let channels: Vec<(String, String)> = channels
            .iter()
            .map(|(c, t)| (c.to_string(), t.to_string()))
            .collect();
        let thread = {
            let server = Arc::clone(&server);
            let hits = Arc::clone(&hits);
            std::thread::spawn(move || {
                for req in server.incoming_requests() {
                    let path = req.url().to_owned();
                    hits.lock().unwrap().push(path.clone());
                    let name = path.strip_prefix("/v1-release/channels/").unwrap_or("");
                    let response = match channels.iter().find(|(c, _)| c == name) {
                        Some((_, tag)) => {
                            let location =
                                format!("https://github.com/k3s-io/k3s/releases/tag/{tag}");
                            Response::from_string(format!("<a href=\"{location}\">Found</a>."))
                                .with_status_code(StatusCode(302))
                                .with_header(Header::from_bytes("Location", location).unwrap())
                        }
                        None => Response::from_string("{\"type\":\"error\",\"status\":404}")
                            .with_status_code(StatusCode(404)),
                    };
                    let _ = req.respond(response);
                }
            })
        };
        Self {
            base: format!("http://127.0.0.1:{port}/v1-release/channels"),
            hits,
            server,
            thread: Some(thread),
        }
    }

    pub fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for ChannelServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A URL where nothing listens (a port just released).
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/v1-release/channels")
}
