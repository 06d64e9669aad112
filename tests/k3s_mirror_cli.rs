//! `mkstick mirror DIR --k3s` as a user runs it, against a stand-in release.

mod k3s_support;
mod support;

use std::fs;
use std::process::Output;

use k3s_support::{ChannelServer, Release, TAG, TAG_URL};
use support::server::Server;

fn mirror(dir: &std::path::Path, args: &[&str]) -> Output {
    support::bin::mkstick()
        .arg("mirror")
        .arg(dir)
        .args(["--k3s-only"])
        .args(args)
        .output()
        .expect("running mkstick")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn mirrors_a_channel_for_both_arches_then_downloads_nothing() {
    let release = Release::new();
    let server = Server::start(release.root());
    let channels = ChannelServer::start(&[("stable", TAG)]);
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--k3s",
        "stable",
        "--arch",
        "all",
        "--k3s-base-url",
        &server.base,
        "--k3s-channel-url",
        &channels.base,
    ];
    let out = mirror(dir.path(), &args);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("k3s {TAG}: mirrored and verified")),
        "{err}"
    );
    let tag_dir = dir.path().join("k3s").join(TAG);
    let mut names: Vec<String> = fs::read_dir(&tag_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "k3s",
            "k3s-arm64",
            "sha256sum-amd64.txt",
            "sha256sum-arm64.txt"
        ]
    );
    assert_eq!(fs::read(tag_dir.join("k3s-arm64")).unwrap(), release.arm64);
    // No Flatcar with --k3s-only.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);

    server.clear();
    let out = mirror(dir.path(), &args);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "k3s {TAG}: already mirrored and verified, nothing downloaded"
        )),
        "{err}"
    );
    assert!(server.hits().is_empty(), "{:?}", server.hits());
}

#[test]
fn a_tampered_binary_exits_1_and_leaves_nothing() {
    let release = Release::new();
    release.put("k3s", b"not the release\n");
    let server = Server::start(release.root());
    let dir = tempfile::tempdir().unwrap();
    let out = mirror(dir.path(), &["--k3s", TAG, "--k3s-base-url", &server.base]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("{}/{TAG_URL}/k3s: SHA-256", server.base)),
        "{err}"
    );
    assert!(err.contains("the download was deleted"), "{err}");
    let tag_dir = dir.path().join("k3s").join(TAG);
    assert!(!tag_dir.join("k3s").exists());
    assert!(!tag_dir.join("k3s.part").exists());
}

#[test]
fn bad_inputs_exit_1_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expect) in [
        (
            vec!["--k3s", "v1.31.4+k3s1;x"],
            "\"v1.31.4+k3s1;x\" is not a k3s release tag",
        ),
        (vec!["--k3s", "Stable"], "\"Stable\" is neither"),
        (
            vec!["--k3s", TAG, "--k3s-base-url", "file:///etc"],
            "only http and https",
        ),
    ] {
        let out = mirror(dir.path(), &args);
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    let release = Release::new();
    let server = Server::start(release.root());
    let out = mirror(
        dir.path(),
        &["--k3s", "v1.30.0+k3s9", "--k3s-base-url", &server.base],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("k3s release v1.30.0+k3s9 not found"), "{err}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}
