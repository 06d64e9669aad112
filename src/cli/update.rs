//! `mkstick update`: arguments only.

use std::path::PathBuf;

use clap::Args;

use crate::k3s;
use crate::k3s::pin::{ChannelServerUrl, ReleaseBaseUrl};
use crate::model::flatcar::{Channel, VersionSpec};
use crate::model::{ConfigUrl, Sha256Digest};

// Change some settings of a stick in place and keep the rest as it is on
// the stick (its secrets too, unless --secrets is given). Shows a
// before/after diff of the settings (secret key names only) and asks first.
// (Not a doc comment: with the subcommands deferred, clap would let it
// replace the help text, which is the variant's doc in `cli::Command`.)
#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    /// The stick or image file to update (a device needs root).
    pub target: PathBuf,

    /// Boot this Flatcar version instead, e.g. 4593.2.5, or "current".
    #[arg(long, value_name = "VERSION")]
    pub flatcar_version: Option<VersionSpec>,

    /// Boot from this Flatcar release channel instead.
    #[arg(long, value_enum)]
    pub channel: Option<Channel>,

    /// Embed this Ignition config instead (.ign/.json as is; .yml/.yaml transpiled).
    #[arg(long, value_name = "FILE", conflicts_with = "ignition_url")]
    pub ignition: Option<PathBuf>,

    /// Fetch the Ignition config from this public URL at boot instead (http,
    /// https, tftp, s3 or gs).
    #[arg(long, value_name = "URL")]
    pub ignition_url: Option<ConfigUrl>,

    /// Replace the secrets volume with the secrets in this env file
    /// (KEY=value lines; the environment is read too, as the writer does).
    #[arg(long, value_name = "FILE")]
    pub secrets: Option<PathBuf>,

    /// Set the node's host name.
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// Set the `core` user's SSH public key.
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,

    /// Pin this k3s release instead: a tag (v1.31.4+k3s1) or a channel
    /// (stable, latest, v1.31) resolved to its tag now. Without it the
    /// stick keeps the release it was written with.
    #[arg(long, value_name = "TAG|CHANNEL")]
    pub k3s_version: Option<k3s::VersionSpec>,

    /// The new k3s binary's SHA-256, pinned by hand: no network. Needs a tag
    /// in --k3s-version.
    #[arg(long, value_name = "HEX", requires = "k3s_version")]
    pub k3s_sha256: Option<Sha256Digest>,

    /// Where k3s releases live (GitHub or your mirror), laid out URL/<tag>/<asset>.
    #[arg(long, value_name = "URL", default_value = k3s::DEFAULT_BASE_URL)]
    pub k3s_base_url: ReleaseBaseUrl,

    /// k3s's channel server, which names a channel's current tag.
    #[arg(long, value_name = "URL", default_value = k3s::DEFAULT_CHANNEL_URL)]
    pub k3s_channel_url: ChannelServerUrl,

    /// Update a TARGET that no longer matches its own manifest (what differs
    /// is printed first).
    #[arg(long)]
    pub force: bool,

    /// Show the diff and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask before writing.
    #[arg(long, short = 'y')]
    pub yes: bool,
}
