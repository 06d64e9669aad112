//! Issue 10, mirror and download classes: a hostile mirror directory or
//! server must not get an unverified file onto a stick, make mkstick follow
//! or write through a planted file, read without bound, or spin on retries.
//! Real files, symlinks, FIFOs and hard links in temp dirs; local servers.

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mkstick::fetch::{self, Fetcher, Progress, RetryPolicy, Sha256Digest};
use mkstick::mirror::{self, Arch, Channel, MirrorOptions, Release, VersionSpec};
use pgp::crypto::hash::HashAlgorithm;
use support::fixture::{Fixture, INITRD, KERNEL, VERSION, random_bytes};
use support::keys::TestKey;
use support::server::{Server, Special};

/// Retries as in production (2 s back-off): a refusal that is retried shows
/// up as seconds, not milliseconds.
fn options(fx: &Fixture, base: &str) -> MirrorOptions {
    MirrorOptions {
        base_url: base.to_owned(),
        keyring: Some(fx.keyring()),
        key_url: format!("{base}/key.asc"),
        fingerprint: fx.fingerprint().parse().unwrap(),
        progress: Progress::hidden(),
        retry: RetryPolicy::default(),
    }
}

fn exact() -> VersionSpec {
    VersionSpec::Exact(VERSION.parse().unwrap())
}

fn ensure(fx: &Fixture, base: &str) -> anyhow::Result<Release> {
    mirror::ensure(
        &fx.mirror(),
        Channel::Stable,
        Arch::Amd64,
        &exact(),
        &options(fx, base),
    )
}

fn open(fx: &Fixture, version: &VersionSpec) -> anyhow::Result<Release> {
    Release::open(
        &fx.mirror(),
        Channel::Stable,
        Arch::Amd64,
        version,
        &options(fx, "http://127.0.0.1:9"),
    )
}

/// Runs `f` on a thread; a hang is a test failure, not a stuck suite.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("hung for more than {secs} s"))
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

/// `mkstick --offline` as in tests/offline.rs.
fn mkstick_offline(fx: &Fixture, base_url: &str, image: &str) -> Output {
    offline_command(fx, base_url, image).output().unwrap()
}

/// `mkstick --offline` that must be refused: exit 1 and no `image` written.
/// Returns its stderr.
fn refused_offline(fx: &Fixture, base_url: &str, image: &str) -> String {
    let out = mkstick_offline(fx, base_url, image);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        !fx.dir.path().join(image).exists(),
        "{image} written: {err}"
    );
    err
}

fn offline_command(fx: &Fixture, base_url: &str, image: &str) -> Command {
    let dir = fx.dir.path();
    fs::write(dir.join("node.ign"), r#"{"ignition":{"version":"3.3.0"}}"#).unwrap();
    let ipxe = Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps/ipxe/ipxe-amd64.efi");
    let mut cmd = support::bin::mkstick();
    cmd.env_clear()
        .env("MKSTICK_TEST_SIGNING_FINGERPRINT", fx.fingerprint())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .current_dir(dir)
        .args(["--offline", "--mirror", "mirror", "--keyring", "key.asc"])
        .args(["--yes", "--image", image, "--flatcar-version", VERSION])
        .args(["--base-url", base_url, "--ignition", "node.ign"])
        .arg("--ipxe-efi")
        .arg(ipxe);
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn mcopy(img: &Path, from: &str, to: &Path) -> Vec<u8> {
    let out = Command::new("mcopy")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-o")
        .arg("-i")
        .arg(format!("{}@@1M", img.display()))
        .arg(format!("::{from}"))
        .arg(to)
        .output()
        .expect("mtools (scripts/setup)");
    assert!(out.status.success(), "mcopy {from}");
    fs::read(to).unwrap()
}

/// Replaces the mirrored kernel with `bytes` and makes the bookkeeping file
/// agree, as an attacker with write access to the mirror would.
fn tamper_kernel_and_bookkeeping(fx: &Fixture, bytes: &[u8]) {
    fs::write(fx.mirrored(KERNEL), bytes).unwrap();
    let path = fx.mirrored("mkstick-verified.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    manifest["files"][KERNEL]["size"] = bytes.len().into();
    manifest["files"][KERNEL]["sha256"] = Sha256Digest::of(bytes).to_string().into();
    fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

fn evil_kernel(fx: &Fixture) -> Vec<u8> {
    let mut evil = fx.kernel.clone();
    evil[4096..4110].copy_from_slice(b"evil payload!!");
    evil
}

// --- Offline: the bookkeeping file is a cache, never a trust anchor ----------

#[test]
fn offline_refuses_a_tampered_kernel_the_bookkeeping_vouches_for() {
    let fx = Fixture::new(40);
    let server = Server::start(&fx.cdn());
    let out = mkstick_offline(&fx, &server.base, "a.img");
    assert!(out.status.success(), "{}", stderr(&out));
    let evil = evil_kernel(&fx);
    tamper_kernel_and_bookkeeping(&fx, &evil);
    // The server is hostile too: it serves the same kernel.
    fs::write(fx.release().join(KERNEL), &evil).unwrap();
    let err = refused_offline(&fx, &server.base, "b.img");
    assert!(
        err.contains(KERNEL) && err.contains("signature"),
        "names the file and the failed signature: {err}"
    );
}

#[test]
fn offline_replaces_a_tampered_kernel_with_the_signed_one() {
    let fx = Fixture::new(41);
    let server = Server::start(&fx.cdn());
    assert!(mkstick_offline(&fx, &server.base, "a.img").status.success());
    tamper_kernel_and_bookkeeping(&fx, &evil_kernel(&fx));
    let out = mkstick_offline(&fx, &server.base, "b.img");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("fails its OpenPGP signature check"), "{err}");
    let img = fx.dir.path().join("b.img");
    let on_stick = mcopy(
        &img,
        &format!("/flatcar/amd64/{VERSION}/{KERNEL}"),
        &fx.dir.path().join("k"),
    );
    assert_eq!(on_stick, fx.kernel, "the stick carries the signed kernel");
    assert_eq!(fs::read(fx.mirrored(KERNEL)).unwrap(), fx.kernel);
}

#[test]
fn corrupt_bookkeeping_says_how_to_fix_it_and_is_rebuilt_offline() {
    let fx = Fixture::new(42);
    let server = Server::start(&fx.cdn());
    assert!(mkstick_offline(&fx, &server.base, "a.img").status.success());
    drop(server);
    let bookkeeping = fx.mirrored("mkstick-verified.json");
    fs::write(&bookkeeping, b"{\"format\": 1, \"files\": {trunc").unwrap();
    let msg = format!("{:#}", open(&fx, &exact()).unwrap_err());
    assert!(
        msg.contains("is corrupt") && msg.contains("run `mkstick mirror"),
        "{msg}"
    );
    // The files still verify: a stick is written with no network, and the
    // bookkeeping file is rebuilt.
    let out = mkstick_offline(&fx, "http://127.0.0.1:9", "b.img");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("is corrupt"), "{err}");
    let rebuilt: serde_json::Value =
        serde_json::from_slice(&fs::read(&bookkeeping).unwrap()).unwrap();
    assert_eq!(rebuilt["version"], VERSION);
    assert!(open(&fx, &exact()).is_ok());
}

#[test]
fn mirror_checks_files_already_there_by_signature() {
    let fx = Fixture::new(43);
    let server = Server::start(&fx.cdn());
    ensure(&fx, &server.base).unwrap();
    tamper_kernel_and_bookkeeping(&fx, &evil_kernel(&fx));
    assert!(open(&fx, &exact()).is_err());
    server.clear();
    let release = ensure(&fx, &server.base).unwrap();
    assert_eq!(fs::read(&release.kernel.path).unwrap(), fx.kernel);
    assert_eq!(server.gets(KERNEL).len(), 1, "only the bad file is fetched");
    assert!(server.gets(INITRD).is_empty());
}

#[test]
fn unsigned_files_in_the_mirror_are_refused() {
    let fx = Fixture::new(44);
    let server = Server::start(&fx.cdn());
    ensure(&fx, &server.base).unwrap();
    fs::remove_file(fx.mirrored("flatcar_production_image.vmlinuz.sig")).unwrap();
    let msg = format!("{:#}", open(&fx, &exact()).unwrap_err());
    assert!(msg.contains("refusing an unsigned file"), "{msg}");
}

#[test]
fn fifos_devices_and_directories_in_the_mirror_are_refused_without_hanging() {
    let fx = Fixture::new(45);
    let server = Server::start(&fx.cdn());
    mirror::ensure(
        &fx.mirror(),
        Channel::Stable,
        Arch::Amd64,
        &VersionSpec::Current,
        &options(&fx, &server.base),
    )
    .unwrap();
    // A release's kernel and initrd are never read through a link; the
    // small files may be links, but only to regular files.
    let cases: [(&str, &str); 4] = [
        (KERNEL, "is a FIFO"),
        (INITRD, "is a symbolic link"),
        ("mkstick-verified.json", "is a FIFO"),
        ("version.txt", "is a character device"),
    ];
    for (name, says) in cases {
        let path = fx.mirrored(name);
        let saved = fs::read(&path).unwrap();
        fs::remove_file(&path).unwrap();
        match says {
            "is a FIFO" => mkfifo(&path),
            _ => symlink("/dev/zero", &path).unwrap(),
        }
        let mirror_dir = fx.mirror();
        let opts = options(&fx, "http://127.0.0.1:9");
        // `current` is read through the mirror's own link and version.txt.
        let msg = within(20, move || {
            let r = Release::open(
                &mirror_dir,
                Channel::Stable,
                Arch::Amd64,
                &VersionSpec::Current,
                &opts,
            );
            format!("{:#}", r.unwrap_err())
        });
        assert!(msg.contains(says) && msg.contains(name), "{name}: {msg}");
        fs::remove_file(&path).unwrap();
        fs::write(&path, saved).unwrap();
    }
    fs::remove_file(fx.mirrored(KERNEL)).unwrap();
    fs::create_dir(fx.mirrored(KERNEL)).unwrap();
    let msg = format!("{:#}", open(&fx, &exact()).unwrap_err());
    assert!(msg.contains("is a directory"), "{msg}");
}

// --- The test-only key seam ------------------------------------------------

#[test]
fn the_test_key_seam_is_compiled_only_for_the_test_suite() {
    let manifest: String =
        fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let section = |name: &str| -> String {
        let start = manifest
            .find(&format!("\n[{name}]\n"))
            .unwrap_or_else(|| panic!("no [{name}]"));
        let rest = &manifest[start + name.len() + 4..];
        rest[..rest.find("\n[").unwrap_or(rest.len())].to_owned()
    };
    let features = section("features");
    assert!(features.contains("test-keys = []"), "{features}");
    assert!(
        !features.contains("default"),
        "never on by default: {features}"
    );
    assert!(
        !section("dependencies").contains("test-keys"),
        "a normal build must not turn it on"
    );
    assert!(
        section("dev-dependencies")
            .contains(r#"mkstick = { path = ".", features = ["test-keys"] }"#),
        "only the test suite's dev-dependency turns it on"
    );
    let keyring = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/mirror/keyring.rs"
    ))
    .unwrap();
    let uses: Vec<usize> = keyring
        .match_indices("std::env::var(TEST_FINGERPRINT_ENV)")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(uses.len(), 1, "one reader of the seam");
    let before = &keyring[..uses[0]];
    let gate = before.rfind("#[cfg(feature = \"test-keys\")]").unwrap();
    assert!(
        !before[gate..].contains('}'),
        "the seam's only reader sits right under the feature gate"
    );
}

#[test]
fn the_pause_after_verification_is_compiled_only_for_the_test_suite() {
    let mirror =
        fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/mirror/mod.rs")).unwrap();
    for line in ["mod test_hook;", "test_hook::pause_after_verify()?;"] {
        let at = mirror.find(line).unwrap_or_else(|| panic!("no {line}"));
        let before = mirror[..at].trim_end();
        assert!(
            before.ends_with("#[cfg(feature = \"test-keys\")]"),
            "{line} sits right under the feature gate"
        );
        assert_eq!(mirror.matches(line).count(), 1, "{line}");
    }
}

// --- Downloads never follow or write through a planted .part ---------------

fn pinned_setup(len: usize) -> (tempfile::TempDir, Vec<u8>, Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(9, len);
    fs::create_dir_all(dir.path().join("www")).unwrap();
    fs::write(dir.path().join("www/ipxe.efi"), &data).unwrap();
    let server = Server::start(&dir.path().join("www"));
    let url = format!("{}/ipxe.efi", server.base);
    (dir, data, server, url)
}

fn quick() -> Fetcher {
    let policy = RetryPolicy {
        attempts: 2,
        backoff: Duration::from_millis(10),
        ..Default::default()
    };
    Fetcher::with_retry_policy(Progress::hidden(), policy).unwrap()
}

#[test]
fn a_planted_part_symlink_is_never_followed() {
    let (dir, data, _server, url) = pinned_setup(100_000);
    let sha = Sha256Digest::of(&data);
    let cache = dir.path().join("cache");
    fs::create_dir_all(&cache).unwrap();
    let part = cache.join(format!("{sha}-ipxe.efi.part"));
    let victim = dir.path().join("victim");
    fs::write(&victim, b"root's file").unwrap();

    symlink(&victim, &part).unwrap();
    let msg = format!(
        "{:#}",
        fetch::download_sha256_with(&quick(), &url, &sha, &cache).unwrap_err()
    );
    assert!(
        msg.contains("is a symbolic link") && msg.contains(".part"),
        "{msg}"
    );
    assert_eq!(fs::read(&victim).unwrap(), b"root's file");

    // A dangling link must not create its target either.
    fs::remove_file(&part).unwrap();
    let absent = dir.path().join("created-through-link");
    symlink(&absent, &part).unwrap();
    assert!(fetch::download_sha256_with(&quick(), &url, &sha, &cache).is_err());
    assert!(!absent.exists());
}

#[test]
fn a_part_that_is_not_a_plain_file_is_refused_and_named() {
    let (dir, data, _server, url) = pinned_setup(100_000);
    let sha = Sha256Digest::of(&data);
    let cache = dir.path().join("cache");
    fs::create_dir_all(&cache).unwrap();
    let part = cache.join(format!("{sha}-ipxe.efi.part"));

    mkfifo(&part);
    let (u, c) = (url.clone(), cache.clone());
    let msg = within(20, move || {
        format!(
            "{:#}",
            fetch::download_sha256_with(&quick(), &u, &sha, &c).unwrap_err()
        )
    });
    assert!(msg.contains("is a FIFO"), "{msg}");
    fs::remove_file(&part).unwrap();

    fs::create_dir(&part).unwrap();
    let msg = format!(
        "{:#}",
        fetch::download_sha256_with(&quick(), &url, &sha, &cache).unwrap_err()
    );
    assert!(msg.contains("is a directory"), "{msg}");
    fs::remove_dir(&part).unwrap();

    let victim = dir.path().join("victim");
    fs::write(&victim, b"x").unwrap();
    fs::hard_link(&victim, &part).unwrap();
    let msg = format!(
        "{:#}",
        fetch::download_sha256_with(&quick(), &url, &sha, &cache).unwrap_err()
    );
    assert!(msg.contains("hard links"), "{msg}");
    assert_eq!(fs::read(&victim).unwrap(), b"x");
}

#[test]
fn mirror_never_writes_through_planted_links() {
    let fx = Fixture::new(46);
    let server = Server::start(&fx.cdn());
    let dir = fx.mirrored("");
    fs::create_dir_all(&dir).unwrap();
    let victim = fx.dir.path().join("victim");
    fs::write(&victim, b"precious").unwrap();
    // Names the old code wrote through, and the initrd's download.
    for name in [
        "version.txt.part",
        ".mkstick-verified.json.tmp",
        "flatcar_production_image.vmlinuz.sig.part",
    ] {
        symlink(&victim, dir.join(name)).unwrap();
    }
    ensure(&fx, &server.base).unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"precious");

    fs::remove_file(fx.mirrored(INITRD)).unwrap();
    symlink(&victim, fx.mirrored(&format!("{INITRD}.part"))).unwrap();
    let msg = format!("{:#}", ensure(&fx, &server.base).unwrap_err());
    assert!(msg.contains("is a symbolic link"), "{msg}");
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
}

// --- Every download has a bound ---------------------------------------------

#[test]
fn a_body_longer_than_announced_is_cut_off_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let specials = vec![Special::Oversized {
        path: "/ipxe.efi".into(),
        head_len: Some(10_000),
        body_len: 30_000_000,
    }];
    let server = Server::with_specials(dir.path(), specials);
    let url = format!("{}/ipxe.efi", server.base);
    let cache = dir.path().join("cache");
    let sha = Sha256Digest::of(b"");
    let msg = format!(
        "{:#}",
        fetch::download_sha256_with(&quick(), &url, &sha, &cache).unwrap_err()
    );
    assert!(
        msg.contains("more than the 10000 bytes it announced") && msg.contains("cut off"),
        "{msg}"
    );
    assert!(
        fs::read_dir(&cache).unwrap().next().is_none(),
        "nothing left behind"
    );
}

#[test]
fn a_body_without_a_length_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 5_000_000;
    let specials = vec![Special::Oversized {
        path: "/ipxe.efi".into(),
        head_len: None,
        body_len: 40_000_000,
    }];
    let server = Server::with_specials(dir.path(), specials);
    let url = format!("{}/ipxe.efi", server.base);
    let cache = dir.path().join("cache");
    let sha = Sha256Digest::of(b"");
    let msg = format!(
        "{:#}",
        fetch::download_sha256_within(&quick(), &url, &sha, &cache, limit).unwrap_err()
    );
    assert!(
        msg.contains(&format!("more than the {limit} bytes allowed")),
        "{msg}"
    );
    assert!(fs::read_dir(&cache).unwrap().next().is_none());
    // The default bound of a pinned download is documented, and finite.
    assert_eq!(fetch::PINNED_DOWNLOAD_LIMIT, 2 << 30);
}

#[test]
fn an_announced_size_over_the_bound_is_refused_before_downloading() {
    let fx = Fixture::new(47);
    let specials = vec![Special::Oversized {
        path: Fixture::url_path(KERNEL),
        head_len: Some(mirror::KERNEL_LIMIT + 1),
        body_len: 1,
    }];
    let server = Server::with_specials(&fx.cdn(), specials);
    let msg = format!("{:#}", ensure(&fx, &server.base).unwrap_err());
    assert!(
        msg.contains(&format!(
            "more than the {} allowed for {KERNEL}",
            mirror::KERNEL_LIMIT
        )),
        "{msg}"
    );
    assert!(server.gets(KERNEL).is_empty(), "no GET of the kernel");
}

// --- Redirects and URL schemes fail at once ---------------------------------

fn fails_fast(started: Instant) {
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}: retried");
}

#[test]
fn a_redirect_to_file_fails_at_once_and_says_so() {
    let fx = Fixture::new(48);
    let specials = vec![Special::Redirect {
        path: Fixture::url_path(INITRD),
        location: "file:///etc/shadow".into(),
    }];
    let server = Server::with_specials(&fx.cdn(), specials);
    let started = Instant::now();
    let msg = format!("{:#}", ensure(&fx, &server.base).unwrap_err());
    fails_fast(started);
    assert!(
        msg.contains("redirects to a file: URL (file:///etc/shadow)"),
        "{msg}"
    );
}

#[test]
fn a_redirect_loop_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // Relative redirects point at the server itself, whatever its port.
    let server = Server::with_specials(
        dir.path(),
        vec![
            Special::Redirect {
                path: "/a".into(),
                location: "/b".into(),
            },
            Special::Redirect {
                path: "/b".into(),
                location: "/a".into(),
            },
        ],
    );
    let url = format!("{}/a", server.base);
    let started = Instant::now();
    let msg = format!(
        "{:#}",
        fetch::download_sha256_with(
            &Fetcher::new(Progress::hidden()).unwrap(),
            &url,
            &Sha256Digest::of(b""),
            &dir.path().join("cache")
        )
        .unwrap_err()
    );
    fails_fast(started);
    assert!(msg.contains("redirects in a loop"), "{msg}");
}

#[test]
fn an_unsupported_base_url_fails_at_once() {
    let fx = Fixture::new(50);
    for (base, says) in [
        ("ftp://127.0.0.1/flatcar", "ftp: scheme"),
        ("file:///srv/flatcar", "file: scheme"),
        ("127.0.0.1/flatcar", "is not a URL"),
    ] {
        let started = Instant::now();
        let msg = format!("{:#}", ensure(&fx, base).unwrap_err());
        fails_fast(started);
        assert!(
            msg.contains("--base-url") && msg.contains(says),
            "{base}: {msg}"
        );
    }
    // The command line says the same, as quickly.
    let started = Instant::now();
    let out = support::bin::mkstick()
        .arg("mirror")
        .arg(fx.mirror())
        .args(["--base-url", "file:///srv/flatcar", "--version", VERSION])
        .output()
        .unwrap();
    fails_fast(started);
    // Refused by the argument parser (status 2), before anything is read.
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("must be a http or https URL"),
        "{}",
        stderr(&out)
    );
}

// --- Rollback: a genuinely signed older release under a newer name ---------

/// Day `major` of Flatcar's numbering (days since 2013-07-01), Unix seconds.
fn flatcar_day(major: u32) -> u32 {
    1_372_636_800 + major * 86_400
}

/// Re-keys the fixture with a key whose signing subkey is ten years old and
/// signs the served kernel and initrd as made at `kernel_at` and `initrd_at`
/// (the real key could have signed any release of the last years).
fn sign_release_at(fx: &mut Fixture, seed: u64, kernel_at: u32, initrd_at: u32) {
    let mut key = TestKey::generate(seed, 10 * 365 * 86_400);
    let release = fx.release();
    let (kernel, initrd) = (fx.kernel.clone(), fx.initrd.clone());
    let sign = |key: &mut TestKey, data: &[u8], at| key.sign_at(data, HashAlgorithm::Sha512, at);
    fs::write(
        release.join("flatcar_production_image.vmlinuz.sig"),
        sign(&mut key, &kernel, kernel_at),
    )
    .unwrap();
    fs::write(
        release.join(format!("{INITRD}.sig")),
        sign(&mut key, &initrd, initrd_at),
    )
    .unwrap();
    let version_txt = fs::read(release.join("version.txt")).unwrap();
    fs::write(release.join("version.txt.sig"), key.sign(&version_txt)).unwrap();
    fs::write(fx.keyring(), key.armored_public()).unwrap();
    fx.key = key;
}

/// `mkstick mirror DIR --version VERSION` against `server`.
fn mkstick_mirror(fx: &Fixture, server: &Server) -> Output {
    support::bin::mkstick()
        .arg("mirror")
        .arg(fx.mirror())
        .args(["--base-url", &server.base, "--version", VERSION])
        .arg("--keyring")
        .arg(fx.keyring())
        .env("MKSTICK_TEST_SIGNING_FINGERPRINT", fx.fingerprint())
        .output()
        .unwrap()
}

/// 4081.2.0's day (2024-09-02): an older stable release, served as 4593.2.5.
const OLD_DAY: u32 = 4081;

#[test]
fn mirror_refuses_a_release_signed_before_its_version_existed() {
    let mut fx = Fixture::new(60);
    let old = flatcar_day(OLD_DAY) + 3600;
    sign_release_at(&mut fx, 60, old, old + 60);
    let server = Server::start(&fx.cdn());
    let out = mkstick_mirror(&fx, &server);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refusing http://")
            && err.contains(KERNEL)
            && err.contains("its signature was made on 2024-09-02")
            && err.contains(&format!(
                "version {VERSION} allows no signature before 2026-01-26"
            )),
        "names the file, the signature's date and the earliest allowed: {err}"
    );
    assert!(!fx.mirrored(KERNEL).exists(), "nothing is kept");
    assert!(server.gets(KERNEL).is_empty(), "refused before downloading");
}

#[test]
fn offline_writes_refuse_a_rolled_back_release() {
    let mut fx = Fixture::new(61);
    let old = flatcar_day(OLD_DAY) + 3600;
    sign_release_at(&mut fx, 61, old, old + 60);
    let server = Server::start(&fx.cdn());
    // Downloaded while writing the stick.
    let err = refused_offline(&fx, &server.base, "a.img");
    assert!(
        err.contains(KERNEL) && err.contains("made on 2024-09-02"),
        "{err}"
    );
    assert!(!fx.mirrored(KERNEL).exists());

    // Already in the mirror: a good release is mirrored, then the mirror's
    // files and signatures are swapped for the older release's.
    let now = support::keys::now();
    sign_release_at(&mut fx, 62, now, now);
    let out = mkstick_offline(&fx, &server.base, "b.img");
    assert!(out.status.success(), "{}", stderr(&out));
    for (name, sig, data) in [
        (KERNEL, "flatcar_production_image.vmlinuz.sig", &fx.kernel),
        (
            INITRD,
            "flatcar_production_pxe_image.cpio.gz.sig",
            &fx.initrd,
        ),
    ] {
        let signed = fx.key.sign_at(data, HashAlgorithm::Sha512, old);
        fs::write(fx.mirrored(sig), &signed).unwrap();
        fs::write(fx.release().join(sig), &signed).unwrap();
        assert!(fx.mirrored(name).exists());
    }
    // The mirror's copy is refused, and so is the server's.
    let err = refused_offline(&fx, &server.base, "c.img");
    assert!(
        err.contains(&format!(
            "refusing mirror/stable/amd64-usr/{VERSION}/{KERNEL}: its signature was made on \
             2024-09-02"
        )) && err.contains(&format!("refusing {}", server.base)),
        "{err}"
    );
}

#[test]
fn a_kernel_and_an_initrd_from_different_releases_are_refused() {
    let mut fx = Fixture::new(63);
    let day = flatcar_day(4593);
    sign_release_at(&mut fx, 63, day + 3600, day + 3600 + 30 * 86_400);
    let server = Server::start(&fx.cdn());
    let msg = format!("{:#}", ensure(&fx, &server.base).unwrap_err());
    assert!(
        msg.contains(KERNEL)
            && msg.contains(INITRD)
            && msg.contains("made on 2026-01-27 and 2026-02-26, 30 days apart"),
        "{msg}"
    );
    let err = refused_offline(&fx, &server.base, "a.img");
    assert!(err.contains("30 days apart"), "{err}");
    // The mismatched copies are not kept: a fixed mirror is downloaded again.
    assert!(!fx.mirrored(KERNEL).exists() && !fx.mirrored(INITRD).exists());
}

#[test]
fn a_release_signed_on_its_day_passes_and_shows_its_dates() {
    let mut fx = Fixture::new(64);
    // Half a day before day 4593: within the slack for clocks and zones.
    let day = flatcar_day(4593) - 43_200;
    sign_release_at(&mut fx, 64, day, day + 300);
    let server = Server::start(&fx.cdn());
    let out = mkstick_mirror(&fx, &server);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "kernel signed 2026-01-26, initrd signed 2026-01-26 ({VERSION} allows signatures \
             from 2026-01-26)"
        )),
        "{err}"
    );
    let release = open(&fx, &exact()).unwrap();
    assert_eq!(
        (release.signed.kernel, release.signed.initrd),
        (day, day + 300)
    );
    let out = mkstick_offline(&fx, "http://127.0.0.1:9", "a.img");
    assert!(out.status.success(), "{}", stderr(&out));
}

// --- Time of check, time of use: what is copied is what was verified -------

/// `mkstick --offline` paused (by the test-only hook) after the release is
/// verified; `swap` runs in that window, then the write goes on.
fn offline_with_swap(fx: &Fixture, base_url: &str, image: &str, swap: impl FnOnce()) -> Output {
    let flag = fx.dir.path().join("verified.flag");
    let child = offline_command(fx, base_url, image)
        .env("MKSTICK_TEST_PAUSE_AFTER_VERIFY", &flag)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !flag.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "mkstick never paused after verifying"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    swap();
    fs::remove_file(&flag).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_mirror_file_swapped_after_its_check_is_not_written() {
    let fx = Fixture::new(70);
    let server = Server::start(&fx.cdn());
    assert!(mkstick_offline(&fx, &server.base, "a.img").status.success());
    let kernel = fx.mirrored(KERNEL);
    let evil = evil_kernel(&fx);
    let named = format!("mirror/stable/amd64-usr/{VERSION}/{KERNEL}");

    // The pause alone changes nothing.
    let out = offline_with_swap(&fx, &server.base, "b.img", || {});
    assert!(out.status.success(), "{}", stderr(&out));
    fs::remove_file(fx.dir.path().join("b.img")).unwrap();

    type Swap<'a> = Box<dyn Fn() + 'a>;
    let cases: [(&str, Swap<'_>, &str); 3] = [
        (
            "renamed over",
            Box::new(|| {
                let tmp = kernel.with_extension("evil");
                fs::write(&tmp, &evil).unwrap();
                fs::rename(&tmp, &kernel).unwrap();
            }),
            "changed since it was verified",
        ),
        (
            "rewritten in place",
            Box::new(|| {
                use std::os::unix::fs::FileExt;
                let f = fs::OpenOptions::new().write(true).open(&kernel).unwrap();
                f.write_all_at(b"evil payload!!", 4096).unwrap();
            }),
            "changed since it was verified",
        ),
        (
            "replaced by a link",
            Box::new(|| {
                let elsewhere = fx.dir.path().join("evil-kernel");
                fs::write(&elsewhere, &evil).unwrap();
                fs::remove_file(&kernel).unwrap();
                symlink(&elsewhere, &kernel).unwrap();
            }),
            "verified earlier, to copy it",
        ),
    ];
    for (how, swap, says) in cases {
        fs::write(&kernel, &fx.kernel).unwrap();
        let out = offline_with_swap(&fx, &server.base, "b.img", swap);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{how}: {err}");
        assert!(
            err.contains(&named) && err.contains(says) && err.contains("nothing was finalised"),
            "{how}: names the file and what happened: {err}"
        );
        assert!(
            !fx.dir.path().join("b.img").exists(),
            "{how}: nothing is written"
        );
        let left: Vec<String> = support::fixture::list_dir(fx.dir.path())
            .into_iter()
            .filter(|n| n.contains("b.img"))
            .collect();
        assert!(
            left.is_empty(),
            "{how}: no temporary image is left: {left:?}"
        );
        fs::remove_file(&kernel).unwrap();
    }
}
