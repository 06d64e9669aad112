//! Output that cannot be written, one rule for every command (`src/main.rs`):
//! stdout into a closed pipe or `/dev/full` ends with exit status 1 and one
//! line on stderr naming the write and the OS error; never a panic, never
//! success (a truncated man page or completion script is not a result).

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::stdio::{closed_pipe, full};
use support::stick::{ipxe_amd64, ok, run};

/// The commands that print a result on stdout, run in `dir`.
fn commands(dir: &Path) -> Vec<(&'static str, Command)> {
    let case = |name, args: &[&str]| {
        let mut cmd = support::bin::mkstick();
        cmd.env_clear()
            .current_dir(dir)
            .args(args)
            .stdin(Stdio::null());
        (name, cmd)
    };
    vec![
        case("--help", &["--help"]),
        case("inspect", &["inspect", "s.img"]),
        case("ignite", &["ignite", "c.yml"]),
        case("completions bash", &["completions", "bash"]),
        case("man", &["man"]),
    ]
}

/// A directory with what the commands read: an Ignition source and a stick.
fn inputs() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(
        d.path().join("c.yml"),
        "variant: flatcar\nversion: 1.0.0\nstorage:\n  files:\n    - path: /etc/hostname\n      contents:\n        inline: n1\n",
    )
    .unwrap();
    let ipxe = ipxe_amd64();
    let args = ["--image", "s.img", "--ipxe-efi", ipxe.to_str().unwrap()];
    ok(run(
        d.path(),
        &[&args[..], &["--flatcar-version", "4593.2.5", "--yes"]].concat(),
    ));
    d
}

/// What is wrong with `out`, if anything: the rule is exit status 1 and
/// exactly one line on stderr, which names the failed write and `os_error`.
fn one_line_error(what: &str, out: &Output, os_error: &str) -> Option<String> {
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let fine = out.status.code() == Some(1)
        && lines.len() == 1
        && lines[0].starts_with("mkstick: error: writing")
        && lines[0].contains(os_error);
    (!fine).then(|| format!("{what}: {} with stderr {err:?}", out.status))
}

/// Every command is tried; the failure lists all that broke the rule.
fn all_follow_the_rule(problems: Vec<String>) {
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_closed_pipe_on_stdout_is_an_error_exit_with_one_line() {
    let d = inputs();
    let problems = commands(d.path())
        .into_iter()
        .filter_map(|(name, mut cmd)| {
            let out = cmd
                .stdout(closed_pipe())
                .stderr(Stdio::piped())
                .output()
                .unwrap();
            one_line_error(&format!("{name} | (closed)"), &out, "Broken pipe")
        })
        .collect();
    all_follow_the_rule(problems);
}

#[test]
fn a_full_stdout_is_an_error_exit_with_one_line() {
    let d = inputs();
    let problems = commands(d.path())
        .into_iter()
        .filter_map(|(name, mut cmd)| {
            let out = cmd.stdout(full()).stderr(Stdio::piped()).output().unwrap();
            let what = format!("{name} >/dev/full");
            one_line_error(&what, &out, "No space left on device")
        })
        .collect();
    all_follow_the_rule(problems);
}

/// With stderr unwritable too there is nowhere to say it: the exit status
/// alone tells (1, not success, a panic's 101 or a signal).
#[test]
fn with_stderr_unwritable_too_the_exit_status_still_says_it() {
    let d = inputs();
    let mut problems = Vec::new();
    for (name, mut cmd) in commands(d.path()) {
        let closed = cmd
            .stdout(closed_pipe())
            .stderr(closed_pipe())
            .status()
            .unwrap();
        if closed.code() != Some(1) {
            problems.push(format!("{name} | (closed) 2>&1: {closed}"));
        }
        let full = cmd.stdout(full()).stderr(full()).status().unwrap();
        if full.code() != Some(1) {
            problems.push(format!("{name} >/dev/full 2>&1: {full}"));
        }
    }
    all_follow_the_rule(problems);
}
