//! `fetch::download_sha256` (the iPXE binary path) against a local server.

mod support;

use std::fs;

use mkstick::fetch::{self, Fetcher, Progress, Sha256Digest};
use support::fixture::random_bytes;
use support::server::{Drop, Server};

fn setup(len: usize) -> (tempfile::TempDir, Vec<u8>, Server) {
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(42, len);
    fs::create_dir_all(dir.path().join("www")).unwrap();
    fs::write(dir.path().join("www/ipxe.efi"), &data).unwrap();
    let server = Server::start(&dir.path().join("www"));
    (dir, data, server)
}

fn fetcher() -> Fetcher {
    Fetcher::new(Progress::hidden()).unwrap()
}

#[test]
fn downloads_verifies_and_then_serves_from_cache() {
    let (dir, data, server) = setup(500_000);
    let url = format!("{}/ipxe.efi", server.base);
    let sha = Sha256Digest::of(&data);
    let cache = dir.path().join("cache");
    let path = fetch::download_sha256_with(&fetcher(), &url, &sha, &cache).unwrap();
    assert_eq!(fs::read(&path).unwrap(), data);
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        format!("{sha}-ipxe.efi")
    );
    server.clear();
    assert_eq!(
        fetch::download_sha256_with(&fetcher(), &url, &sha, &cache).unwrap(),
        path
    );
    assert!(server.hits().is_empty(), "{:?}", server.hits());
}

#[test]
fn mismatch_deletes_the_download_and_names_the_url() {
    let (dir, _data, server) = setup(10_000);
    let url = format!("{}/ipxe.efi", server.base);
    let wrong = Sha256Digest::of(b"something else");
    let cache = dir.path().join("cache");
    let msg = format!(
        "{:#}",
        fetch::download_sha256_with(&fetcher(), &url, &wrong, &cache).unwrap_err()
    );
    assert!(
        msg.contains(&url) && msg.contains("SHA-256 mismatch") && msg.contains("deleted"),
        "{msg}"
    );
    assert!(
        fs::read_dir(&cache).unwrap().next().is_none(),
        "cache not empty"
    );
}

#[test]
fn not_found_names_the_url() {
    let (dir, _data, server) = setup(10);
    let url = format!("{}/nope.efi", server.base);
    let msg = format!(
        "{:#}",
        fetch::download_sha256_with(&fetcher(), &url, &Sha256Digest::of(b""), dir.path())
            .unwrap_err()
    );
    assert!(msg.contains(&url) && msg.contains("404"), "{msg}");
}

/// Downloads a 2 MB file whose first GET is cut after 600,000 bytes (closed,
/// or held open and silent when `stall`), checks the result and the resume.
fn download_interrupted(fetcher: &Fetcher, stall: bool) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(7, 2_000_000);
    fs::create_dir_all(dir.path().join("www")).unwrap();
    fs::write(dir.path().join("www/big.bin"), &data).unwrap();
    let drops = vec![Drop {
        path: "/big.bin".into(),
        after: 600_000,
        times: 1,
        stall,
    }];
    let server = Server::with_drops(&dir.path().join("www"), drops);
    let url = format!("{}/big.bin", server.base);
    let path = fetch::download_sha256_with(
        fetcher,
        &url,
        &Sha256Digest::of(&data),
        &dir.path().join("c"),
    )
    .unwrap();
    assert_eq!(fs::read(path).unwrap(), data);
    let ranges: Vec<_> = server
        .gets("/big.bin")
        .into_iter()
        .map(|h| h.range)
        .collect();
    assert_eq!(ranges, [None, Some("bytes=600000-".to_owned())]);
    (server, dir)
}

#[test]
fn resumes_after_the_server_drops_the_connection() {
    download_interrupted(&fetcher(), false);
}

#[test]
fn resumes_when_the_server_stalls_without_closing() {
    let policy = fetch::RetryPolicy {
        stall: std::time::Duration::from_millis(300),
        ..Default::default()
    };
    let f = Fetcher::with_retry_policy(Progress::hidden(), policy).unwrap();
    let (server, _dir) = download_interrupted(&f, true);
    // The stalled connection is still open: the client gave up on it, the
    // server never closed it.
    assert_eq!(server.stalled_connections(), 1);
}

#[test]
fn unreachable_server_fails_naming_the_url() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/x.efi");
    let policy = fetch::RetryPolicy {
        attempts: 2,
        backoff: std::time::Duration::from_millis(1),
        ..Default::default()
    };
    let f = Fetcher::with_retry_policy(Progress::hidden(), policy).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let msg = format!(
        "{:#}",
        fetch::download_sha256_with(&f, &url, &Sha256Digest::of(b""), dir.path()).unwrap_err()
    );
    assert!(
        msg.contains(&url) && msg.contains("giving up after 2 attempts"),
        "{msg}"
    );
}
