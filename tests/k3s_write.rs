//! The writer's k3s pin, whole-command: `mkstick --image` against a stand-in
//! release and channel server; the pin read back from the written image.

mod k3s_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k3s_support::{ChannelServer, Release, TAG, TAG_URL, dead_url};
use mkstick::k3s::ReleaseFile;
use support::fixture::{Fixture, VERSION};
use support::server::Server;

fn ipxe(arch: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(".test-deps/ipxe/ipxe-{arch}.efi"))
}

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("node.ign"),
            r#"{"ignition":{"version":"3.3.0"}}"#,
        )
        .unwrap();
        Case { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// mkstick writing `stick.img`, k3s on (a token) unless `k3s` is false.
    fn run(&self, k3s: bool, extra: &[&str]) -> Output {
        let mut cmd = support::bin::mkstick();
        cmd.env_clear()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .current_dir(self.dir.path())
            .arg("--ipxe-efi")
            .arg(ipxe("amd64"))
            .arg("--ipxe-efi-arm64")
            .arg(ipxe("arm64"))
            .args(["--ignition", "node.ign", "--hostname", "node1.example.com"])
            .args(["--flatcar-version", VERSION, "--image", "stick.img"]);
        if k3s {
            cmd.args(["--k3s", "K3S_TOKEN=t0ken"]);
        }
        cmd.args(extra).output().unwrap()
    }

    fn img(&self) -> PathBuf {
        self.path("stick.img")
    }

    /// A file of the written image: `esp` or `secrets` volume.
    fn read(&self, volume: &str, path: &str) -> Option<Vec<u8>> {
        let offset = partition_start(&self.img(), volume);
        let to = self.path("out.bin");
        let _ = std::fs::remove_file(&to);
        let out = Command::new("mcopy")
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-o")
            .arg("-i")
            .arg(format!("{}@@{offset}", self.img().display()))
            .arg(format!("::{path}"))
            .arg(&to)
            .output()
            .expect("mtools (scripts/setup)");
        out.status.success().then(|| std::fs::read(&to).unwrap())
    }

    fn release_file(&self) -> ReleaseFile {
        let text = self.read("secrets", "/k3s_release").expect("k3s_release");
        ReleaseFile::parse(&String::from_utf8(text).unwrap(), "k3s_release").unwrap()
    }
}

/// A partition's first byte, from `mkstick inspect --json`.
fn partition_start(img: &Path, name: &str) -> u64 {
    let out = support::bin::mkstick()
        .args(["inspect", "--json"])
        .arg(img)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "inspect --json: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    report["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no partition {name} in {report}"))["start_bytes"]
        .as_u64()
        .unwrap()
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "mkstick failed:\n{err}");
    err
}

fn failed(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    err
}

#[test]
fn the_pin_on_the_stick_is_the_served_binary() {
    let release = Release::new();
    let server = Server::start(release.root());
    let channels = ChannelServer::start(&[("stable", TAG)]);
    let c = Case::new();
    let err = ok(&c.run(
        true,
        &[
            "--k3s-base-url",
            &server.base,
            "--k3s-channel-url",
            &channels.base,
        ],
    ));
    assert!(!err.contains("sha512"), "{err}");
    let file = c.release_file();
    assert_eq!(file.pin.version.as_str(), TAG);
    let amd64 = file.pin.binary(mkstick::mirror::Arch::Amd64).unwrap();
    assert_eq!(amd64.sha256, release.amd64_sha());
    assert_eq!(amd64.url.as_str(), format!("{}/{TAG_URL}/k3s", server.base));
    assert!(file.on_esp.is_empty());
    assert_eq!(file.pin.binaries.len(), 1);
    assert_eq!(channels.hits(), ["/v1-release/channels/stable"]);

    // The manifest and inspect say the same.
    let manifest: serde_json::Value =
        serde_json::from_slice(&c.read("esp", "/mkstick/manifest.json").unwrap()).unwrap();
    assert_eq!(manifest["k3s"]["version"], TAG);
    assert_eq!(
        manifest["k3s"]["binaries"][0]["sha256"],
        release.amd64_sha().to_string()
    );
    let out = support::bin::mkstick()
        .arg("inspect")
        .arg(c.img())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(TAG), "{text}");
    assert!(text.contains(&release.amd64_sha().to_string()), "{text}");
}

#[test]
fn arch_all_pins_both_binaries() {
    let release = Release::new();
    let server = Server::start(release.root());
    let c = Case::new();
    ok(&c.run(
        true,
        &[
            "--arch",
            "all",
            "--k3s-version",
            TAG,
            "--k3s-base-url",
            &server.base,
        ],
    ));
    let file = c.release_file();
    let shas: Vec<_> = file.pin.binaries.iter().map(|b| b.sha256).collect();
    assert_eq!(shas, [release.amd64_sha(), release.arm64_sha()]);
}

#[test]
fn a_hand_pin_needs_no_server() {
    let c = Case::new();
    let sha = mkstick::fetch::Sha256Digest::of(b"k3s by hand").to_string();
    let dead = dead_url();
    ok(&c.run(
        true,
        &[
            "--k3s-version",
            TAG,
            "--k3s-sha256",
            &sha,
            "--k3s-base-url",
            &dead,
            "--k3s-channel-url",
            &dead,
        ],
    ));
    let file = c.release_file();
    assert_eq!(file.pin.binaries[0].sha256.to_string(), sha);
    assert_eq!(
        file.pin.binaries[0].url.as_str(),
        format!("{dead}/{TAG_URL}/k3s")
    );
}

#[test]
fn without_k3s_there_is_no_pin_and_no_network() {
    let c = Case::new();
    let dead = dead_url();
    ok(&c.run(
        false,
        &["--k3s-base-url", &dead, "--k3s-channel-url", &dead],
    ));
    assert!(c.read("secrets", "/k3s_release").is_none());
}

#[test]
fn bad_inputs_exit_1_and_write_nothing() {
    let release = Release::new();
    let server = Server::start(release.root());
    let channels = ChannelServer::start(&[("stable", TAG)]);
    let c = Case::new();
    let hex = mkstick::fetch::Sha256Digest::of(b"x").to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--k3s-version", "v1.31.99+k3s1"],
            "k3s release v1.31.99+k3s1 not found",
        ),
        (
            vec!["--k3s-version", "v1.99"],
            "the k3s channel \"v1.99\" does not exist",
        ),
        (
            vec!["--k3s-version", "v1.31.4+k3s1;x"],
            "is not a k3s release tag",
        ),
        (
            vec!["--k3s-version", TAG, "--k3s-sha256", "abc"],
            "64 hex digits",
        ),
        (
            vec!["--k3s-version", "stable", "--k3s-sha256", &hex],
            "names the channel",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec![
            "--k3s-base-url",
            &server.base,
            "--k3s-channel-url",
            &channels.base,
        ];
        all.extend(args.iter());
        let out = c.run(true, &all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: want {want:?} in {err}");
        assert!(!c.img().exists(), "{args:?} left an image");
    }
    release.put("sha256sum-amd64.txt", b"");
    let err = failed(&c.run(
        true,
        &["--k3s-version", TAG, "--k3s-base-url", &server.base],
    ));
    assert!(err.contains("has no line for k3s"), "{err}");
    assert!(err.contains("--k3s-sha256"), "{err}");
    assert!(!c.img().exists());
}

#[test]
fn offline_carries_the_verified_binary_and_airgap_images() {
    let release = Release::new();
    let k3s = Server::start(release.root());
    let fx = Fixture::new(11);
    let cdn = Server::start(&fx.cdn());
    let c = Case::new();
    std::fs::write(c.path("key.asc"), std::fs::read(fx.keyring()).unwrap()).unwrap();
    let offline = |extra: &[&str]| {
        let mut args = vec![
            "--offline",
            "--mirror",
            "mirror",
            "--keyring",
            "key.asc",
            "--base-url",
            &cdn.base,
            "--k3s-version",
            TAG,
            "--k3s-base-url",
            &k3s.base,
            "--k3s-airgap",
        ];
        args.extend(extra);
        let mut cmd = support::bin::mkstick();
        cmd.env_clear()
            .env("MKSTICK_TEST_SIGNING_FINGERPRINT", fx.fingerprint())
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .current_dir(c.dir.path())
            .arg("--ipxe-efi")
            .arg(ipxe("amd64"))
            .args(["--ignition", "node.ign", "--k3s", "K3S_TOKEN=t0ken"])
            .args(["--flatcar-version", VERSION, "--image", "stick.img"])
            .args(&args);
        cmd.output().unwrap()
    };
    // Refused before any download: an offline stick has one architecture.
    let err = failed(&offline(&["--arch", "all"]));
    assert!(err.contains("choose --arch amd64"), "{err}");
    assert!(k3s.hits().is_empty(), "{:?}", k3s.hits());

    ok(&offline(&[]));
    assert_eq!(
        c.read("esp", "/mkstick/k3s/k3s-amd64").unwrap(),
        release.amd64
    );
    assert_eq!(
        c.read("esp", "/mkstick/k3s/k3s-airgap-images-amd64.tar.zst")
            .unwrap(),
        release.airgap_amd64
    );
    let file = c.release_file();
    assert_eq!(file.pin.binaries[0].sha256, release.amd64_sha());
    assert_eq!(
        file.on_esp,
        [mkstick::k3s::OnEsp {
            arch: mkstick::mirror::Arch::Amd64,
            // The node imports the tarball only when it matches this digest.
            airgap: Some(mkstick::fetch::Sha256Digest::of(&release.airgap_amd64))
        }]
    );
    let text = String::from_utf8(c.read("secrets", "/k3s_release").unwrap()).unwrap();
    assert!(
        text.contains("K3S_RELEASE_AMD64_FILE=mkstick/k3s/k3s-amd64\n"),
        "{text}"
    );

    // A binary changed in the mirror is caught again when copied.
    std::fs::remove_file(c.img()).unwrap();
    let mirrored = c.path("mirror").join("k3s").join(TAG).join("k3s");
    std::fs::write(&mirrored, b"tampered").unwrap();
    release.put("k3s", b"tampered");
    let err = failed(&offline(&[]));
    assert!(err.contains("does not match"), "{err}");
    assert!(!c.img().exists());
}
