//! Golden tests: every fixture in tests/fixtures/ignite/ run through the real
//! binary, compared with the reference tools' output by meaning (data URLs
//! decoded, empty objects = absent), as the fixtures' README prescribes.

mod support;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use serde_json::{Map, Value};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ignite")
}

fn ignite(name: &str, extra: &[&str]) -> Output {
    support::bin::mkstick()
        .current_dir(fixtures())
        .args(["ignite", "--files-dir", "files", &format!("{name}.yml")])
        .args(extra)
        .output()
        .expect("run mkstick")
}

fn decode_data_url(url: &str) -> Vec<u8> {
    let rest = url.strip_prefix("data:").expect("data url");
    let (meta, payload) = rest.split_once(',').expect("comma");
    if meta.ends_with(";base64") {
        base64::engine::general_purpose::STANDARD
            .decode(payload)
            .expect("base64")
    } else {
        let mut out = Vec::new();
        let b = payload.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(
                    u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap(),
                );
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }
}

/// Decodes data URLs (gunzipping when marked), drops their `compression`,
/// and removes empty objects, empty lists and nulls.
fn normalize(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Array(a) if a.is_empty() => None,
        Value::Array(a) => Some(Value::Array(
            a.iter()
                .map(|x| normalize(x).unwrap_or(Value::Null))
                .collect(),
        )),
        Value::Object(m) => {
            let mut out = Map::new();
            let data = m
                .get("source")
                .and_then(Value::as_str)
                .filter(|s| s.starts_with("data:"));
            for (k, val) in m {
                if data.is_some() && k == "compression" {
                    continue;
                }
                if let (Some(url), "source") = (data, k.as_str()) {
                    let mut bytes = decode_data_url(url);
                    if m.get("compression").and_then(Value::as_str) == Some("gzip") {
                        let mut out = Vec::new();
                        flate2::read::GzDecoder::new(&bytes[..])
                            .read_to_end(&mut out)
                            .expect("gunzip");
                        bytes = out;
                    }
                    out.insert(
                        "source".into(),
                        Value::String(format!("decoded:{}", String::from_utf8_lossy(&bytes))),
                    );
                    continue;
                }
                if let Some(n) = normalize(val) {
                    out.insert(k.clone(), n);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        other => Some(other.clone()),
    }
}

fn check_valid(name: &str) {
    let out = ignite(name, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name}: exit {:?}\n{stderr}",
        out.status
    );
    let got: Value = serde_json::from_slice(&out.stdout).expect("output is JSON");
    let want: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join(format!("{name}.expected.json"))).unwrap(),
    )
    .unwrap();
    let (got, want) = (normalize(&got), normalize(&want));
    assert_eq!(
        got,
        want,
        "{name}: differs from the reference\n got: {}\nwant: {}",
        serde_json::to_string_pretty(&got).unwrap(),
        serde_json::to_string_pretty(&want).unwrap()
    );
}

/// An invalid case: exit 1, nothing on stdout, the real position named.
fn check_invalid(name: &str, line: u32, col: u32, message: &str) {
    let out = ignite(name, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
    assert!(out.stdout.is_empty(), "{name}: wrote to stdout");
    let at = format!("--> {name}.yml:{line}:{col}\n");
    assert!(
        stderr.contains(&at),
        "{name}: expected `{at}` in:\n{stderr}"
    );
    assert!(
        stderr.contains(message),
        "{name}: expected `{message}` in:\n{stderr}"
    );
}

macro_rules! valid {
    ($($test:ident => $name:literal,)*) => {$(
        #[test]
        fn $test() {
            check_valid($name);
        }
    )*};
}

valid! {
    bu_contents_local_keys => "bu-contents-local-keys",
    bu_dirs_links => "bu-dirs-links",
    bu_heartbeat_timer => "bu-heartbeat-timer",
    bu_inline_base64 => "bu-inline-base64",
    bu_inline_gzip => "bu-inline-gzip",
    bu_inline_short => "bu-inline-short",
    bu_kernel_args => "bu-kernel-args",
    bu_kernel_args_v10 => "bu-kernel-args-v10",
    bu_local_files => "bu-local-files",
    bu_merge_inline => "bu-merge-inline",
    bu_networkd_files => "bu-networkd-files",
    bu_remote_sha512 => "bu-remote-sha512",
    bu_secrets_mount_unit => "bu-secrets-mount-unit",
    bu_systemd_units => "bu-systemd-units",
    bu_trees_local => "bu-trees-local",
    bu_unicode_blocks => "bu-unicode-blocks",
    bu_users_groups => "bu-users-groups",
    bu_with_mount_unit => "bu-with-mount-unit",
    clc_config_append_tls => "clc-config-append-tls",
    clc_core_user_keys => "clc-core-user-keys",
    clc_dirs_links => "clc-dirs-links",
    clc_heartbeat_timer => "clc-heartbeat-timer",
    clc_inline_blocks_unicode => "clc-inline-blocks-unicode",
    clc_local_files => "clc-local-files",
    clc_networkd_static => "clc-networkd-static",
    clc_remote_sha512 => "clc-remote-sha512",
    clc_units_secrets_mount => "clc-units-secrets-mount",
    clc_update_locksmith => "clc-update-locksmith",
}

macro_rules! invalid {
    ($($test:ident => ($name:literal, $line:literal, $col:literal, $msg:literal),)*) => {$(
        #[test]
        fn $test() {
            check_invalid($name, $line, $col, $msg);
        }
    )*};
}

invalid! {
    clc_err_yaml_indent => ("clc-err-yaml-indent", 10, 6, "invalid YAML"),
    bu_err_unclosed_quote => ("bu-err-unclosed-quote", 8, 17, "never closed"),
    bu_err_quoted_mode => ("bu-err-quoted-mode", 10, 13, "expected an integer, found the string \"0755\""),
    clc_err_quoted_mode => ("clc-err-quoted-mode", 4, 13, "expected an integer, found the string \"0750\""),
    clc_err_unknown_key => ("clc-err-unknown-key", 11, 7, "did you mean `dropins`?"),
    bu_err_unknown_key => ("bu-err-unknown-key", 6, 7, "did you mean `ssh_authorized_keys`?"),
    bu_err_duplicate_path => ("bu-err-duplicate-path", 13, 7, "duplicate entry defined"),
    clc_err_relative_path => ("clc-err-relative-path", 7, 13, "path not absolute"),
    bu_err_relative_link => ("bu-err-relative-link", 5, 13, "path not absolute"),
    bu_err_local_escape => ("bu-err-local-escape", 8, 16, "traverses outside the files directory"),
    bu_err_missing_variant => ("bu-err-missing-variant", 1, 1, "`variant: flatcar` is missing"),
    bu_err_unknown_version => ("bu-err-unknown-version", 2, 10, "no translator exists for variant flatcar with version 1.9.0"),
    bu_err_v10_local_keys => ("bu-err-v10-local-keys", 7, 7, "needs variant flatcar version 1.1.0"),
    bu_err_decimal_mode => ("bu-err-decimal-mode", 6, 13, "remember to add a leading zero"),
    bu_err_sticky_mode => ("bu-err-sticky-mode", 6, 13, "setuid/setgid/sticky bits are not supported"),
}

/// The warning-only cases pass with --no-strict, printing the warning.
#[test]
fn warnings_pass_without_strict() {
    for name in [
        "bu-err-unknown-key",
        "clc-err-unknown-key",
        "bu-err-decimal-mode",
        "bu-err-sticky-mode",
        "bu-err-v10-local-keys",
    ] {
        let out = ignite(name, &["--no-strict"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        assert!(stderr.contains("warning: "), "{name}: {stderr}");
        serde_json::from_slice::<Value>(&out.stdout).expect("JSON on stdout");
    }
}

/// Every fixture case is covered by a test above.
#[test]
fn every_fixture_is_tested() {
    let src = std::fs::read_to_string(file!()).unwrap();
    for e in std::fs::read_dir(fixtures()).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if let Some(stem) = name.strip_suffix(".yml") {
            assert!(
                src.contains(&format!("\"{stem}\"")),
                "fixture {stem} has no test"
            );
        }
    }
}
