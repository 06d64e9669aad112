//! The `mkstick ignite` subcommand.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::{Options, Rejected, SpecVersion, output, transpile_file};

// Transpile a Container Linux Config or a Butane config to Ignition JSON.
//
// The dialect is detected: a top-level `variant: flatcar` (version 1.0.0 or
// 1.1.0) is Butane, giving Ignition 3.3.0 or 3.4.0; anything else is a
// Container Linux Config as `ct` reads it, giving 2.3.0 (or 3.x with
// --spec). Any warning fails the run unless --no-strict is given.
// (Not a doc comment: with the subcommands deferred, clap would let it
// replace the help text, which is the variant's doc in `cli::Command`.)
#[derive(Debug, Clone, clap::Args)]
#[command(max_term_width = 80)]
pub struct IgniteArgs {
    /// The YAML config; `-` or nothing reads stdin.
    pub input: Option<PathBuf>,
    /// Write the JSON here (atomically, mode 0600 for a new file) instead of
    /// stdout; only a regular file is replaced.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Directory that `local:` paths are relative to.
    #[arg(short = 'd', long, value_name = "DIR")]
    pub files_dir: Option<PathBuf>,
    /// Indent the JSON (the default).
    #[arg(long, overrides_with = "compact")]
    pub pretty: bool,
    /// Write the JSON on one line.
    #[arg(long, overrides_with = "pretty")]
    pub compact: bool,
    /// Accept warnings (by default any warning fails the run).
    #[arg(long)]
    pub no_strict: bool,
    /// Output Ignition spec; a Container Linux Config can also go to 3.3.0 or 3.4.0.
    #[arg(long, value_name = "VERSION")]
    pub spec: Option<SpecVersion>,
}

impl IgniteArgs {
    pub fn options(&self) -> Options {
        Options {
            files_dir: self.files_dir.clone(),
            strict: !self.no_strict,
            spec: self.spec,
            pretty: !self.compact,
        }
    }
}

/// Runs `mkstick ignite`: exit code 1 (with diagnostics on stderr) for a bad config.
pub fn run(args: &IgniteArgs) -> anyhow::Result<ExitCode> {
    let input = args.input.clone().unwrap_or_else(|| PathBuf::from("-"));
    let out = match transpile_file(&input, &args.options()) {
        Ok(out) => out,
        Err(e) => {
            return match e.downcast_ref::<Rejected>() {
                Some(rejected) => {
                    to_stderr(&format!("{rejected}\n"));
                    Ok(ExitCode::from(1))
                }
                None => Err(e),
            };
        }
    };
    for w in &out.warnings {
        to_stderr(w);
    }
    match &args.output {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(out.json.as_bytes())
                .and_then(|()| stdout.flush())
                .context("writing the Ignition JSON to stdout")?;
        }
        Some(path) => output::write_atomically(path, out.json.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Diagnostics to stderr. A closed or full stderr cannot be reported
/// anywhere, and the exit code still says what happened, so a failed write
/// is dropped instead of panicking as `eprint!` would.
fn to_stderr(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
}
