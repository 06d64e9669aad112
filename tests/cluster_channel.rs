//! `mkstick cluster build` with a k3s channel: the channel is resolved once
//! for the whole cluster, so every node pins the same release (against a
//! stand-in channel server and release; images read back with mtools, which
//! scripts/setup installs).

mod k3s_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k3s_support::{ChannelServer, Release, TAG};
use mkstick::k3s::ReleaseFile;
use support::server::Server;

const INVENTORY: &str = "\
cluster: lab
domain: example.com
k3s:
  datastore: embedded
nodes:
  - name: n1
    role: server
  - name: n2
    role: agent
  - name: n3
    role: agent
";

fn ipxe() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps/ipxe/ipxe-amd64.efi")
}

fn ok(out: Output) {
    assert!(
        out.status.success(),
        "mkstick failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `/k3s_release` of an image's secrets volume (at 257 MiB).
fn release_file(img: &Path) -> (String, ReleaseFile) {
    let out = Command::new("mtype")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(format!("{}@@257M", img.display()))
        .arg("::/k3s_release")
        .output()
        .expect("mtype (mtools) missing: run scripts/setup");
    assert!(out.status.success(), "no k3s_release in {}", img.display());
    let text = String::from_utf8(out.stdout).unwrap();
    let file = ReleaseFile::parse(&text, "k3s_release").unwrap();
    (text, file)
}

#[test]
fn a_channel_is_resolved_once_for_the_whole_cluster() {
    let release = Release::new();
    let server = Server::start(release.root());
    let channels = ChannelServer::start(&[("stable", TAG)]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lab.yml"), INVENTORY).unwrap();
    let mkstick = |args: &[&str]| {
        support::bin::mkstick()
            .env_clear()
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    ok(mkstick(&["cluster", "init", "lab.yml"]));
    let ipxe = ipxe();
    ok(mkstick(&[
        "cluster",
        "build",
        "lab.yml",
        "--out",
        "out",
        "--flatcar-version",
        "4593.2.5",
        "--ipxe-efi",
        ipxe.to_str().unwrap(),
        "--k3s-version",
        "stable",
        "--k3s-base-url",
        &server.base,
        "--k3s-channel-url",
        &channels.base,
    ]));

    assert_eq!(channels.hits(), ["/v1-release/channels/stable"]);
    let files: Vec<_> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| release_file(&dir.path().join(format!("out/{n}.img"))))
        .collect();
    let (first_text, first) = &files[0];
    assert_eq!(first.pin.version.as_str(), TAG);
    assert_eq!(first.pin.binaries[0].sha256, release.amd64_sha());
    for (text, _) in &files[1..] {
        assert_eq!(text, first_text, "every node pins the same release");
    }
}
