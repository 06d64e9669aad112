//! Hostile secrets: every output of mkstick is searched for every piece (4
//! characters or more) of the secret values it was given, and the secrets-file
//! syntax follows a shell's env file.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

/// Every secret value used below; none of their 4-character pieces may leak.
const SECRETS: &[&str] = &["Zq8vK3pW7mXt2Rn9", "hU7nt3Rq2pXv0Lk", "wQ9rT4eZ8yJjK5Bd"];

fn ipxe() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps/ipxe/ipxe-amd64.efi")
}

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("node.ign"),
            r#"{"ignition":{"version":"3.3.0"}}"#,
        )
        .unwrap();
        Case { dir }
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).unwrap();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        support::bin::mkstick()
            .env_clear()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .current_dir(self.dir.path())
            .args(["--ipxe-efi", ipxe().to_str().unwrap()])
            .args(["--flatcar-version", "4593.2.5", "--image", "stick.img"])
            // Sticks with k3s settings pin its release: by hand, no network.
            .args(support::k3s_pin::args())
            .args(args)
            .output()
            .unwrap()
    }
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// Fails when `text` holds any 4-character (or longer) piece of a secret.
fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        for len in 4..=secret.len() {
            for start in 0..=secret.len() - len {
                let piece = &secret[start..start + len];
                assert!(
                    !text.contains(piece),
                    "{what}: output holds {piece:?} of a secret:\n{text}"
                );
            }
        }
    }
}

fn fails_with(c: &Case, what: &str, args: &[&str], want: &[&str]) {
    let out = c.run(args);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{what}: {t}");
    for w in want {
        assert!(t.contains(w), "{what}: want {w:?} in:\n{t}");
    }
    assert_no_secret(what, &t);
    assert!(!c.path("stick.img").exists(), "{what}: wrote an image");
}

#[test]
fn malformed_secrets_lines_are_reported_by_line_never_by_text() {
    let c = Case::new();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "wrapped value",
            "K3S_TOKEN=Zq8vK3pW7mXt2Rn9\nwQ9rT4eZ8yJjK5Bd\n",
            &["s.env:2: expected KEY=value"],
        ),
        (
            "value-only line",
            "hU7nt3Rq2pXv0Lk\n",
            &["s.env:1: expected KEY=value"],
        ),
        (
            "KEY:value=x",
            "K3S_TOKEN:Zq8vK3pW7mXt2Rn9=x\n",
            &["s.env:1: the text before '=' is not a variable name"],
        ),
        (
            "broken double quote",
            "NAMECHEAP_DDNS_PASS=\"hU7nt3Rq2pXv0Lk\n",
            &["s.env:1: NAMECHEAP_DDNS_PASS: unterminated double quote"],
        ),
        (
            "broken single quote",
            "NAMECHEAP_DDNS_PASS='hU7nt3Rq2pXv0Lk\n",
            &["s.env:1: NAMECHEAP_DDNS_PASS: unterminated single quote"],
        ),
        (
            "wrapped base64 with an equals sign",
            "K3S_TOKEN=Zq8v\nK3pW7mXt2Rn9=\n",
            &["s.env:2"],
        ),
        (
            "wrapped value that reads as an unknown key",
            "K3S_TOKEN=abcd\nwQ9rT4eZ8yJjK5Bd=x\n",
            &["(from s.env:2) is not a key mkstick knows"],
        ),
    ];
    for (what, body, want) in cases {
        c.write("s.env", body);
        fails_with(
            &c,
            what,
            &["--ignition", "node.ign", "--secrets", "s.env"],
            want,
        );
    }
}

#[test]
fn k3s_flag_names_built_from_a_value_are_not_echoed() {
    let c = Case::new();
    for arg in [
        "hU7nt3Rq2pXv0Lk=x",
        "K3S_hU7nt3Rq2pXv0Lk=x",
        "K3S_TOKEN:hU7nt3Rq2pXv0Lk=x",
        "hU7nt3Rq2pXv0Lk",
    ] {
        fails_with(
            &c,
            arg,
            &["--ignition", "node.ign", "--k3s", arg],
            &["--k3s"],
        );
    }
}

#[test]
fn a_secrets_file_given_as_ssh_key_or_ignition_is_named_by_kind_not_echoed() {
    let c = Case::new();
    c.write(
        "s.env",
        "# node\nK3S_TOKEN=Zq8vK3pW7mXt2Rn9\nNAMECHEAP_DDNS_PASS=hU7nt3Rq2pXv0Lk\n",
    );
    c.write("one.env", "K3S_TOKEN=Zq8vK3pW7mXt2Rn9\n");
    c.write("s.yml", "K3S_TOKEN: Zq8vK3pW7mXt2Rn9\n");
    let env_kind = "looks like a KEY=value env file";
    fails_with(
        &c,
        "--ssh-key secrets file",
        &["--ignition", "node.ign", "--ssh-key", "s.env"],
        &["s.env", env_kind],
    );
    fails_with(
        &c,
        "--ssh-key one-line secrets file",
        &["--ignition", "node.ign", "--ssh-key", "one.env"],
        &["one.env", env_kind],
    );
    fails_with(
        &c,
        "--ignition secrets file",
        &["--ignition", "s.env"],
        &["s.env is not JSON", env_kind],
    );
    let out = c.run(&["--ignition", "s.yml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_no_secret("--ignition YAML secrets", &text(&out));
}

#[test]
fn env_file_syntax_is_a_shells() {
    let c = Case::new();
    // `#` after whitespace starts a comment; inside a word it is part of the value.
    c.write(
        "s.env",
        "LOGEXPORT_HOST=logs.example.com # where logs go\nLOGEXPORT_PORT=6514 #tls\nK3S_TOKEN=a#b\n",
    );
    let out = c.run(&["--ignition", "node.ign", "--secrets", "s.env", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));

    let cases: &[(&str, &str, &[&str])] = &[
        (
            "duplicate key",
            "K3S_TOKEN=Zq8vK3pW7mXt2Rn9\n\nK3S_TOKEN=hU7nt3Rq2pXv0Lk\n",
            &["s.env:3: K3S_TOKEN is set again (first set on line 1)"],
        ),
        (
            "whitespace-only required value",
            "K3S_TOKEN=\"   \"\n",
            &["K3S_TOKEN (from s.env:1) is only whitespace"],
        ),
        (
            "port with a sign",
            "LOGEXPORT_HOST=logs.example.com\nLOGEXPORT_PORT=+80\n",
            &[
                "LOGEXPORT_PORT (from s.env:2) must be a port number from 1 to 65535 in plain decimal",
            ],
        ),
        (
            "port with a leading zero",
            "LOGEXPORT_HOST=logs.example.com\nLOGEXPORT_PORT=080\n",
            &[
                "LOGEXPORT_PORT (from s.env:2) must be a port number from 1 to 65535 without leading zeros",
            ],
        ),
        (
            "port out of range",
            "LOGEXPORT_HOST=logs.example.com\nLOGEXPORT_PORT=65536\n",
            &["LOGEXPORT_PORT (from s.env:2) must be a port number from 1 to 65535"],
        ),
    ];
    for (what, body, want) in cases {
        c.write("s.env", body);
        fails_with(
            &c,
            what,
            &["--ignition", "node.ign", "--secrets", "s.env"],
            want,
        );
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[test]
fn no_hash_of_a_secrets_file_outside_the_secrets_volume() {
    let c = Case::new();
    c.write(
        "s.env",
        "K3S_TOKEN=Zq8vK3pW7mXt2Rn9\nNAMECHEAP_DDNS_PASS=hU7nt3Rq2pXv0Lk\nNAMECHEAP_DDNS_INTERFACE=eth0\n",
    );
    let args = [
        "--ignition",
        "node.ign",
        "--secrets",
        "s.env",
        "--hostname",
        "node1.example.com",
    ];
    // What the secrets volume holds, as the node reads it.
    let k3s_env = "K3S_TOKEN=\"Zq8vK3pW7mXt2Rn9\"\n";
    let ddns_env = "NAMECHEAP_DDNS_PASS=\"hU7nt3Rq2pXv0Lk\"\nNAMECHEAP_DDNS_INTERFACE=\"eth0\"\n";
    let hashes: Vec<String> = [k3s_env, ddns_env]
        .iter()
        .map(|f| sha256_hex(f.as_bytes()))
        .collect();
    let no_hash = |what: &str, text: &str| {
        assert_no_secret(what, text);
        for h in &hashes {
            // Any 16-hex-digit run of the hash would do as a confirmation.
            for start in (0..=48).step_by(8) {
                let piece = &h[start..start + 16];
                assert!(
                    !text.contains(piece),
                    "{what} holds a hash of a secrets file:\n{text}"
                );
            }
        }
    };
    for extra in [&["--dry-run"][..], &["--dry-run", "--json"]] {
        let out = c.run(&[&args[..], extra].concat());
        assert!(out.status.success(), "{}", text(&out));
        no_hash(&format!("{extra:?}"), &text(&out));
    }
    let out = c.run(&[&args[..], &["--yes"]].concat());
    assert!(out.status.success(), "{}", text(&out));
    let image = std::fs::read(c.path("stick.img")).unwrap();
    // The ESP (everything before the secrets partition at 257 MiB), without
    // its empty sectors: the search stays fast on a mostly empty volume.
    let used: Vec<u8> = image[..257 << 20]
        .chunks(512)
        .filter(|s| s.iter().any(|&b| b != 0))
        .flatten()
        .copied()
        .collect();
    let esp = String::from_utf8_lossy(&used).to_string();
    no_hash("the ESP", &esp);
    assert!(
        esp.contains("\"secrets_files\""),
        "the manifest is on the ESP"
    );
    // The secrets volume does hold them, in sha256sum form, for verification.
    let secrets = String::from_utf8_lossy(&image[257 << 20..]);
    assert!(secrets.contains(&format!("{}  k3s_env\n", hashes[0])));
    assert!(secrets.contains(&format!("{}  namecheap_ddns_env\n", hashes[1])));

    for json in [false, true] {
        let mut cmd = support::bin::mkstick();
        cmd.arg("inspect").arg(c.path("stick.img"));
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        no_hash("inspect", &text(&out));
        if !json {
            assert!(
                text(&out).contains("The stick matches its manifest."),
                "{}",
                text(&out)
            );
        }
    }

    // inspect still verifies the secrets, with the hashes on their volume.
    let at = image
        .windows(16)
        .rposition(|w| w == b"Zq8vK3pW7mXt2Rn9")
        .unwrap();
    let mut tampered = image.clone();
    tampered[at] ^= 1;
    std::fs::write(c.path("tampered.img"), &tampered).unwrap();
    let out = support::bin::mkstick()
        .arg("inspect")
        .arg(c.path("tampered.img"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("secrets/k3s_env changed since it was written"),
        "{}",
        text(&out)
    );
}
