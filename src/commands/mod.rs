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

use crate::cli::{Cli, Command};
use crate::target::blockdev::Interrupted;

/// Runs the command `cli` names.
pub fn run(cli: &Cli) -> Result<ExitCode> {
    match run_command(cli) {
        // Ctrl-C or SIGTERM during a device write (write, clone, update): the
        // device was put back as it was; say so and exit as a shell would.
        Err(err) if err.downcast_ref::<Interrupted>().is_some() => {
            eprintln!("mkstick: {err:#}");
            Ok(ExitCode::from(Interrupted::EXIT_CODE))
        }
        result => result,
    }
}

fn run_command(cli: &Cli) -> Result<ExitCode> {
    match &cli.command {
        None => write::run(&cli.write),
        Some(Command::Inspect(args)) => inspect::run(args),
        Some(Command::Ignite(args)) => crate::ignite::run(args),
        Some(Command::Clone(args)) => clone::run(args),
        Some(Command::Update(args)) => update::run(args),
        Some(Command::Cluster(args)) => cluster::run(args),
        Some(Command::Mirror(args)) => crate::mirror::run(args).map(|()| ExitCode::SUCCESS),
        Some(Command::QemuTest(args)) => qemu_test::run(args),
        Some(Command::SecretsSchema(args)) => secrets_schema::run(args),
        Some(Command::Completions(args)) => {
            crate::distribution::completions(args, <Cli as clap::CommandFactory>::command())
        }
        Some(Command::Man(args)) => {
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
