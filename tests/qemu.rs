//! `mkstick qemu-test --smoke` end to end: real QEMU, real OVMF, the stock
//! iPXE binary, the Debian payload. A pass on a stick built by the writer,
//! and one deliberately broken stick per failure the harness must name.
//!
//! Needs what scripts/setup installs (qemu-system-x86, ovmf, mtools, gdisk,
//! dosfstools, .test-deps/ipxe) and apt lists for the payload's first build.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const SSH_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFiL443Rcw6L5x8OEqmIuXtJQ/Mieo/3xSx0lxX3ckwk ci@mkstick";
const IGNITION: &str = r#"{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/motd","contents":{"source":"data:,smoke"}}]}}"#;
/// A failure found in the booted test kernel (a missing secrets file) comes
/// as late as a passing verdict, so the bound is the passing tests' (150 s):
/// under heavy load 60 s ran out first, and the run then failed as a
/// timeout, not with the failure under test. Failing runs still end as
/// soon as the failure is seen.
const NEGATIVE_TIMEOUT: Duration = Duration::from_secs(150);
/// The ESP starts at 1 MiB and is 256 MiB by default: the secrets volume follows.
const ESP_OFFSET: u64 = 1 << 20;
const SECRETS_OFFSET: u64 = (1 + 256) << 20;

fn ipxe() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps/ipxe/ipxe-amd64.efi");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup",
        path.display()
    );
    path
}

/// The write options of a realistic node: embedded Ignition, k3s and a
/// heartbeat on, the other components off (their env files stay empty).
fn write_options(dir: &Path) -> Vec<String> {
    let ign = dir.join("node.ign");
    std::fs::write(&ign, IGNITION).unwrap();
    let key = dir.join("key.pub");
    std::fs::write(&key, format!("{SSH_KEY}\n")).unwrap();
    [
        "--ipxe-efi",
        ipxe().to_str().unwrap(),
        "--ignition",
        ign.to_str().unwrap(),
        "--ssh-key",
        key.to_str().unwrap(),
        "--hostname",
        "node1",
        "--flatcar-version",
        "4593.2.5",
        "--k3s",
        "K3S_TOKEN=smoke-token",
        "--k3s",
        "K3S_URL=https://10.0.0.1:6443",
        "--k3s-version",
        support::k3s_pin::VERSION,
        "--k3s-sha256",
        support::k3s_pin::SHA256,
        "--heartbeat-url",
        "https://hb.example.com/ping",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn mkstick(args: &[String]) -> Output {
    support::bin::mkstick()
        .args(args)
        .output()
        .expect("running mkstick")
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `qemu-test --smoke` and returns (exit code, stdout), checking that
/// no QEMU of this run outlives it.
fn smoke(args: &[String], stick_marker: &str) -> (i32, String) {
    let started = Instant::now();
    let out = mkstick(&[&["qemu-test".to_string(), "--smoke".to_string()], args].concat());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!(
        "{stdout}{}(took {:.1}s)",
        String::from_utf8_lossy(&out.stderr),
        started.elapsed().as_secs_f64()
    );
    assert_no_qemu_with(stick_marker);
    (out.status.code().unwrap_or(-1), stdout)
}

/// `smoke` on a broken stick, with the short negative-test timeout and,
/// when given, the HTTP port the stick was written for.
fn smoke_bound_to_fail(img: &str, http_port: Option<u16>) -> (i32, String) {
    let mut args = vec![
        img.to_string(),
        "--timeout".to_string(),
        NEGATIVE_TIMEOUT.as_secs().to_string(),
    ];
    if let Some(port) = http_port {
        args.extend(["--http-port".to_string(), port.to_string()]);
    }
    smoke(&args, img)
}

/// No process whose command line names `marker` (the stick) is left.
fn assert_no_qemu_with(marker: &str) {
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline);
            assert!(
                !(cmdline.contains("qemu-system") && cmdline.contains(marker)),
                "QEMU outlived mkstick: {cmdline}"
            );
        }
    }
}

fn assert_failure(code: i32, stdout: &str, check: &str, detail: &str) {
    assert_eq!(code, 1, "expected a failure:\n{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("qemu-test: FAIL"))
        .expect("a FAIL line");
    assert!(
        line.contains(&format!("): {check}: ")),
        "wrong check, expected {check}: {line}"
    );
    assert!(line.contains(detail), "expected {detail:?} in: {line}");
    let log = stdout
        .lines()
        .find_map(|l| l.strip_prefix("qemu-test: full serial log: "))
        .expect("the report names the serial log");
    assert!(Path::new(log).is_file(), "serial log {log} is missing");
    let _ = std::fs::remove_file(log);
}

/// A stick image written by `mkstick --image`, its script pointing at the
/// payload server on `port`.
fn written_stick(dir: &Path, port: u16) -> PathBuf {
    let image = dir.join("stick.img");
    let mut args = vec![
        "--image".to_string(),
        image.to_str().unwrap().to_string(),
        "--yes".into(),
    ];
    args.extend(["--base-url".to_string(), format!("http://10.0.2.2:{port}")]);
    args.extend(write_options(dir));
    let out = mkstick(&args);
    assert!(
        out.status.success(),
        "mkstick --image: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    image
}

/// Smoke-tests a stick built from the write options into `image` (kept).
fn smoke_built(dir: &Path, image: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = write_options(dir);
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend([
        "--image".into(),
        image.to_str().unwrap().into(),
        "--timeout".into(),
        "150".into(),
    ]);
    smoke(&args, image.to_str().unwrap())
}

#[test]
fn smoke_passes_offline_with_flatcar_on_the_stick() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("offline.img");
    let (code, stdout) = smoke_built(dir.path(), &image, &["--offline"]);
    assert_eq!(code, 0, "offline smoke test failed:\n{stdout}");
    // The payload server never served anything: the node booted from the stick.
    let manifest = Command::new("mcopy")
        .env("MTOOLS_SKIP_CHECK", "1")
        .args([
            "-i",
            &format!("{}@@1M", image.display()),
            "::/mkstick/manifest.json",
            "-",
        ])
        .output()
        .unwrap();
    let manifest = String::from_utf8_lossy(&manifest.stdout);
    assert!(
        manifest.contains("\"offline_dir\": \"flatcar/amd64/4669.99.0\""),
        "{manifest}"
    );
}

#[test]
fn smoke_passes_on_a_stick_built_from_the_write_options() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("kept.img");
    let (code, stdout) = smoke_built(dir.path(), &image, &[]);
    assert_eq!(code, 0, "smoke test failed:\n{stdout}");
    let pass = stdout
        .lines()
        .find(|l| l.starts_with("qemu-test: PASS"))
        .expect("a PASS line");
    for check in [
        "kernel-cmdline",
        "ignition-embedded",
        "modules",
        "secrets-found",
        "secrets-mounted-ro",
        "secrets-files",
    ] {
        assert!(pass.contains(check), "{check} not reported in: {pass}");
    }
    // The expectations came from the stick the writer built.
    assert!(
        stdout.contains(&format!("expect cmdline sshkey=\"{SSH_KEY}\"")),
        "{stdout}"
    );
    assert!(
        stdout.contains("expect cmdline initrd=oem.cpio"),
        "{stdout}"
    );
    // The four env files, and k3s's pinned release (k3s is on).
    assert_eq!(stdout.matches("expect secret ").count(), 5, "{stdout}");
    assert!(stdout.contains("expect secret k3s_release "), "{stdout}");
    // The secrets files' digests go to the guest, never to the output.
    for line in stdout.lines().filter(|l| l.contains("expect secret ")) {
        assert!(
            line.ends_with("(sha256 checked in the guest)")
                && !line
                    .split(|c: char| !c.is_ascii_hexdigit())
                    .any(|w| w.len() == 64),
            "a secrets digest was printed: {line}"
        );
    }
    let timings = stdout
        .lines()
        .find(|l| l.starts_with("qemu-test: timings"))
        .unwrap();
    for milestone in [
        "firmware", "iPXE", "script", "DHCP", "kernel", "init", "verdict",
    ] {
        assert!(
            timings.contains(milestone),
            "{milestone} missing from: {timings}"
        );
    }
    assert!(image.is_file(), "--image keeps the built stick");
}

#[test]
fn smoke_fails_on_a_stick_without_an_esp() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("no-esp.img");
    let img = image.to_str().unwrap();
    run("truncate", &["-s", "300M", img]);
    run(
        "sgdisk",
        &[
            "-n",
            "2:526336:+16M",
            "-t",
            "2:8300",
            "-c",
            "2:secrets",
            img,
        ],
    );
    run(
        "mkfs.vfat",
        &[
            "-F", "16", "-n", "SECRETS", "--offset", "526336", img, "16384",
        ],
    );
    let env = dir.path().join("k3s_env");
    std::fs::write(&env, "K3S_TOKEN=\"t\"\n").unwrap();
    run(
        "mcopy",
        &[
            "-i",
            &format!("{img}@@{SECRETS_OFFSET}"),
            env.to_str().unwrap(),
            "::/k3s_env",
        ],
    );
    let (code, stdout) = smoke_bound_to_fail(img, None);
    assert_failure(code, &stdout, "firmware-boot", "could not start the stick");
}

#[test]
fn smoke_fails_when_the_script_asks_for_a_missing_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let image = written_stick(dir.path(), port);
    let img = image.to_str().unwrap();
    // Break the kernel URL in the stick's own script, as a user's typo would.
    let esp = format!("{img}@@{ESP_OFFSET}");
    let script = Command::new("mtype")
        .args(["-i", &esp, "::/autoexec.ipxe"])
        .output()
        .unwrap();
    assert!(script.status.success());
    let script = String::from_utf8(script.stdout).unwrap();
    let broken = script.replace(
        "${base}/flatcar_production_pxe.vmlinuz",
        "${base}/missing.vmlinuz",
    );
    assert_ne!(
        script, broken,
        "the script has no kernel line to break:\n{script}"
    );
    let edited = dir.path().join("autoexec.ipxe");
    std::fs::write(&edited, broken).unwrap();
    run(
        "mcopy",
        &[
            "-o",
            "-i",
            &esp,
            edited.to_str().unwrap(),
            "::/autoexec.ipxe",
        ],
    );
    let (code, stdout) = smoke_bound_to_fail(img, Some(port));
    assert_failure(
        code,
        &stdout,
        "payload-fetch",
        "missing.vmlinuz, which is not a payload file (HTTP 404)",
    );
}

#[test]
fn smoke_fails_when_the_secrets_volume_lacks_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let image = written_stick(dir.path(), port);
    let img = image.to_str().unwrap();
    run(
        "mdel",
        &[
            "-i",
            &format!("{img}@@{SECRETS_OFFSET}"),
            "::/heartbeat_env",
        ],
    );
    let (code, stdout) = smoke_bound_to_fail(img, Some(port));
    assert_failure(code, &stdout, "secrets-files", "heartbeat_env is missing");
}

/// Starts `qemu-test --smoke` on a written stick and waits until QEMU runs.
fn start_smoke(dir: &Path) -> (std::process::Child, String) {
    let port = free_port();
    let image = written_stick(dir, port);
    let img = image.to_str().unwrap().to_string();
    let child = support::bin::mkstick()
        .args([
            "qemu-test",
            "--smoke",
            &img,
            "--http-port",
            &port.to_string(),
            "--accel",
            "tcg",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A cold cache builds the payload first (a 70 MB kernel package).
    let deadline = Instant::now() + Duration::from_secs(300);
    while !qemu_running_with(&img) {
        assert!(Instant::now() < deadline, "QEMU did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, img)
}

fn qemu_running_with(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline")).is_ok_and(|c| {
            let c = String::from_utf8_lossy(&c);
            c.contains("qemu-system") && c.contains(marker)
        })
    })
}

#[test]
#[allow(unsafe_code)] // kill(2) on our own child, as a user's Ctrl-C would.
fn ctrl_c_stops_qemu_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let (child, img) = start_smoke(dir.path());
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(
        stdout.contains("FAIL (TCG): interrupted: stopped by Ctrl-C"),
        "{stdout}"
    );
    assert_no_qemu_with(&img);
}

#[test]
fn qemu_dies_with_a_killed_mkstick() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, img) = start_smoke(dir.path());
    // SIGKILL: no handler, no destructor runs; only PR_SET_PDEATHSIG is left.
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while qemu_running_with(&img) {
        assert!(Instant::now() < deadline, "QEMU outlived a killed mkstick");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn interactive_mode_needs_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let image = written_stick(dir.path(), free_port());
    let out = support::bin::mkstick()
        .args(["qemu-test", image.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("interactive mode needs a terminal") && stderr.contains("--smoke"),
        "{stderr}"
    );
}

/// `qemu-test --help` as a person sees it, against tests/golden (regenerate
/// with `MKSTICK_BLESS=1 cargo test --test qemu help` and review the diff).
#[test]
fn help_matches_golden_and_fits_80_columns() {
    let out = support::bin::mkstick()
        .args(["qemu-test", "--help"])
        // clap shows the values of env-backed options: show none.
        .env_clear()
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for line in help.lines() {
        assert!(
            line.chars().count() <= 80 || line.starts_with('|'),
            "too wide: {line:?}"
        );
    }
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/qemu-test-help.txt");
    if std::env::var_os("MKSTICK_BLESS").is_some() {
        std::fs::write(&golden, &help).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    assert!(
        want == help,
        "{} differs (MKSTICK_BLESS=1 to update):\n{help}",
        golden.display()
    );
}

/// Interactive mode on a real terminal (script(1) gives it a pty): the
/// console is the terminal, and Ctrl-C typed there stops QEMU and mkstick.
#[test]
fn interactive_ctrl_c_on_the_terminal_stops_qemu() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let image = written_stick(dir.path(), free_port());
    let img = image.to_str().unwrap();
    let command = format!(
        "{} qemu-test {img} --accel tcg --ssh-port {}",
        support::bin::path().display(),
        free_port()
    );
    let mut child = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !qemu_running_with(img) {
        assert!(Instant::now() < deadline, "QEMU did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the firmware start, as a person would, then type Ctrl-C.
    std::thread::sleep(Duration::from_secs(2));
    child.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("interrupted; QEMU stopped"), "{stdout}");
    assert_no_qemu_with(img);
}

/// The seed's usage: a real block device (a read-only loop device over a
/// written image) passes the smoke test, and is left untouched.
#[test]
fn smoke_passes_on_a_read_only_block_device() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let image = written_stick(dir.path(), port);
    let before = std::fs::read(&image).unwrap();
    let Some(lo) = support::loopdev::Loop::attach(&image, true) else {
        return;
    };
    let dev = lo.dev.clone();
    let args = [
        dev.clone(),
        "--http-port".into(),
        port.to_string(),
        "--timeout".into(),
        "150".into(),
    ];
    let (code, stdout) = smoke(&args, &dev);
    drop(lo);
    assert_eq!(code, 0, "smoke test on {dev} failed:\n{stdout}");
    assert!(
        std::fs::read(&image).unwrap() == before,
        "the stick was modified"
    );
}
