//! A temporary stick built with the write command's own code path, from the
//! same options, for runs without a TARGET.

use std::path::PathBuf;

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::cli::WriteArgs;
use crate::image::Image;
use crate::plan::{Environment, Plan};
use crate::target::image_file;

/// An image file; removed on drop unless the user named it (`--image`).
pub struct BuiltStick {
    _dir: Option<TempDir>,
    pub path: PathBuf,
}

/// Builds the stick `write` describes, with `base_url` instead of the
/// user's (smoke mode points it at the payload server).
pub fn build(write: &WriteArgs, base_url: Option<String>) -> Result<BuiltStick> {
    let mut args = write.clone();
    if let Some(url) = base_url {
        args.base_url = url;
    }
    let plan =
        Plan::build(&args, &Environment::current(None)).context("planning the test stick")?;
    for warning in &plan.warnings {
        eprintln!("qemu-test: warning: {warning}");
    }
    let image = Image::build(&plan).context("building the test stick")?;
    let (dir, path) = match &args.image {
        Some(path) => (None, path.clone()),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("mkstick-qemu-")
                .tempdir()
                .context("creating a temporary directory")?;
            let path = dir.path().join("stick.img");
            (Some(dir), path)
        }
    };
    // A temporary path is new; a named one the user asked to (over)write.
    image_file::write(&path, &plan, &image, true)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(BuiltStick { _dir: dir, path })
}
