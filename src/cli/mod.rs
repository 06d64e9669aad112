//! The command line: clap structs only, one file per command. The write
//! arguments sit at the top level, the other commands are subcommands.

pub mod clone;
pub mod cluster;
pub mod inspect;
pub mod qemu_test;
pub mod secrets_schema;
pub mod update;
pub mod write;

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

/// The environment variable that stands for `--ignition-url` in a write.
pub const IGN_PATH: &str = "IGN_PATH";

impl Cli {
    /// Parses the process's arguments, and `IGN_PATH` for the commands that
    /// write sticks when they name no Ignition config on the command line (a
    /// flag wins over the variable). Not through clap's `env`: clap would
    /// read it, and refuse a bad one, for `mkstick ignite` or `inspect` too.
    pub fn parse_from_env() -> Result<Cli, clap::Error> {
        let mut cli = Cli::try_parse()?;
        let write = match &mut cli.command {
            None => &mut cli.write,
            Some(Command::QemuTest(args)) => &mut args.write,
            Some(Command::Cluster(cluster::ClusterArgs {
                command: cluster::ClusterCommand::Build(args),
            })) => &mut args.write,
            Some(_) => return Ok(cli),
        };
        if write.ignition.is_some() || write.ignition_url.is_some() {
            return Ok(cli);
        }
        let Some(value) = std::env::var_os(IGN_PATH).filter(|v| !v.is_empty()) else {
            return Ok(cli);
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
        Ok(cli)
    }
}

#[derive(Debug, Subcommand)]
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
    Cluster(cluster::ClusterArgs),
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
