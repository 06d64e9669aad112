//! `mkstick inspect`.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Image file or block device to read.
    pub target: PathBuf,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}
