use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

use mkstick::cli::Invocation;

fn main() -> ExitCode {
    let result = panic::catch_unwind(AssertUnwindSafe(run));
    match result {
        Ok(code) => code,
        Err(payload) if print_failure(&*payload).is_some() => ExitCode::from(1),
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// One rule for output that cannot be written, for every command: a closed
/// pipe (`mkstick man | head -1`), a full disk or `/dev/full` on stdout or
/// stderr ends with exit status 1 and, where stderr still takes it, one line
/// `mkstick: error: writing … : <the OS error>`; never a panic, never success.
///
/// Why not the Unix habit of dying silently from SIGPIPE (status 141): a
/// full device raises no signal, so there would be two rules; a script
/// could not tell a truncated man page or JSON plan from a whole one; and
/// Rust starts with SIGPIPE ignored, so restoring it would need `unsafe`.
/// Each command therefore writes through a fallible write with context
/// (`commands::print`, `distribution`, `ignite`); `quiet_print_failures`
/// catches a `println!` deeper down.
fn run() -> ExitCode {
    quiet_print_failures();
    let invocation = match Invocation::from_env() {
        Ok(invocation) => invocation,
        // --help, --version and usage errors: clap's own text and exit code,
        // unless the text cannot be written (the rule above).
        Err(e) => {
            return match e.print() {
                Ok(()) => ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)),
                Err(io) => {
                    let to = if e.use_stderr() { "stderr" } else { "stdout" };
                    let _ = writeln!(
                        std::io::stderr(),
                        "mkstick: error: writing the {} to {to}: {io}",
                        clap_text(&e)
                    );
                    ExitCode::from(1)
                }
            };
        }
    };
    match mkstick::commands::run(&invocation) {
        Ok(code) => code,
        Err(err) => {
            // `{:#}`: the whole context chain on one line, no backtrace. If
            // stderr itself is closed or full there is nowhere left to say it.
            let _ = writeln!(std::io::stderr(), "mkstick: error: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// What clap had to say, for the message when it cannot be written.
fn clap_text(e: &clap::Error) -> &'static str {
    match e.kind() {
        clap::error::ErrorKind::DisplayHelp
        | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => "help text",
        clap::error::ErrorKind::DisplayVersion => "version",
        _ => "usage error",
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
