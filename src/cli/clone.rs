//! `mkstick clone`: arguments only.

use std::path::PathBuf;

use clap::Args;

// Re-make a stick from what is on it (its manifest, boot script, iPXE
// binaries, embedded config and secrets volume) onto a new stick or image:
// byte-identical when nothing changed. For a dying stick.
// (Not a doc comment: with the subcommands deferred, clap would let it
// replace the help text, which is the variant's doc in `cli::Command`.)
#[derive(Debug, Clone, Args)]
pub struct CloneArgs {
    /// The stick or image to copy (opened read-only).
    pub source: PathBuf,
    /// The new image file, or a block device (needs root; erased).
    pub destination: PathBuf,
    /// Copy a SOURCE that no longer matches its own manifest (what differs is
    /// printed first).
    #[arg(long)]
    pub force: bool,
    /// Do not ask before overwriting DESTINATION.
    #[arg(long, short = 'y')]
    pub yes: bool,
}
