//! Every diagnostic rule, with the exact line and column it must name.

use std::path::PathBuf;

use mkstick::ignite::{Options, transpile_str};

fn files_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ignite/files"
    ))
}

fn opts() -> Options {
    Options {
        files_dir: Some(files_dir()),
        ..Options::default()
    }
}

fn rejected(yaml: &str, opts: &Options) -> String {
    match transpile_str(yaml, "t.yml", opts) {
        Ok(out) => panic!("expected a rejection, got:\n{}", out.json),
        Err(e) => e.to_string(),
    }
}

/// Asserts one rendered diagnostic block has `severity: …msg…` at line:col.
fn assert_diag(report: &str, severity: &str, line: u32, col: u32, msg: &str) {
    let at = format!("--> t.yml:{line}:{col}\n");
    let found = report.split("\n\n").any(|block| {
        block.starts_with(&format!("{severity}: ")) && block.contains(msg) && block.contains(&at)
    });
    assert!(found, "no {severity} `{msg}` at {line}:{col} in:\n{report}");
}

const BU10: &str = "variant: flatcar\nversion: 1.0.0\n";
const BU11: &str = "variant: flatcar\nversion: 1.1.0\n";

#[test]
fn renders_rustc_style() {
    let report = rejected(
        &format!("{BU10}storage:\n  links:\n    - path: opt/k\n      target: /x\n"),
        &opts(),
    );
    assert_eq!(
        report,
        "error: path not absolute\n --> t.yml:5:13\n  |\n5 |     - path: opt/k\n  |             ^^^^^\n  = at: $.storage.links.0.path\n\nerror: config rejected with 1 error"
    );
}

#[test]
fn reports_all_problems_at_once() {
    let yaml = format!(
        "{BU10}storage:\n  files:\n    - path: etc/a\n      mode: \"0644\"\n      contnts:\n        inline: x\n  links:\n    - path: rel\n      target: /t\n"
    );
    let report = rejected(&yaml, &opts());
    assert_diag(
        &report,
        "error",
        6,
        13,
        "expected an integer, found the string \"0644\"",
    );
    assert_diag(&report, "warning", 7, 7, "unknown key `contnts`");
    assert!(report.contains("did you mean `contents`?"), "{report}");
    assert_diag(&report, "error", 5, 13, "path not absolute");
    assert_diag(&report, "error", 10, 13, "path not absolute");
}

#[test]
fn type_errors_name_the_value() {
    let yaml = format!(
        "{BU10}passwd:\n  users:\n    - name: [a, b]\n      uid: abc\n      no_create_home: maybe\n"
    );
    let report = rejected(&yaml, &opts());
    assert_diag(&report, "error", 5, 13, "expected a string, found a list");
    assert!(
        !report.contains("is required"),
        "no follow-on errors: {report}"
    );
    assert_diag(
        &report,
        "error",
        6,
        12,
        "expected an integer, found the string \"abc\"",
    );
    assert_diag(
        &report,
        "error",
        7,
        23,
        "expected a boolean (true or false)",
    );
}

#[test]
fn duplicate_yaml_keys() {
    let report = rejected(
        &format!("{BU10}storage:\n  files: []\n  files: []\n"),
        &opts(),
    );
    assert_diag(
        &report,
        "error",
        5,
        3,
        "duplicate key `files` (first defined at line 4)",
    );
}

#[test]
fn yaml_syntax_errors_have_columns() {
    let report = rejected("storage:\n  files:\n  - path: /a\n   mode: 0644\n", &opts());
    assert!(report.starts_with("error: invalid YAML"), "{report}");
    assert!(report.contains("--> t.yml:4:"), "{report}");
    let report = rejected("a: 'open\nb: 1\n", &opts());
    assert_diag(&report, "error", 1, 4, "never closed");
}

#[test]
fn cross_dialect_hints() {
    let report = rejected(&format!("{BU10}networkd:\n  units: []\n"), &opts());
    assert_diag(&report, "warning", 3, 1, "unknown key `networkd`");
    assert!(report.contains("/etc/systemd/network/"), "{report}");
    let report = rejected(
        "storage:\n  files:\n    - path: /a\n      mode: 0644\n      contents:\n        source: https://x/y\n",
        &opts(),
    );
    assert_diag(&report, "warning", 6, 9, "unknown key `source`");
    assert!(report.contains("remote: {url: URL}"), "{report}");
    let report = rejected(
        &format!("{BU10}systemd:\n  units:\n    - name: a.service\n      enable: true\n"),
        &opts(),
    );
    assert!(report.contains("Butane spells it `enabled`"), "{report}");
}

#[test]
fn unknown_variant_and_missing_version() {
    let report = rejected("variant: fcos\nversion: 1.4.0\n", &opts());
    assert_diag(&report, "error", 1, 10, "unsupported variant `fcos`");
    let report = rejected("variant: flatcar\n", &opts());
    assert_diag(&report, "error", 1, 1, "error parsing version");
}

#[test]
fn resource_sources_are_exclusive() {
    let yaml = format!(
        "{BU10}storage:\n  files:\n    - path: /a\n      contents:\n        inline: x\n        source: https://e.x/a\n"
    );
    assert_diag(
        &rejected(&yaml, &opts()),
        "error",
        7,
        9,
        "only one of the following can be set: inline, local, source",
    );
}

#[test]
fn contents_and_contents_local_are_exclusive() {
    let yaml = format!(
        "{BU11}systemd:\n  units:\n    - name: a.service\n      contents: x\n      contents_local: units/journal-ship.service\n"
    );
    assert_diag(
        &rejected(&yaml, &opts()),
        "error",
        7,
        7,
        "only one of the following can be set: contents, contents_local",
    );
}

#[test]
fn local_needs_a_files_dir() {
    let yaml = format!(
        "{BU10}storage:\n  files:\n    - path: /a\n      contents:\n        local: motd.txt\n"
    );
    let report = rejected(&yaml, &Options::default());
    assert_diag(
        &report,
        "error",
        7,
        16,
        "must be specified with -d/--files-dir",
    );
    let report = rejected(&yaml.replace("motd.txt", "missing.txt"), &opts());
    assert_diag(&report, "error", 7, 16, "cannot read local file");
}

#[test]
fn unit_checks() {
    let yaml = format!(
        "{BU10}systemd:\n  units:\n    - name: noext\n    - name: a.service\n      enabled: true\n      contents: \"[Service]\\nExecStart=/bin/true\\n\"\n      dropins:\n        - name: x.txt\n          contents: a\n    - name: a.service\n"
    );
    let report = rejected(&yaml, &opts());
    assert_diag(&report, "error", 5, 13, "invalid systemd unit extension");
    assert_diag(
        &report,
        "warning",
        8,
        17,
        "is enabled, but has no install section",
    );
    assert_diag(
        &report,
        "error",
        10,
        17,
        "invalid systemd unit drop-in extension",
    );
    assert_diag(&report, "error", 12, 7, "duplicate entry defined");
}

#[test]
fn urls_and_hashes() {
    let yaml = format!(
        "{BU10}storage:\n  files:\n    - path: /a\n      contents:\n        source: ftp://x/y\n        verification:\n          hash: sha512-abc\n"
    );
    let report = rejected(&yaml, &opts());
    assert_diag(&report, "error", 7, 17, "invalid url scheme \"ftp\"");
    assert_diag(
        &report,
        "error",
        9,
        17,
        "incorrect size or characters for a sha512 hash sum",
    );
}

#[test]
fn clc_missing_mode_is_a_warning() {
    let yaml = "storage:\n  files:\n    - path: /a\n      contents:\n        inline: x\n  directories:\n    - path: /d\n";
    let report = rejected(yaml, &opts());
    assert_diag(&report, "warning", 3, 7, "mode unset, defaulting to 0o644");
    assert_diag(&report, "warning", 7, 7, "mode unset, defaulting to 0o755");
    let out = transpile_str(
        yaml,
        "t.yml",
        &Options {
            strict: false,
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(out.warnings.len(), 2);
    assert!(out.json.contains("\"mode\": 420") && out.json.contains("\"mode\": 493"));
}

#[test]
fn secrets_in_the_config_are_flagged() {
    let yaml = format!(
        "{BU10}storage:\n  files:\n    - path: /etc/ssh/key\n      mode: 0600\n      contents:\n        inline: |\n          -----BEGIN OPENSSH PRIVATE KEY-----\n          abc\n          -----END OPENSSH PRIVATE KEY-----\n    - path: /mnt/secrets/k3s_env\n      mode: 0600\n      contents:\n        inline: K3S_TOKEN=x\n"
    );
    let report = rejected(&yaml, &opts());
    assert_diag(&report, "warning", 7, 7, "holds a private key block");
    assert_diag(&report, "warning", 14, 7, "is under a `secrets` directory");
    assert!(report.contains("SECRETS volume"), "{report}");
}

#[test]
fn child_configs_are_validated() {
    let bad_json =
        format!("{BU11}ignition:\n  config:\n    merge:\n      - inline: '{{\"ignition\": '\n");
    assert_diag(
        &rejected(&bad_json, &opts()),
        "error",
        6,
        9,
        "the child config is not valid JSON",
    );
    let old = format!(
        "{BU11}ignition:\n  config:\n    merge:\n      - inline: '{{\"ignition\": {{\"version\": \"3.3.0\"}}}}'\n"
    );
    assert_diag(
        &rejected(&old, &opts()),
        "warning",
        6,
        9,
        "skipping its validation",
    );
    let dup = format!(
        "{BU11}ignition:\n  config:\n    replace:\n      inline: '{{\"ignition\": {{\"version\": \"3.4.0\"}}, \"storage\": {{\"links\": [{{\"path\": \"rel\", \"target\": \"/x\"}}]}}}}'\n"
    );
    assert_diag(
        &rejected(&dup, &opts()),
        "error",
        6,
        7,
        "in the child config at $.storage.links.0.path: path not absolute",
    );
}

#[test]
fn mount_unit_needs_a_format() {
    let yaml = format!(
        "{BU11}storage:\n  filesystems:\n    - device: /dev/sdb\n      path: /var/data\n      with_mount_unit: true\n"
    );
    assert_diag(
        &rejected(&yaml, &opts()),
        "error",
        7,
        24,
        "format is required if with_mount_unit is true",
    );
}

#[test]
fn tree_conflicts_with_explicit_contents() {
    let yaml = format!(
        "{BU11}storage:\n  trees:\n    - local: node-tree\n      path: /opt/t\n  files:\n    - path: /opt/t/etc/heartbeat.conf\n      contents:\n        inline: x\n"
    );
    assert_diag(
        &rejected(&yaml, &opts()),
        "error",
        5,
        14,
        "matching filesystem node has existing contents",
    );
}

#[test]
fn clc_sizes_and_guids() {
    let yaml = "storage:\n  disks:\n    - device: /dev/sda\n      partitions:\n        - label: data\n          size: 20GiB\n          start: 1MiB\n          type_guid: raid_containing_root\n        - label: bad\n          size: 100KiB\n";
    let report = rejected(yaml, &opts());
    assert_diag(
        &report,
        "error",
        10,
        17,
        "invalid dimension (finest granularity is 1MiB)",
    );
    let good = yaml.replace("100KiB", "1GiB");
    let out = transpile_str(&good, "t.yml", &opts()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&out.json).unwrap();
    let p = &json["storage"]["disks"][0]["partitions"][0];
    assert_eq!(p["sizeMiB"], 20480);
    assert_eq!(p["startMiB"], 1);
    assert_eq!(p["typeGuid"], "be9067b9-ea49-4f15-b4f6-f36f8c9e1818");
}

#[test]
fn not_a_mapping() {
    assert_diag(
        &rejected("- a\n- b\n", &opts()),
        "error",
        1,
        1,
        "a config must be a YAML mapping, found a list",
    );
}

#[test]
fn one_finding_per_problem() {
    let yaml = format!("{BU10}systemd:\n  units:\n    - name: {{a: 1}}\n");
    let report = rejected(&yaml, &opts());
    assert_diag(
        &report,
        "error",
        5,
        13,
        "expected a string, found a mapping",
    );
    assert!(
        !report.contains("unit extension") && !report.contains("required"),
        "{report}"
    );
}
