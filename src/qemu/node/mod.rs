//! `qemu-test --node`: proves the node config works. The stick boots under
//! UEFI through iPXE into a test OS made from Debian packages (real
//! Ignition, real systemd; `qemu/build-testos`), while the harness plays
//! the outside world the stick names: every host name of its settings
//! resolves (the test OS's /etc/hosts) to an address QEMU forwards to local
//! servers presenting certificates of a test CA only the test OS trusts. The
//! node config under test is the stick's own, unmodified. What k3s is here:
//! a stand-in served at the pinned release URL (real k3s cannot be fetched).

mod config;
mod http;
mod initrd;
mod keep;
mod outside;
mod report;
mod services;
mod testos;
mod tls;
mod verdict;
mod watch;
mod world;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use anyhow::{Context, Result, ensure};

use super::build::Stick;
use super::console;
use super::server::PayloadServer;
use super::vm::{Console, GuestForward, Network, Vm};
use super::{Event, Machine, stick};
use super::{NodeOptions, Options};
use crate::model::flatcar::Arch;
use config::Served;
use outside::Outside;
use world::World;

const DEFAULT_TIMEOUT_SECS: u64 = 600;
/// The test OS's root filesystem lives in RAM, twice while it is copied.
const DEFAULT_MEMORY_MIB: u32 = 1536;

/// Everything the harness loop hears about.
enum Seen {
    Vm(Event),
    World(services::Observation),
}

/// One run from stick to verdict: the world is set up, the VM booted and
/// watched, the verdict reported; with `--keep` the VM then runs on.
pub(crate) fn run(args: &Options, node: &NodeOptions) -> Result<ExitCode> {
    ensure!(
        args.arch() == Arch::Amd64,
        "--node boots an amd64 test OS; test an arm64 stick interactively (without --node)"
    );
    let testos = testos::TestOs::load(node.testos.as_deref())?;
    let machine = Machine::for_options(args)?;

    let (tx, rx) = mpsc::channel::<Event>();
    let (seen_tx, seen) = mpsc::channel::<Seen>();
    let server = PayloadServer::start(args.http_port, tx.clone())?;
    let stick = Stick::target_or_build(
        &args.stick,
        Some(format!("http://10.0.2.2:{}", server.port)),
    )?;
    let world = World::from_stick(&stick::read(stick.path())?)
        .with_context(|| format!("reading the settings of {}", stick.path().display()))?;
    let served = Served::choose(&world, &args.stick)?;
    let sink = seen_tx.clone();
    let outside = Outside::start(
        world,
        served.bytes(),
        node,
        Arc::new(move |o| {
            let _ = sink.send(Seen::World(o));
        }),
    )?;
    server.serve(
        testos.kernel.clone().into(),
        initrd::with_harness(
            &testos.initrd,
            &outside.endpoints,
            &outside.ca_pem,
            outside.services.control_port,
            node.keep,
        )
        .into(),
    );
    forward(rx, seen_tx.clone());
    let _ = ctrlc::try_set_handler(move || {
        let _ = tx.send(Event::Interrupted);
    });
    report::announce(
        stick.path(),
        &machine,
        &testos.dir,
        server.port,
        &outside,
        &served,
    );

    let log_path = match &args.log {
        Some(path) => path.clone(),
        None => temp_log_path()?,
    };
    let log = File::create(&log_path)
        .with_context(|| format!("creating the serial log {}", log_path.display()))?;
    let ssh_port = node.keep.then_some(args.ssh_port);
    let mut vm = boot(
        args,
        &machine,
        stick.path(),
        ssh_port,
        &outside.forwards,
        log,
        seen_tx,
    )?;
    let timeout = Duration::from_secs(args.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS));
    let boot = watch::watch(
        &outside.world,
        &outside.standin_sha256,
        &mut vm,
        &seen,
        timeout,
    )?;
    outside.services.finish();
    let log = report::SerialLog {
        path: &log_path,
        users: args.log.is_some(),
    };
    let code = report::verdict(&boot, &machine.decision.accel.to_string(), &log);
    if let Some(port) = ssh_port
        && boot.vm_alive()
    {
        keep_running(
            port,
            &outside.world,
            args.stick.request.ssh_key.as_deref(),
            &seen,
        );
    }
    vm.stop(Duration::from_secs(3))?;
    drop(server);
    Ok(code)
}

/// Starts QEMU on `stick` with the world's forwards (and SSH on
/// `ssh_port`), its console going to `log` and, line by line, to `seen`.
fn boot(
    args: &Options,
    machine: &Machine,
    stick: &Path,
    ssh_port: Option<u16>,
    forwards: &[GuestForward],
    log: File,
    seen: Sender<Seen>,
) -> Result<Vm> {
    let mut spec = machine.spec(
        args,
        DEFAULT_MEMORY_MIB,
        stick,
        Network::User { ssh_port },
        Console::Captured,
    );
    spec.guest_forwards = forwards.to_vec();
    let mut vm = Vm::spawn(&spec)?;
    let (console_tx, console_rx) = mpsc::channel();
    console::capture(&mut vm, Some(log), console_tx)?;
    forward(console_rx, seen);
    Ok(vm)
}

/// Passes VM events on to the harness loop, on a thread of its own.
fn forward(events: Receiver<Event>, seen: Sender<Seen>) {
    std::thread::spawn(move || {
        for event in events {
            if seen.send(Seen::Vm(event)).is_err() {
                break;
            }
        }
    });
}

/// `--keep`: prints how to log in, then waits for Ctrl-C.
fn keep_running(port: u16, world: &World, ssh_key: Option<&Path>, seen: &Receiver<Seen>) {
    let login = keep::Login::find(port, world.sshkey.as_deref(), &keep::candidates(ssh_key));
    println!(
        "qemu-test: --keep: the VM keeps running, its SSH port forwarded to 127.0.0.1:{port}; log in with:"
    );
    for line in login.lines() {
        println!("  {line}");
    }
    println!("qemu-test: Ctrl-C stops QEMU and cleans up");
    let why = keep::hold(seen);
    println!("qemu-test: {why}: stopping QEMU");
}

/// A new, kept file in the temporary directory.
fn temp_log_path() -> Result<PathBuf> {
    let file = tempfile::Builder::new()
        .prefix("mkstick-qemu-node-")
        .suffix(".log")
        .tempfile()
        .context("creating the serial log in the temporary directory")?;
    let (_, path) = file.keep().context("keeping the serial log")?;
    Ok(path)
}
