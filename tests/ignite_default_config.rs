//! The default node config (ignition/ignition.yml): its committed JSON is up
//! to date, Debian's ignition-validate accepts it, every unit it ships passes
//! `systemd-analyze verify`, and every script it ships parses.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn default_config() -> Value {
    serde_json::from_str(mkstick::ignite::DEFAULT_NODE_CONFIG_IGN).expect("ignition.ign is JSON")
}

#[test]
fn ignition_ign_is_up_to_date() {
    let out = support::bin::mkstick()
        .args(["ignite", "ignition/ignition.yml"])
        .current_dir(repo())
        .output()
        .expect("run mkstick");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::fs::read(repo().join("ignition/ignition.ign")).unwrap();
    assert!(
        out.stdout == committed,
        "ignition/ignition.ign is out of date; run: mkstick ignite ignition/ignition.yml -o ignition/ignition.ign"
    );
    assert_eq!(
        mkstick::ignite::DEFAULT_NODE_CONFIG_IGN.as_bytes(),
        &committed[..]
    );
}

#[test]
fn debian_ignition_validate_accepts_it() {
    let out = Command::new("ignition-validate")
        .arg(repo().join("ignition/ignition.ign"))
        .output()
        .expect("ignition-validate must be installed (scripts/setup)");
    let report =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && report.trim().is_empty(),
        "ignition-validate: {report}"
    );
    assert_eq!(default_config()["ignition"]["version"], "3.3.0");
}

/// The decoded bytes of a file entry's `contents`.
fn contents(file: &Value) -> Vec<u8> {
    let src = file["contents"]["source"].as_str().unwrap_or("data:,");
    let (meta, payload) = src
        .strip_prefix("data:")
        .and_then(|r| r.split_once(','))
        .expect("data URL");
    let raw = if meta.ends_with(";base64") {
        base64::engine::general_purpose::STANDARD
            .decode(payload)
            .unwrap()
    } else {
        mkstick::ignite::dataurl::decode(src).unwrap()
    };
    if file["contents"]["compression"] == "gzip" {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut out).unwrap();
        out
    } else {
        raw
    }
}

/// A root filesystem holding what Ignition would write (files, directories,
/// units, drop-ins) on top of the host's systemd unit library, which
/// provides the standard targets (network-online.target, timers.target, …)
/// that Flatcar has too. `systemd-analyze verify --root` then checks unit
/// syntax, names, dependencies and that every Exec* command exists in it.
fn node_root(cfg: &Value) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let units = r.join("usr/lib/systemd");
    std::fs::create_dir_all(&units).unwrap();
    let status = Command::new("cp")
        .args(["-a", "/lib/systemd/system"])
        .arg(&units)
        .status()
        .unwrap();
    assert!(status.success(), "copying the host's systemd units");
    let under = |p: &str| -> PathBuf { r.join(p.trim_start_matches('/')) };
    for d in cfg["storage"]["directories"]
        .as_array()
        .into_iter()
        .flatten()
    {
        std::fs::create_dir_all(under(d["path"].as_str().unwrap())).unwrap();
    }
    for f in cfg["storage"]["files"].as_array().into_iter().flatten() {
        let path = under(f["path"].as_str().unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents(f)).unwrap();
        let mode = f["mode"].as_u64().unwrap_or(0o644) as u32;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let sys = r.join("etc/systemd/system");
    std::fs::create_dir_all(&sys).unwrap();
    for u in cfg["systemd"]["units"].as_array().into_iter().flatten() {
        let name = u["name"].as_str().unwrap();
        if let Some(text) = u["contents"].as_str() {
            std::fs::write(sys.join(name), text).unwrap();
        }
        for d in u["dropins"].as_array().into_iter().flatten() {
            let dir = sys.join(format!("{name}.d"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join(d["name"].as_str().unwrap()),
                d["contents"].as_str().unwrap(),
            )
            .unwrap();
        }
    }
    root
}

#[test]
fn systemd_analyze_verifies_every_unit() {
    let cfg = default_config();
    let root = node_root(&cfg);
    let names: Vec<&str> = cfg["systemd"]["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert!(
        names.len() >= 9,
        "expected the full set of units, got {names:?}"
    );
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.path().display()))
        .args(&names)
        .output()
        .expect("systemd-analyze must be installed (scripts/setup)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify {names:?}:\n{stderr}"
    );
}

/// The check above is real: a unit naming a command the root lacks fails.
#[test]
fn systemd_analyze_catches_a_missing_command() {
    let mut cfg = default_config();
    cfg["systemd"]["units"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "name": "broken.service",
            "contents": "[Service]\nExecStart=/opt/bin/not-shipped\n",
        }));
    let root = node_root(&cfg);
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.path().display()))
        .arg("broken.service")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("/opt/bin/not-shipped"),
        "{stderr}"
    );
}

#[test]
fn shipped_scripts_parse() {
    let cfg = default_config();
    let mut checked = 0;
    for f in cfg["storage"]["files"].as_array().unwrap() {
        let data = contents(f);
        if !data.starts_with(b"#!/bin/bash") {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s");
        std::fs::write(&script, &data).unwrap();
        let out = Command::new("bash")
            .arg("-n")
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            f["path"],
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} scripts found");
}

/// Every component is gated on its env file, so a stick without secrets boots cleanly.
#[test]
fn components_are_conditional_on_their_env_file() {
    let cfg = default_config();
    for u in cfg["systemd"]["units"].as_array().unwrap() {
        let text = u["contents"].as_str().unwrap_or("");
        if let Some(line) = text.lines().find(|l| l.starts_with("EnvironmentFile=")) {
            let file = line.trim_start_matches("EnvironmentFile=");
            assert!(
                text.contains(&format!("ConditionFileNotEmpty={file}")),
                "{} reads {file} without ConditionFileNotEmpty",
                u["name"]
            );
        }
    }
}

/// The unit text of `name` in the default config.
fn unit(cfg: &Value, name: &str) -> String {
    cfg["systemd"]["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == name)
        .and_then(|u| u["contents"].as_str())
        .unwrap_or_else(|| panic!("no unit {name}"))
        .to_string()
}

/// The file contents at `path` in the default config.
fn file(cfg: &Value, path: &str) -> String {
    let f = cfg["storage"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no file {path}"));
    String::from_utf8(contents(f)).unwrap()
}

/// The secrets volume at the original /secrets too, with the same options.
#[test]
fn secrets_volume_at_both_paths_with_the_same_options() {
    let cfg = default_config();
    let options = |u: &str| {
        unit(&cfg, u)
            .lines()
            .find_map(|l| l.strip_prefix("Options=").map(str::to_string))
            .unwrap()
    };
    assert_eq!(
        options("mnt-secrets.mount"),
        "ro,nosuid,nodev,noexec,uid=0,gid=0,umask=0077"
    );
    assert_eq!(options("secrets.mount"), options("mnt-secrets.mount"));
    assert!(unit(&cfg, "secrets.mount").contains("Where=/secrets\n"));
}

/// The node reads the k3s pin from the stick and never sources it; DDNS
/// never touches the apex and claims primary only from a Ready server.
#[test]
fn k3s_pin_is_parsed_and_ddns_spares_the_apex() {
    let cfg = default_config();
    let install = file(&cfg, "/opt/bin/mkstick-k3s-install");
    assert!(install.contains("pin=/mnt/secrets/k3s_release"));
    assert!(!install.contains("source ") && !install.contains(". /mnt"));
    assert!(
        install.contains("exit 2"),
        "a missing pin is a configuration error"
    );
    let ddns = file(&cfg, "/opt/bin/mkstick-ddns");
    assert!(
        !ddns.contains(" @;") && !ddns.contains("\"$host\" @"),
        "{ddns}"
    );
    assert!(ddns.contains("records+=(primary)") && ddns.contains("Ready"));
    assert!(unit(&cfg, "k3s-install.service").contains("RestartPreventExitStatus=2"));
}
