//! `mkstick secrets-schema`.

use clap::Args;

#[derive(Debug, Args)]
pub struct SecretsSchemaArgs {
    /// Print the Markdown table used in the README instead.
    #[arg(long)]
    pub markdown: bool,
}
