//! `mkstick mirror`: the command line of [`super::ensure`].

use std::path::PathBuf;

use anyhow::Result;

use super::layout::{ArchChoice, Channel, DEFAULT_BASE_URL, VersionSpec};
use super::{MirrorOptions, ensure};

/// Download and verify Flatcar PXE releases into a directory any static
/// HTTP server can serve as a mirror (`--base-url` of a stick).
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
    #[arg(long, default_value = DEFAULT_BASE_URL)]
    pub base_url: String,
    /// Flatcar's image-signing public key from this file instead of
    /// downloading it; its fingerprint must still match the pinned one.
    #[arg(long, value_name = "FILE")]
    pub keyring: Option<PathBuf>,
}

/// Runs `mkstick mirror`.
pub fn run(args: &MirrorArgs) -> Result<()> {
    let opts = MirrorOptions {
        base_url: args.base_url.clone(),
        keyring: args.keyring.clone(),
        ..MirrorOptions::new()?
    };
    for &arch in args.arch.arches() {
        ensure(&args.dir, args.channel, arch, &args.version, &opts)?;
    }
    Ok(())
}
