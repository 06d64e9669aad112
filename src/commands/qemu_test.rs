//! `mkstick qemu-test`: the command line → qemu's options.

use std::process::ExitCode;

use anyhow::{Result, ensure};

use crate::cli::qemu_test::QemuTestArgs;
use crate::qemu::{self, Mode, NodeOptions, Options, StickSource};

pub fn run(args: &QemuTestArgs) -> Result<ExitCode> {
    ensure!(
        !args.write.dry_run,
        "qemu-test builds and boots a stick; --dry-run belongs to the write command"
    );
    // A cluster node's stick boots like any other (--cluster INVENTORY --node NAME).
    let request = match super::cluster::write_request(&args.write)? {
        Some(node) => node,
        None => super::write::request(&args.write),
    };
    qemu::run(&options(args, request))
}

fn options(args: &QemuTestArgs, request: crate::resolve::Request) -> Options {
    Options {
        mode: if args.node {
            Mode::Node(NodeOptions {
                keep: args.keep,
                untrusted_log_ca: args.untrusted_log_ca,
                testos: args.testos.clone(),
            })
        } else if args.smoke {
            Mode::Smoke
        } else {
            Mode::Interactive
        },
        timeout: args.timeout,
        accel: args.accel,
        firmware: args.firmware.clone(),
        firmware_vars: args.firmware_vars.clone(),
        memory: args.memory,
        ssh_port: args.ssh_port,
        http_port: args.http_port,
        payload: args.payload.clone(),
        log: args.log.clone(),
        stick: StickSource {
            target: args.write.device.clone(),
            image: args.write.image.clone(),
            request,
        },
    }
}
