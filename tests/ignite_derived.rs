//! Cases whose expected output was derived by reading ct's and Butane's
//! source (tests/fixtures/ignite/derived/README.md), not produced by the
//! tools: every `NAME.yml` there has `NAME.expected.json` (compared exactly,
//! as JSON values, data URLs included) or `NAME.expected-error.txt`
//! (`severity line:col message`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ignite/derived")
}

fn ignite(name: &str, extra: &[&str]) -> Output {
    support::bin::mkstick()
        .current_dir(dir())
        .args(["ignite", &format!("{name}.yml")])
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

#[test]
fn every_derived_case_matches() {
    let names = cases();
    assert!(names.len() >= 27, "{names:?}");
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
            // The same config translated to spec 3 (a feature ct lacks) must
            // be accepted too, with the same units' text.
            let spec3 = ignite(name, &["--spec", "3.4.0"]);
            if !spec3.status.success() {
                failures.push(format!(
                    "{name}: --spec 3.4.0 rejected:\n{}",
                    String::from_utf8_lossy(&spec3.stderr)
                ));
            } else {
                let v3: serde_json::Value = serde_json::from_slice(&spec3.stdout).expect("JSON");
                let units = |v: &serde_json::Value| {
                    v["systemd"]["units"]
                        .as_array()
                        .map(|u| u.iter().map(|u| u["dropins"].clone()).collect::<Vec<_>>())
                };
                if units(&v3) != units(&want) {
                    failures.push(format!("{name}: spec 3 drop-ins differ from spec 2"));
                }
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
            let at = format!("--> {name}.yml:{pos}\n");
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
