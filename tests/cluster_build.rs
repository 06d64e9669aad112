//! `mkstick cluster build` and `mkstick --cluster INVENTORY --node NAME`:
//! real images read back with mtools and fsck.vfat, and a server stick
//! booted by `qemu-test --smoke` (all installed by scripts/setup; a missing
//! tool fails the test).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

const INVENTORY: &str = "\
cluster: lab
domain: example.com
k3s:
  datastore: embedded
nodes:
  - name: n1
    role: server
  - name: n2
    role: agent
    labels: [zone=a]
  - name: n3
    role: agent
    ignition: n3.ign
";

/// n3's own Ignition config, embedded in its stick only.
const N3_CONFIG: &str =
    r#"{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/n3-marker"}]}}"#;

fn ipxe() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps/ipxe/ipxe-amd64.efi")
}

fn run(dir: &Path, args: &[&str]) -> Output {
    support::bin::mkstick()
        .env_clear()
        .current_dir(dir)
        .args(args)
        // Every stick written here runs k3s: pin its release by hand.
        .args(if args.contains(&"--ipxe-efi") {
            support::k3s_pin::args()
        } else {
            &[]
        })
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mkstick failed:\n{text}");
    text
}

const WRITE: &[&str] = &["--flatcar-version", "4593.2.5", "--ipxe-efi"];

fn build(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["cluster", "build", "lab.yml", "--out", "out"];
    args.extend(WRITE);
    let ipxe = ipxe();
    args.push(ipxe.to_str().unwrap());
    args.extend(extra);
    ok(run(dir, &args))
}

/// A file of the secrets volume (at 257 MiB), or None when mtools finds none.
fn secret_file(img: &Path, path: &str) -> Option<Vec<u8>> {
    support::stick::fat_file(img, support::stick::SECRETS_OFFSET, path)
}

fn env_value(env: &[u8], key: &str) -> Option<String> {
    String::from_utf8_lossy(env).lines().find_map(|l| {
        l.strip_prefix(&format!("{key}=\""))
            .and_then(|v| v.strip_suffix('"'))
            .map(str::to_string)
    })
}

/// Whether `needle` occurs in `hay`. Images are mostly zeros: all-zero
/// blocks (compared with memcmp, fast even unoptimized) are skipped.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    const BLOCK: usize = 64 << 10;
    let zeros = [0u8; BLOCK];
    let mut start = 0;
    while start < hay.len() {
        let end = (start + BLOCK).min(hay.len());
        let block = &hay[start..end];
        if block != &zeros[..block.len()] {
            // Overlap the next block so a needle across the boundary is found.
            let tail = (end + needle.len() - 1).min(hay.len());
            if hay[start..tail].windows(needle.len()).any(|w| w == needle) {
                return true;
            }
        }
        start = end;
    }
    false
}

fn setup() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("lab.yml"), INVENTORY).unwrap();
    std::fs::write(tmp.path().join("n3.ign"), N3_CONFIG).unwrap();
    ok(run(tmp.path(), &["cluster", "init", "lab.yml"]));
    tmp
}

#[test]
fn three_nodes_one_token_the_server_ca_and_no_key_on_agents() {
    let tmp = setup();
    let dir = tmp.path();
    let output = build(dir, &[]);
    for n in ["n1", "n2", "n3"] {
        assert!(dir.join(format!("out/{n}.img")).is_file(), "{n}: {output}");
    }
    assert!(output.contains("NODE  ROLE    IMAGE"), "{output}");
    assert!(
        output.contains("n1    server  out/n1.img  274 MiB"),
        "{output}"
    );
    assert!(output.contains("[3/3]"), "{output}");

    let img = |n: &str| dir.join(format!("out/{n}.img"));
    let server_ca = secret_file(&img("n1"), "/k3s-tls/server-ca.crt").unwrap();
    assert_eq!(
        server_ca,
        std::fs::read(dir.join("lab.secrets/tls/server-ca.crt")).unwrap()
    );
    let hash = hex::encode(Sha256::digest(&server_ca));
    let server_env = secret_file(&img("n1"), "/k3s_env").unwrap();
    let token = env_value(&server_env, "K3S_TOKEN").unwrap();
    let secret = std::fs::read_to_string(dir.join("lab.secrets/token")).unwrap();
    assert_eq!(token, format!("K10{hash}::server:{}", secret.trim()));
    assert_eq!(
        env_value(&server_env, "K3S_ROLE").as_deref(),
        Some("server")
    );
    assert_eq!(
        env_value(&server_env, "K3S_CLUSTER_INIT").as_deref(),
        Some("true")
    );
    for f in [
        "client-ca.key",
        "request-header-ca.key",
        "etcd/server-ca.key",
        "etcd/peer-ca.crt",
    ] {
        assert!(
            secret_file(&img("n1"), &format!("/k3s-tls/{f}")).is_some(),
            "{f}"
        );
    }
    for agent in ["n2", "n3"] {
        let env = secret_file(&img(agent), "/k3s_env").unwrap();
        assert_eq!(
            env_value(&env, "K3S_TOKEN").as_deref(),
            Some(token.as_str())
        );
        assert_eq!(
            env_value(&env, "K3S_URL").as_deref(),
            Some("https://n1.example.com:6443")
        );
        assert_eq!(env_value(&env, "K3S_ROLE").as_deref(), Some("agent"));
        assert!(secret_file(&img(agent), "/k3s-tls/server-ca.crt").is_none());
        let bytes = std::fs::read(img(agent)).unwrap();
        assert!(!contains(&bytes, b"PRIVATE KEY"), "{agent} carries a key");
    }
    // n3 embeds its own config; the others the built-in node config.
    for (n, own) in [("n1", false), ("n2", false), ("n3", true)] {
        let bytes = std::fs::read(img(n)).unwrap();
        assert_eq!(contains(&bytes, b"/etc/n3-marker"), own, "{n}");
    }
    let config = secret_file(&img("n2"), "/k3s_config.yaml").unwrap();
    assert!(contains(&config, b"node-label:\n  - \"zone=a\"\n"));

    // The server's secrets volume, with its directories, passes fsck.
    let bytes = std::fs::read(img("n1")).unwrap();
    let part = dir.join("secrets.part");
    std::fs::write(&part, &bytes[257 << 20..273 << 20]).unwrap();
    let fsck = Command::new("fsck.vfat")
        .arg("-n")
        .arg(&part)
        .output()
        .expect("fsck.vfat missing: run scripts/setup");
    let log = String::from_utf8_lossy(&fsck.stdout);
    assert!(fsck.status.success() && !log.contains("Fixing"), "{log}");

    // The token is on no ESP (manifest, boot script, config), in no output.
    let secret = secret.trim();
    for n in ["n1", "n2", "n3"] {
        let bytes = std::fs::read(img(n)).unwrap();
        let esp = &bytes[1 << 20..257 << 20];
        assert!(!contains(esp, secret.as_bytes()), "{n}: token on the ESP");
        assert!(!contains(esp, b"PRIVATE KEY"), "{n}: a key on the ESP");
    }
    assert!(!output.contains(secret), "{output}");
    let mut dry = vec!["--cluster", "lab.yml", "--node", "n1", "--image", "x.img"];
    dry.extend(WRITE);
    let ipxe = ipxe();
    dry.extend([ipxe.to_str().unwrap(), "--dry-run", "--json"]);
    let json = ok(run(dir, &dry));
    assert!(json.contains("k3s-tls/server-ca.key"), "{json}");
    assert!(
        !json.contains(secret) && !json.contains("PRIVATE KEY"),
        "{json}"
    );
}

#[test]
fn a_second_build_and_the_single_node_writer_give_the_same_bytes() {
    let tmp = setup();
    let dir = tmp.path();
    build(dir, &[]);
    let first: Vec<Vec<u8>> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| std::fs::read(dir.join(format!("out/{n}.img"))).unwrap())
        .collect();
    let refused = run(
        dir,
        &[
            "cluster",
            "build",
            "lab.yml",
            "--out",
            "out",
            "--ipxe-efi",
            ipxe().to_str().unwrap(),
        ],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("pass --yes"));
    build(dir, &["--yes", "--jobs", "1"]);
    for (n, bytes) in ["n1", "n2", "n3"].iter().zip(&first) {
        let again = std::fs::read(dir.join(format!("out/{n}.img"))).unwrap();
        assert!(again == *bytes, "{n}: second build differs");
    }
    let mut one = vec!["--cluster", "lab.yml", "--node", "n2", "--image", "n2.img"];
    one.extend(WRITE);
    let ipxe = ipxe();
    one.push(ipxe.to_str().unwrap());
    ok(run(dir, &one));
    assert!(
        std::fs::read(dir.join("n2.img")).unwrap() == first[1],
        "--cluster --node writes the same stick as cluster build"
    );
}

#[test]
fn cluster_write_refuses_secret_flags_and_unknown_nodes() {
    let tmp = setup();
    let dir = tmp.path();
    let out = run(
        dir,
        &[
            "--cluster",
            "lab.yml",
            "--node",
            "n9",
            "--image",
            "x.img",
            "--ipxe-efi",
            ipxe().to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no node \"n9\"") && err.contains("n1, n2, n3"),
        "{err}"
    );
    let out = run(
        dir,
        &[
            "--cluster",
            "lab.yml",
            "--node",
            "n1",
            "--image",
            "x.img",
            "--k3s",
            "K3S_TOKEN=x",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let out = run(dir, &["--node", "n1", "--image", "x.img"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("add --cluster INVENTORY"));
    assert!(!dir.join("x.img").exists());
}

#[test]
fn a_server_stick_boots_and_its_node_finds_the_ca_files() {
    let tmp = setup();
    let dir = tmp.path();
    let ipxe = ipxe();
    // Under TCG on a loaded machine the verdict can take minutes.
    let out = support::bin::mkstick()
        .current_dir(dir)
        .args([
            "qemu-test",
            "--smoke",
            "--cluster",
            "lab.yml",
            "--cluster-node",
            "n1",
        ])
        .args(["--ipxe-efi", ipxe.to_str().unwrap()])
        .args(["--flatcar-version", "4593.2.5", "--timeout", "400"])
        .args(support::k3s_pin::args())
        .output()
        .unwrap();
    let text = ok(out);
    assert!(
        text.contains("PASS") && text.contains("secrets-files"),
        "{text}"
    );
    // The guest checked every CA file by hash, in its directories.
    for f in ["k3s-tls/server-ca.crt", "k3s-tls/etcd/peer-ca.key"] {
        assert!(text.contains(&format!("expect secret {f} ")), "{f}: {text}");
    }
    assert!(
        text.contains("expect cmdline hostname=n1.example.com"),
        "{text}"
    );
    let secret = std::fs::read_to_string(dir.join("lab.secrets/token")).unwrap();
    assert!(!text.contains(secret.trim()), "the token was printed");
}
