//! Cases whose expected output was derived by reading ct's and Butane's
//! source (tests/fixtures/ignite/derived/README.md), not produced by the
//! tools: every `NAME.yml` there has `NAME.expected.json` (compared exactly,
//! as JSON values, data URLs included) or `NAME.expected-error.txt`
//! (`severity line:col message`, or `severity - message` for a finding
//! of the whole file). `NAME.args` (optional) holds extra
//! arguments, one a line (`-d` / `../files` for cases reading local files).

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ignite/derived")
}

fn ignite(name: &str, extra: &[&str]) -> Output {
    let args = std::fs::read_to_string(dir().join(format!("{name}.args"))).unwrap_or_default();
    support::bin::mkstick()
        .current_dir(dir())
        .args(["ignite", &format!("{name}.yml")])
        .args(args.lines().filter(|l| !l.is_empty()))
        .args(extra)
        .output()
        .expect("run mkstick")
}

fn cases() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("derived fixtures")
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".yml").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// Why the CLC `name` translated to spec 3.4.0 is wrong, if it is.
fn spec3_problem(name: &str, want: &serde_json::Value) -> Option<String> {
    let spec3 = ignite(name, &["--spec", "3.4.0"]);
    if !spec3.status.success() {
        return Some(format!(
            "{name}: --spec 3.4.0 rejected:\n{}",
            String::from_utf8_lossy(&spec3.stderr)
        ));
    }
    let v3: serde_json::Value = serde_json::from_slice(&spec3.stdout).expect("JSON");
    let units = |v: &serde_json::Value| {
        v["systemd"]["units"]
            .as_array()
            .map(|u| u.iter().map(|u| u["dropins"].clone()).collect::<Vec<_>>())
    };
    (units(&v3) != units(want)).then(|| format!("{name}: spec 3 drop-ins differ from spec 2"))
}

#[test]
fn every_derived_case_matches() {
    let names = cases();
    assert!(names.len() >= 130, "{names:?}");
    let mut failures = Vec::new();
    for name in &names {
        let json = dir().join(format!("{name}.expected.json"));
        let err = dir().join(format!("{name}.expected-error.txt"));
        if json.exists() {
            let out = ignite(name, &[]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() {
                failures.push(format!("{name}: rejected:\n{stderr}"));
                continue;
            }
            let got: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
            let want: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
            // The same CLC translated to spec 3 (a feature ct lacks) must
            // be accepted too, with the same units' text. (A Butane file
            // has one spec, fixed by its `version`.)
            // The same CLC translated to spec 3 (a feature ct lacks) must be
            // accepted too; a Butane file has the one spec of its `version`.
            if name.starts_with("clc-")
                && let Some(problem) = spec3_problem(name, &want)
            {
                failures.push(problem);
            }
            if got != want {
                failures.push(format!(
                    "{name}: got\n{}\nwant\n{}",
                    serde_json::to_string_pretty(&got).unwrap(),
                    serde_json::to_string_pretty(&want).unwrap()
                ));
            }
        } else {
            let spec = std::fs::read_to_string(&err)
                .unwrap_or_else(|_| panic!("{name}: no expected output"));
            let (severity, rest) = spec.trim_end().split_once(' ').unwrap();
            let (pos, msg) = rest.split_once(' ').unwrap();
            let out = ignite(name, &[]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            // `-`: a finding of the whole file, with no position (as ct's).
            let at = match pos {
                "-" => format!("--> {name}.yml\n"),
                pos => format!("--> {name}.yml:{pos}\n"),
            };
            let found = stderr.split("\n\n").any(|block| {
                block.starts_with(&format!("{severity}: "))
                    && block.contains(msg)
                    && block.contains(&at)
            });
            if out.status.code() != Some(1) || !out.stdout.is_empty() || !found {
                failures.push(format!(
                    "{name}: want `{severity}: {msg}` at {pos}, got:\n{stderr}"
                ));
                continue;
            }
            // A warning is only a warning: accepted with --no-strict.
            let lenient = ignite(name, &["--no-strict"]);
            if (severity == "warning") != lenient.status.success() {
                failures.push(format!(
                    "{name}: --no-strict gave {:?}:\n{}",
                    lenient.status,
                    String::from_utf8_lossy(&lenient.stderr)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
