//! Ctrl-C, SIGTERM, SIGKILL and errors during a device write, on real loop
//! devices over a file filled with a known pattern: whatever happens before
//! the stick is verified, the device ends up byte-identical to before.
//!
//! The signal lands at a known point through the test-only
//! `MKSTICK_TEST_DEVICE_FAULT` hook (`src/target/fault.rs`, built only with
//! the test-only `test-keys` feature that this crate's dev-dependency turns on).

mod support;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use support::loopdev::Loop;

const MIB: u64 = 1 << 20;
/// Room for the default stick (274 MiB) on the device.
const DISK_MIB: u64 = 300;

/// The known contents of the device before the write (`offset` and the
/// buffer's length are multiples of 512): noise, with every 512-byte sector
/// stamped with its own offset, so a misplaced or missing chunk shows.
fn pattern(offset: u64, buf: &mut [u8]) {
    let noise: Vec<u8> = (0..512u32)
        .map(|i| (i.wrapping_mul(167) % 251) as u8)
        .collect();
    for (i, sector) in buf.chunks_mut(512).enumerate() {
        sector.copy_from_slice(&noise);
        let at = offset + 512 * i as u64;
        sector[..8].copy_from_slice(&at.to_le_bytes());
    }
}

/// A loop device over a patterned file, a directory for mkstick's
/// temporary files (its journal), and scratch space for inputs.
struct Disk {
    lo: Option<Loop>,
    file: PathBuf,
    tmp: PathBuf,
    dir: tempfile::TempDir,
}

impl Disk {
    fn new() -> Option<Disk> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("disk.img");
        let f = std::fs::File::create(&file).unwrap();
        let mut buf = vec![0u8; MIB as usize];
        for mib in 0..DISK_MIB {
            pattern(mib * MIB, &mut buf);
            f.write_all_at(&buf, mib * MIB).unwrap();
        }
        f.sync_all().unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let lo = Loop::attach(&file, false)?;
        Some(Disk {
            lo: Some(lo),
            file,
            tmp,
            dir,
        })
    }

    fn dev(&self) -> &str {
        &self.lo.as_ref().unwrap().dev
    }

    /// Starts `mkstick DEVICE --force --yes` (k3s pinned by hand, so no
    /// network) with the fault hook set to `fault`.
    fn start(&self, fault: &str) -> Run {
        let ipxe = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-deps/ipxe/ipxe-amd64.efi");
        let ign = self.dir.path().join("node.ign");
        std::fs::write(&ign, r#"{"ignition":{"version":"3.3.0"}}"#).unwrap();
        let mut child = support::bin::mkstick()
            .env_clear()
            .env("TMPDIR", &self.tmp)
            .env("K3S_TOKEN", "interrupt-test-token")
            .env("MKSTICK_TEST_DEVICE_FAULT", fault)
            .arg(self.dev())
            .arg("--ipxe-efi")
            .arg(ipxe)
            .arg("--ignition")
            .arg(&ign)
            .args(["--flatcar-version", "4593.2.5", "--yes", "--force"])
            .args([
                "--k3s-version",
                "v1.31.4+k3s1",
                "--k3s-sha256",
                "86bd33ebf64e01aaafb7dab419436ac025d04abd933bbbb124ddb25c30b59dd7",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Run {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Detaches the loop device and checks the file holds the pattern.
    fn assert_unchanged(mut self) {
        drop(self.lo.take());
        let mut f = std::fs::File::open(&self.file).unwrap();
        assert_eq!(f.metadata().unwrap().len(), DISK_MIB * MIB);
        let (mut got, mut want) = (vec![0u8; MIB as usize], vec![0u8; MIB as usize]);
        for mib in 0..DISK_MIB {
            f.read_exact(&mut got).unwrap();
            pattern(mib * MIB, &mut want);
            assert!(got == want, "the device changed in MiB {mib}");
        }
        self.assert_no_temp_files();
    }

    fn assert_no_temp_files(&self) {
        let left: Vec<_> = std::fs::read_dir(&self.tmp)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
    }
}

struct Run {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Run {
    /// Waits for a stderr line containing `needle`; fails with what was
    /// printed if mkstick exits first.
    fn wait_for(&mut self, needle: &str) {
        let until = Instant::now() + Duration::from_secs(300);
        loop {
            match self
                .lines
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().unwrap();
                    panic!(
                        "mkstick exited ({status}) without printing {needle:?}:\n{}",
                        self.seen.join("\n")
                    );
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("no {needle:?} in 300 s:\n{}", self.seen.join("\n"));
                }
            }
        }
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name}");
    }

    /// Waits for the exit; returns the code (None: killed) and all of stderr.
    fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        self.seen.extend(self.lines.iter());
        (status.code(), self.seen.join("\n"))
    }
}

fn interrupted_at(fault: &str, signal: &str) {
    let Some(disk) = Disk::new() else { return };
    let mut run = disk.start(fault);
    run.wait_for(&format!("test hook: {fault}"));
    run.signal(signal);
    let (code, stderr) = run.finish();
    assert_eq!(code, Some(130), "{stderr}");
    let want = format!(
        "mkstick: interrupted; {} restored to what it held before (",
        disk.dev()
    );
    let line = stderr
        .lines()
        .find(|l| l.starts_with(&want))
        .unwrap_or_else(|| panic!("no {want:?} in:\n{stderr}"));
    assert!(line.ends_with(" MiB put back)"), "{line}");
    assert!(!stderr.contains("wrote /dev"), "{stderr}");
    disk.assert_unchanged();
}

#[test]
fn ctrl_c_during_the_write_puts_the_device_back() {
    interrupted_at("pause-after-first-chunk", "INT");
}

#[test]
fn sigterm_during_the_write_puts_the_device_back() {
    interrupted_at("pause-after-first-chunk", "TERM");
}

/// Everything is on the device by then: all of it is put back.
#[test]
fn ctrl_c_during_the_read_back_puts_the_device_back() {
    interrupted_at("pause-before-verify", "INT");
}

fn failed_with(fault: &str, why: &str) {
    let Some(disk) = Disk::new() else { return };
    let (code, stderr) = disk.start(fault).finish();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(why), "{stderr}");
    let restored = format!(
        "writing {} failed; nothing was written: it was restored to what it held before (",
        disk.dev()
    );
    assert!(stderr.contains(&restored), "{stderr}");
    disk.assert_unchanged();
}

#[test]
fn a_read_back_mismatch_puts_the_device_back() {
    failed_with("readback-mismatch", "reads back with sha256");
}

#[test]
fn an_io_error_mid_write_puts_the_device_back() {
    failed_with("io-error-mid-write", "Input/output error");
}

/// SIGKILL cannot be caught: the device is left half-written, but the
/// journal (which may hold the previous owner's data) has no name and goes
/// with the process.
#[test]
fn sigkill_leaves_no_journal_behind() {
    let Some(disk) = Disk::new() else { return };
    let mut run = disk.start("pause-after-first-chunk");
    run.wait_for("test hook: pause-after-first-chunk");
    // The journal is open, in TMPDIR, without a name.
    let fds = Path::new("/proc")
        .join(run.child.id().to_string())
        .join("fd");
    let journal: Vec<_> = std::fs::read_dir(&fds)
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
        .filter(|target| target.starts_with(&disk.tmp))
        .collect();
    assert_eq!(journal.len(), 1, "open files in TMPDIR: {journal:?}");
    assert!(
        journal[0].to_string_lossy().ends_with(" (deleted)"),
        "{journal:?}"
    );
    disk.assert_no_temp_files();
    run.signal("KILL");
    let (code, stderr) = run.finish();
    assert_eq!(code, None, "{stderr}");
    disk.assert_no_temp_files();
}

/// The journal needs as much free space as the write covers: too little is
/// refused before anything is written, and says what to do.
#[test]
fn too_little_temporary_space_is_refused_before_writing() {
    let Some(disk) = Disk::new() else { return };
    let mount = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&disk.tmp)
        .status()
        .unwrap();
    assert!(mount.success(), "mount a 1 MiB tmpfs on TMPDIR");
    let (code, stderr) = disk.start("").finish();
    let umount = Command::new("umount").arg(&disk.tmp).status().unwrap();
    assert!(umount.success());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(" MiB it overwrites in a temporary file until the stick is verified"),
        "{stderr}"
    );
    assert!(
        stderr.contains("has only 1 MiB free; free some space there or set TMPDIR"),
        "{stderr}"
    );
    disk.assert_unchanged();
}
