//! k3s pinning against a stand-in release and channel server: resolution,
//! checksum reading, every bad input, and the k3s mirror.

mod k3s_support;
mod support;

use std::fs;
use std::time::Duration;

use k3s_support::{ChannelServer, Release, TAG, TAG_URL, dead_url};
use mkstick::fetch::{Fetcher, Progress, RetryPolicy, Sha256Digest};
use mkstick::k3s::{self, K3sSource, VersionSpec};
use mkstick::mirror::k3s::{K3sMirrorOptions, ensure, open};
use mkstick::mirror::{self, Arch};
use support::server::{Drop, Server};
use url::Url;

fn retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 2,
        backoff: Duration::from_millis(10),
        ..Default::default()
    }
}

fn fetcher() -> Fetcher {
    Fetcher::with_retry_policy(Progress::hidden(), retry()).unwrap()
}

fn source(version: &str, base: &str, channels: &str) -> K3sSource {
    K3sSource {
        version: version.parse().unwrap(),
        sha256: None,
        base_url: Url::parse(base).unwrap(),
        channel_url: Url::parse(channels).unwrap(),
    }
}

fn err_of<T: std::fmt::Debug>(r: anyhow::Result<T>) -> String {
    format!("{:#}", r.unwrap_err())
}

#[test]
fn a_tag_pins_the_served_binaries_of_both_arches() {
    let release = Release::new();
    let server = Server::start(release.root());
    let pin = k3s::resolve(
        &source(TAG, &server.base, &dead_url()),
        &[Arch::Amd64, Arch::Arm64],
        &fetcher(),
    )
    .unwrap();
    assert_eq!(pin.version.as_str(), TAG);
    assert_eq!(pin.binaries.len(), 2);
    assert_eq!(pin.binaries[0].arch, Arch::Amd64);
    assert_eq!(pin.binaries[0].sha256, release.amd64_sha());
    assert_eq!(
        pin.binaries[0].url.as_str(),
        format!("{}/{TAG_URL}/k3s", server.base)
    );
    assert_eq!(pin.binaries[1].sha256, release.arm64_sha());
    assert_eq!(
        pin.binaries[1].url.as_str(),
        format!("{}/{TAG_URL}/k3s-arm64", server.base)
    );
    // Only the checksum files: the binaries are the node's to download.
    let paths: Vec<String> = server.hits().into_iter().map(|h| h.path).collect();
    assert_eq!(
        paths,
        [
            format!("/{TAG_URL}/sha256sum-amd64.txt"),
            format!("/{TAG_URL}/sha256sum-arm64.txt")
        ]
    );
}

#[test]
fn a_channel_resolves_to_its_tag() {
    let release = Release::new();
    let server = Server::start(release.root());
    let channels = ChannelServer::start(&[("stable", TAG), ("v1.31", TAG)]);
    for name in ["stable", "v1.31"] {
        let pin = k3s::resolve(
            &source(name, &server.base, &channels.base),
            &[Arch::Amd64],
            &fetcher(),
        )
        .unwrap();
        assert_eq!(pin.version.as_str(), TAG);
        assert_eq!(pin.binaries[0].sha256, release.amd64_sha());
    }
    assert_eq!(
        channels.hits(),
        ["/v1-release/channels/stable", "/v1-release/channels/v1.31"]
    );
}

#[test]
fn an_unknown_channel_is_named() {
    let channels = ChannelServer::start(&[("stable", TAG)]);
    let err = err_of(k3s::resolve(
        &source("v1.99", &dead_url(), &channels.base),
        &[Arch::Amd64],
        &fetcher(),
    ));
    assert!(
        err.contains("the k3s channel \"v1.99\" does not exist"),
        "{err}"
    );
}

#[test]
fn a_channel_answering_no_tag_is_refused() {
    let channels = ChannelServer::start(&[("stable", "latest")]);
    let err = err_of(k3s::resolve(
        &source("stable", &dead_url(), &channels.base),
        &[Arch::Amd64],
        &fetcher(),
    ));
    assert!(err.contains("names no k3s release tag"), "{err}");
    assert!(err.contains("--k3s-channel-url"), "{err}");
}

#[test]
fn an_unreachable_channel_server_says_what_to_do() {
    let url = dead_url();
    let err = err_of(k3s::resolve(
        &source("stable", &dead_url(), &url),
        &[Arch::Amd64],
        &fetcher(),
    ));
    assert!(
        err.contains("resolving the k3s channel \"stable\""),
        "{err}"
    );
    assert!(err.contains(&url), "{err}");
    assert!(err.contains("--k3s-version v1.31.4+k3s1"), "{err}");
    assert!(err.contains("giving up after 2 attempts"), "{err}");
}

#[test]
fn a_tag_that_does_not_exist_is_a_404_on_its_checksums() {
    let release = Release::new();
    let server = Server::start(release.root());
    let err = err_of(k3s::resolve(
        &source("v1.31.99+k3s1", &server.base, &dead_url()),
        &[Arch::Amd64],
        &fetcher(),
    ));
    assert!(err.contains("k3s release v1.31.99+k3s1 not found"), "{err}");
    assert!(err.contains("v1.31.99%2Bk3s1/sha256sum-amd64.txt"), "{err}");
    assert!(err.contains("--k3s-sha256"), "{err}");
}

#[test]
fn checksums_without_the_binary_or_with_a_bad_hash_are_refused() {
    let release = Release::new();
    let server = Server::start(release.root());
    release.put("sha256sum-arm64.txt", b"");
    let err = err_of(k3s::resolve(
        &source(TAG, &server.base, &dead_url()),
        &[Arch::Arm64],
        &fetcher(),
    ));
    assert!(
        err.contains("sha256sum-arm64.txt has no line for k3s-arm64"),
        "{err}"
    );
    assert!(err.contains("--k3s-sha256"), "{err}");

    release.put("sha256sum-amd64.txt", b"12345  k3s\n");
    let err = err_of(k3s::resolve(
        &source(TAG, &server.base, &dead_url()),
        &[Arch::Amd64],
        &fetcher(),
    ));
    assert!(
        err.contains("sha256sum-amd64.txt:1: the SHA-256 of k3s is malformed"),
        "{err}"
    );
}

#[test]
fn malformed_tags_and_hashes_are_refused_at_parse() {
    let err = format!(
        "{:#}",
        "v1.31.4+k3s1;reboot".parse::<VersionSpec>().unwrap_err()
    );
    assert!(err.contains("v1.31.4+k3s1;reboot"), "{err}");
    let err = format!("{:#}", "abc".parse::<Sha256Digest>().unwrap_err());
    assert!(err.contains("64 hex digits"), "{err}");
}

fn mirror_opts(base: &str, channels: &str, airgap: bool) -> K3sMirrorOptions {
    K3sMirrorOptions {
        base_url: Url::parse(base).unwrap(),
        channel_url: Url::parse(channels).unwrap(),
        airgap,
        progress: Progress::hidden(),
        retry: retry(),
    }
}

#[test]
fn mirror_downloads_verifies_then_downloads_nothing() {
    let release = Release::new();
    let server = Server::start(release.root());
    let channels = ChannelServer::start(&[("stable", TAG)]);
    let dir = tempfile::tempdir().unwrap();
    let opts = mirror_opts(&server.base, &channels.base, true);
    let spec: VersionSpec = "stable".parse().unwrap();
    let got = ensure(dir.path(), &spec, &[Arch::Amd64, Arch::Arm64], &opts).unwrap();
    let tag_dir = dir.path().join("k3s").join(TAG);
    assert_eq!(got.dir, tag_dir);
    assert_eq!(fs::read(tag_dir.join("k3s")).unwrap(), release.amd64);
    assert_eq!(fs::read(tag_dir.join("k3s-arm64")).unwrap(), release.arm64);
    let amd64 = got.files(Arch::Amd64).unwrap();
    assert_eq!(amd64.binary.sha256, release.amd64_sha());
    assert_eq!(
        amd64.airgap.as_ref().unwrap().sha256,
        Sha256Digest::of(&release.airgap_amd64)
    );
    assert!(tag_dir.join("sha256sum-amd64.txt").is_file());
    assert!(
        !fs::read_dir(&tag_dir).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".part"))
    );

    server.clear();
    let tag: VersionSpec = TAG.parse().unwrap();
    let again = ensure(dir.path(), &tag, &[Arch::Amd64, Arch::Arm64], &opts).unwrap();
    assert_eq!(again, got);
    assert!(server.hits().is_empty(), "{:?}", server.hits());

    // Offline, from the kept checksums alone.
    let opened = open(dir.path(), &TAG.parse().unwrap(), &[Arch::Amd64], true).unwrap();
    assert_eq!(opened.files(Arch::Amd64), got.files(Arch::Amd64));
}

#[test]
fn mirror_refuses_and_deletes_a_tampered_binary() {
    let release = Release::new();
    let server = Server::start(release.root());
    release.put("k3s", b"#!/bin/sh\nrm -rf /\n");
    let dir = tempfile::tempdir().unwrap();
    let opts = mirror_opts(&server.base, &dead_url(), false);
    let err = err_of(ensure(
        dir.path(),
        &TAG.parse().unwrap(),
        &[Arch::Amd64],
        &opts,
    ));
    assert!(err.contains("does not match"), "{err}");
    assert!(err.contains("the download was deleted"), "{err}");
    let tag_dir = dir.path().join("k3s").join(TAG);
    assert!(!tag_dir.join("k3s").exists());
    assert!(!tag_dir.join("k3s.part").exists());
    let err = err_of(open(
        dir.path(),
        &TAG.parse().unwrap(),
        &[Arch::Amd64],
        false,
    ));
    assert!(err.contains("k3s is missing"), "{err}");
}

#[test]
fn mirror_replaces_a_damaged_copy_and_resumes_a_cut_download() {
    let release = Release::new();
    let drops = vec![Drop {
        path: format!("/{TAG_URL}/k3s-airgap-images-amd64.tar.zst"),
        after: 100_000,
        times: 1,
        stall: false,
    }];
    let server = Server::with_drops(release.root(), drops);
    let dir = tempfile::tempdir().unwrap();
    let opts = mirror_opts(&server.base, &dead_url(), true);
    let tag: VersionSpec = TAG.parse().unwrap();
    ensure(dir.path(), &tag, &[Arch::Amd64], &opts).unwrap();
    let ranges: Vec<Option<String>> = server
        .gets("k3s-airgap-images-amd64.tar.zst")
        .into_iter()
        .map(|h| h.range)
        .collect();
    assert_eq!(ranges, [None, Some("bytes=100000-".to_owned())]);

    let binary = dir.path().join("k3s").join(TAG).join("k3s");
    fs::write(&binary, b"changed on disk").unwrap();
    let err = err_of(open(
        dir.path(),
        &TAG.parse().unwrap(),
        &[Arch::Amd64],
        false,
    ));
    assert!(err.contains("but"), "{err}");
    assert!(err.contains("mkstick mirror --k3s"), "{err}");
    server.clear();
    ensure(dir.path(), &tag, &[Arch::Amd64], &opts).unwrap();
    assert_eq!(fs::read(&binary).unwrap(), release.amd64);
    let paths: Vec<String> = server.gets("").into_iter().map(|h| h.path).collect();
    assert_eq!(paths, [format!("/{TAG_URL}/k3s")]);
}

#[test]
fn the_mirror_serves_a_lan_and_pins_an_offline_stick() {
    let release = Release::new();
    let upstream = Server::start(release.root());
    let dir = tempfile::tempdir().unwrap();
    let mut source = source(TAG, &upstream.base, &dead_url());
    let (pin, files) = mirror::k3s::pin_from_mirror(
        dir.path(),
        &source,
        &[Arch::Amd64],
        true,
        Progress::hidden(),
        retry(),
    )
    .unwrap();
    assert_eq!(pin.binaries[0].sha256, release.amd64_sha());
    let amd64 = files.files(Arch::Amd64).unwrap();
    assert_eq!(fs::read(&amd64.binary.path).unwrap(), release.amd64);
    assert!(amd64.airgap.is_some());

    // The mirror directory, served as is, is a release server.
    let lan = Server::start(dir.path());
    let lan_source = K3sSource {
        base_url: Url::parse(&format!("{}/k3s", lan.base)).unwrap(),
        ..source.clone()
    };
    let lan_pin = k3s::resolve(&lan_source, &[Arch::Amd64], &fetcher()).unwrap();
    assert_eq!(lan_pin.binaries[0].sha256, release.amd64_sha());

    // Offline again: the upstream is gone, the mirror answers.
    drop(upstream);
    upstream_is_gone(&source);
    source.sha256 = Some(release.amd64_sha());
    let (again, _) = mirror::k3s::pin_from_mirror(
        dir.path(),
        &source,
        &[Arch::Amd64],
        true,
        Progress::hidden(),
        retry(),
    )
    .unwrap();
    assert_eq!(again, pin);
    source.sha256 = Some(Sha256Digest::of(b"other"));
    let err = err_of(mirror::k3s::pin_from_mirror(
        dir.path(),
        &source,
        &[Arch::Amd64],
        false,
        Progress::hidden(),
        retry(),
    ));
    assert!(err.contains("--k3s-sha256"), "{err}");
    assert!(err.contains("does not match k3s v1.31.4+k3s1"), "{err}");
}

fn upstream_is_gone(source: &K3sSource) {
    assert!(k3s::resolve(source, &[Arch::Amd64], &fetcher()).is_err());
}

#[test]
fn a_server_that_answers_without_a_redirect_is_no_channel_server() {
    let dir = tempfile::tempdir().unwrap();
    let channels = dir.path().join("v1-release/channels");
    fs::create_dir_all(&channels).unwrap();
    fs::write(channels.join("stable"), "<html>a web page</html>").unwrap();
    let server = Server::start(dir.path());
    let url = format!("{}/v1-release/channels", server.base);
    let err = err_of(k3s::resolve(
        &source("stable", &dead_url(), &url),
        &[Arch::Amd64],
        &fetcher(),
    ));
    assert!(err.contains("where a redirect was expected"), "{err}");
    assert!(err.contains("--k3s-channel-url"), "{err}");
}
