//! `mkstick cluster`: arguments only (the commands live in `crate::commands::cluster`).

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::write::WriteArgs;

/// `mkstick cluster`'s subcommands. Deferred like the top-level ones (see
/// `cli::Command`); `cluster` itself is not, so that clap's `help` subcommand
/// (and the completions made from it) still knows `init`, `show` and `build`.
#[derive(Debug, Clone, Subcommand)]
#[command(defer = true)]
pub enum ClusterCommand {
    /// Create the cluster's secrets store (token, CAs, secret slots), or add
    /// what is missing to it (a new node). Never overwrites; prints no values.
    Init(InitArgs),
    /// Print the inventory and the names (never the values) of the secrets
    /// each node's stick gets.
    Show(StoreArgs),
    /// Write one image per node (NODE.img in --out), in parallel, then print
    /// a table of them. Write options apply to every node.
    Build(Box<BuildArgs>),
}

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The cluster inventory (YAML).
    pub inventory: PathBuf,
    /// The secrets store directory. Default: INVENTORY's name with `.secrets`, beside it.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Fill slots from this env file (KEY=value lines): shared keys by name,
    /// a node's keys with its name appended, e.g. HEARTBEAT_URL_N1. The same
    /// names are read from the environment; the file wins.
    #[arg(long, value_name = "FILE")]
    pub secrets: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// The cluster inventory (YAML).
    pub inventory: PathBuf,
    /// Directory for the images, one NODE.img per node (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Images built at once. Default: the number of CPUs.
    #[arg(long, value_name = "N")]
    pub jobs: Option<NonZeroUsize>,
    /// Write options shared by every node (Flatcar, iPXE, layout, SSH key…).
    #[command(flatten)]
    pub write: WriteArgs,
}
