//! Smoke mode: boot the stick against the test payload, watch the console,
//! and turn what happens into a pass, or a failure that names its reason.

use std::collections::VecDeque;
use std::fs::File;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use super::args::{Arch, QemuTestArgs};
use super::console::{self, secs};
use super::expect::{Expectations, served_initrd};
use super::firmware::Firmware;
use super::payload::Payload;
use super::server::PayloadServer;
use super::vm::{Console, Network, Vm, VmSpec};
use super::watch::{Failure, Outcome, Watcher};
use super::{Event, accel, build, stick};

const DEFAULT_TIMEOUT_SECS: u64 = 120;
/// Enough for the payload; OVMF also starts faster with less memory.
const DEFAULT_MEMORY_MIB: u32 = 512;
/// Console lines kept for the failure report.
const TAIL_LINES: usize = 25;

pub fn run(args: &QemuTestArgs) -> Result<ExitCode> {
    ensure!(
        args.arch() == Arch::Amd64,
        "--smoke boots an amd64 test payload; test an arm64 stick interactively (without --smoke)"
    );
    let payload = Payload::load(args.payload.as_deref())?;
    let firmware = Firmware::find(
        args.arch(),
        args.firmware.as_deref(),
        args.firmware_vars.as_deref(),
    )?;
    let decision = accel::choose(args.accel, args.arch(), &firmware)?;
    let vars = firmware.private_vars()?;

    let (tx, rx) = mpsc::channel();
    let server = PayloadServer::start(args.http_port, tx.clone())?;
    // Without a TARGET, the stick is built now that its base URL is known.
    let built = match &args.write.device {
        Some(_) => None,
        None => Some(build::build(
            &args.write,
            Some(format!("http://10.0.2.2:{}", server.port)),
        )?),
    };
    let target = match (&built, &args.write.device) {
        (Some(built), _) => built.path.clone(),
        (None, Some(device)) => device.clone(),
        (None, None) => unreachable!("a stick is built when no TARGET is given"),
    };
    let contents = stick::read(&target)?;
    let expectations = Expectations::for_stick(&contents)?;
    server.serve(
        payload.kernel.into(),
        served_initrd(&payload.base_initrd, &expectations).into(),
    );
    let interrupt = tx.clone();
    // The handler only reports: the loop below stops QEMU and says so.
    let _ = ctrlc::try_set_handler(move || {
        let _ = interrupt.send(Event::Interrupted);
    });

    let (log_path, keep_log) = match &args.log {
        Some(path) => (path.clone(), true),
        None => (temp_log_path()?, false),
    };
    let log = File::create(&log_path)
        .with_context(|| format!("creating the serial log {}", log_path.display()))?;
    let spec = VmSpec {
        arch: args.arch(),
        accel: decision.accel,
        memory_mib: args.memory.unwrap_or(DEFAULT_MEMORY_MIB),
        firmware_code: firmware.code.clone(),
        firmware_vars: vars.path.clone(),
        stick: Some(target.clone()),
        network: Network::User { ssh_port: None },
        console: Console::Captured,
    };
    println!(
        "qemu-test: smoke test of {} with {} ({})",
        target.display(),
        decision.accel,
        decision.why
    );
    println!(
        "qemu-test: payload {} served at http://10.0.2.2:{} (127.0.0.1 here)",
        payload.dir.display(),
        server.port
    );
    print!("{}", indent(&expectations.render()));
    let timeout = Duration::from_secs(args.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS));
    let mut vm = Vm::spawn(&spec)?;
    console::capture(&mut vm, Some(log), tx)?;

    let mut watcher = Watcher::default();
    let mut tail = VecDeque::with_capacity(TAIL_LINES);
    let mut stderr = Vec::new();
    let deadline = vm.started + timeout;
    let outcome = loop {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            let last = watcher
                .last()
                .map_or("none (no firmware output)", |m| m.label());
            break Outcome::Fail(Failure::new(
                "timeout",
                format!(
                    "no verdict within {}s; last milestone reached: {last}",
                    timeout.as_secs()
                ),
            ));
        };
        match rx.recv_timeout(left) {
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
                break Outcome::Fail(Failure::new(
                    "qemu-exited",
                    format!(
                        "QEMU exited ({status}) before a verdict; its messages: {}",
                        stderr.join(" | ")
                    ),
                ));
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
    };
    // QEMU powers off by itself after a verdict; stop it in every case.
    vm.stop(Duration::from_secs(3))?;
    drop(server);

    let timings: Vec<String> = watcher
        .reached()
        .iter()
        .map(|(m, at)| format!("{} {}", m.label(), secs(*at)))
        .collect();
    println!(
        "qemu-test: timings (s from QEMU start): {}",
        if timings.is_empty() {
            "no milestone reached".to_string()
        } else {
            timings.join(", ")
        }
    );
    match outcome {
        Outcome::Pass { checks } => {
            println!(
                "qemu-test: PASS ({}): {}",
                decision.accel,
                checks.join(", ")
            );
            if keep_log {
                println!("qemu-test: serial log: {}", log_path.display());
            } else {
                let _ = std::fs::remove_file(&log_path);
            }
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Fail(failure) => {
            println!(
                "qemu-test: FAIL ({}): {}: {}",
                decision.accel, failure.check, failure.detail
            );
            println!("qemu-test: last {} console lines:", tail.len());
            for line in &tail {
                println!("  | {line}");
            }
            println!("qemu-test: full serial log: {}", log_path.display());
            Ok(ExitCode::from(if failure.check == "interrupted" {
                130
            } else {
                1
            }))
        }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("qemu-test:   expect {l}\n"))
        .collect()
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
