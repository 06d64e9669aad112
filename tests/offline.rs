//! `mkstick --offline`: Flatcar on the stick, verified on the way, booted with
//! `file:` first. A local "CDN" signed by a throwaway key stands in for
//! Flatcar's; the key's fingerprint reaches mkstick through the test seam.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::fixture::{Fixture, INITRD, KERNEL, VERSION};
use support::server::Server;

fn mkstick(fx: &Fixture, base_url: &str, extra: &[&str]) -> Output {
    let dir = fx.dir.path();
    std::fs::write(dir.join("node.ign"), r#"{"ignition":{"version":"3.3.0"}}"#).unwrap();
    let ipxe = Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps/ipxe/ipxe-amd64.efi");
    support::bin::mkstick()
        .env_clear()
        .env("MKSTICK_TEST_SIGNING_FINGERPRINT", fx.fingerprint())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .current_dir(dir)
        .args([
            "--offline",
            "--mirror",
            "mirror",
            "--keyring",
            "key.asc",
            "--yes",
        ])
        .args(["--base-url", base_url, "--ignition", "node.ign"])
        .arg("--ipxe-efi")
        .arg(ipxe)
        .args(extra)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "mkstick failed:\n{err}");
    err
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
    assert!(
        out.status.success(),
        "mcopy {from}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(to).unwrap()
}

#[test]
fn offline_stick_carries_the_verified_release_and_boots_it_first() {
    let fx = Fixture::new(7);
    let server = Server::start(&fx.cdn());
    ok(&mkstick(
        &fx,
        &server.base,
        &["--image", "a.img", "--flatcar-version", "current"],
    ));
    let img = fx.dir.path().join("a.img");

    // Kernel and initrd on the ESP, byte for byte what was signed.
    let dir = format!("/flatcar/amd64/{VERSION}");
    let tmp = fx.dir.path().join("out.bin");
    assert_eq!(mcopy(&img, &format!("{dir}/{KERNEL}"), &tmp), fx.kernel);
    assert_eq!(mcopy(&img, &format!("{dir}/{INITRD}"), &tmp), fx.initrd);

    // `current` resolved to the release on the stick, offline first.
    let script = String::from_utf8(mcopy(&img, "/autoexec.ipxe", &tmp)).unwrap();
    assert!(
        script.contains(&format!("kernel --name {KERNEL} file:{dir}/{KERNEL} ")),
        "{script}"
    );
    assert!(
        script.contains(&format!(
            "set base {}/stable/${{arch}}-usr/{VERSION}",
            server.base
        )),
        "{script}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&mcopy(&img, "/mkstick/manifest.json", &tmp)).unwrap();
    assert_eq!(manifest["flatcar"]["version"], VERSION);
    assert_eq!(
        manifest["flatcar"]["offline_dir"],
        format!("flatcar/amd64/{VERSION}")
    );

    // The ESP grew to hold two releases; fsck is happy with the large files.
    let table = Command::new("sgdisk").arg("-p").arg(&img).output().unwrap();
    assert!(String::from_utf8_lossy(&table.stdout).contains("256.0 MiB"));

    // A second build needs no network: the mirror is re-checked from disk.
    let gets = server.hits().len();
    drop(server);
    ok(&mkstick(
        &fx,
        "http://127.0.0.1:9",
        &["--image", "b.img", "--flatcar-version", VERSION],
    ));
    assert!(gets > 0);
}

#[test]
fn a_tampered_mirror_is_never_copied_to_a_stick() {
    let fx = Fixture::new(8);
    let server = Server::start(&fx.cdn());
    ok(&mkstick(
        &fx,
        &server.base,
        &["--image", "a.img", "--flatcar-version", VERSION],
    ));
    // Corrupt the mirrored initrd and make the CDN serve a bad signature:
    // re-download is attempted, verification fails, nothing is written.
    let mirrored = fx.mirrored(INITRD);
    let mut bytes = std::fs::read(&mirrored).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&mirrored, &bytes).unwrap();
    std::fs::write(fx.release().join(INITRD), &bytes).unwrap();
    let out = mkstick(
        &fx,
        &server.base,
        &["--image", "b.img", "--flatcar-version", VERSION],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(INITRD), "the error names the file: {err}");
    assert!(!fx.dir.path().join("b.img").exists());
}

#[test]
fn offline_needs_one_architecture_and_room() {
    let fx = Fixture::new(9);
    let server = Server::start(&fx.cdn());
    let out = mkstick(&fx, &server.base, &["--image", "a.img", "--arch", "all"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("choose --arch amd64"));
    let out = mkstick(
        &fx,
        &server.base,
        &[
            "--image",
            "a.img",
            "--esp-size",
            "40",
            "--flatcar-version",
            VERSION,
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot hold the offline release"), "{err}");
}
