//! The URL flags (`--base-url`, `--ignition-url`/`IGN_PATH`, `--ipxe-url`)
//! are typed when the command line is parsed: a bad one is refused by the
//! argument parser (status 2, naming the flag and the fix) before anything
//! is read or written, in every command that takes it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

const SHA: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn ipxe() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps/ipxe/ipxe-amd64.efi")
}

fn mkstick(dir: &Path, args: &[&str]) -> Output {
    support::bin::mkstick()
        .env_clear()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("node.ign"),
        r#"{"ignition":{"version":"3.3.0"}}"#,
    )
    .unwrap();
    dir
}

/// Refused by clap: status 2, clap's "invalid value" naming `flag`, our
/// reason, and nothing left in the directory but the inputs.
fn refused_at_parse(dir: &Path, out: &Output, flag: &str, says: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error: invalid value") && err.contains(&format!("for '{flag} <URL>'")),
        "want clap's error for {flag}:\n{err}"
    );
    assert!(err.contains(says), "want {says:?} in:\n{err}");
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left, ["node.ign"], "{flag}: something was written");
}

#[test]
fn each_url_flag_is_refused_by_the_argument_parser() {
    let d = setup();
    let write = |extra: &[&str]| {
        let mut args = vec!["--image", "s.img", "--flatcar-version", "4593.2.5"];
        args.extend(extra);
        mkstick(d.path(), &args)
    };
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["--base-url", "ftp://mirror.lan/flatcar"],
            "--base-url",
            "must be a http or https URL",
        ),
        (
            &["--base-url", "https://mirror.lan/flatcar?x=1"],
            "--base-url",
            "has a query or fragment",
        ),
        (
            &["--base-url", "https://u:pw@mirror.lan/"],
            "--base-url",
            "user name or password",
        ),
        (
            &["--ignition-url", "node.ign"],
            "--ignition-url",
            "use --ignition FILE",
        ),
        (
            &["--ignition-url", "file:///etc/node.ign"],
            "--ignition-url",
            "must be a http or https or tftp or s3 or gs URL",
        ),
        (
            &["--ipxe-url", "ftp://h/ipxe.efi", "--ipxe-sha256", SHA],
            "--ipxe-url",
            "must be a http or https URL",
        ),
        (
            &["--ipxe-url", "ipxe.efi", "--ipxe-sha256", SHA],
            "--ipxe-url",
            "is not a valid URL",
        ),
    ];
    for (extra, flag, says) in cases {
        refused_at_parse(d.path(), &write(extra), flag, says);
    }
}

#[test]
fn the_other_commands_refuse_them_the_same_way() {
    let d = setup();
    let run = |args: &[&str]| mkstick(d.path(), args);
    refused_at_parse(
        d.path(),
        &run(&["update", "s.img", "--ignition-url", "node.ign"]),
        "--ignition-url",
        "use --ignition FILE",
    );
    refused_at_parse(
        d.path(),
        &run(&["qemu-test", "--smoke", "--base-url", "ftp://x/"]),
        "--base-url",
        "must be a http or https URL",
    );
    refused_at_parse(
        d.path(),
        &run(&[
            "cluster",
            "build",
            "lab.yml",
            "--out",
            "out",
            "--base-url",
            "ftp://x/",
        ]),
        "--base-url",
        "must be a http or https URL",
    );
    // IGN_PATH is --ignition-url's environment variable: parsed the same way.
    let out = support::bin::mkstick()
        .env_clear()
        .env("IGN_PATH", "node.ign")
        .current_dir(d.path())
        .args(["--image", "s.img"])
        .output()
        .unwrap();
    refused_at_parse(d.path(), &out, "--ignition-url", "IGN_PATH");
}

/// IGN_PATH stands for `--ignition-url` in a write only: the other commands
/// do not read it, and a flag given on the command line wins over it.
#[test]
fn ign_path_is_read_by_a_write_only() {
    let d = setup();
    std::fs::write(d.path().join("c.yml"), "variant: flatcar\nversion: 1.0.0\n").unwrap();
    let ignite = support::bin::mkstick()
        .env_clear()
        .env("IGN_PATH", "/etc/passwd")
        .current_dir(d.path())
        .args(["ignite", "c.yml"])
        .output()
        .unwrap();
    assert!(
        ignite.status.success(),
        "{}",
        String::from_utf8_lossy(&ignite.stderr)
    );
    let ipxe = ipxe();
    let flag_wins = support::bin::mkstick()
        .env_clear()
        .env("IGN_PATH", "/etc/passwd")
        .current_dir(d.path())
        .args(["--image", "s.img", "--dry-run", "--json", "--ipxe-efi"])
        .arg(&ipxe)
        .args(["--ignition-url", "https://example.com/node.ign"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&flag_wins.stdout);
    assert!(
        flag_wins.status.success() && stdout.contains("https://example.com/node.ign"),
        "{stdout}{}",
        String::from_utf8_lossy(&flag_wins.stderr)
    );
}

#[test]
fn accepted_urls_reach_the_plan_in_one_form() {
    let d = setup();
    let ipxe = ipxe();
    let out = mkstick(
        d.path(),
        &[
            "--image",
            "s.img",
            "--dry-run",
            "--json",
            "--ipxe-efi",
            ipxe.to_str().unwrap(),
            "--base-url",
            "HTTP://Mirror.LAN/flatcar//",
            "--ignition-url",
            "tftp://10.0.0.1/node.ign",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(plan["boot"]["base_url"], "http://mirror.lan/flatcar");
    assert_eq!(plan["boot"]["ignition"]["mode"], "url");
    assert_eq!(
        plan["boot"]["ignition"]["value"],
        "tftp://10.0.0.1/node.ign"
    );
    let args = plan["boot"]["kernel_args"].as_array().unwrap();
    assert!(
        args.iter()
            .any(|a| a == "ignition.config.url=tftp://10.0.0.1/node.ign"),
        "{args:?}"
    );
}
