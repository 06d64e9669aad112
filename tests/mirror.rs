//! `mirror::ensure` / `Release::open` against a local server and a throwaway key.

mod support;

use std::fs;
use std::time::Duration;

use mkstick::fetch::{Progress, RetryPolicy, Sha256Digest};
use mkstick::mirror::{self, Arch, Channel, MirrorOptions, Release, VersionSpec};
use support::fixture::{Fixture, INITRD, KERNEL, VERSION, digests, list_dir};
use support::server::{Drop, Server};

fn options(fx: &Fixture, server: &Server) -> MirrorOptions {
    MirrorOptions {
        base_url: server.base.clone(),
        keyring: Some(fx.keyring()),
        key_url: format!("{}/key.asc", server.base),
        fingerprint: fx.fingerprint().parse().unwrap(),
        progress: Progress::hidden(),
        retry: RetryPolicy {
            attempts: 3,
            backoff: Duration::from_millis(10),
            ..Default::default()
        },
    }
}

fn current() -> VersionSpec {
    VersionSpec::Current
}

fn exact() -> VersionSpec {
    VersionSpec::Exact(VERSION.parse().unwrap())
}

fn ensure(fx: &Fixture, server: &Server, version: &VersionSpec) -> anyhow::Result<Release> {
    mirror::ensure(
        &fx.mirror(),
        Channel::Stable,
        Arch::Amd64,
        version,
        &options(fx, server),
    )
}

#[test]
fn good_download_verifies_records_and_links_current() {
    let fx = Fixture::new(10);
    let server = Server::start(&fx.cdn());
    let release = ensure(&fx, &server, &current()).unwrap();

    assert_eq!(release.version.as_str(), VERSION);
    assert_eq!(fs::read(&release.kernel.path).unwrap(), fx.kernel);
    assert_eq!(fs::read(&release.initrd.path).unwrap(), fx.initrd);
    assert_eq!(release.initrd.sha256, Sha256Digest::of(&fx.initrd));
    assert_eq!(release.kernel.size, fx.kernel.len() as u64);
    assert_eq!(
        list_dir(&release.dir),
        [
            "flatcar_production_image.vmlinuz.sig",
            KERNEL,
            INITRD,
            "flatcar_production_pxe_image.cpio.gz.DIGESTS",
            "flatcar_production_pxe_image.cpio.gz.sig",
            "mkstick-verified.json",
            "version.txt",
            "version.txt.sig",
        ]
    );
    let link = fx.mirror().join("stable/amd64-usr/current");
    assert_eq!(fs::read_link(&link).unwrap().to_str(), Some(VERSION));

    // The manifest records who signed what; open() re-checks it offline.
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(release.dir.join("mkstick-verified.json")).unwrap())
            .unwrap();
    let initrd = &manifest["files"][INITRD];
    assert_eq!(initrd["sha256"], Sha256Digest::of(&fx.initrd).to_string());
    assert!(initrd["sha512"].is_string(), "{manifest}");
    assert_eq!(
        manifest["files"][KERNEL]["signature"],
        "flatcar_production_image.vmlinuz.sig"
    );
    let opts = options(&fx, &server);
    drop(server);
    let opened = Release::open(
        &fx.mirror(),
        Channel::Stable,
        Arch::Amd64,
        &current(),
        &opts,
    )
    .unwrap();
    assert_eq!(opened, release);
    // The key was cached in the mirror for the next run.
    assert!(fx.mirror().join(".mkstick/image-signing-key.asc").is_file());
}

#[test]
fn complete_mirror_downloads_nothing() {
    let fx = Fixture::new(11);
    let server = Server::start(&fx.cdn());
    let first = ensure(&fx, &server, &exact()).unwrap();
    server.clear();
    let second = ensure(&fx, &server, &exact()).unwrap();
    assert_eq!(first, second);
    assert!(server.hits().is_empty(), "{:?}", server.hits());
    // `current` costs one small request: asking the server what it is.
    let third = ensure(&fx, &server, &current()).unwrap();
    assert_eq!(third, first);
    let paths: Vec<String> = server.hits().into_iter().map(|h| h.path).collect();
    assert_eq!(paths, ["/stable/amd64-usr/current/version.txt"]);
}

#[test]
fn bad_signature_is_refused_and_deleted() {
    let fx = Fixture::new(12);
    let mut tampered = fx.initrd.clone();
    tampered[1000] ^= 1;
    fs::write(fx.release().join(INITRD), &tampered).unwrap();
    // Keep DIGESTS consistent with the tampered file: the signature alone must catch it.
    fs::write(
        fx.release().join(format!("{INITRD}.DIGESTS")),
        digests(INITRD, &tampered),
    )
    .unwrap();
    let server = Server::start(&fx.cdn());
    let err = ensure(&fx, &server, &exact()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&format!("{}{}", server.base, Fixture::url_path(INITRD))),
        "{msg}"
    );
    assert!(
        msg.contains("signature check failed") && msg.contains("deleted"),
        "{msg}"
    );
    let dir = fx.mirrored("");
    assert!(!dir.join(INITRD).exists() && !dir.join(format!("{INITRD}.part")).exists());
    assert!(
        Release::open(
            &fx.mirror(),
            Channel::Stable,
            Arch::Amd64,
            &exact(),
            &options(&fx, &server)
        )
        .is_err()
    );
}

#[test]
fn truncated_file_on_the_server_is_refused_and_deleted() {
    let fx = Fixture::new(13);
    fs::write(fx.release().join(INITRD), &fx.initrd[..fx.initrd.len() / 2]).unwrap();
    let server = Server::start(&fx.cdn());
    let msg = format!("{:#}", ensure(&fx, &server, &exact()).unwrap_err());
    assert!(msg.contains(INITRD) && msg.contains("truncated"), "{msg}");
    assert!(!fx.mirrored(INITRD).exists() && !fx.mirrored(&format!("{INITRD}.part")).exists());
}

#[test]
fn digests_mismatch_is_refused_and_deleted() {
    let fx = Fixture::new(14);
    fs::write(
        fx.release().join(format!("{INITRD}.DIGESTS")),
        digests(INITRD, b"other"),
    )
    .unwrap();
    let server = Server::start(&fx.cdn());
    let msg = format!("{:#}", ensure(&fx, &server, &exact()).unwrap_err());
    assert!(
        msg.contains("SHA-512 does not match") && msg.contains(INITRD),
        "{msg}"
    );
    assert!(!fx.mirrored(INITRD).exists() && !fx.mirrored(&format!("{INITRD}.part")).exists());
}

#[test]
fn dropped_connection_resumes_with_range() {
    let fx = Fixture::new(15);
    let drops = vec![Drop {
        path: Fixture::url_path(INITRD),
        after: 1_000_000,
        times: 2,
        stall: false,
    }];
    let server = Server::with_drops(&fx.cdn(), drops);
    let release = ensure(&fx, &server, &exact()).unwrap();
    assert_eq!(fs::read(&release.initrd.path).unwrap(), fx.initrd);
    let gets = server.gets(INITRD);
    let ranges: Vec<Option<String>> = gets.iter().map(|h| h.range.clone()).collect();
    assert_eq!(ranges.len(), 3, "{gets:?}");
    assert_eq!(ranges[0], None);
    assert_eq!(ranges[1].as_deref(), Some("bytes=1000000-"));
    assert_eq!(ranges[2].as_deref(), Some("bytes=2000000-"));
}

#[test]
fn interrupted_run_resumes_its_part_file() {
    let fx = Fixture::new(16);
    let dir = fx.mirrored("");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(format!("{INITRD}.part")), &fx.initrd[..1_234_567]).unwrap();
    let server = Server::start(&fx.cdn());
    let release = ensure(&fx, &server, &exact()).unwrap();
    assert_eq!(fs::read(&release.initrd.path).unwrap(), fx.initrd);
    let gets = server.gets(INITRD);
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert_eq!(gets[0].range.as_deref(), Some("bytes=1234567-"));
}

#[test]
fn missing_release_is_a_clear_error_naming_the_url() {
    let fx = Fixture::new(17);
    let server = Server::start(&fx.cdn());
    let msg = format!(
        "{:#}",
        mirror::ensure(
            &fx.mirror(),
            Channel::Beta,
            Arch::Amd64,
            &current(),
            &options(&fx, &server)
        )
        .unwrap_err()
    );
    let url = format!("{}/beta/amd64-usr/current/version.txt", server.base);
    assert!(msg.contains(&url) && msg.contains("404"), "{msg}");
    let missing = VersionSpec::Exact("1.2.3".parse().unwrap());
    let msg = format!("{:#}", ensure(&fx, &server, &missing).unwrap_err());
    assert!(
        msg.contains(&format!("{}/stable/amd64-usr/1.2.3/{KERNEL}", server.base)),
        "{msg}"
    );
    assert!(msg.contains("refusing an unsigned file"), "{msg}");
}

#[test]
fn key_is_fetched_checked_and_cached() {
    let fx = Fixture::new(18);
    fs::copy(fx.keyring(), fx.cdn().join("key.asc")).unwrap();
    let server = Server::start(&fx.cdn());
    let mut opts = options(&fx, &server);
    opts.keyring = None;
    let v = exact();
    mirror::ensure(&fx.mirror(), Channel::Stable, Arch::Amd64, &v, &opts).unwrap();
    assert_eq!(server.gets("/key.asc").len(), 1);

    // A different pin refuses both the cached key and a fresh fetch.
    fs::remove_file(fx.mirrored(INITRD)).unwrap();
    opts.fingerprint = mirror::Fingerprint::flatcar();
    let msg = format!(
        "{:#}",
        mirror::ensure(&fx.mirror(), Channel::Stable, Arch::Amd64, &v, &opts).unwrap_err()
    );
    assert!(msg.contains("cached key is not trusted"), "{msg}");
    fs::remove_dir_all(fx.mirror().join(".mkstick")).unwrap();
    let msg = format!(
        "{:#}",
        mirror::ensure(&fx.mirror(), Channel::Stable, Arch::Amd64, &v, &opts).unwrap_err()
    );
    assert!(msg.contains("mkstick trusts only F88CFEDE"), "{msg}");
}

#[test]
fn open_notices_a_modified_file() {
    let fx = Fixture::new(19);
    let server = Server::start(&fx.cdn());
    let release = ensure(&fx, &server, &exact()).unwrap();
    let mut bytes = fs::read(&release.kernel.path).unwrap();
    bytes[0] ^= 0xff;
    fs::write(&release.kernel.path, &bytes).unwrap();
    let msg = format!(
        "{:#}",
        Release::open(
            &fx.mirror(),
            Channel::Stable,
            Arch::Amd64,
            &exact(),
            &options(&fx, &server)
        )
        .unwrap_err()
    );
    assert!(msg.contains("fails its OpenPGP signature check"), "{msg}");
    // ensure() repairs it, downloading only the damaged file.
    server.clear();
    ensure(&fx, &server, &exact()).unwrap();
    assert_eq!(server.gets(KERNEL).len(), 1);
    assert!(server.gets(INITRD).is_empty());
}
