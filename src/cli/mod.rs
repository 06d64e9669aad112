//! The command line: clap structs only, one file per command. The write
//! arguments sit at the top level, the other commands are subcommands.

pub mod clone;
pub mod cluster;
pub mod inspect;
pub mod qemu_test;
pub mod secrets_schema;
pub mod update;
pub mod write;

use std::ffi::OsString;

use clap::{Parser, Subcommand};

use crate::model::ConfigUrl;

use inspect::InspectArgs;
use qemu_test::QemuTestArgs;
use secrets_schema::SecretsSchemaArgs;
use write::WriteArgs;

/// Make a USB stick that boots diskless Flatcar Container Linux nodes over the
/// network with iPXE, configured by Ignition, with a read-only secrets volume.
///
///   Write a stick:     sudo mkstick /dev/sdX
///   Or an image file:  mkstick --image stick.img
///   Preview the plan:  mkstick --image stick.img --dry-run
#[derive(Debug, Parser)]
#[command(
    name = "mkstick",
    verbatim_doc_comment,
    version = env!("MKSTICK_VERSION"),
    about,
    args_conflicts_with_subcommands = true,
    args_override_self = true,
    after_long_help = write::secrets_help()
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub write: WriteArgs,
}

/// `mkstick SUBCOMMAND …` parsed without the write arguments, which are
/// most of the top level and unused by a subcommand: building them was a
/// third of the start-up of `mkstick ignite` on a 2 KB config. The name,
/// version and global settings are `Cli`'s;
/// `tests::subcommand_line_parses_as_cli_does` holds the two together.
#[derive(Debug, Parser)]
#[command(name = "mkstick", version = env!("MKSTICK_VERSION"), args_override_self = true)]
struct SubcommandLine {
    #[command(subcommand)]
    command: Command,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Invocation {
    /// No subcommand: write a stick or an image.
    Write(Box<WriteArgs>),
    Command(Command),
}

impl From<Cli> for Invocation {
    fn from(cli: Cli) -> Self {
        match cli.command {
            Some(command) => Invocation::Command(command),
            None => Invocation::Write(Box::new(cli.write)),
        }
    }
}

/// The environment variable that stands for `--ignition-url` in a write.
pub const IGN_PATH: &str = "IGN_PATH";

impl Invocation {
    /// Parses the process's arguments, and `IGN_PATH` for the commands that
    /// write sticks when they name no Ignition config on the command line (a
    /// flag wins over the variable). Not through clap's `env`: clap would
    /// read it, and refuse a bad one, for `mkstick ignite` or `inspect` too.
    pub fn from_env() -> Result<Invocation, clap::Error> {
        let args: Vec<OsString> = std::env::args_os().collect();
        // A first argument that is exactly a subcommand's name can only
        // mean that subcommand (clap tries subcommands before TARGET).
        // `help` and near-misses ("did you mean") take the whole parser.
        let names_subcommand = args
            .get(1)
            .and_then(|a| a.to_str())
            .is_some_and(<Command as clap::Subcommand>::has_subcommand);
        let mut invocation = if names_subcommand {
            Invocation::Command(SubcommandLine::try_parse_from(args)?.command)
        } else {
            Cli::try_parse_from(args)?.into()
        };
        let write = match &mut invocation {
            Invocation::Write(args) => args,
            Invocation::Command(Command::QemuTest(args)) => &mut args.write,
            Invocation::Command(Command::Cluster(cluster::ClusterCommand::Build(args))) => {
                &mut args.write
            }
            Invocation::Command(_) => return Ok(invocation),
        };
        if write.ignition.is_some() || write.ignition_url.is_some() {
            return Ok(invocation);
        }
        let Some(value) = std::env::var_os(IGN_PATH).filter(|v| !v.is_empty()) else {
            return Ok(invocation);
        };
        let parsed = value
            .to_str()
            .ok_or_else(|| format!("--ignition-url / {IGN_PATH} is not valid UTF-8"))
            .and_then(|v| v.parse::<ConfigUrl>().map_err(|e| e.to_string()));
        match parsed {
            Ok(url) => write.ignition_url = Some(url),
            Err(why) => {
                return Err(<Cli as clap::CommandFactory>::command().error(
                    clap::error::ErrorKind::InvalidValue,
                    format!("invalid value in {IGN_PATH} for '--ignition-url <URL>': {why}"),
                ));
            }
        }
        Ok(invocation)
    }
}

/// `defer`: a subcommand's arguments are built only when it is the one
/// given. Building all ten subcommands' arguments was a fifth of the start-up
/// of `mkstick ignite` on a 2 KB config (benches/ignite.rs).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Read a stick or image back: layout, boot script, manifest, secret key
    /// names (never values), and whether it still matches its manifest.
    Inspect(InspectArgs),
    /// Transpile a Flatcar YAML config (Butane `variant: flatcar` or Container
    /// Linux Config) to Ignition JSON.
    Ignite(crate::ignite::IgniteArgs),
    /// Re-make a stick from what is on it onto a new stick or image
    /// (byte-identical when nothing changed).
    Clone(clone::CloneArgs),
    /// Change some settings of a stick in place, keeping the rest (secrets
    /// too) as they are on it.
    Update(Box<update::UpdateArgs>),
    /// A whole cluster from one inventory: its secrets store and its sticks.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Download and verify Flatcar PXE releases into a local mirror.
    Mirror(crate::mirror::MirrorArgs),
    /// Print the secrets volume's schema as JSON Schema (or a Markdown table).
    SecretsSchema(SecretsSchemaArgs),
    /// Boot a stick in QEMU (UEFI): interactively, or as a pass/fail smoke test.
    QemuTest(Box<QemuTestArgs>),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(crate::distribution::CompletionsArgs),
    /// Print the man page, or write one per command and subcommand into DIR.
    Man(crate::distribution::ManArgs),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The help text of a deferred subcommand is its variant's doc: a doc
    /// comment on an `Args` struct (or one it flattens) would replace it
    /// once the subcommand is built, silently.
    #[test]
    fn deferred_subcommands_keep_their_variant_help() {
        fn abouts(cmd: &clap::Command, path: &str, out: &mut Vec<(String, String)>) {
            for sc in cmd.get_subcommands().filter(|sc| sc.get_name() != "help") {
                let path = format!("{path} {}", sc.get_name());
                let text = |s: Option<&clap::builder::StyledStr>| s.map(ToString::to_string);
                let about = (text(sc.get_about()), text(sc.get_long_about()));
                out.push((path.clone(), format!("{about:?}")));
                abouts(sc, &path, out);
            }
        }
        let mut declared = Vec::new();
        abouts(&Cli::command(), "mkstick", &mut declared);
        let mut cmd = Cli::command();
        cmd.build();
        let mut built = Vec::new();
        abouts(&cmd, "mkstick", &mut built);
        assert!(declared.len() >= 13, "{declared:?}");
        assert_eq!(declared, built);
    }

    /// Everything the fast path parses, and how it fails, is as the whole
    /// parser has it: every subcommand's help and usage, and the outcome
    /// of good and bad lines (including global settings such as
    /// `args_override_self` and `--version` placement).
    #[test]
    fn subcommand_line_parses_as_cli_does() {
        fn helps(cmd: &mut clap::Command, out: &mut Vec<String>) {
            for sc in cmd
                .get_subcommands_mut()
                .filter(|sc| sc.get_name() != "help")
            {
                out.push(sc.render_long_help().to_string());
                out.push(sc.render_usage().to_string());
                helps(sc, out);
            }
        }
        let (mut full, mut fast) = (Cli::command(), SubcommandLine::command());
        full.build();
        fast.build();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        helps(&mut full, &mut a);
        helps(&mut fast, &mut b);
        assert!(a.len() >= 26, "{}", a.len());
        assert_eq!(a, b);
        // And every subcommand takes the fast path.
        for sc in full.get_subcommands().filter(|sc| sc.get_name() != "help") {
            assert!(<Command as Subcommand>::has_subcommand(sc.get_name()));
        }
        assert!(!<Command as Subcommand>::has_subcommand("help"));

        let lines: &[&[&str]] = &[
            &["ignite", "x.yml", "--compact"],
            &["ignite", "--spec", "3.4.0", "--spec", "3.3.0", "-"],
            &["ignite", "--bogus"],
            &["ignite", "--version"],
            &["ignite", "--help"],
            &["inspect"],
            &["cluster"],
            &["cluster", "build", "inv.yml", "--out", "d", "--k3s", "A=b"],
            &["cluster", "biuld"],
            &["mirror", "d", "--base-url", "ftp://x"],
            &["qemu-test", "--smoke", "x.img", "--image", "y.img"],
            &["qemu-test", "--smoke", "--timeout", "30", "--timeout", "40"],
            &["update", "x.img", "--hostname", "a", "--hostname", "b"],
            &["completions", "tcsh"],
            &["man", "d", "e"],
        ];
        for line in lines {
            let argv = [&["mkstick"], *line].concat();
            let full = Cli::try_parse_from(&argv).map(|cli| format!("{:?}", cli.command));
            let fast =
                SubcommandLine::try_parse_from(&argv).map(|l| format!("{:?}", Some(l.command)));
            let show = |r: Result<String, clap::Error>| match r {
                Ok(parsed) => parsed,
                Err(e) => format!("{:?}: {}", e.kind(), e.render()),
            };
            assert_eq!(show(full), show(fast), "mkstick {}", line.join(" "));
        }
    }

    #[test]
    fn image_and_device_conflict() {
        assert!(Cli::try_parse_from(["mkstick", "/dev/sdz", "--image", "x.img"]).is_err());
        let cli =
            Cli::try_parse_from(["mkstick", "--image", "x.img", "--k3s", "K3S_TOKEN=a"]).unwrap();
        assert_eq!(cli.write.k3s, ["K3S_TOKEN=a"]);
    }

    #[test]
    fn subcommands_parse() {
        let cli = Cli::try_parse_from(["mkstick", "inspect", "x.img"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Inspect(_))));
    }
}
