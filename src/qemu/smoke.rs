//! Smoke mode: boot the stick against the test payload, watch the console,
//! and turn what happens into a pass, or a failure that names its reason.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use super::Options;
use super::build::Stick;
use super::console::{self, secs};
use super::expect::{Expectations, served_initrd};
use super::payload::Payload;
use super::server::PayloadServer;
use super::vm::{Console, Network, Vm};
use super::watch::{Failure, Outcome, Watcher};
use super::{Event, stick};
use crate::model::flatcar::Arch;

const DEFAULT_TIMEOUT_SECS: u64 = 120;
/// Enough for the payload; OVMF also starts faster with less memory.
const DEFAULT_MEMORY_MIB: u32 = 512;
/// Console lines kept for the failure report.
const TAIL_LINES: usize = 25;

pub(super) fn run(args: &Options) -> Result<ExitCode> {
    ensure!(
        args.arch() == Arch::Amd64,
        "--smoke boots an amd64 test payload; test an arm64 stick interactively (without --smoke)"
    );
    let payload = Payload::load(args.payload.as_deref())?;
    let machine = super::Machine::for_options(args)?;

    let (tx, rx) = mpsc::channel();
    let server = PayloadServer::start(args.http_port, tx.clone())?;
    let base_url = format!("http://10.0.2.2:{}", server.port);
    // Built (without a TARGET) once the server's port, its base URL, is known.
    let (stick, expectations, _mirror) =
        if args.stick.request.offline.is_some() && args.stick.target.is_none() {
            // Offline: the payload goes on the stick and the server never serves
            // it, so a pass proves the node booted from the stick alone.
            offline_stick(args, &payload, base_url)?
        } else {
            let stick = Stick::target_or_build(&args.stick, Some(base_url))?;
            let expectations = Expectations::for_stick(&stick::read(stick.path())?)?;
            server.serve(
                payload.kernel.clone().into(),
                served_initrd(&payload.base_initrd, &expectations).into(),
            );
            (stick, expectations, None)
        };
    let interrupt = tx.clone();
    // The handler only reports: the harness loop stops QEMU and says so.
    let _ = ctrlc::try_set_handler(move || {
        let _ = interrupt.send(Event::Interrupted);
    });

    let (log_path, log, on_pass) = serial_log(args)?;
    let spec = machine.spec(
        args,
        DEFAULT_MEMORY_MIB,
        stick.path(),
        Network::User { ssh_port: None },
        Console::Captured,
    );
    println!(
        "qemu-test: smoke test of {} with {} ({})",
        stick.path().display(),
        machine.decision.accel,
        machine.decision.why
    );
    announce(args, &payload, server.port, &expectations);
    let mut vm = Vm::spawn(&spec)?;
    console::capture(&mut vm, Some(log), tx)?;
    let timeout = Duration::from_secs(args.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS));
    let boot = watch(&mut vm, &rx, timeout)?;
    // QEMU powers off by itself after a verdict; stop it in every case.
    vm.stop(Duration::from_secs(3))?;
    drop(server);
    Ok(report(
        &boot,
        &machine.decision.accel.to_string(),
        &log_path,
        on_pass,
    ))
}

/// The serial log: the user's file (kept), or a temporary one (removed on a pass).
fn serial_log(args: &Options) -> Result<(PathBuf, File, LogOnPass)> {
    let (path, on_pass) = match &args.log {
        Some(path) => (path.clone(), LogOnPass::Keep),
        None => (temp_log_path()?, LogOnPass::Remove),
    };
    let log = File::create(&path)
        .with_context(|| format!("creating the serial log {}", path.display()))?;
    Ok((path, log, on_pass))
}

/// Where the payload comes from and what the guest must find.
fn announce(args: &Options, payload: &Payload, port: u16, expectations: &Expectations) {
    if args.stick.request.offline.is_some() {
        println!(
            "qemu-test: payload {} on the stick (--offline); http://10.0.2.2:{port} serves nothing",
            payload.dir.display(),
        );
    } else {
        println!(
            "qemu-test: payload {} served at http://10.0.2.2:{port} (127.0.0.1 here)",
            payload.dir.display(),
        );
    }
    for line in expectations.render().lines() {
        // A secrets file's digest goes to the guest only: printed, it would
        // let whoever reads the output confirm a guessed secret.
        match line.strip_prefix("secret ").and_then(|r| r.split_once(' ')) {
            Some((name, _)) => {
                println!("qemu-test:   expect secret {name} (sha256 checked in the guest)")
            }
            None => println!("qemu-test:   expect {line}"),
        }
    }
}

/// The version the payload is filed under in the throwaway mirror: clearly
/// not a real Flatcar (minor 99), new enough for an embedded Ignition config,
/// and with a major day already past, so a signature made now is not refused
/// as a rollback (src/mirror/rollback.rs).
const PAYLOAD_VERSION: &str = "4669.99.0";

/// The k3s tag a stand-in binary is filed under in the throwaway mirror.
const K3S_STAND_IN_TAG: &str = "v0.0.0+smoke";

/// A stick that carries the payload as its offline Flatcar release (and,
/// when it runs k3s, a stand-in k3s binary). Both are filed in a temporary
/// mirror and the stick is built from it with `--offline`, as a user would.
/// The expectations come from a probe built the same way from the plain
/// payload: kernel arguments, Ignition and secrets (`k3s_release` names the
/// files the stick carries) do not depend on the initrd's contents.
fn offline_stick(
    args: &Options,
    payload: &Payload,
    base_url: String,
) -> Result<(Stick, Expectations, Option<tempfile::TempDir>)> {
    use crate::mirror::{Version, VersionSpec};

    let mirror = tempfile::Builder::new()
        .prefix("mkstick-qemu-mirror-")
        .tempdir()?;
    let version: Version = PAYLOAD_VERSION.parse()?;
    // The write path verifies mirrored files by signature: sign the payload
    // with a key trusted by this process only.
    let mut signer = crate::mirror::EphemeralSigner::generate()?;
    let key = mirror.path().join("payload-key.asc");
    std::fs::write(&key, signer.armored_public()?)?;
    let mut file =
        |initrd: &[u8]| file_payload(args, mirror.path(), &version, payload, initrd, &mut signer);
    file(&payload.base_initrd)?;

    let mut offline = args.stick.clone();
    offline.request.offline = Some(crate::resolve::OfflineRequest {
        mirror: Some(mirror.path().to_path_buf()),
        keyring: Some(key),
    });
    offline.request.flatcar_version = VersionSpec::Exact(version.clone());
    offline.request.k3s = file_k3s_stand_in(mirror.path(), args.arch(), &offline.request.k3s)?;

    let mut probe = offline.clone();
    probe.image = None;
    let probe = Stick::target_or_build(&probe, Some(base_url.clone()))?;
    let expectations = Expectations::for_stick(&stick::read(probe.path())?)?;
    drop(probe);

    file(&served_initrd(&payload.base_initrd, &expectations))?;
    let stick = Stick::target_or_build(&offline, Some(base_url))?;
    Ok((stick, expectations, Some(mirror)))
}

/// Files the payload, signed, as the Flatcar release `version` in the mirror `root`.
fn file_payload(
    args: &Options,
    root: &Path,
    version: &crate::mirror::Version,
    payload: &Payload,
    initrd: &[u8],
    signer: &mut crate::mirror::EphemeralSigner,
) -> Result<()> {
    use crate::mirror::layout;
    use crate::mirror::manifest::{FileRecord, Manifest};

    let arch = args.arch();
    let channel = args.stick.request.channel;
    let dir = root
        .join(channel.as_str())
        .join(arch.board())
        .join(version.as_str());
    std::fs::create_dir_all(&dir)?;
    let mut manifest = Manifest::new(channel, arch, version.clone());
    for (name, bytes) in [
        (layout::KERNEL, &payload.kernel[..]),
        (layout::INITRD, initrd),
    ] {
        std::fs::write(dir.join(name), bytes)
            .with_context(|| format!("filing the payload's {name}"))?;
        let sig = format!("{name}.sig");
        std::fs::write(dir.join(&sig), signer.sign(bytes)?)
            .with_context(|| format!("filing the payload's {sig}"))?;
        let record = FileRecord {
            size: bytes.len() as u64,
            sha256: crate::fetch::Sha256Digest::of(bytes),
            sha512: None,
            signature: Some(sig),
            signed_by: None,
            signed_at: None,
        };
        manifest.files.insert(name.to_string(), record);
    }
    manifest.save(&dir)
}

/// Files a stand-in k3s binary (the payload runs no k3s) as a release in the
/// mirror `root`, with its checksum file, and returns the k3s request that
/// pins it: an offline stick that runs k3s carries the binary, and the test
/// needs no network for it.
fn file_k3s_stand_in(
    root: &Path,
    arch: Arch,
    asked: &crate::resolve::K3sRequest,
) -> Result<crate::resolve::K3sRequest> {
    use crate::k3s::release::{binary_asset, sums_asset};

    let tag: crate::k3s::Tag = K3S_STAND_IN_TAG.parse()?;
    let dir = crate::mirror::k3s::tag_dir(root, &tag);
    std::fs::create_dir_all(&dir)?;
    let binary = b"#!/bin/sh\necho 'mkstick qemu-test: a stand-in, not k3s' >&2\nexit 1\n";
    let asset = binary_asset(arch);
    std::fs::write(dir.join(asset), binary).context("filing the stand-in k3s")?;
    let sums = format!("{}  {asset}\n", crate::fetch::Sha256Digest::of(binary));
    std::fs::write(dir.join(sums_asset(arch)), sums).context("filing the stand-in k3s")?;
    Ok(crate::resolve::K3sRequest {
        version: crate::k3s::VersionSpec::Tag(tag),
        sha256: None,
        airgap: false,
        ..asked.clone()
    })
}

/// What one boot showed.
struct Boot {
    outcome: Outcome,
    watcher: Watcher,
    tail: VecDeque<String>,
}

/// Follows the boot until an outcome, QEMU's exit or the deadline.
fn watch(vm: &mut Vm, events: &Receiver<Event>, timeout: Duration) -> Result<Boot> {
    let mut watcher = Watcher::default();
    let mut tail = VecDeque::with_capacity(TAIL_LINES);
    let mut stderr = Vec::new();
    let deadline = vm.started + timeout;
    let outcome = loop {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            let last = watcher
                .last()
                .map_or("none (no firmware output)", |m| m.label());
            let detail = format!(
                "no verdict within {}s; last milestone reached: {last}",
                timeout.as_secs()
            );
            break Outcome::Fail(Failure::new("timeout", detail));
        };
        match events.recv_timeout(left) {
            Ok(Event::Serial { at, line }) => {
                let outcome = watcher.serial(at, &line);
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
                if let Some(outcome) = outcome {
                    break outcome;
                }
            }
            Ok(Event::Http { path, status }) => {
                if let Some(outcome) = watcher.http(&path, status) {
                    break outcome;
                }
            }
            Ok(Event::Stderr(line)) => stderr.push(line),
            Ok(Event::Interrupted) => {
                break Outcome::Fail(Failure::new("interrupted", "stopped by Ctrl-C"));
            }
            Ok(Event::ConsoleClosed) | Err(RecvTimeoutError::Disconnected) => {
                let status = vm.stop(Duration::from_secs(2))?;
                let detail = format!(
                    "QEMU exited ({status}) before a verdict; its messages: {}",
                    stderr.join(" | ")
                );
                break Outcome::Fail(Failure::new("qemu-exited", detail));
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
    };
    Ok(Boot {
        outcome,
        watcher,
        tail,
    })
}

/// Prints the timings and the verdict; on failure also the console's last
/// lines and where the full log is. Returns the exit status.
/// Whether the serial log outlives a pass: a log the user named stays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LogOnPass {
    Keep,
    Remove,
}

fn report(boot: &Boot, accel: &str, log: &Path, on_pass: LogOnPass) -> ExitCode {
    let timings: Vec<String> = boot
        .watcher
        .reached()
        .iter()
        .map(|(m, at)| format!("{} {}", m.label(), secs(*at)))
        .collect();
    let timings = if timings.is_empty() {
        "no milestone reached".to_string()
    } else {
        timings.join(", ")
    };
    println!("qemu-test: timings (s from QEMU start): {timings}");
    match &boot.outcome {
        Outcome::Pass { checks } => {
            println!("qemu-test: PASS ({accel}): {}", checks.join(", "));
            if on_pass == LogOnPass::Keep {
                println!("qemu-test: serial log: {}", log.display());
            } else {
                let _ = std::fs::remove_file(log);
            }
            ExitCode::SUCCESS
        }
        Outcome::Fail(failure) => {
            println!(
                "qemu-test: FAIL ({accel}): {}: {}",
                failure.check, failure.detail
            );
            println!("qemu-test: last {} console lines:", boot.tail.len());
            for line in &boot.tail {
                println!("  | {line}");
            }
            println!("qemu-test: full serial log: {}", log.display());
            ExitCode::from(if failure.check == "interrupted" {
                130
            } else {
                1
            })
        }
    }
}

/// A new, kept file in the temporary directory.
fn temp_log_path() -> Result<PathBuf> {
    let file = tempfile::Builder::new()
        .prefix("mkstick-qemu-")
        .suffix(".log")
        .tempfile()
        .context("creating the serial log in the temporary directory")?;
    let (_, path) = file.keep().context("keeping the serial log")?;
    Ok(path)
}
