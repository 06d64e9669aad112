//! The cost of the undo journal of a device write (src/target/journal.rs):
//! its size, and the time spent saving the old bytes against the whole
//! write and read-back of the same run, for the default stick and for an
//! `--offline` stick carrying a release of Flatcar 4593.2.5's real sizes;
//! then how long putting everything back takes after a Ctrl-C during the
//! read-back.
//!
//!   sudo cargo bench --bench device
//!
//! Needs root and loop devices (like tests/blockdev.rs). The figures come
//! from the test-only `MKSTICK_TEST_DEVICE_FAULT=report-journal` hook, which
//! `cargo bench` builds carry (the test-only `test-keys` feature). Not a timed test:
//! only same-run ratios mean much on a shared machine.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::fixture::{Fixture, VERSION};
use support::loopdev::Loop;
use support::server::Server;

const RUNS: usize = 3;
const MIB: u64 = 1 << 20;
/// Flatcar 4593.2.5's PXE kernel and initrd (docs: ipxe-flatcar.md).
const KERNEL_BYTES: usize = 34_245_760;
const INITRD_BYTES: usize = 374 << 20;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("node.ign"), r#"{"ignition":{"version":"3.3.0"}}"#).unwrap();

    // k3s on, its release pinned by hand (no network), as in tests/blockdev.rs.
    let k3s = [
        "--k3s-version",
        "v1.31.4+k3s1",
        "--k3s-sha256",
        "86bd33ebf64e01aaafb7dab419436ac025d04abd933bbbb124ddb25c30b59dd7",
    ]
    .map(String::from);
    let token = [("K3S_TOKEN", "bench".to_string())];
    stick("default stick", d, 300, &k3s, &token);

    eprintln!("preparing a signed release of Flatcar's sizes...");
    let fx = Fixture::with_sizes(31, KERNEL_BYTES, INITRD_BYTES);
    let server = Server::start(&fx.cdn());
    let offline: Vec<String> = [
        "--offline",
        "--mirror",
        &d.join("mirror").to_string_lossy(),
        "--keyring",
        &fx.keyring().to_string_lossy(),
        "--base-url",
        &server.base,
    ]
    .map(String::from)
    .into();
    // No k3s: an offline stick would fetch its release into the mirror.
    let env = [("MKSTICK_TEST_SIGNING_FINGERPRINT", fx.fingerprint())];
    stick("--offline stick", d, 1200, &offline, &env);
}

/// Writes the stick `RUNS` times to a fresh loop device of `mib` MiB and
/// prints the journal's share, then times a full restore.
fn stick(name: &str, d: &Path, mib: u64, extra: &[String], env: &[(&str, String)]) {
    let file = d.join("disk.img");
    std::fs::File::create(&file)
        .unwrap()
        .set_len(mib * MIB)
        .unwrap();
    let lo = Loop::attach(&file, false).expect("root and loop devices");
    let mkstick = |fault: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mkstick"));
        cmd.env_clear()
            .env("TMPDIR", d)
            .env("MKSTICK_TEST_DEVICE_FAULT", fault)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg(&lo.dev)
            .arg("--ipxe-efi")
            .arg(ipxe())
            .arg("--ignition")
            .arg(d.join("node.ign"))
            .args(["--flatcar-version", VERSION, "--yes", "--force"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    };

    let mut best: Option<(u64, u64, u64)> = None;
    for _ in 0..RUNS {
        let out = mkstick("report-journal").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        let line = err
            .lines()
            .find_map(|l| l.strip_prefix("mkstick: test hook: report-journal: "))
            .unwrap_or_else(|| panic!("no report in:\n{err}"));
        let n: Vec<u64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        let (bytes, journal_us, total_us) = (n[0], n[1], n[2]);
        if best.is_none_or(|b| total_us < b.2) {
            best = Some((bytes, journal_us, total_us));
        }
    }
    let (bytes, journal_us, total_us) = best.unwrap();
    println!(
        "{name}: journal {bytes} bytes ({:.1} MiB); saving it took {:.1} ms of {:.1} ms \
         writing and verifying: {:.3}x (best of {RUNS})",
        bytes as f64 / MIB as f64,
        journal_us as f64 / 1e3,
        total_us as f64 / 1e3,
        journal_us as f64 / total_us as f64
    );

    // Ctrl-C once everything is written: the whole journal goes back.
    let mut child = mkstick("pause-before-verify").spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("test hook: pause-before-verify"))
        .expect("the pause");
    let start = Instant::now();
    let kill = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let restore: Duration = start.elapsed();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    println!(
        "{name}: Ctrl-C before the read-back: restored in {:.1} ms ({})",
        restore.as_secs_f64() * 1e3,
        rest.last().map_or("", String::as_str)
    );
}

fn ipxe() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps/ipxe/ipxe-amd64.efi")
}
