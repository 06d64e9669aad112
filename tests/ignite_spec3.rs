//! Container Linux Configs translated to Ignition spec 3 (`--spec`), which
//! ct cannot do: checked with Debian's ignition-validate (3.3.0) and against
//! the spec-2→3 conversion rules.

use std::path::Path;
use std::process::Command;

use mkstick::ignite::{Options, SpecVersion, transpile_str};
use serde_json::Value;

fn fixtures() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ignite"
    ))
}

fn to_spec3(yaml: &str, spec: SpecVersion) -> Value {
    to_spec3_strict(yaml, spec, true)
}

fn to_spec3_strict(yaml: &str, spec: SpecVersion, strict: bool) -> Value {
    let opts = Options {
        spec: Some(spec),
        files_dir: Some(fixtures().join("files")),
        strict,
        ..Options::default()
    };
    let out = transpile_str(yaml, "t.yml", &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.spec, spec);
    serde_json::from_str(&out.json).unwrap()
}

#[test]
fn every_clc_fixture_validates_as_3_3_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(fixtures()).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if !name.starts_with("clc-") || !name.ends_with(".yml") || name.contains("-err-") {
            continue;
        }
        let yaml = std::fs::read_to_string(fixtures().join(&name)).unwrap();
        let json = to_spec3(&yaml, SpecVersion::V3_3);
        assert_eq!(json["ignition"]["version"], "3.3.0");
        let path = dir.path().join(format!("{name}.ign"));
        std::fs::write(&path, json.to_string()).unwrap();
        let out = Command::new("ignition-validate")
            .arg(&path)
            .output()
            .expect("ignition-validate");
        let report = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && report.trim().is_empty(),
            "{name}: {report}"
        );
        n += 1;
    }
    assert_eq!(n, 10);
}

#[test]
fn networkd_units_become_files() {
    let yaml = std::fs::read_to_string(fixtures().join("clc-networkd-static.yml")).unwrap();
    let json = to_spec3(&yaml, SpecVersion::V3_4);
    assert!(json.get("networkd").is_none());
    let files = json["storage"]["files"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "/etc/systemd/network/00-uplink.network",
            "/etc/systemd/network/10-br0.netdev",
            "/etc/systemd/network/20-br0.network",
            "/etc/systemd/network/20-br0.network.d/50-mtu.conf",
        ]
    );
    assert_eq!(
        files[3]["contents"]["source"],
        "data:,%5BLink%5D%0AMTUBytes%3D9000%0A"
    );
    assert_eq!(files[3]["mode"], 420);
}

#[test]
fn spec2_rules_are_applied() {
    let yaml = "\
storage:
  filesystems:
    - name: data
      mount:
        device: /dev/disk/by-label/DATA
        format: ext4
        create:
          force: true
          options: [-L, DATA]
      path: /var/lib/data
  files:
    - path: /etc/motd
      mode: 0644
      contents:
        inline: hi
    - path: /etc/keep
      mode: 0644
      overwrite: false
    - path: /log.txt
      filesystem: data
      mode: 0644
      append: true
      contents:
        inline: line
systemd:
  units:
    - name: a.service
      enable: true
      contents: \"[Service]\\nExecStart=/bin/true\\n[Install]\\nWantedBy=multi-user.target\\n\"
update:
  group: stable
ignition:
  config:
    append:
      - source: https://example.com/x.ign
";
    // `create` is deprecated in spec 2: ct warns, so this needs --no-strict.
    let json = to_spec3_strict(yaml, SpecVersion::V3_4, false);
    let files = &json["storage"]["files"];
    assert_eq!(
        files[0]["overwrite"], true,
        "spec-2 files overwrite by default"
    );
    assert_eq!(files[1]["overwrite"], false, "an explicit overwrite stays");
    assert_eq!(
        files[2]["path"], "/var/lib/data/log.txt",
        "filesystem → path prefix"
    );
    assert_eq!(files[2]["overwrite"], false);
    assert_eq!(files[2]["append"][0]["source"], "data:,line");
    assert!(files[2].get("contents").is_none());
    assert_eq!(files[3]["path"], "/etc/flatcar/update.conf");
    assert!(files[0].get("filesystem").is_none());
    let fs = &json["storage"]["filesystems"][0];
    assert_eq!(fs["wipeFilesystem"], true);
    assert_eq!(fs["options"], serde_json::json!(["-L", "DATA"]));
    assert_eq!(fs["device"], "/dev/disk/by-label/DATA");
    assert!(fs.get("mount").is_none() && fs.get("name").is_none());
    let unit = &json["systemd"]["units"][0];
    assert_eq!(unit["enabled"], true);
    assert!(unit.get("enable").is_none());
    assert_eq!(
        json["ignition"]["config"]["merge"][0]["source"],
        "https://example.com/x.ign"
    );
}

#[test]
fn untranslatable_parts_are_refused_with_positions() {
    let yaml = "\
passwd:
  users:
    - name: old
      create:
        uid: 1000
storage:
  filesystems:
    - name: data
      mount:
        device: /dev/sdb
        format: ext4
        create:
          options: [-L, DATA]
";
    let opts = Options {
        spec: Some(SpecVersion::V3_4),
        ..Options::default()
    };
    let err = transpile_str(yaml, "t.yml", &opts).unwrap_err().to_string();
    assert!(
        err.contains("`create` cannot be translated") && err.contains("t.yml:4:7"),
        "{err}"
    );
    assert!(
        err.contains("without `force: true`") && err.contains("t.yml:12:9"),
        "{err}"
    );
}

#[test]
fn butane_refuses_a_different_spec() {
    let opts = Options {
        spec: Some(SpecVersion::V2_3),
        ..Options::default()
    };
    let err = transpile_str("variant: flatcar\nversion: 1.0.0\n", "t.yml", &opts).unwrap_err();
    assert!(
        err.to_string()
            .contains("produces Ignition 3.3.0, not 2.3.0"),
        "{err}"
    );
}
