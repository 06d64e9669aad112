//! The `mkstick ignite` subcommand.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::{Options, Rejected, SpecVersion, transpile_file};

/// Transpile a Container Linux Config or a Butane config to Ignition JSON.
///
/// The dialect is detected: a top-level `variant: flatcar` (version 1.0.0 or
/// 1.1.0) is Butane, giving Ignition 3.3.0 or 3.4.0; anything else is a
/// Container Linux Config as `ct` reads it, giving 2.3.0 (or 3.x with
/// --spec). Any warning fails the run unless --no-strict is given.
#[derive(Debug, Clone, clap::Args)]
#[command(max_term_width = 80)]
pub struct IgniteArgs {
    /// The YAML config; `-` or nothing reads stdin.
    pub input: Option<PathBuf>,
    /// Write the JSON here (atomically) instead of stdout.
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
                    eprintln!("{rejected}");
                    Ok(ExitCode::from(1))
                }
                None => Err(e),
            };
        }
    };
    for w in &out.warnings {
        eprint!("{w}");
    }
    match &args.output {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(out.json.as_bytes())
                .and_then(|()| stdout.flush())
                .context("writing the Ignition JSON to stdout")?;
        }
        Some(path) => write_atomically(path, out.json.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Temp file in the same directory, then rename: readers never see a partial file.
fn write_atomically(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| {
        format!(
            "creating a temporary file in {} for the output",
            dir.display()
        )
    })?;
    // NamedTempFile is created 0600; the JSON holds no secrets and is meant
    // to be served or copied, so give it the usual 0644.
    use std::os::unix::fs::PermissionsExt as _;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .and_then(|()| tmp.write_all(data))
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("renaming the output into place at {}", path.display()))?;
    Ok(())
}
