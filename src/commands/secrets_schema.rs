//! `mkstick secrets-schema`: the secrets volume's schema, for tools and docs.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::secrets_schema::SecretsSchemaArgs;
use crate::secrets::schema;

pub fn run(args: &SecretsSchemaArgs) -> Result<ExitCode> {
    if args.markdown {
        super::print(&schema::markdown_table())?;
    } else {
        let json = serde_json::to_string_pretty(&schema::json_schema())
            .context("serializing the secrets schema")?;
        super::print(&(json + "\n"))?;
    }
    Ok(ExitCode::SUCCESS)
}
