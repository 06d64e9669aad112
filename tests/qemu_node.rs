//! `mkstick qemu-test --node` end to end: real QEMU, OVMF and iPXE, the test
//! OS from Debian packages with real Ignition and real systemd, and the
//! stick's own node config (the shipped default), unmodified. Each boot
//! costs about a minute of one core under TCG, so each test checks several
//! things on one boot.
//!
//! Needs what scripts/setup installs (qemu-system-x86, ovmf, ncat, mtools,
//! gdisk, mmdebstrap for the test OS's first build, openssh-client for
//! `--keep`, .test-deps/ipxe).

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const SSH_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFiL443Rcw6L5x8OEqmIuXtJQ/Mieo/3xSx0lxX3ckwk ci@mkstick";
const HOSTNAME: &str = "node1.example.com";
/// Values that break naive quoting anywhere between the secrets file,
/// systemd's EnvironmentFile, bash and curl.
const NASTY: &str =
    r#"p@ss w0rd "dq" 'sq' $HOME ${X} `id` #no-comment \back\\slash % %41 é日本 ;|&<>*?"#;
const NASTY_URL: &str =
    "https://hb.example.com/ping/a%2Fb%20c/%C3%A9?token=x%26y%3Dz&sp=a+b&pct=100%25&q=%22";
/// Where a URL stick fetches its Ignition config (the harness plays the host).
const CONFIG_URL: &str = "https://ignition.example.com/configs/node.ign?role=server";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn ipxe() -> PathBuf {
    let path = repo().join(".test-deps/ipxe/ipxe-amd64.efi");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn mkstick(args: &[String]) -> Output {
    support::bin::mkstick()
        .args(args)
        .output()
        .expect("running mkstick")
}

/// The k3s stand-in the harness serves at the pinned URL.
fn standin_sha256() -> String {
    hex::encode(Sha256::digest(
        std::fs::read(repo().join("qemu/k3s-standin")).unwrap(),
    ))
}

/// The writer's hand pin (no network): the release tag and `sha256`. The
/// node downloads from the default release URL, which the harness plays.
fn hand_pin(sha256: &str) -> [&str; 4] {
    [
        "--k3s-version",
        support::k3s_pin::VERSION,
        "--k3s-sha256",
        sha256,
    ]
}

/// A stick written by `mkstick --image` with the default node config,
/// booting from the test server on `port`; `secrets` is a --secrets file.
/// Its SSH key is `dir/key.pub` (SSH_KEY unless the test made one).
fn stick(dir: &Path, port: u16, secrets: &str, extra: &[&str]) -> PathBuf {
    let image = dir.join("stick.img");
    let key = dir.join("key.pub");
    if !key.exists() {
        std::fs::write(&key, format!("{SSH_KEY}\n")).unwrap();
    }
    let env = dir.join("secrets.env");
    std::fs::write(&env, secrets).unwrap();
    let mut args: Vec<String> = [
        "--image",
        image.to_str().unwrap(),
        "--yes",
        "--base-url",
        &format!("http://10.0.2.2:{port}"),
        "--ipxe-efi",
        ipxe().to_str().unwrap(),
        "--ssh-key",
        key.to_str().unwrap(),
        "--hostname",
        HOSTNAME,
        "--flatcar-version",
        "4593.2.5",
        "--secrets",
        env.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = mkstick(&args);
    assert!(
        out.status.success(),
        "mkstick --image: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    image
}

/// A `--secrets` file line: the value single-quoted (none has a `'`) or
/// double-quoted with escapes.
fn line(key: &str, value: &str) -> String {
    let escaped: String = value
        .chars()
        .flat_map(|c| match c {
            '"' | '\\' | '$' | '`' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("{key}=\"{escaped}\"\n")
}

/// Runs `qemu-test --node` on `image`; returns (exit code, stdout).
fn node_test(image: &Path, port: u16, extra: &[&str]) -> (i32, String) {
    let started = Instant::now();
    let mut args: Vec<String> = vec![
        "qemu-test".into(),
        "--node".into(),
        image.to_str().unwrap().into(),
        "--http-port".into(),
        port.to_string(),
        "--timeout".into(),
        "600".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = mkstick(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!(
        "{stdout}{}(took {:.1}s)",
        String::from_utf8_lossy(&out.stderr),
        started.elapsed().as_secs_f64()
    );
    assert_qemu_gone(image);
    (out.status.code().unwrap_or(-1), stdout)
}

fn assert_qemu_gone(image: &Path) {
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline);
            assert!(
                !(cmdline.contains("qemu-system") && cmdline.contains(image.to_str().unwrap())),
                "QEMU outlived mkstick: {cmdline}"
            );
        }
    }
}

/// The report line of `component`.
fn component<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| {
            l.strip_prefix("qemu-test: ")
                .is_some_and(|r| r.split_whitespace().next() == Some(name))
        })
        .unwrap_or_else(|| panic!("no line for {name} in:\n{stdout}"))
}

fn assert_ok(stdout: &str, name: &str, expect: &[&str]) {
    let l = component(stdout, name);
    assert!(l.contains(" ok "), "{name} did not pass: {l}");
    for e in expect {
        assert!(l.contains(e), "{name}: expected {e:?} in {l}");
    }
}

fn assert_no_secret(stdout: &str) {
    for needle in ["p@ss w0rd", "token=x", "K10secret"] {
        assert!(
            !stdout.contains(needle),
            "a secret value was printed:\n{stdout}"
        );
    }
}

/// All four components on, a server (no K3S_URL), real-world values, on a
/// stick that fetches its config by URL: the harness serves the shipped
/// node config (`--ignition`, Butane, transpiled) at that exact URL over
/// HTTPS.
#[test]
fn url_stick_with_every_component_passes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let secrets = [
        line("K3S_TOKEN", &format!("K10secret::server:{NASTY}")),
        line("K3S_NODE_LABEL", NASTY),
        line("LOGEXPORT_HOST", "logs.example.com"),
        line("LOGEXPORT_PORT", "6514"),
        line("HEARTBEAT_URL", NASTY_URL),
        line("NAMECHEAP_DDNS_PASS", NASTY),
    ]
    .concat();
    let pin = standin_sha256();
    let mut write = hand_pin(&pin).to_vec();
    write.extend(["--ignition-url", CONFIG_URL]);
    let image = stick(dir.path(), port, &secrets, &write);
    let config = repo().join("ignition/ignition.yml");
    let (code, stdout) = node_test(&image, port, &["--ignition", config.to_str().unwrap()]);
    assert_eq!(code, 0, "node test failed:\n{stdout}");
    assert!(
        stdout.contains(&format!(
            "ignition: the harness serves --ignition {} at {CONFIG_URL}",
            config.display()
        )),
        "{stdout}"
    );
    assert_ok(
        &stdout,
        "secrets",
        &["ro,nosuid,nodev,noexec", "/mnt/secrets and /secrets"],
    );
    assert_ok(&stdout, "hostname", &[HOSTNAME]);
    assert_ok(
        &stdout,
        "ignition",
        &[
            &format!("config fetched from {CONFIG_URL} (HTTPS, certificate verified), applied"),
            "core's SSH key",
        ],
    );
    assert_ok(
        &stdout,
        "k3s",
        &[
            "started as server",
            "stand-in",
            "K3S_TOKEN",
            "K3S_NODE_LABEL",
            "sha256 checked",
        ],
    );
    assert_ok(&stdout, "logexport", &["over TLS", "logs.example.com:6514"]);
    assert_ok(&stdout, "heartbeat", &["exact URL"]);
    assert_ok(
        &stdout,
        "ddns",
        &[
            "node1.example.com",
            "primary.example.com",
            "password matched",
            "never the apex",
        ],
    );
    assert_ok(&stdout, "units", &["none"]);
    assert!(stdout.contains("real k3s is not run"), "{stdout}");
    assert_no_secret(&stdout);
}

/// An agent (K3S_URL set), and a log service whose certificate the node
/// must refuse: logexport fails, named, while the rest of the node works.
#[test]
fn agent_starts_in_its_role_and_an_untrusted_log_host_fails() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let secrets = [
        line("K3S_TOKEN", "K10secret::server:agent-token"),
        line("K3S_URL", "https://server1.example.com:6443"),
        line("LOGEXPORT_HOST", "logs.example.com"),
        line("LOGEXPORT_PORT", "6514"),
        line("NAMECHEAP_DDNS_PASS", NASTY),
    ]
    .concat();
    let pin = standin_sha256();
    let image = stick(dir.path(), port, &secrets, &hand_pin(&pin));
    let (code, stdout) = node_test(&image, port, &["--untrusted-log-ca"]);
    assert_eq!(code, 1, "expected a logexport failure:\n{stdout}");
    let fail = stdout
        .lines()
        .find(|l| l.starts_with("qemu-test: FAIL"))
        .unwrap();
    assert!(fail.contains("logexport: "), "{fail}");
    assert!(
        component(&stdout, "logexport").contains("FAILED"),
        "{stdout}"
    );
    assert_ok(
        &stdout,
        "k3s",
        &["started as agent", "K3S_URL", "K3S_TOKEN"],
    );
    assert_ok(&stdout, "ddns", &["node1.example.com", "no primary"]);
    assert_ok(&stdout, "heartbeat", &["off"]);
    assert!(stdout.contains("qemu-test: full serial log: "), "{stdout}");
    assert_no_secret(&stdout);
}

/// A binary that does not match the pin is refused and never executed.
#[test]
fn tampered_k3s_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let secrets = line("K3S_TOKEN", "K10secret::server:t");
    // The stick pins other bytes than the stand-in the harness serves.
    let other = hex::encode(Sha256::digest(b"the real k3s"));
    let image = stick(dir.path(), port, &secrets, &hand_pin(&other));
    let (code, stdout) = node_test(&image, port, &[]);
    assert_eq!(code, 0, "the refusal is the expected outcome:\n{stdout}");
    assert_ok(
        &stdout,
        "k3s",
        &["refused", "never executed", &other, &standin_sha256()],
    );
    assert_ok(&stdout, "units", &["refused k3s install"]);
}

/// No secrets at all: the node boots, every component off and nothing
/// failed. With --keep the VM then runs on: the printed ssh line logs in
/// with the stick's key, and Ctrl-C stops QEMU and leaves no file behind.
#[test]
fn stick_without_secrets_boots_and_keep_lets_ssh_in() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ci@mkstick", "-f"])
        .arg(&key)
        .status()
        .expect("running ssh-keygen (openssh-client: run scripts/setup)");
    assert!(keygen.success());
    let port = free_port();
    let image = stick(dir.path(), port, "", &[]);
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let ssh_port = free_port();
    let mut kept = Kept::start(&image, port, ssh_port, &key.with_extension("pub"), &tmp);
    let (stdout, ssh_line) = kept.until_ssh_line();
    assert!(stdout.contains("qemu-test: PASS"), "{stdout}");
    for name in ["k3s", "logexport", "heartbeat", "ddns"] {
        assert_ok(&stdout, name, &["off", "not failed"]);
    }
    assert_ok(&stdout, "units", &["none"]);
    assert_ok(&stdout, "secrets", &["/secrets"]);
    assert_ok(&stdout, "ignition", &["embedded", "core's SSH key"]);
    assert_eq!(
        ssh_line,
        format!("ssh -p {ssh_port} -i {} core@127.0.0.1", key.display())
    );
    let answer = ssh(&ssh_line, "systemctl is-system-running; cat /etc/hostname");
    assert_eq!(answer, format!("running\n{HOSTNAME}\n"));

    let (code, rest) = kept.interrupt();
    assert!(
        rest.iter().any(|l| l == "qemu-test: Ctrl-C: stopping QEMU"),
        "{rest:?}"
    );
    assert_eq!(code, Some(0), "{rest:?}");
    assert_qemu_gone(&image);
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
}

/// `qemu-test --node --keep` running in the background, its stdout read
/// line by line.
struct Kept {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Kept {
    fn start(image: &Path, port: u16, ssh_port: u16, key_pub: &Path, tmp: &Path) -> Self {
        let mut child = support::bin::mkstick()
            .args(["qemu-test", "--node", "--keep", "--timeout", "600"])
            .arg(image)
            .args(["--http-port", &port.to_string()])
            .args(["--ssh-port", &ssh_port.to_string()])
            .arg("--ssh-key")
            .arg(key_pub)
            .env("TMPDIR", tmp)
            .stdout(Stdio::piped())
            .spawn()
            .expect("running mkstick");
        let (tx, lines) = mpsc::channel();
        let reader = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self { child, lines }
    }

    /// The output up to the printed ssh command, and that command.
    fn until_ssh_line(&mut self) -> (String, String) {
        let mut stdout = String::new();
        let deadline = Instant::now() + Duration::from_secs(660);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.lines.recv_timeout(left) else {
                let _ = self.child.kill();
                panic!("no ssh line from --keep:\n{stdout}");
            };
            stdout.push_str(&line);
            stdout.push('\n');
            if line.trim().starts_with("ssh ") {
                eprintln!("{stdout}");
                return (stdout, line.trim().to_string());
            }
        }
    }

    /// Ctrl-C: the exit code and the remaining output.
    fn interrupt(mut self) -> (Option<i32>, Vec<String>) {
        let kill = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let status = self.child.wait().unwrap();
        let mut rest = Vec::new();
        // Until the reader sees the end of the pipe.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(30)) {
            rest.push(line);
        }
        (status.code(), rest)
    }
}

/// A failed assertion must not leave mkstick (and QEMU) running.
impl Drop for Kept {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` on the node with the printed `ssh` line (the host key,
/// new every boot, not saved); sshd may still be starting: a few tries.
fn ssh(ssh_line: &str, command: &str) -> String {
    let mut args: Vec<&str> = ssh_line.split(' ').skip(1).collect();
    let host = args.pop().unwrap();
    args.extend([
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=30",
        host,
        command,
    ]);
    for _ in 0..10 {
        let out = Command::new("ssh")
            .args(&args)
            .output()
            .expect("running ssh (openssh-client: run scripts/setup)");
        if out.status.code() != Some(255) {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        eprintln!("ssh: {}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_secs(3));
    }
    panic!("ssh could not log in with {ssh_line}");
}
