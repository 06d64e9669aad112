use std::process::ExitCode;

use clap::Parser;
use mkstick::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<ExitCode> = match cli.command {
        None => Ok(ExitCode::SUCCESS),
        Some(command) => match command {
            Command::QemuTest(args) => mkstick::qemu::run(args),
        },
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
