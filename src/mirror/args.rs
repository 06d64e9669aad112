//! `mkstick mirror`: the command line of [`super::ensure`].

use std::path::PathBuf;

use anyhow::Result;

use super::k3s::K3sMirrorOptions;
use super::layout::{ArchChoice, Channel, DEFAULT_BASE_URL, VersionSpec};
use super::{MirrorOptions, ensure};
use crate::fetch::{Progress, RetryPolicy};
use crate::k3s;
use crate::k3s::pin::{ChannelServerUrl, ReleaseBaseUrl};
use crate::model::BaseUrl;

// Download and verify Flatcar PXE releases into a directory any static
// HTTP server can serve as a mirror (`--base-url` of a stick).
// (Not a doc comment: with the subcommands deferred, clap would let it
// replace the help text, which is the variant's doc in `cli::Command`.)
#[derive(Debug, clap::Args)]
pub struct MirrorArgs {
    /// Mirror directory; files go to DIR/<channel>/<arch>-usr/<version>/.
    pub dir: PathBuf,
    /// Release channel.
    #[arg(long, value_enum, default_value_t = Channel::Stable)]
    pub channel: Channel,
    /// A version such as 4593.2.5, or `current` (resolved with version.txt).
    #[arg(long, default_value = "current")]
    pub version: VersionSpec,
    /// Architecture(s) to mirror.
    #[arg(long, value_enum, default_value_t = ArchChoice::Amd64)]
    pub arch: ArchChoice,
    /// Mirror to download from, with the Flatcar CDN layout.
    #[arg(long, value_name = "URL", default_value = DEFAULT_BASE_URL)]
    pub base_url: BaseUrl,
    /// Flatcar's image-signing public key from this file instead of
    /// downloading it; its fingerprint must still match the pinned one.
    #[arg(long, value_name = "FILE")]
    pub keyring: Option<PathBuf>,
    #[command(flatten)]
    pub k3s: Box<K3sArgs>,
}

// The k3s part of `mkstick mirror` (boxed: two URLs make it large). (Not a
// doc comment: clap would make it the help text of the deferred `mirror`.)
#[derive(Debug, clap::Args)]
pub struct K3sArgs {
    /// Also mirror this k3s release (a tag such as v1.31.4+k3s1, or a channel
    /// such as stable) into DIR/k3s/<tag>/, each binary checked against the
    /// release's sha256sum-<arch>.txt.
    #[arg(long, value_name = "TAG|CHANNEL", help_heading = "k3s")]
    pub k3s: Option<k3s::VersionSpec>,
    /// Mirror only k3s, not Flatcar.
    #[arg(long, requires = "k3s", help_heading = "k3s")]
    pub k3s_only: bool,
    /// Also the airgap images tarball of each architecture.
    #[arg(long, requires = "k3s", help_heading = "k3s")]
    pub k3s_airgap: bool,
    /// Where k3s releases are downloaded from, laid out <URL>/<tag>/<asset>.
    #[arg(long, value_name = "URL", default_value = k3s::DEFAULT_BASE_URL, help_heading = "k3s")]
    pub k3s_base_url: ReleaseBaseUrl,
    /// k3s's channel server, which names the tag of a channel.
    #[arg(long, value_name = "URL", default_value = k3s::DEFAULT_CHANNEL_URL, help_heading = "k3s")]
    pub k3s_channel_url: ChannelServerUrl,
}

/// Runs `mkstick mirror`.
pub fn run(args: &MirrorArgs) -> Result<()> {
    let opts = MirrorOptions {
        base_url: args.base_url.to_string(),
        keyring: args.keyring.clone(),
        ..MirrorOptions::new()?
    };
    if !args.k3s.k3s_only {
        for &arch in args.arch.arches() {
            ensure(&args.dir, args.channel, arch, &args.version, &opts)?;
        }
    }
    let k3s = &args.k3s;
    if let Some(version) = &k3s.k3s {
        let k3s_opts = K3sMirrorOptions {
            base_url: k3s.k3s_base_url.0.clone(),
            channel_url: k3s.k3s_channel_url.0.clone(),
            airgap: k3s.k3s_airgap,
            progress: Progress::stderr(),
            retry: RetryPolicy::default(),
        };
        super::k3s::ensure(&args.dir, version, args.arch.arches(), &k3s_opts)?;
    }
    Ok(())
}
