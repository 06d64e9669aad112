//! Orchestration and printing, one module per command: each turns its clap
//! arguments into the stages' typed inputs, runs the stages, and reports.
//! Prompts live here, never in the stages.

pub mod clone;
pub mod cluster;
pub mod cluster_build;
pub mod inspect;
pub mod prompt;
pub mod qemu_test;
pub mod secrets_schema;
pub mod update;
pub mod write;

use std::process::ExitCode;

use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::{Cli, Command, Invocation};
use crate::target::blockdev::Interrupted;

/// Runs what the command line asks for.
pub fn run(invocation: &Invocation) -> Result<ExitCode> {
    match run_command(invocation) {
        // Ctrl-C or SIGTERM during a device write (write, clone, update): the
        // device was put back as it was; say so and exit as a shell would.
        Err(err) if err.downcast_ref::<Interrupted>().is_some() => {
            eprintln!("mkstick: {err:#}");
            Ok(ExitCode::from(Interrupted::EXIT_CODE))
        }
        result => result,
    }
}

fn run_command(invocation: &Invocation) -> Result<ExitCode> {
    let command = match invocation {
        Invocation::Write(args) => return write::run(args),
        Invocation::Command(command) => command,
    };
    match command {
        Command::Inspect(args) => inspect::run(args),
        Command::Ignite(args) => crate::ignite::run(args),
        Command::Clone(args) => clone::run(args),
        Command::Update(args) => update::run(args),
        Command::Cluster(args) => cluster::run(args),
        Command::Mirror(args) => crate::mirror::run(args).map(|()| ExitCode::SUCCESS),
        Command::QemuTest(args) => qemu_test::run(args),
        Command::SecretsSchema(args) => secrets_schema::run(args),
        Command::Completions(args) => {
            crate::distribution::completions(args, <Cli as clap::CommandFactory>::command())
        }
        Command::Man(args) => {
            crate::distribution::man(args, <Cli as clap::CommandFactory>::command())
        }
    }
}

/// Writes a command's output to stdout and flushes it: a full or closed
/// stdout (`>/dev/full`, a closed pipe) is an error, not a panic or a
/// silently lost result.
pub(crate) fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to standard output")
}
