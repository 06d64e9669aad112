//! `qemu-test --node`: proves the node config works. The stick boots under
//! UEFI through iPXE into a test OS made from Debian packages (real
//! Ignition, real systemd; `qemu/build-testos`), while the harness plays
//! the outside world the stick names: every host name of its settings
//! resolves (the test OS's /etc/hosts) to an address QEMU forwards to local
//! servers presenting certificates of a test CA only the test OS trusts. The
//! node config under test is the stick's own, unmodified. What k3s is here:
//! a stand-in served at the pinned release URL (real k3s cannot be fetched).

mod http;
mod services;
mod testos;
mod tls;
mod verdict;
mod world;

use std::collections::VecDeque;
use std::fs::File;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use super::build::Stick;
use super::console::{self, secs};
use super::server::PayloadServer;
use super::vm::{Console, GuestForward, Network, Vm};
use super::watch::{Outcome, Watcher};
use super::{Event, stick};
use super::{NodeOptions, Options};
use crate::model::flatcar::Arch;
use services::{Content, Observation, Services};
use verdict::{Component, Evidence, Status};
use world::{Scheme, World};

const DEFAULT_TIMEOUT_SECS: u64 = 600;
/// The test OS's root filesystem lives in RAM, twice while it is copied.
const DEFAULT_MEMORY_MIB: u32 = 1536;
const TAIL_LINES: usize = 40;

/// Everything the harness loop hears about.
enum Seen {
    Vm(Event),
    World(Observation),
}

// One run from stick to verdict, read top-down: the world is set up, the VM
// booted, the verdict reported. Splitting it further is listed as debt.
#[allow(clippy::too_many_lines)]
pub(crate) fn run(args: &Options, node: &NodeOptions) -> Result<ExitCode> {
    ensure!(
        args.arch() == Arch::Amd64,
        "--node boots an amd64 test OS; test an arm64 stick interactively (without --node)"
    );
    let testos = testos::TestOs::load(node.testos.as_deref())?;
    let machine = super::Machine::for_options(args)?;

    let (tx, rx) = mpsc::channel::<Event>();
    let (seen_tx, seen) = mpsc::channel::<Seen>();
    let server = PayloadServer::start(args.http_port, tx.clone())?;
    let base_url = format!("http://10.0.2.2:{}", server.port);
    let stick = Stick::target_or_build(&args.stick, Some(base_url))?;
    let world = World::from_stick(&stick::read(stick.path())?)
        .with_context(|| format!("reading the settings of {}", stick.path().display()))?;

    let ca = tls::TestCa::new("mkstick qemu-test CA (trusted by the test OS only)")?;
    let endpoints = world.endpoints();
    let web_names: Vec<String> = endpoints
        .iter()
        .filter(|e| world.log.as_ref() != Some(*e))
        .map(|e| e.host.clone())
        .collect();
    let web_tls = ca.server_config(&names_or_placeholder(web_names))?;
    let log_names = names_or_placeholder(world.log.iter().map(|l| l.host.clone()).collect());
    let log_tls = if node.untrusted_log_ca {
        tls::TestCa::new("an untrusted CA")?.server_config(&log_names)?
    } else {
        ca.server_config(&log_names)?
    };
    let standin: Arc<[u8]> = Arc::from(testos::K3S_STANDIN.as_bytes());
    let standin_sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&standin));
    let sink_tx = seen_tx.clone();
    let services = Services::start(
        Content {
            world: world.clone(),
            standin,
            ignition: Arc::from(crate::ignite::DEFAULT_NODE_CONFIG_IGN.as_bytes()),
        },
        web_tls,
        log_tls,
        Arc::new(move |o| {
            let _ = sink_tx.send(Seen::World(o));
        }),
    )?;
    let forwards = guest_forwards(&world, &endpoints, &services);
    check_forwards(&forwards)?;

    server.serve(
        testos.kernel.clone().into(),
        harness_initrd(
            &testos.initrd,
            &endpoints,
            &ca.pem,
            services.control_port,
            node.keep,
        )
        .into(),
    );
    let vm_events = seen_tx.clone();
    std::thread::spawn(move || {
        for event in rx {
            if vm_events.send(Seen::Vm(event)).is_err() {
                break;
            }
        }
    });
    let interrupt = tx;
    let _ = ctrlc::try_set_handler(move || {
        let _ = interrupt.send(Event::Interrupted);
    });

    let log_path = match &args.log {
        Some(path) => path.clone(),
        None => temp_log_path()?,
    };
    let log = File::create(&log_path)
        .with_context(|| format!("creating the serial log {}", log_path.display()))?;
    let mut spec = machine.spec(
        args,
        DEFAULT_MEMORY_MIB,
        stick.path(),
        Network::User {
            ssh_port: node.keep.then_some(args.ssh_port),
        },
        Console::Captured,
    );
    spec.guest_forwards = forwards.clone();
    announce(
        &stick,
        &machine,
        &testos,
        server.port,
        &world,
        &endpoints,
        &forwards,
        &standin_sha256,
    );

    let mut vm = Vm::spawn(&spec)?;
    let (console_tx, console_rx) = mpsc::channel();
    console::capture(&mut vm, Some(log), console_tx)?;
    let console_events = seen_tx;
    std::thread::spawn(move || {
        for event in console_rx {
            if console_events.send(Seen::Vm(event)).is_err() {
                break;
            }
        }
    });
    let timeout = Duration::from_secs(args.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS));
    let run = Run {
        world: &world,
        standin_sha256: &standin_sha256,
    };
    let boot = run.watch(&mut vm, &seen, timeout)?;
    services.finish();
    let code = report(
        &boot,
        &machine.decision.accel.to_string(),
        &log_path,
        args.log.is_some(),
    );
    if node.keep {
        println!(
            "qemu-test: --keep: the VM keeps running; ssh -p {} core@127.0.0.1 (the stick's key); Ctrl-C stops it",
            args.ssh_port
        );
        loop {
            match seen.recv() {
                Ok(Seen::Vm(Event::Interrupted | Event::ConsoleClosed)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
    vm.stop(Duration::from_secs(3))?;
    drop(server);
    Ok(code)
}

/// rcgen needs at least one name; a world without web endpoints gets one
/// nobody asks for.
fn names_or_placeholder(mut names: Vec<String>) -> Vec<String> {
    if names.is_empty() {
        names.push("unused.invalid".into());
    }
    names
}

/// Two endpoints on the same guest address and port cannot be told apart.
fn check_forwards(forwards: &[GuestForward]) -> Result<()> {
    for (i, a) in forwards.iter().enumerate() {
        for b in &forwards[i + 1..] {
            ensure!(
                !(a.guest == b.guest && a.port == b.port && a.host_port != b.host_port),
                "two services of the stick share {}:{} with different protocols (the log service \
                 and a web endpoint?); give them different ports",
                a.guest,
                a.port
            );
        }
    }
    Ok(())
}

/// The test OS's initramfs plus the harness's own archive: the world's host
/// names, the test CA, and where to report.
fn harness_initrd(
    base: &[u8],
    endpoints: &[world::Endpoint],
    ca_pem: &str,
    control_port: u16,
    keep: bool,
) -> Vec<u8> {
    let mut hosts = String::new();
    for e in endpoints {
        if e.host.parse::<std::net::IpAddr>().is_err() {
            let line = format!("{} {}\n", e.guest_addr(), e.host);
            if !hosts.contains(&line) {
                hosts.push_str(&line);
            }
        }
    }
    let harness = format!("HARNESS_URL=http://10.0.2.2:{control_port}\n");
    let mut files: Vec<(&str, u32, &[u8])> = vec![
        ("etc/mkstick-test/hosts", 0o644, hosts.as_bytes()),
        ("etc/mkstick-test/ca.crt", 0o644, ca_pem.as_bytes()),
        ("etc/mkstick-test/harness", 0o644, harness.as_bytes()),
    ];
    if keep {
        // The test OS starts sshd only then.
        files.push(("etc/mkstick-test/keep", 0o644, b"1\n"));
    }
    let archive = crate::plan::cpio::archive(&files);
    let mut out = base.to_vec();
    out.resize(base.len().div_ceil(4) * 4, 0);
    out.extend_from_slice(&archive);
    out
}

struct Run<'a> {
    world: &'a World,
    standin_sha256: &'a str,
}

/// What one boot showed.
struct Boot {
    components: Vec<Component>,
    /// The reporter's last word on systemd (state, jobs, failed units).
    systemd: Vec<String>,
    failure: Option<(String, String)>,
    milestones: Vec<(String, Duration)>,
    tail: VecDeque<String>,
}

impl Run<'_> {
    // One event loop over console lines and world observations.
    #[allow(clippy::too_many_lines)]
    fn watch(&self, vm: &mut Vm, seen: &mpsc::Receiver<Seen>, timeout: Duration) -> Result<Boot> {
        let mut watcher = Watcher::default();
        let mut evidence = Evidence::default();
        let mut tail = VecDeque::with_capacity(TAIL_LINES);
        let mut stderr = Vec::new();
        let mut milestones: Vec<(String, Duration)> = Vec::new();
        let deadline = vm.started + timeout;
        let mut components = verdict::evaluate(self.world, self.standin_sha256, &evidence);
        let reach = |name: &str, at: Duration, m: &mut Vec<(String, Duration)>| {
            if !m.iter().any(|(n, _)| n == name) {
                m.push((name.to_string(), at));
            }
        };
        let failure = loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break Some((
                    "timeout".to_string(),
                    format!("no full verdict within {}s", timeout.as_secs()),
                ));
            };
            match seen.recv_timeout(left) {
                Ok(Seen::Vm(Event::Serial { at, line })) => {
                    if tail.len() == TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line.clone());
                    if let Some(rest) = line.split("MKSTICK-TESTOS-FAIL ").nth(1) {
                        let (stage, detail) = rest.split_once(": ").unwrap_or((rest, ""));
                        break Some((stage.to_string(), detail.to_string()));
                    }
                    if let Some(rest) = line.split("MKSTICK-TESTOS ").nth(1) {
                        let name = rest.split(' ').next().unwrap_or_default();
                        reach(name, at, &mut milestones);
                    }
                    if let Some(Outcome::Fail(f)) = watcher.serial(at, &line) {
                        break Some((f.check, f.detail));
                    }
                    for (m, at) in watcher.reached() {
                        reach(m.label(), *at, &mut milestones);
                    }
                    continue;
                }
                Ok(Seen::Vm(Event::Http { path, status })) => {
                    // When iPXE asks for each file: the downloads' milestones.
                    let file = if path.ends_with(super::server::INITRD_NAME) {
                        "initrd-requested"
                    } else {
                        "kernel-requested"
                    };
                    reach(file, vm.started.elapsed(), &mut milestones);
                    if let Some(Outcome::Fail(f)) = watcher.http(&path, status) {
                        break Some((f.check, f.detail));
                    }
                    continue;
                }
                Ok(Seen::Vm(Event::Stderr(line))) => {
                    stderr.push(line);
                    continue;
                }
                Ok(Seen::Vm(Event::Interrupted)) => {
                    break Some(("interrupted".into(), "stopped by Ctrl-C".into()));
                }
                Ok(Seen::Vm(Event::ConsoleClosed)) | Err(RecvTimeoutError::Disconnected) => {
                    let status = vm.stop(Duration::from_secs(2))?;
                    break Some((
                        "qemu-exited".into(),
                        format!(
                            "QEMU exited ({status}) before a verdict; its messages: {}",
                            stderr.join(" | ")
                        ),
                    ));
                }
                Ok(Seen::World(observation)) => evidence.add(observation),
                Err(RecvTimeoutError::Timeout) => continue,
            }
            components = verdict::evaluate(self.world, self.standin_sha256, &evidence);
            let at = vm.started.elapsed();
            for c in &components {
                if matches!(c.status, Status::Pass(_)) {
                    reach(c.name, at, &mut milestones);
                }
            }
            // Done when every component has passed or failed for good.
            if components
                .iter()
                .all(|c| !matches!(c.status, Status::Pending(_)))
            {
                break components
                    .iter()
                    .find(|c| matches!(c.status, Status::Fail(_)))
                    .map(|c| (c.name.to_string(), String::new()));
            }
        };
        let systemd = evidence
            .snapshot
            .as_deref()
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                ["system ", "jobs ", "failed ", "unit "]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .map(str::to_string)
            .collect();
        Ok(Boot {
            components,
            systemd,
            failure,
            milestones,
            tail,
        })
    }
}

/// One line per component, the timings, and the verdict; on failure the
/// console's last lines and where the full log is. Returns the exit status.
fn report(boot: &Boot, accel: &str, log: &std::path::Path, keep_log: bool) -> ExitCode {
    for c in &boot.components {
        let (word, text) = match &c.status {
            Status::Pass(t) => ("ok     ", t.as_str()),
            Status::Fail(t) => ("FAILED ", t.as_str()),
            Status::Pending(t) if boot.failure.is_some() => ("not seen", t.as_str()),
            Status::Pending(t) => ("pending", t.as_str()),
        };
        println!("qemu-test: {:<10} {word} {text}", c.name);
    }
    let timings: Vec<String> = boot
        .milestones
        .iter()
        .map(|(m, at)| format!("{m} {}", secs(*at)))
        .collect();
    println!(
        "qemu-test: timings (s from QEMU start): {}",
        if timings.is_empty() {
            "no milestone reached".to_string()
        } else {
            timings.join(", ")
        }
    );
    match &boot.failure {
        None => {
            println!("qemu-test: PASS ({accel}): every component of the node works");
            if keep_log {
                println!("qemu-test: serial log: {}", log.display());
            } else {
                let _ = std::fs::remove_file(log);
            }
            ExitCode::SUCCESS
        }
        Some((what, detail)) => {
            let detail = if detail.is_empty() {
                boot.components
                    .iter()
                    .find(|c| c.name == what)
                    .map(|c| match &c.status {
                        Status::Fail(t) | Status::Pass(t) | Status::Pending(t) => t.clone(),
                    })
                    .unwrap_or_default()
            } else {
                detail.clone()
            };
            println!("qemu-test: FAIL ({accel}): {what}: {detail}");
            for line in &boot.systemd {
                println!("qemu-test: node's last report: {line}");
            }
            println!("qemu-test: last {} console lines:", boot.tail.len());
            for line in &boot.tail {
                println!("  | {line}");
            }
            println!("qemu-test: full serial log: {}", log.display());
            ExitCode::from(if what == "interrupted" { 130 } else { 1 })
        }
    }
}

/// A new, kept file in the temporary directory.
fn temp_log_path() -> Result<std::path::PathBuf> {
    let file = tempfile::Builder::new()
        .prefix("mkstick-qemu-node-")
        .suffix(".log")
        .tempfile()
        .context("creating the serial log in the temporary directory")?;
    let (_, path) = file.keep().context("keeping the serial log")?;
    Ok(path)
}

/// Each endpoint the stick names, forwarded from its guest address to the
/// harness service that plays it.
fn guest_forwards(
    world: &World,
    endpoints: &[world::Endpoint],
    services: &Services,
) -> Vec<GuestForward> {
    endpoints
        .iter()
        .map(|e| GuestForward {
            guest: e.guest_addr(),
            port: e.port,
            host_port: if world.log.as_ref() == Some(e) {
                services.log_port
            } else if e.scheme == Scheme::Https {
                services.https_port
            } else {
                services.http_port
            },
        })
        .collect()
}

/// What is booted, how, and which names the harness plays.
#[allow(clippy::too_many_arguments)]
fn announce(
    stick: &Stick,
    machine: &super::Machine,
    testos: &testos::TestOs,
    port: u16,
    world: &World,
    endpoints: &[world::Endpoint],
    forwards: &[GuestForward],
    standin_sha256: &str,
) {
    println!(
        "qemu-test: node test of {} with {} ({})",
        stick.path().display(),
        machine.decision.accel,
        machine.decision.why
    );
    println!(
        "qemu-test: test OS {} (Debian kernel, real Ignition, real systemd; not Flatcar) served at http://10.0.2.2:{}",
        testos.dir.display(),
        port
    );
    for (e, f) in endpoints.iter().zip(forwards) {
        println!(
            "qemu-test: world: {}:{} → {}:{} → 127.0.0.1:{}",
            e.host, e.port, f.guest, f.port, f.host_port
        );
    }
    if world.k3s.is_some() {
        println!(
            "qemu-test: k3s: the harness serves a stand-in (sha256 {standin_sha256}) at the pinned URL; real k3s is not run here"
        );
    }
}
