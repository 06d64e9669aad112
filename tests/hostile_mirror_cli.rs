//! Whole-command twins of the library cases in tests/hostile_mirror.rs: the
//! same hostile mirror directories and servers, through `mkstick mirror` as
//! a user runs it, so that they also run against another build
//! (`MKSTICK_UNDER_TEST`, scripts/hostile-evidence).

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use support::fixture::{Fixture, INITRD, KERNEL, VERSION};
use support::server::{Server, Special};

/// `mkstick mirror` of the fixture release from `base`, trusting the
/// fixture's key through the test-only seam. A run longer than a minute is
/// killed and fails the test.
fn mirror(fx: &Fixture, base: &str) -> (Output, Duration) {
    let started = Instant::now();
    let child = support::bin::mkstick()
        .env_clear()
        .env("MKSTICK_TEST_SIGNING_FINGERPRINT", fx.fingerprint())
        .arg("mirror")
        .arg(fx.mirror())
        .args(["--base-url", base, "--version", VERSION])
        .arg("--keyring")
        .arg(fx.keyring())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = finish(child);
    (out, started.elapsed())
}

fn finish(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "mkstick mirror hung for a minute: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 1 within a few seconds (no retries of what cannot work); stderr.
fn refused_at_once(out: &Output, took: Duration) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}: retried\n{err}"
    );
    err
}

#[test]
fn mirror_never_writes_through_planted_links() {
    let fx = Fixture::new(60);
    let server = Server::start(&fx.cdn());
    let dir = fx.mirrored("");
    fs::create_dir_all(&dir).unwrap();
    let victim = fx.dir.path().join("victim");
    fs::write(&victim, b"precious").unwrap();
    for name in [
        format!("{KERNEL}.part"),
        format!("{INITRD}.part"),
        "flatcar_production_image.vmlinuz.sig.part".to_owned(),
        ".mkstick-verified.json.tmp".to_owned(),
    ] {
        symlink(&victim, dir.join(name)).unwrap();
    }
    let (out, _) = mirror(&fx, &server.base);
    assert_eq!(
        fs::read(&victim).unwrap(),
        b"precious",
        "written through a planted link: {}",
        stderr(&out)
    );
    if out.status.success() {
        assert_eq!(fs::read(fx.mirrored(KERNEL)).unwrap(), fx.kernel);
    } else {
        assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    }
}

#[test]
fn a_file_already_in_the_mirror_is_checked_by_its_signature() {
    let fx = Fixture::new(61);
    let server = Server::start(&fx.cdn());
    let (out, _) = mirror(&fx, &server.base);
    assert!(out.status.success(), "{}", stderr(&out));
    // An attacker with write access replaces the kernel and makes the
    // bookkeeping file agree.
    let mut evil = fx.kernel.clone();
    evil[4096..4110].copy_from_slice(b"evil payload!!");
    fs::write(fx.mirrored(KERNEL), &evil).unwrap();
    let book = fx.mirrored("mkstick-verified.json");
    let mut json: serde_json::Value = serde_json::from_slice(&fs::read(&book).unwrap()).unwrap();
    json["files"][KERNEL]["size"] = evil.len().into();
    json["files"][KERNEL]["sha256"] = hex_sha256(&evil).into();
    fs::write(&book, serde_json::to_vec_pretty(&json).unwrap()).unwrap();

    let (out, _) = mirror(&fx, &server.base);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        fs::read(fx.mirrored(KERNEL)).unwrap() == fx.kernel,
        "the tampered kernel was kept: {}",
        stderr(&out)
    );
}

fn hex_sha256(data: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(data))
}

#[test]
fn a_redirect_to_a_file_url_fails_at_once_and_says_so() {
    let fx = Fixture::new(62);
    let server = Server::with_specials(
        &fx.cdn(),
        vec![Special::Redirect {
            path: Fixture::url_path(INITRD),
            location: "file:///etc/shadow".into(),
        }],
    );
    let (out, took) = mirror(&fx, &server.base);
    let err = refused_at_once(&out, took);
    assert!(err.contains("file:///etc/shadow"), "{err}");
    assert!(!fx.mirrored(INITRD).exists());
}

#[test]
fn a_redirect_loop_fails_at_once() {
    let fx = Fixture::new(63);
    let (a, b) = (Fixture::url_path(KERNEL), format!("{}.b", KERNEL));
    let server = Server::with_specials(
        &fx.cdn(),
        vec![
            Special::Redirect {
                path: a.clone(),
                location: Fixture::url_path(&b),
            },
            Special::Redirect {
                path: Fixture::url_path(&b),
                location: a,
            },
        ],
    );
    let (out, took) = mirror(&fx, &server.base);
    let err = refused_at_once(&out, took);
    assert!(err.contains("loop"), "{err}");
    assert!(!fx.mirrored(KERNEL).exists());
}

#[test]
fn a_body_longer_than_announced_is_cut_off_and_refused() {
    let fx = Fixture::new(64);
    let server = Server::with_specials(
        &fx.cdn(),
        vec![Special::Oversized {
            path: Fixture::url_path(KERNEL),
            head_len: Some(fx.kernel.len() as u64),
            body_len: 200_000_000,
        }],
    );
    let (out, took) = mirror(&fx, &server.base);
    let err = refused_at_once(&out, took);
    assert!(err.contains("cut off"), "{err}");
    assert!(!fx.mirrored(KERNEL).exists());
    let left: Vec<_> = fs::read_dir(fx.mirrored(""))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".part"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn an_unsupported_base_url_fails_at_once() {
    let fx = Fixture::new(65);
    for (base, says) in [
        ("ftp://127.0.0.1/flatcar", "ftp"),
        ("file:///srv/flatcar", "file"),
    ] {
        let (out, took) = mirror(&fx, base);
        let err = stderr(&out);
        // Refused by the argument parser (status 2), before anything is fetched.
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(took < Duration::from_secs(5), "took {took:?}\n{err}");
        assert!(err.contains("--base-url") && err.contains(says), "{err}");
    }
}

#[test]
fn an_announced_size_over_the_bound_is_refused_before_downloading() {
    let fx = Fixture::new(66);
    let server = Server::with_specials(
        &fx.cdn(),
        vec![Special::Oversized {
            path: Fixture::url_path(KERNEL),
            // One byte over the kernel's 512 MiB bound (src/mirror/mod.rs).
            head_len: Some((512 << 20) + 1),
            body_len: 1,
        }],
    );
    let (out, took) = mirror(&fx, &server.base);
    let err = refused_at_once(&out, took);
    assert!(err.contains("allowed for") && err.contains(KERNEL), "{err}");
    let gets: Vec<_> = server
        .gets(KERNEL)
        .into_iter()
        .filter(|h| h.method == "GET")
        .collect();
    assert!(gets.is_empty(), "the kernel was downloaded: {gets:?}");
}

/// `mkstick --offline` from the fixture's mirror, with no server.
fn offline(fx: &Fixture, image: &str) -> Output {
    let dir = fx.dir.path();
    fs::write(dir.join("node.ign"), r#"{"ignition":{"version":"3.3.0"}}"#).unwrap();
    let child = support::bin::mkstick()
        .env_clear()
        .env("MKSTICK_TEST_SIGNING_FINGERPRINT", fx.fingerprint())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .current_dir(dir)
        .args(["--offline", "--mirror", "mirror", "--keyring", "key.asc"])
        .args(["--yes", "--image", image, "--flatcar-version", VERSION])
        .args(["--base-url", "http://127.0.0.1:9", "--ignition", "node.ign"])
        .arg("--ipxe-efi")
        .arg(support::stick::ipxe_amd64())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child)
}

#[test]
fn offline_refuses_an_unsigned_file_the_bookkeeping_vouches_for() {
    let fx = Fixture::new(67);
    let server = Server::start(&fx.cdn());
    let (out, _) = mirror(&fx, &server.base);
    assert!(out.status.success(), "{}", stderr(&out));
    drop(server);
    fs::remove_file(fx.mirrored("flatcar_production_image.vmlinuz.sig")).unwrap();
    let out = offline(&fx, "a.img");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("unsigned"), "{err}");
    assert!(!fx.dir.path().join("a.img").exists());
}

#[test]
fn offline_refuses_fifos_and_devices_in_the_mirror_without_hanging() {
    let fx = Fixture::new(68);
    let server = Server::start(&fx.cdn());
    let (out, _) = mirror(&fx, &server.base);
    assert!(out.status.success(), "{}", stderr(&out));
    drop(server);
    // A link to /dev/zero is refused as a link: release files are never read through one.
    for (name, says) in [(KERNEL, "is a FIFO"), (INITRD, "is a symbolic link")] {
        let path = fx.mirrored(name);
        let saved = fs::read(&path).unwrap();
        fs::remove_file(&path).unwrap();
        if says == "is a FIFO" {
            let made = std::process::Command::new("mkfifo")
                .arg(&path)
                .status()
                .unwrap();
            assert!(made.success());
        } else {
            symlink("/dev/zero", &path).unwrap();
        }
        let out = offline(&fx, "a.img");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(says) && err.contains(name), "{name}: {err}");
        assert!(!fx.dir.path().join("a.img").exists());
        fs::remove_file(&path).unwrap();
        fs::write(&path, saved).unwrap();
    }
}
