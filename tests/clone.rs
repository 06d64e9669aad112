//! `mkstick clone`: an image re-made from what is on it is byte-identical;
//! a stick that no longer matches its manifest is refused unless --force.
//! mtools (from scripts/setup) tampers with a copy; a missing tool fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::stick::{ESP_OFFSET, ipxe_amd64, mtype, ok, tamper_boot_script};

/// Every stick written here runs k3s (a cluster stick carries the token):
/// its release pinned by hand, so no network.
fn run(dir: &Path, args: &[&str]) -> Output {
    let pin = if args.contains(&"--ipxe-efi") {
        support::k3s_pin::args()
    } else {
        &[]
    };
    support::stick::run(dir, &[args, pin].concat())
}

/// A cluster server stick: env files, and CA files in k3s-tls/ and k3s-tls/etcd/.
fn server_stick(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("lab.yml"),
        "cluster: lab\ndomain: example.com\nnodes:\n  - {name: n1, role: server}\n  - {name: n2, role: agent}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("in.env"),
        "LOGEXPORT_HOST=logs.example.com\nLOGEXPORT_PORT=6514\n",
    )
    .unwrap();
    ok(run(
        dir,
        &["cluster", "init", "lab.yml", "--secrets", "in.env"],
    ));
    let ipxe = ipxe_amd64();
    ok(run(
        dir,
        &[
            "--cluster",
            "lab.yml",
            "--node",
            "n1",
            "--image",
            "src.img",
            "--ipxe-efi",
            ipxe.to_str().unwrap(),
            "--flatcar-version",
            "4593.2.5",
        ],
    ));
    dir.join("src.img")
}

#[test]
fn a_clone_of_an_image_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let src = server_stick(dir);
    let text = ok(run(dir, &["clone", "src.img", "copy.img"]));
    assert!(text.contains("verified by reading it back"), "{text}");
    let (a, b) = (
        std::fs::read(&src).unwrap(),
        std::fs::read(dir.join("copy.img")).unwrap(),
    );
    assert_eq!(a.len(), b.len());
    assert!(a == b, "the clone differs from its source");
    // A clone of the clone too (nothing in the copy depends on the source's path).
    ok(run(dir, &["clone", "copy.img", "again.img", "--yes"]));
    assert!(std::fs::read(dir.join("again.img")).unwrap() == a);
}

#[test]
fn a_tampered_stick_is_refused_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let src = server_stick(dir);
    tamper_boot_script(dir, &src);
    let out = run(dir, &["clone", "src.img", "copy.img"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("does not match its own manifest"), "{err}");
    assert!(
        err.contains("/autoexec.ipxe changed since it was written"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert!(!dir.join("copy.img").exists(), "nothing is written");

    let text = ok(run(dir, &["clone", "src.img", "copy.img", "--force"]));
    assert!(
        text.contains("although it differs from its manifest"),
        "{text}"
    );
    // The copy carries the stick as it is now: the changed script included.
    let script = mtype(&dir.join("copy.img"), ESP_OFFSET, "autoexec.ipxe");
    assert_eq!(script, "#!ipxe\nshell\n");
}
