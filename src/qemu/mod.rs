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
mod args;
mod build;
mod console;
mod expect;
mod firmware;
mod interactive;
mod node;
mod payload;
mod server;
mod smoke;
mod stick;
mod vm;
mod watch;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, ensure};

pub use args::{AccelChoice, Arch, QemuTestArgs};

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
    fn for_args(args: &QemuTestArgs) -> Result<Machine> {
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
        args: &QemuTestArgs,
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

pub fn run(args: &QemuTestArgs) -> Result<ExitCode> {
    if let Some(target) = &args.write.device {
        ensure!(
            target.exists(),
            "{} does not exist: give an image file or a block device written by mkstick",
            target.display()
        );
    }
    ensure!(
        !args.write.dry_run,
        "qemu-test builds and boots a stick; --dry-run belongs to the write command"
    );
    if args.node {
        node::run(args)
    } else if args.smoke {
        smoke::run(args)
    } else {
        interactive::run(args)
    }
}
