use std::process::ExitCode;

use clap::Parser;
use mkstick::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        None => mkstick::write::run(&cli.write),
        Some(Command::Inspect(args)) => mkstick::inspect::run(args),
        Some(Command::Ignite(args)) => mkstick::ignite::run(args),
        Some(Command::Cluster(args)) => mkstick::cluster::run(args),
        Some(Command::Mirror(args)) => mkstick::mirror::run(args).map(|()| ExitCode::SUCCESS),
        Some(Command::QemuTest(args)) => mkstick::qemu::run(args),
        Some(Command::SecretsSchema(args)) => {
            if args.markdown {
                print!("{}", mkstick::secrets::schema::markdown_table());
            } else {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&mkstick::secrets::schema::json_schema())
                        .unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // `{:#}`: the whole context chain on one line, no backtrace.
            eprintln!("mkstick: error: {err:#}");
            ExitCode::from(1)
        }
    }
}
