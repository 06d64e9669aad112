//! Golden files for what mkstick shows a person: the --dry-run plan (text and
//! JSON), the boot script, `inspect`, and --help. Regenerate with
//! `MKSTICK_BLESS=1 cargo test --test golden` and review the diff.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn check(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("MKSTICK_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        want == actual,
        "{} differs (MKSTICK_BLESS=1 to update):\n--- want\n{want}\n--- got\n{actual}",
        path.display()
    );
}

/// mkstick with the fixture inputs (fixed iPXE stand-in, fixed time).
fn mkstick(args: &[&str]) -> Command {
    let mut cmd = support::bin::mkstick();
    cmd.env_clear()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .current_dir(fixtures())
        .args([
            "--ipxe-efi",
            "fake-ipxe.efi",
            "--ignition",
            "node.ign",
            "--ssh-key",
            "key.pub",
        ])
        .args([
            "--secrets",
            "secrets.env",
            "--hostname",
            "node1.example.com",
        ])
        .args(["--flatcar-version", "4593.2.5"])
        // k3s is on (K3S_TOKEN): pinned by hand, so no network.
        .args(support::k3s_pin::args())
        .args(args);
    cmd
}

fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("golden-secret"),
        "a secret value was printed:\n{text}"
    );
    text
}

#[test]
fn dry_run_plan() {
    check(
        "dry-run.json",
        &stdout(&mut mkstick(&["--image", "x.img", "--dry-run", "--json"])),
    );
}

#[test]
fn dry_run_text_and_inspect() {
    check(
        "dry-run-text.txt",
        &stdout(&mut mkstick(&["--image", "x.img", "--dry-run"])),
    );
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("stick.img");
    stdout(&mut mkstick(&["--image", img.to_str().unwrap()]));
    let report = stdout(support::bin::mkstick().arg("inspect").arg(&img));
    check("inspect.txt", &report);
}

#[test]
fn help_fits_80_columns() {
    let help = stdout(support::bin::mkstick().arg("--help").env("COLUMNS", "80"));
    for line in help.lines() {
        assert!(
            line.chars().count() <= 80 || line.starts_with('|'),
            "too wide: {line:?}"
        );
    }
    check("help.txt", &help);
}
