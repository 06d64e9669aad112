//! `mkstick mirror` as a user runs it: the built binary, a local server, and
//! the test-only fingerprint seam (the env var prints a warning).

mod support;

use std::process::Output;

use support::fixture::{Fixture, INITRD, KERNEL, VERSION};
use support::server::Server;

fn mirror(fx: &Fixture, server: &Server, extra: &[&str]) -> Output {
    support::bin::mkstick()
        .arg("mirror")
        .arg(fx.mirror())
        .args(["--base-url", &server.base])
        .arg("--keyring")
        .arg(fx.keyring())
        .args(extra)
        .env("MKSTICK_TEST_SIGNING_FINGERPRINT", fx.fingerprint())
        .output()
        .expect("running mkstick")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn mirrors_current_then_downloads_nothing() {
    let fx = Fixture::new(30);
    let server = Server::start(&fx.cdn());
    let out = mirror(&fx, &server, &[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: MKSTICK_TEST_SIGNING_FINGERPRINT is set"),
        "{err}"
    );
    assert!(
        err.contains(&format!("verified {KERNEL}: 300000 bytes")),
        "{err}"
    );
    assert!(
        err.contains(&format!("verified {INITRD}: 3000000 bytes")),
        "{err}"
    );
    assert!(err.contains("SHA-512 matches DIGESTS"), "{err}");
    assert!(
        err.contains(&format!(
            "stable/amd64-usr/{VERSION}: mirrored and verified"
        )),
        "{err}"
    );
    assert_eq!(std::fs::read(fx.mirrored(INITRD)).unwrap(), fx.initrd);

    server.clear();
    let out = mirror(&fx, &server, &["--version", VERSION]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("already mirrored and verified, nothing downloaded"),
        "{err}"
    );
    assert!(server.hits().is_empty(), "{:?}", server.hits());
}

#[test]
fn unknown_version_fails_naming_the_url() {
    let fx = Fixture::new(31);
    let server = Server::start(&fx.cdn());
    let out = mirror(&fx, &server, &["--channel", "beta"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let url = format!("{}/beta/amd64-usr/current/version.txt", server.base);
    assert!(
        err.contains("error: resolving `current` for beta/amd64"),
        "{err}"
    );
    assert!(err.contains(&format!("{url}: HTTP 404 Not Found")), "{err}");
}

#[test]
fn production_pin_refuses_a_foreign_key() {
    let fx = Fixture::new(32);
    let server = Server::start(&fx.cdn());
    let out = support::bin::mkstick()
        .arg("mirror")
        .arg(fx.mirror())
        .args(["--base-url", &server.base, "--version", VERSION])
        .arg("--keyring")
        .arg(fx.keyring())
        .env_remove("MKSTICK_TEST_SIGNING_FINGERPRINT")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("mkstick trusts only F88CFEDEFF29A5B4D9523864E25D9AED0593B34A"),
        "{err}"
    );
    assert!(!fx.mirrored(KERNEL).exists());
}

#[test]
fn help_matches_golden() {
    let out = support::bin::mkstick()
        .args(["mirror", "--help"])
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    let golden = include_str!("golden/mirror-help.txt");
    assert_eq!(String::from_utf8_lossy(&out.stdout), golden);
}
