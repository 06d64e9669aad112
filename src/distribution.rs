//! Shell completions and man pages, generated from the clap definitions that
//! parse the command line, so they cannot drift from `--help`. The Debian
//! package (`scripts/package`) ships what these print; nothing generated is
//! committed to the repository.
//!
//! The caller passes the top-level [`clap::Command`]: this module does not
//! import `cli` (which imports the argument types below).

use std::fs::Permissions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
pub use clap_complete::Shell;

/// The program name completions and man pages are written for.
const BIN_NAME: &str = "mkstick";

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to print the completion script for.
    ///
    /// Bash: save it as /usr/share/bash-completion/completions/mkstick (or
    /// ~/.local/share/bash-completion/completions/mkstick). Zsh: as _mkstick in
    /// a directory on $fpath. Fish: as ~/.config/fish/completions/mkstick.fish.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write mkstick.1 and one page per subcommand into (created
    /// if missing; existing pages are replaced). Without it, mkstick.1 is
    /// printed: `mkstick man | man -l -`.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `mkstick completions SHELL`: prints the script.
pub fn completions(args: &CompletionsArgs, cmd: clap::Command) -> Result<ExitCode> {
    print(&completion_script(args.shell, cmd))?;
    Ok(ExitCode::SUCCESS)
}

/// `mkstick man [DIR]`: prints the top page, or writes every page into DIR.
pub fn man(args: &ManArgs, cmd: clap::Command) -> Result<ExitCode> {
    let pages = man_pages(cmd)?;
    match &args.dir {
        None => print(&pages[0].roff)?,
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the man page directory {}", dir.display()))?;
            for page in &pages {
                write_page(dir, page)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The completion script for `shell`.
pub fn completion_script(shell: Shell, mut cmd: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN_NAME, &mut out);
    out
}

/// One rendered man page.
#[derive(Debug)]
pub struct ManPage {
    /// `mkstick.1`, `mkstick-inspect.1`, …
    pub file_name: String,
    pub roff: Vec<u8>,
}

/// The page for the command first, then one per subcommand (depth first),
/// each naming the full version in its footer.
pub fn man_pages(cmd: clap::Command) -> Result<Vec<ManPage>> {
    // Built once so that subcommands get their display names
    // (`mkstick-inspect`) and inherited arguments; `help` is not a page.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let source = format!(
        "{BIN_NAME} {}",
        cmd.get_version().unwrap_or(env!("CARGO_PKG_VERSION"))
    );
    let mut pages = Vec::new();
    render(cmd, &source, &mut pages)?;
    Ok(pages)
}

fn render(cmd: clap::Command, source: &str, pages: &mut Vec<ManPage>) -> Result<()> {
    let subcommands: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let man = clap_mangen::Man::new(cmd).source(source).manual("mkstick");
    let mut roff = Vec::new();
    man.render(&mut roff)
        .with_context(|| format!("rendering the man page {}", man.get_filename()))?;
    pages.push(ManPage {
        file_name: man.get_filename(),
        roff,
    });
    for sub in subcommands {
        render(sub, source, pages)?;
    }
    Ok(())
}

/// Writes `page` into `dir` through a temporary file renamed over the target:
/// never through a symlink or into a device node that sits at the page's name
/// (mkstick may run as root in a directory someone else can write).
fn write_page(dir: &Path, page: &ManPage) -> Result<PathBuf> {
    let path = dir.join(&page.file_name);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if !meta.file_type().is_file() => bail!(
            "{} exists and is not a regular file; remove it or choose another DIR",
            path.display()
        ),
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("checking {}", path.display())),
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".mkstick-")
        .suffix(".1.part")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(&page.roff)
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    // Readable by everyone, like any man page (temporary files start 0600).
    tmp.as_file()
        .set_permissions(Permissions::from_mode(0o644))
        .with_context(|| format!("setting the mode of {}", tmp.path().display()))?;
    tmp.persist(&path)
        .with_context(|| format!("renaming the finished page to {}", path.display()))?;
    Ok(path)
}

/// Writes to stdout. A closed pipe or a full device is an error like any
/// other (the rule is in `main.rs`): a truncated man page is not a success.
fn print(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("writing to stdout")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Parser, Subcommand};

    /// A small command with the same shape as mkstick's: top-level arguments
    /// and subcommands, one of them nested.
    #[derive(Parser)]
    #[command(name = "mkstick", version = "1.2.3 (abc)")]
    struct Demo {
        #[arg(long)]
        image: Option<PathBuf>,
        #[command(subcommand)]
        command: Option<DemoCommand>,
    }

    #[derive(Subcommand)]
    enum DemoCommand {
        /// Read a stick back.
        Inspect { target: PathBuf },
        /// Mirror things.
        Mirror {
            #[command(subcommand)]
            what: MirrorCommand,
        },
        #[command(hide = true)]
        Secret,
    }

    #[derive(Subcommand)]
    enum MirrorCommand {
        /// Show it.
        Show,
    }

    fn demo() -> clap::Command {
        <Demo as clap::CommandFactory>::command()
    }

    #[test]
    fn one_page_per_visible_subcommand_with_the_full_version() {
        let pages = man_pages(demo()).unwrap();
        let names: Vec<&str> = pages.iter().map(|p| p.file_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "mkstick.1",
                "mkstick-inspect.1",
                "mkstick-mirror.1",
                "mkstick-mirror-show.1"
            ]
        );
        for page in &pages {
            let text = String::from_utf8(page.roff.clone()).unwrap();
            assert!(text.starts_with(".ie \\n(.g .ds Aq"), "{text}");
            assert!(text.contains("\"mkstick 1.2.3 (abc)\""), "{text}");
        }
    }

    #[test]
    fn completions_name_the_subcommands() {
        let script = String::from_utf8(completion_script(Shell::Bash, demo())).unwrap();
        assert!(script.contains("_mkstick()"), "{script}");
        // Top level: its options and subcommands; nested: `mirror show`.
        assert!(
            script.contains("--image --help --version inspect mirror"),
            "{script}"
        );
        assert!(script.contains("mkstick__subcmd__mirror,show)"), "{script}");
    }

    #[test]
    fn writes_pages_and_replaces_only_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("man1");
        let args = ManArgs {
            dir: Some(out.clone()),
        };
        man(&args, demo()).unwrap();
        let page = out.join("mkstick-inspect.1");
        let mode = std::fs::metadata(&page).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        // A second run replaces the pages in place.
        std::fs::write(&page, "stale").unwrap();
        man(&args, demo()).unwrap();
        assert_ne!(std::fs::read(&page).unwrap(), b"stale");

        // A planted symlink is refused, and its target is left alone.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::fs::remove_file(&page).unwrap();
        std::os::unix::fs::symlink(&victim, &page).unwrap();
        let err = format!("{:#}", man(&args, demo()).unwrap_err());
        assert!(err.contains("not a regular file"), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        let leftovers: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".mkstick-"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}
