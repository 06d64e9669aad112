//! Download+verify throughput of `mkstick mirror` against `curl -o` on the
//! same loopback server in the same run, and mkstick's peak memory.
//!
//! Run: `cargo bench --bench fetch` (MKSTICK_BENCH_MB=400 by default).
//! The file is served by an in-process tiny_http server; both clients write
//! to the same temporary directory. Best of 3 runs each.
//!
//! Then the cost of using the mirror offline: `Release::open` re-verifies the
//! kernel and initrd against their OpenPGP signatures (and the initrd's
//! SHA-512 DIGESTS) on every use, against `sha256sum` of the same files (the
//! one pass the old bookkeeping check made).
//!
//! Last, what checking the copy costs an offline write: `mkstick --offline
//! --image` from the mirror (no network; it re-verifies, copies, reads back),
//! against one streaming SHA-256 pass over the same kernel and initrd with
//! the crate and buffer size the copy-time check uses (`HostFile::copy_to`
//! in src/model/content.rs): the work that check adds. The signature-date
//! checks (src/mirror/rollback.rs) are two integer comparisons per file: the
//! mirror and re-verification figures above include them.

#[path = "support/peak_rss.rs"]
mod peak_rss;
#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use mkstick::fetch::{Progress, RetryPolicy};
use mkstick::mirror::{Arch, Channel, MirrorOptions, Release, VersionSpec};
use support::fixture::{Fixture, INITRD, KERNEL, VERSION};
use support::server::Server;

fn main() {
    let mb: usize = std::env::var("MKSTICK_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let len = mb * 1024 * 1024;
    eprintln!("preparing a signed {mb} MiB initrd...");
    let fx = Fixture::with_sizes(99, 4096, len);
    let server = Server::start(&fx.cdn());
    let url = format!("{}{}", server.base, Fixture::url_path(INITRD));

    let mut mkstick = Vec::new();
    let mut peak_kib = 0;
    for i in 0..3 {
        let dir = fx.dir.path().join(format!("mirror{i}"));
        let start = Instant::now();
        let (status, kib) = peak_rss::run(
            Command::new(env!("CARGO_BIN_EXE_mkstick"))
                .arg("mirror")
                .arg(&dir)
                .args(["--base-url", &server.base, "--version", VERSION])
                .arg("--keyring")
                .arg(fx.keyring())
                .env("MKSTICK_TEST_SIGNING_FINGERPRINT", fx.fingerprint())
                .stderr(std::process::Stdio::null()),
        );
        peak_kib = peak_kib.max(kib);
        assert!(status.success(), "mkstick mirror failed");
        mkstick.push(start.elapsed());
        if i < 2 {
            std::fs::remove_dir_all(&dir).ok();
        }
    }
    let mirrored = fx.dir.path().join("mirror2");
    let (open, sha256sum) = reverify(&fx, &mirrored);
    let (write, copy_hash) = offline_write(&fx, &mirrored);

    let mut curl = Vec::new();
    for _ in 0..3 {
        let out = fx.dir.path().join("curl.out");
        let start = Instant::now();
        let status = Command::new("curl")
            .args(["-s", "-f", "-o"])
            .arg(&out)
            .arg(&url)
            .status()
            .expect("running curl (is it installed?)");
        assert!(status.success(), "curl failed");
        curl.push(start.elapsed());
        assert_eq!(std::fs::metadata(&out).unwrap().len(), len as u64);
        std::fs::remove_file(&out).ok();
    }

    let best = |v: &[Duration]| v.iter().min().copied().unwrap_or_default();
    let rate = |d: Duration| len as f64 / d.as_secs_f64() / 1e6;
    let (m, c) = (best(&mkstick), best(&curl));
    println!("file: {mb} MiB over {}", server.base);
    println!(
        "curl -o                    : {:7.3} s  {:7.1} MB/s  (runs {:?})",
        c.as_secs_f64(),
        rate(c),
        curl
    );
    println!(
        "mkstick mirror (sig+sha512): {:7.3} s  {:7.1} MB/s  (runs {:?})",
        m.as_secs_f64(),
        rate(m),
        mkstick
    );
    println!(
        "throughput ratio mkstick/curl: {:.2} (target >= 0.80)",
        rate(m) / rate(c)
    );
    println!(
        "mkstick peak RSS: {:.1} MiB (target < 64 MiB)",
        peak_kib as f64 / 1024.0
    );
    println!(
        "offline re-verification (Release::open): {:7.3} s; sha256sum of the same files: {:7.3} s",
        open.as_secs_f64(),
        sha256sum.as_secs_f64()
    );
    println!(
        "re-verification ratio open/sha256sum: {:.2}",
        open.as_secs_f64() / sha256sum.as_secs_f64()
    );
    println!(
        "offline write (mkstick --offline --image): {:7.3} s; the copy-time SHA-256 pass: {:7.3} s",
        write.as_secs_f64(),
        copy_hash.as_secs_f64()
    );
    println!(
        "copy-check cost ratio hash/write: {:.2}",
        copy_hash.as_secs_f64() / write.as_secs_f64()
    );
}

/// Best of 3: an offline write from `mirror`, and the SHA-256 pass over its
/// kernel and initrd that the copy-time check adds to it.
fn offline_write(fx: &Fixture, mirror: &std::path::Path) -> (Duration, Duration) {
    use sha2::Digest as _;
    use std::io::Read as _;

    let dir = fx.dir.path();
    std::fs::write(dir.join("node.ign"), r#"{"ignition":{"version":"3.3.0"}}"#).unwrap();
    let ipxe =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps/ipxe/ipxe-amd64.efi");
    let release_dir = mirror.join("stable/amd64-usr").join(VERSION);
    let image = dir.join("bench.img");
    let mut write = Vec::new();
    let mut hash = Vec::new();
    for _ in 0..3 {
        std::fs::remove_file(&image).ok();
        let start = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_mkstick"))
            .env("MKSTICK_TEST_SIGNING_FINGERPRINT", fx.fingerprint())
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .current_dir(dir)
            .arg("--offline")
            .arg("--mirror")
            .arg(mirror)
            .arg("--keyring")
            .arg(fx.keyring())
            .args(["--yes", "--flatcar-version", VERSION])
            .args(["--base-url", "http://127.0.0.1:9", "--ignition", "node.ign"])
            .arg("--image")
            .arg(&image)
            .arg("--ipxe-efi")
            .arg(&ipxe)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("running mkstick --offline");
        assert!(status.success(), "mkstick --offline failed");
        write.push(start.elapsed());

        let start = Instant::now();
        let mut buf = vec![0u8; 1 << 20];
        for name in [KERNEL, INITRD] {
            let mut file = std::fs::File::open(release_dir.join(name)).unwrap();
            let mut hasher = sha2::Sha256::new();
            loop {
                let n = file.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            std::hint::black_box(hasher.finalize());
        }
        hash.push(start.elapsed());
    }
    std::fs::remove_file(&image).ok();
    (
        write.iter().min().copied().unwrap_or_default(),
        hash.iter().min().copied().unwrap_or_default(),
    )
}

/// Best of 3: `Release::open` on the mirror, and `sha256sum` of its files.
fn reverify(fx: &Fixture, mirror: &std::path::Path) -> (Duration, Duration) {
    let opts = MirrorOptions {
        base_url: "http://127.0.0.1:9".into(),
        keyring: Some(fx.keyring()),
        key_url: String::new(),
        fingerprint: fx.fingerprint().parse().unwrap(),
        progress: Progress::hidden(),
        retry: RetryPolicy::default(),
    };
    let version = VersionSpec::Exact(VERSION.parse().unwrap());
    let release_dir = mirror.join("stable/amd64-usr").join(VERSION);
    let mut open = Vec::new();
    let mut sum = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        Release::open(mirror, Channel::Stable, Arch::Amd64, &version, &opts)
            .expect("re-verifying the mirror");
        open.push(start.elapsed());
        let start = Instant::now();
        let status = Command::new("sha256sum")
            .arg(release_dir.join(KERNEL))
            .arg(release_dir.join(INITRD))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("running sha256sum");
        assert!(status.success());
        sum.push(start.elapsed());
    }
    (
        open.iter().min().copied().unwrap_or_default(),
        sum.iter().min().copied().unwrap_or_default(),
    )
}
