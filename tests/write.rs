//! Whole-command tests of `mkstick --image`: real images checked with the real
//! tools (sgdisk, fsck.vfat, mtools). scripts/setup installs them; a missing
//! tool fails the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

const SECRET: &str = "s3cr3t-token-value";

fn ipxe() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps/ipxe/ipxe-amd64.efi")
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
        std::fs::write(
            dir.path().join("key.pub"),
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx1V0dkPrvV5YpQmHqFmE3FWb0S4T0bQ0m5R0u0nJ4E me@laptop\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("secrets.env"),
            format!("# node secrets\nK3S_TOKEN={SECRET}\nLOGEXPORT_HOST=logs1.papertrailapp.com\nLOGEXPORT_PORT=12345\n"),
        )
        .unwrap();
        Case { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs mkstick with a clean environment and the standard inputs.
    fn run(&self, extra: &[&str]) -> Output {
        self.run_with(support::k3s_pin::args(), extra)
    }

    /// [`Case::run`] with `k3s` as the k3s release options.
    fn run_with(&self, k3s: &[&str], extra: &[&str]) -> Output {
        let mut cmd = support::bin::mkstick();
        cmd.env_clear()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .current_dir(self.dir.path())
            .args(["--ipxe-efi", ipxe().to_str().unwrap()])
            .args([
                "--ignition",
                "node.ign",
                "--ssh-key",
                "key.pub",
                "--secrets",
                "secrets.env",
            ])
            .args([
                "--hostname",
                "node1.example.com",
                "--flatcar-version",
                "4593.2.5",
            ])
            .args(k3s)
            .args(extra);
        cmd.output().unwrap()
    }
}

fn tool(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (run scripts/setup)"));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "mkstick failed: {err}");
    err
}

#[test]
fn image_passes_sgdisk_fsck_and_mtools() {
    let c = Case::new();
    ok(&c.run(&["--image", "stick.img"]));
    let img = c.path("stick.img");
    assert!(tool(Command::new("sgdisk").arg("-v").arg(&img)).contains("No problems found"));
    let table = tool(Command::new("sgdisk").arg("-p").arg(&img));
    assert!(
        table.contains("EF00") && table.contains("esp") && table.contains("secrets"),
        "{table}"
    );

    let bytes = std::fs::read(&img).unwrap();
    for (start, mib) in [(1usize, 256usize), (257, 16)] {
        let part = c.path(&format!("part{start}.img"));
        std::fs::write(&part, &bytes[start << 20..(start + mib) << 20]).unwrap();
        let log = tool(Command::new("fsck.vfat").arg("-n").arg(&part));
        assert!(!log.contains("Fixing"), "{log}");
    }

    let copy = |offset: &str, from: &str| -> Vec<u8> {
        let to = c.path("out.bin");
        tool(
            Command::new("mcopy")
                .env("MTOOLS_SKIP_CHECK", "1")
                .arg("-o")
                .arg("-i")
                .arg(format!("{}@@{offset}", img.display()))
                .arg(format!("::{from}"))
                .arg(&to),
        );
        std::fs::read(&to).unwrap()
    };
    assert_eq!(
        copy("1M", "/EFI/BOOT/BOOTX64.EFI"),
        std::fs::read(ipxe()).unwrap()
    );
    let script = String::from_utf8(copy("1M", "/autoexec.ipxe")).unwrap();
    assert!(script.contains("sshkey=\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx1V0dkPrvV5YpQmHqFmE3FWb0S4T0bQ0m5R0u0nJ4E me@laptop\""));
    assert!(script.contains("hostname=node1.example.com"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&copy("1M", "/mkstick/manifest.json")).unwrap();
    let cpio = copy("1M", "/mkstick/oem.cpio");
    assert!(cpio.windows(24).any(|w| w == b"usr/share/oem/config.ign"));
    for f in manifest["esp_files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        let data = copy("1M", &format!("/{path}"));
        assert_eq!(data.len() as u64, f["size"].as_u64().unwrap(), "{path}");
    }
    assert_eq!(
        copy("257M", "/k3s_env"),
        format!("K3S_TOKEN=\"{SECRET}\"\n").into_bytes()
    );
    assert_eq!(
        copy("257M", "/logexport_env"),
        b"LOGEXPORT_HOST=\"logs1.papertrailapp.com\"\nLOGEXPORT_PORT=\"12345\"\n"
    );
    assert!(copy("257M", "/heartbeat_env").is_empty());
    let label = tool(
        Command::new("mlabel")
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-s")
            .arg("-i")
            .arg(format!("{}@@257M", img.display()))
            .arg("::"),
    );
    assert!(label.contains("SECRETS"), "{label}");
    let manifest = serde_json::to_string(&manifest).unwrap();
    assert!(
        !manifest.contains(SECRET),
        "the manifest must hold no secret value"
    );
}

#[test]
fn two_builds_are_byte_identical_and_sparse() {
    let c = Case::new();
    ok(&c.run(&["--image", "a.img"]));
    ok(&c.run(&["--image", "b.img"]));
    let (a, b) = (
        std::fs::read(c.path("a.img")).unwrap(),
        std::fs::read(c.path("b.img")).unwrap(),
    );
    assert!(a == b, "two builds from the same inputs differ");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(c.path("a.img")).unwrap();
    assert!(
        meta.blocks() * 512 < 4 << 20,
        "image allocates {} bytes",
        meta.blocks() * 512
    );
}

#[test]
fn dry_run_writes_nothing_and_redacts_secrets() {
    let c = Case::new();
    for extra in [&["--dry-run"][..], &["--dry-run", "--json"]] {
        let out = c.run(&[&["--image", "stick.img"][..], extra].concat());
        ok(&out);
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!text.contains(SECRET), "secret printed:\n{text}");
        assert!(text.contains("K3S_TOKEN"), "{text}");
        assert!(!c.path("stick.img").exists());
    }
}

#[test]
fn bad_inputs_fail_cleanly_and_write_nothing() {
    let c = Case::new();
    std::fs::write(c.path("existing.img"), b"precious").unwrap();
    std::fs::write(c.path("partial.env"), "LOGEXPORT_HOST=logs.example.com\n").unwrap();
    std::fs::write(c.path("old-ipxe.efi"), b"MZ....autoboot only").unwrap();
    std::fs::write(c.path("bad.ign"), b"{not json").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--secrets", "partial.env"], "LOGEXPORT_PORT is missing"),
        (&["--secrets", "missing.env"], "missing.env"),
        (
            &["--ipxe-efi", "old-ipxe.efi"],
            "is not a well-formed PE executable",
        ),
        (&["--ignition", "bad.ign"], "bad.ign is not JSON"),
        (&["--hostname=bad_host"], "NODE_HOSTNAME"),
        (
            &["--flatcar-version", "3000.0.0"],
            "cannot read an embedded Ignition config",
        ),
        (
            &["--logexport-port", "70000"],
            "LOGEXPORT_PORT (from flag --logexport-port)",
        ),
        (&["--heartbeat-url", "ftp://x/y"], "HEARTBEAT_URL"),
        (&["--esp-size", "20"], "--esp-size"),
    ];
    for (extra, want) in cases {
        for target in ["new.img", "existing.img"] {
            let out = c.run(&[*extra, &["--image", target, "--yes"]].concat());
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{extra:?}: {err}");
            assert!(err.contains(want), "{extra:?}: want {want:?} in:\n{err}");
            assert!(!err.contains(SECRET));
        }
        assert!(
            !c.path("new.img").exists(),
            "{extra:?} left an image behind"
        );
        assert_eq!(std::fs::read(c.path("existing.img")).unwrap(), b"precious");
    }
    let leftovers: Vec<_> = std::fs::read_dir(c.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".part"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn existing_image_needs_yes_without_a_terminal() {
    let c = Case::new();
    std::fs::write(c.path("existing.img"), b"precious").unwrap();
    let out = c.run(&["--image", "existing.img"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --yes"));
    assert_eq!(std::fs::read(c.path("existing.img")).unwrap(), b"precious");
    ok(&c.run(&["--image", "existing.img", "--yes"]));
}

#[test]
fn usage_errors_exit_2() {
    let out = support::bin::mkstick()
        .args(["--image", "a.img", "/dev/sdz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = support::bin::mkstick()
        .arg("--no-such-flag")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn inspect_reads_back_key_names_and_detects_changes() {
    let c = Case::new();
    ok(&c.run(&["--image", "stick.img"]));
    let out = support::bin::mkstick()
        .arg("inspect")
        .arg(c.path("stick.img"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("k3s_env              K3S_TOKEN"), "{text}");
    assert!(text.contains("The stick matches its manifest."), "{text}");
    assert!(!text.contains(SECRET));

    // Edit the boot script on the stick, as a user may: inspect notices.
    let img = c.path("stick.img");
    std::fs::write(c.path("edited.ipxe"), "#!ipxe\nshell\n").unwrap();
    tool(
        Command::new("mcopy")
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-o")
            .arg("-i")
            .arg(format!("{}@@1M", img.display()))
            .arg(c.path("edited.ipxe"))
            .arg("::/autoexec.ipxe"),
    );
    let out = support::bin::mkstick()
        .arg("inspect")
        .arg(&img)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("/autoexec.ipxe changed since it was written"),
        "{text}"
    );
}

#[test]
fn arch_all_carries_both_binaries_and_picks_by_build() {
    let c = Case::new();
    let arm = Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps/ipxe/ipxe-arm64.efi");
    // Two binaries to pin: their hashes come from a (stand-in) release.
    let release = c.path("k3s-release");
    let tag = release.join("v1.31.4+k3s1");
    std::fs::create_dir_all(&tag).unwrap();
    for (arch, asset) in [("amd64", "k3s"), ("arm64", "k3s-arm64")] {
        let sum = format!("{}  {asset}\n", "ab".repeat(32));
        std::fs::write(tag.join(format!("sha256sum-{arch}.txt")), sum).unwrap();
    }
    let server = support::server::Server::start(&release);
    ok(&c.run_with(
        &[
            "--k3s-version",
            "v1.31.4+k3s1",
            "--k3s-base-url",
            &server.base,
        ],
        &[
            "--image",
            "stick.img",
            "--arch",
            "all",
            "--ipxe-efi-arm64",
            arm.to_str().unwrap(),
        ],
    ));
    let listing = tool(
        Command::new("mdir")
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-b")
            .arg("-i")
            .arg(format!("{}@@1M", c.path("stick.img").display()))
            .arg("::/EFI/BOOT"),
    );
    assert!(
        listing.contains("BOOTX64.EFI") && listing.contains("BOOTAA64.EFI"),
        "{listing}"
    );
    let script = support::bin::mkstick()
        .arg("inspect")
        .arg(c.path("stick.img"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&script.stdout);
    assert!(
        text.contains("iseq ${buildarch} arm64 && set arch arm64 || set arch amd64"),
        "{text}"
    );
}

#[test]
fn ipxe_url_downloads_verifies_and_caches() {
    let c = Case::new();
    let www = c.path("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::copy(ipxe(), www.join("ipxe.efi")).unwrap();
    let server = support::server::Server::start(&www);
    let url = format!("{}/ipxe.efi", server.base);
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(ipxe()).unwrap()))
    };
    let cache = c.path("cache");
    let run = |extra: &[&str]| {
        let mut cmd = support::bin::mkstick();
        cmd.env_clear()
            .env("XDG_CACHE_HOME", &cache)
            .current_dir(c.dir.path())
            .args([
                "--ignition",
                "node.ign",
                "--flatcar-version",
                "4593.2.5",
                "--yes",
            ])
            .args(extra);
        cmd.output().unwrap()
    };
    ok(&run(&[
        "--image",
        "a.img",
        "--ipxe-url",
        &url,
        "--ipxe-sha256",
        &sha,
    ]));
    // The second build comes from the cache: no further download.
    ok(&run(&[
        "--image",
        "b.img",
        "--ipxe-url",
        &url,
        "--ipxe-sha256",
        &sha,
    ]));
    assert_eq!(server.gets("/ipxe.efi").len(), 1, "{:?}", server.hits());
    assert_eq!(
        std::fs::read(c.path("a.img")).unwrap(),
        std::fs::read(c.path("b.img")).unwrap()
    );

    let wrong = "0".repeat(64);
    let out = run(&[
        "--image",
        "c.img",
        "--ipxe-url",
        &url,
        "--ipxe-sha256",
        &wrong,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&url), "the error names the URL: {err}");
    assert!(!c.path("c.img").exists());
    let cached = std::fs::read_dir(cache.join("mkstick/ipxe"))
        .unwrap()
        .count();
    assert_eq!(cached, 1, "only the verified file stays in the cache");
}
