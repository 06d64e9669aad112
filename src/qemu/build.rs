//! A temporary stick built with the write command's own code path, from the
//! same options, for runs without a TARGET.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::cli::WriteArgs;
use crate::image::Image;
use crate::plan::{Environment, Plan};
use crate::target::image_file;

/// The stick under test: the user's TARGET, or one built for this run.
pub enum Stick {
    Given(PathBuf),
    /// An image file; its temporary directory (if any) goes on drop.
    Built {
        path: PathBuf,
        _dir: Option<TempDir>,
    },
}

impl Stick {
    /// TARGET when given, else a stick built from the write options with
    /// `base_url` (smoke mode: the payload server) instead of the user's.
    pub fn target_or_build(write: &WriteArgs, base_url: Option<String>) -> Result<Stick> {
        match &write.device {
            Some(target) => Ok(Stick::Given(target.clone())),
            None => build(write, base_url),
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            Stick::Given(path) | Stick::Built { path, .. } => path,
        }
    }
}

fn build(write: &WriteArgs, base_url: Option<String>) -> Result<Stick> {
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
    Ok(Stick::Built { path, _dir: dir })
}
