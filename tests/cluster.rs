//! `mkstick cluster init|show` as commands: the store is made once and never
//! changed by a second run, bad inventories fail with file:line:col, and no
//! output carries a token, key or secret value.

mod support;

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;

const INVENTORY: &str = "\
cluster: lab
domain: example.com
k3s:
  version: v1.31.4+k3s1
  datastore: embedded
nodes:
  - name: n1
    role: server
  - name: n2
    role: agent
  - name: n3
    role: agent
";

const HEARTBEAT: &str = "https://hc.example.com/ping/very-secret-n2";
const DDNS: &str = "ddns-secret-password";

fn mkstick(args: &[&str], dir: &Path) -> Output {
    support::bin::mkstick()
        .args(args)
        .current_dir(dir)
        .env_remove("LOGEXPORT_HOST")
        .env_remove("HEARTBEAT_URL_N2")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>, u32)> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let meta = fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            out.extend(files(&p));
            out.push((p, Vec::new(), meta.mode() & 0o7777));
        } else {
            out.push((p.clone(), fs::read(&p).unwrap(), meta.mode() & 0o7777));
        }
    }
    out.sort();
    out
}

/// Every secret value in the store: the token, the CA keys, the slots' values.
fn secret_values(store: &Path) -> Vec<String> {
    let mut out = vec![
        fs::read_to_string(store.join("token"))
            .unwrap()
            .trim()
            .to_string(),
    ];
    for (path, bytes, _) in files(store) {
        if path.extension().is_some_and(|e| e == "key") {
            let pem = String::from_utf8(bytes).unwrap();
            // The base64 body lines: any one of them printed is a leak.
            out.extend(
                pem.lines()
                    .filter(|l| !l.starts_with("-----"))
                    .map(str::to_string),
            );
        }
    }
    out.push(HEARTBEAT.to_string());
    out.push(DDNS.to_string());
    out
}

fn setup() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("lab.yml"), INVENTORY).unwrap();
    fs::write(
        tmp.path().join("in.env"),
        format!("HEARTBEAT_URL_N2={HEARTBEAT}\nNAMECHEAP_DDNS_PASS='{DDNS}'\n"),
    )
    .unwrap();
    tmp
}

#[test]
fn init_twice_changes_nothing_and_prints_no_secret() {
    let tmp = setup();
    let dir = tmp.path();
    let first = mkstick(&["cluster", "init", "lab.yml", "--secrets", "in.env"], dir);
    assert!(first.status.success(), "{}", text(&first));
    let store = dir.join("lab.secrets");
    let before = files(&store);
    assert_eq!(fs::metadata(&store).unwrap().mode() & 0o777, 0o700);
    for (path, _, mode) in &before {
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{}", path.display());
    }
    let names: Vec<String> = before
        .iter()
        .map(|(p, _, _)| p.strip_prefix(&store).unwrap().display().to_string())
        .collect();
    for want in [
        "token",
        "shared.env",
        "nodes/n1.env",
        "tls/server-ca.crt",
        "tls/server-ca.key",
        "tls/client-ca.key",
        "tls/request-header-ca.key",
        "tls/etcd/server-ca.key",
        "tls/etcd/peer-ca.key",
    ] {
        assert!(names.contains(&want.to_string()), "{want} in {names:?}");
    }
    let second = mkstick(&["cluster", "init", "lab.yml", "--secrets", "in.env"], dir);
    assert!(second.status.success(), "{}", text(&second));
    assert!(
        text(&second).contains("nothing changed"),
        "{}",
        text(&second)
    );
    assert_eq!(
        files(&store),
        before,
        "a second init changes no byte or mode"
    );

    let show = mkstick(&["cluster", "show", "lab.yml"], dir);
    assert!(show.status.success(), "{}", text(&show));
    let shown = text(&show);
    assert!(
        shown.contains("n1 (server, starts the cluster) n1.example.com"),
        "{shown}"
    );
    assert!(shown.contains("heartbeat_env: HEARTBEAT_URL"), "{shown}");
    assert!(
        shown.contains("namecheap_ddns_env: NAMECHEAP_DDNS_PASS"),
        "{shown}"
    );
    assert!(shown.contains("k3s-tls/: 10 CA files"), "{shown}");
    assert!(
        shown.contains("loses it at every reboot"),
        "a lone embedded server is warned about: {shown}"
    );
    assert_eq!(shown.matches("loses it at every reboot").count(), 1, "once");
    for out in [&first, &second, &show] {
        let all = text(out);
        for secret in secret_values(&store) {
            assert!(!all.contains(&secret), "a secret value was printed:\n{all}");
        }
        assert!(!all.contains("K10"), "{all}");
    }
}

#[test]
fn a_new_node_gets_its_slot_and_nothing_else_changes() {
    let tmp = setup();
    let dir = tmp.path();
    assert!(
        mkstick(&["cluster", "init", "lab.yml"], dir)
            .status
            .success()
    );
    let store = dir.join("lab.secrets");
    let before = files(&store);
    fs::write(
        dir.join("lab.yml"),
        format!("{INVENTORY}  - name: n4\n    role: agent\n"),
    )
    .unwrap();
    let out = mkstick(&["cluster", "init", "lab.yml"], dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("created nodes/n4.env"),
        "{}",
        text(&out)
    );
    let after = files(&store);
    assert_eq!(after.len(), before.len() + 1);
    for entry in &before {
        // Directory modes stay; a new file in nodes/ is the only change.
        assert!(after.contains(entry), "{} changed", entry.0.display());
    }
}

#[test]
fn bad_inventories_fail_with_file_line_col_and_create_nothing() {
    let cases = [
        (
            "nodes:\n  - {name: n1, role: captain}\n",
            "unknown role `captain`",
            "lab.yml:5:22",
        ),
        (
            "nodes:\n  - {name: n1, role: server}\n  - {name: n1, role: agent}\n",
            "duplicate node name `n1`",
            "lab.yml:6:12",
        ),
        (
            "nodes:\n  - {name: n1, role: agent}\n",
            "the cluster has no server",
            "lab.yml:5:3",
        ),
        (
            "nodes:\n  - {name: n1, role: server, lables: [a=b]}\n",
            "unknown key `lables`",
            "lab.yml:5:30",
        ),
        (
            "nodes:\n  - {name: n1, role: server\n",
            "invalid YAML",
            "lab.yml:5:5",
        ),
    ];
    for (nodes, message, at) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let text_in = format!("cluster: lab\ndomain: example.com\nk3s: {{}}\n{nodes}");
        fs::write(tmp.path().join("lab.yml"), &text_in).unwrap();
        let out = mkstick(&["cluster", "init", "lab.yml"], tmp.path());
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{all}");
        assert!(all.contains(message), "{message}: {all}");
        assert!(all.contains(at), "{at}: {all}");
        // The offending source line is shown under the position.
        let line: usize = at
            .split(':')
            .nth(1)
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        if line > 0 {
            let src = text_in.lines().nth(line - 1).unwrap();
            assert!(all.contains(&format!("{line} | {src}")), "{all}");
        }
        assert!(!tmp.path().join("lab.secrets").exists(), "{all}");
    }
}

#[test]
fn show_without_a_store_says_how_to_make_one() {
    let tmp = setup();
    let out = mkstick(&["cluster", "show", "lab.yml"], tmp.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("does not exist yet: run `mkstick cluster init`"),
        "{}",
        text(&out)
    );
}
