use std::process::ExitCode;

use clap::Parser;
use mkstick::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match mkstick::commands::run(&cli) {
        Ok(code) => code,
        Err(err) => {
            // `{:#}`: the whole context chain on one line, no backtrace.
            eprintln!("mkstick: error: {err:#}");
            ExitCode::from(1)
        }
    }
}
