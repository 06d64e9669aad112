//! `mkstick qemu-test`: boot a stick in QEMU under UEFI firmware (OVMF),
//! attached as a USB stick (xhci + usb-storage), with a virtio-net NIC on
//! user-mode networking. No root needed.
//!
//! - Interactive: serial console on the terminal, SSH forwarded.
//! - Smoke (`--smoke`, CI): offline; mkstick serves a test payload over HTTP,
//!   the payload's /init checks the node's view of the stick and prints a
//!   verdict, and the harness turns it into an exit status.
//! - Node (`--node`): boots a test OS with real Ignition and systemd and
//!   plays the outside world; one verdict line per component (`node/`).

mod accel;
mod build;
mod cached;
mod console;
mod expect;
mod firmware;
mod interactive;
mod node;
mod payload;
mod server;
mod smoke;
mod stick;
// pre_exec(prctl PR_SET_PDEATHSIG) and kill(2) on our own child: QEMU must
// not outlive mkstick, and gets SIGTERM first to restore the terminal.
#[allow(unsafe_code)]
mod vm;
mod watch;

use std::process::ExitCode;
use std::time::Duration;

use std::path::PathBuf;

use anyhow::{Result, ensure};

use crate::model::flatcar::{Arch, ArchChoice};
pub(crate) use accel::AccelChoice;
pub(crate) use build::StickSource;

/// Interactive (console here, SSH forwarded) or a pass/fail smoke test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Interactive,
    Smoke,
    /// The node proof (`--node`): a test OS with real Ignition and systemd.
    Node(NodeOptions),
}

/// What only `--node` takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NodeOptions {
    /// Leave the VM running after the verdict, SSH forwarded.
    pub keep: bool,
    /// The log service presents a certificate the node must refuse.
    pub untrusted_log_ca: bool,
    /// A prebuilt test OS instead of the cached one.
    pub testos: Option<PathBuf>,
}

/// What `qemu-test` was asked to do.
#[derive(Debug)]
pub(crate) struct Options {
    pub mode: Mode,
    /// Seconds before QEMU is stopped and the run fails.
    pub timeout: Option<u64>,
    pub accel: AccelChoice,
    pub firmware: Option<PathBuf>,
    pub firmware_vars: Option<PathBuf>,
    pub memory: Option<u32>,
    pub ssh_port: u16,
    pub http_port: u16,
    pub payload: Option<PathBuf>,
    pub log: Option<PathBuf>,
    pub stick: StickSource,
}

impl Options {
    /// The guest architecture: the stick's (`--arch all` boots amd64).
    pub(crate) fn arch(&self) -> Arch {
        match self.stick.request.arch {
            ArchChoice::Arm64 => Arch::Arm64,
            ArchChoice::Amd64 | ArchChoice::All => Arch::Amd64,
        }
    }
}

/// What the reader threads, the payload server and the Ctrl-C handler tell
/// the harness loop.
#[derive(Debug)]
pub(crate) enum Event {
    /// A console line, escape sequences removed, `at` after QEMU started.
    Serial {
        at: Duration,
        line: String,
    },
    /// QEMU closed its console: it has exited.
    ConsoleClosed,
    Stderr(String),
    Http {
        path: String,
        status: u16,
    },
    Interrupted,
}

/// What both modes boot with: the firmware, a private copy of its variables
/// (kept alive until QEMU stops), and the accelerator with the reason for it.
pub(crate) struct Machine {
    pub firmware: firmware::Firmware,
    pub vars: firmware::PrivateVars,
    pub decision: accel::Decision,
}

impl Machine {
    fn for_options(args: &Options) -> Result<Machine> {
        let firmware = firmware::Firmware::find(
            args.arch(),
            args.firmware.as_deref(),
            args.firmware_vars.as_deref(),
        )?;
        let decision = accel::choose(args.accel, args.arch(), &firmware)?;
        let vars = firmware.private_vars()?;
        Ok(Machine {
            firmware,
            vars,
            decision,
        })
    }

    /// The VM for `stick`: this machine's firmware and accelerator, the
    /// memory from `--memory` or the mode's default, the mode's I/O.
    fn spec(
        &self,
        args: &Options,
        default_memory_mib: u32,
        stick: &std::path::Path,
        network: vm::Network,
        console: vm::Console,
    ) -> vm::VmSpec {
        vm::VmSpec {
            arch: args.arch(),
            accel: self.decision.accel,
            memory_mib: args.memory.unwrap_or(default_memory_mib),
            firmware_code: self.firmware.code.clone(),
            firmware_vars: self.vars.path.clone(),
            stick: Some(stick.to_path_buf()),
            network,
            guest_forwards: Vec::new(),
            console,
        }
    }
}

pub(crate) fn run(args: &Options) -> Result<ExitCode> {
    if let Some(target) = &args.stick.target {
        ensure!(
            target.exists(),
            "{} does not exist: give an image file or a block device written by mkstick",
            target.display()
        );
    }
    match &args.mode {
        Mode::Smoke => smoke::run(args),
        Mode::Interactive => interactive::run(args),
        Mode::Node(node) => node::run(args, node),
    }
}
