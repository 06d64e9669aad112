//! `mkstick ignite` as a command: output to stdout or a file (atomically,
//! nothing on error), stdin, formats, exit codes.

mod support;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

fn mkstick() -> Command {
    support::bin::mkstick()
}

const GOOD: &str = "variant: flatcar\nversion: 1.0.0\nstorage:\n  files:\n    - path: /etc/hostname\n      mode: 0644\n      contents:\n        inline: node1\n";
const BAD: &str =
    "variant: flatcar\nversion: 1.0.0\nstorage:\n  files:\n    - path: etc/hostname\n";

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn writes_the_output_file_atomically_and_only_on_success() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.yml", GOOD);
    let bad = write(dir.path(), "bad.yml", BAD);
    let out = dir.path().join("out.ign");
    let run = mkstick()
        .arg("ignite")
        .arg(&good)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success() && run.stdout.is_empty());
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(json["ignition"]["version"], "3.3.0");
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600,
        "a new output is private: configs carry password hashes and tokens"
    );

    let out2 = dir.path().join("out2.ign");
    let run = mkstick()
        .arg("ignite")
        .arg(&bad)
        .arg("-o")
        .arg(&out2)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(!out2.exists(), "nothing is written on error");
    // A failed run leaves an existing output untouched, and no temp files.
    let before = std::fs::read(&out).unwrap();
    let run = mkstick()
        .arg("ignite")
        .arg(&bad)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(std::fs::read(&out).unwrap(), before);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 3, "{left:?}");
}

#[test]
fn reads_stdin_and_formats() {
    for (args, lines) in [
        (&["ignite"][..], 1usize),
        (&["ignite", "-", "--compact"][..], 1),
    ] {
        let mut child = mkstick()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(GOOD.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        if args.contains(&"--compact") {
            assert_eq!(text.lines().count(), lines, "{text}");
        } else {
            assert!(text.lines().count() > 5, "pretty by default: {text}");
        }
        assert!(text.ends_with("}\n"));
    }
}

#[test]
fn errors_go_to_stderr_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.yml", BAD);
    let run = mkstick().arg("ignite").arg(&bad).output().unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(run.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains(&format!("--> {}:5:13", bad.display())),
        "{stderr}"
    );

    let run = mkstick()
        .args(["ignite", "/nonexistent/x.yml"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("reading the config /nonexistent/x.yml"));
}

#[test]
fn no_strict_prints_warnings_and_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let warn = write(dir.path(), "w.yml", &format!("{GOOD}extra: 1\n"));
    let run = mkstick().arg("ignite").arg(&warn).output().unwrap();
    assert_eq!(run.status.code(), Some(1));
    let run = mkstick()
        .arg("ignite")
        .arg("--no-strict")
        .arg(&warn)
        .output()
        .unwrap();
    assert!(run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("warning: unknown key `extra`"));
    serde_json::from_slice::<serde_json::Value>(&run.stdout).unwrap();
}

#[test]
fn help_fits_80_columns() {
    let out = mkstick().args(["ignite", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("--files-dir"));
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "too wide: {line}");
    }
}
