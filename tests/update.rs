//! `mkstick update`: changes only what is asked on real images, keeps the
//! secrets volume byte for byte unless secrets change, shows secret key
//! names (never values), refuses a tampered stick unless --force, writes
//! nothing when nothing changes, and round-trips through `clone`.
//! mtools (from scripts/setup) reads and tampers with images; a missing tool fails.

mod support;

use std::path::{Path, PathBuf};

use support::stick::{ESP_OFFSET, SECRETS_OFFSET, ipxe_amd64, run, tamper_boot_script};

const MIB: usize = 1 << 20;
/// The default layout: 1 MiB GPT head, 256 MiB ESP, 16 MiB secrets volume.
const SECRETS: std::ops::Range<usize> = 257 * MIB..273 * MIB;

const TOKEN: &str = "tok-Vq83nXz1-first";
const NEW_TOKEN: &str = "tok-Pw55kLm2-second";
const LOG_HOST: &str = "logs.secret-host.example.com";

/// Stdout and stderr of a run that must succeed, checked for secret values.
fn ok(out: std::process::Output) -> String {
    let text = support::stick::ok(out);
    no_secrets(&text);
    text
}

fn no_secrets(text: &str) {
    for v in [TOKEN, NEW_TOKEN, LOG_HOST] {
        assert!(!text.contains(v), "a secret value was printed:\n{text}");
    }
}

/// An image with k3s and log export secrets, Flatcar 4593.2.5.
fn stick(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("in.env"),
        format!("K3S_TOKEN={TOKEN}\nLOGEXPORT_HOST={LOG_HOST}\nLOGEXPORT_PORT=6514\n"),
    )
    .unwrap();
    let ipxe = ipxe_amd64();
    let args = [
        "--image",
        "stick.img",
        "--ipxe-efi",
        ipxe.to_str().unwrap(),
        "--flatcar-version",
        "4593.2.5",
        "--secrets",
        "in.env",
    ];
    // k3s is on: its release pinned by hand, so no network.
    ok(run(dir, &[&args, support::k3s_pin::args()].concat()));
    dir.join("stick.img")
}

fn mtype(img: &Path, path: &str) -> String {
    support::stick::mtype(img, ESP_OFFSET, path)
}

#[test]
fn flatcar_version_changes_the_esp_and_keeps_the_secrets_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let img = stick(dir);
    let before = std::fs::read(&img).unwrap();
    assert_eq!(before.len(), 274 * MIB);

    // --dry-run shows the diff and writes nothing.
    let text = ok(run(
        dir,
        &[
            "update",
            "stick.img",
            "--flatcar-version",
            "4593.2.6",
            "--dry-run",
        ],
    ));
    assert!(text.contains("flatcar version"), "{text}");
    assert!(
        text.contains("4593.2.5") && text.contains("4593.2.6"),
        "{text}"
    );
    assert!(std::fs::read(&img).unwrap() == before, "--dry-run wrote");

    let text = ok(run(
        dir,
        &[
            "update",
            "stick.img",
            "--flatcar-version",
            "4593.2.6",
            "--yes",
        ],
    ));
    assert!(text.contains("verified by reading it back"), "{text}");
    let after = std::fs::read(&img).unwrap();
    assert_eq!(after.len(), before.len());
    assert!(
        after[SECRETS] == before[SECRETS],
        "the secrets partition changed"
    );
    assert!(before != after, "nothing was written");
    let script = mtype(&img, "autoexec.ipxe");
    assert!(
        script.contains("4593.2.6") && !script.contains("4593.2.5"),
        "{script}"
    );
    let manifest = mtype(&img, "mkstick/manifest.json");
    assert!(manifest.contains("\"version\": \"4593.2.6\""), "{manifest}");
    no_secrets(&manifest);

    // The updated stick verifies against its new manifest, and clones
    // byte-identically.
    ok(run(dir, &["clone", "stick.img", "copy.img"]));
    assert!(std::fs::read(dir.join("copy.img")).unwrap() == after);
}

#[test]
fn secrets_change_the_secrets_volume_and_show_names_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let img = stick(dir);
    let before = std::fs::read(&img).unwrap();
    std::fs::write(
        dir.join("new.env"),
        format!("K3S_TOKEN={NEW_TOKEN}\nHEARTBEAT_URL=https://hb.example.com/x\n"),
    )
    .unwrap();
    let text = ok(run(
        dir,
        &["update", "stick.img", "--secrets", "new.env", "--yes"],
    ));
    assert!(text.contains("K3S_TOKEN"), "{text}");
    assert!(text.contains("HEARTBEAT_URL"), "{text}");
    assert!(text.contains("secret values"), "{text}");
    let after = std::fs::read(&img).unwrap();
    assert!(
        after[SECRETS] != before[SECRETS],
        "the secrets volume is unchanged"
    );
    let env = String::from_utf8_lossy(&after[SECRETS]).to_string();
    assert!(env.contains(NEW_TOKEN) && !env.contains(TOKEN));
    // Nothing outside the secrets volume carries a value.
    for range in [0..SECRETS.start, SECRETS.end..after.len()] {
        no_secrets(&String::from_utf8_lossy(&after[range]));
    }
    // The updated stick verifies against its manifest.
    ok(run(dir, &["clone", "stick.img", "copy.img"]));
}

#[test]
fn nothing_to_change_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let img = stick(dir);
    let meta = std::fs::metadata(&img).unwrap();
    let before = std::fs::read(&img).unwrap();
    let text = ok(run(
        dir,
        &[
            "update",
            "stick.img",
            "--flatcar-version",
            "4593.2.5",
            "--yes",
        ],
    ));
    assert!(text.contains("nothing to change"), "{text}");
    assert!(std::fs::read(&img).unwrap() == before);
    let now = std::fs::metadata(&img).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&meta),
        std::os::unix::fs::MetadataExt::ino(&now),
        "the image was replaced"
    );
}

#[test]
fn a_tampered_stick_is_refused_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let img = stick(dir);
    let tampered = tamper_boot_script(dir, &img);
    let out = run(
        dir,
        &[
            "update",
            "stick.img",
            "--flatcar-version",
            "4593.2.6",
            "--yes",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("does not match its own manifest"), "{err}");
    assert!(
        err.contains("/autoexec.ipxe changed since it was written"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert!(
        std::fs::read(&img).unwrap() == tampered,
        "refused, yet written"
    );

    ok(run(
        dir,
        &[
            "update",
            "stick.img",
            "--flatcar-version",
            "4593.2.6",
            "--yes",
            "--force",
        ],
    ));
    // The boot script is made anew, and the stick verifies again.
    let script = mtype(&img, "autoexec.ipxe");
    assert!(
        script.contains("4593.2.6") && !script.contains("shell\n"),
        "{script}"
    );
    ok(run(dir, &["clone", "stick.img", "copy.img"]));
}

/// `--k3s-version` re-pins k3s (here by hand, no network): the stick's
/// `k3s_release` names the new tag and hash, the diff shows the change, and
/// the secret values stay as they were.
#[test]
fn k3s_version_repins_the_release_and_keeps_the_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let img = stick(dir);
    let env_before = mtype_secrets(&img, "k3s_env");
    let new_sha = "1111111111111111111111111111111111111111111111111111111111111111";
    let text = ok(run(
        dir,
        &[
            "update",
            "stick.img",
            "--k3s-version",
            "v1.32.1+k3s1",
            "--k3s-sha256",
            new_sha,
            "--yes",
        ],
    ));
    assert!(text.contains("k3s release"), "{text}");
    assert!(
        text.contains("v1.31.4+k3s1") && text.contains("v1.32.1+k3s1"),
        "{text}"
    );
    let release = mtype_secrets(&img, "k3s_release");
    assert!(
        release.contains("K3S_RELEASE_VERSION=v1.32.1+k3s1\n")
            && release.contains(&format!("K3S_RELEASE_AMD64_SHA256={new_sha}\n"))
            && release.contains("/download/v1.32.1%2Bk3s1/k3s\n"),
        "{release}"
    );
    assert_eq!(mtype_secrets(&img, "k3s_env"), env_before);
    let inspect = ok(run(dir, &["inspect", "stick.img"]));
    assert!(
        inspect.contains("The stick matches its manifest."),
        "{inspect}"
    );
    assert_eq!(std::fs::read(&img).unwrap().len(), 274 * MIB);
    // A channel with --k3s-sha256 is refused: a hand pin needs a tag.
    let out = run(
        dir,
        &[
            "update",
            "stick.img",
            "--k3s-version",
            "stable",
            "--k3s-sha256",
            new_sha,
            "--yes",
        ],
    );
    assert!(!out.status.success());
}

fn mtype_secrets(img: &Path, path: &str) -> String {
    support::stick::mtype(img, SECRETS_OFFSET, path)
}
