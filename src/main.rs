use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

use clap::Parser;
use mkstick::cli::Cli;

fn main() -> ExitCode {
    let result = panic::catch_unwind(AssertUnwindSafe(run));
    match result {
        Ok(code) => code,
        Err(payload) if print_failure(&*payload).is_some() => ExitCode::from(1),
        Err(payload) => panic::resume_unwind(payload),
    }
}

fn run() -> ExitCode {
    quiet_print_failures();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help, --version and usage errors: clap's own text and exit code,
        // unless the text cannot be written (a full or closed stdout).
        Err(e) => {
            return match e.print() {
                Ok(()) => ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)),
                Err(_) => ExitCode::from(1),
            };
        }
    };
    match mkstick::commands::run(&cli) {
        Ok(code) => code,
        Err(err) => {
            // `{:#}`: the whole context chain on one line, no backtrace. If
            // stderr itself is closed or full there is nowhere left to say it.
            let _ = writeln!(std::io::stderr(), "mkstick: error: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// `println!`/`eprintln!` panic when stdout or stderr is closed or full
/// (`>/dev/full`, a closed pipe). Output goes through fallible writes in
/// the commands; for a warning printed deeper down, this turns the panic
/// into a one-line error (caught in `main` as exit status 1) instead of a
/// panic report.
fn quiet_print_failures() {
    let default = panic::take_hook();
    panic::set_hook(Box::new(move |info| match print_failure(info.payload()) {
        Some(msg) => {
            let _ = writeln!(std::io::stderr(), "mkstick: error: {msg}");
        }
        None => default(info),
    }));
}

/// The message of a panic raised by a failed `print!`/`eprint!`.
fn print_failure(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())?;
    msg.starts_with("failed printing to std").then_some(msg)
}
