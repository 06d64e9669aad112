//! A temporary stick built with the write command's own stages (resolve →
//! plan → image → image file), for runs without a TARGET.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::image::Image;
use crate::plan::Plan;
use crate::resolve::{self, Environment, Request};
use crate::target::image_file;

/// Which stick to boot: the user's TARGET, or one built from `request`.
#[derive(Clone, Debug)]
pub(crate) struct StickSource {
    pub target: Option<PathBuf>,
    /// Build into this image file and keep it (else a temporary one).
    pub image: Option<PathBuf>,
    pub request: Request,
}

/// The stick under test: the user's TARGET, or one built for this run.
pub(super) enum Stick {
    Given(PathBuf),
    /// An image file; its temporary directory (if any) goes on drop.
    Built {
        path: PathBuf,
        _dir: Option<TempDir>,
    },
}

impl Stick {
    /// TARGET when given, else a stick built from the request with
    /// `base_url` (smoke mode: the payload server) instead of the user's.
    pub(super) fn target_or_build(source: &StickSource, base_url: Option<String>) -> Result<Stick> {
        match &source.target {
            Some(target) => Ok(Stick::Given(target.clone())),
            None => build(source, base_url),
        }
    }

    pub(super) fn path(&self) -> &Path {
        match self {
            Stick::Given(path) | Stick::Built { path, .. } => path,
        }
    }
}

fn build(source: &StickSource, base_url: Option<String>) -> Result<Stick> {
    // The payload server stands in for Flatcar's origin everywhere, the
    // offline release's download included.
    let base_url = match base_url {
        Some(url) => url
            .parse()
            .with_context(|| format!("the payload server's URL {url}"))?,
        None => source.request.base_url.clone(),
    };
    let request = Request {
        base_url,
        ..source.request.clone()
    };
    let plan = resolve::resolve(&request, &Environment::current(None))
        .and_then(|spec| Plan::build(&spec))
        .context("planning the test stick")?;
    for warning in &plan.warnings {
        eprintln!("qemu-test: warning: {warning}");
    }
    let image = Image::build(&plan).context("building the test stick")?;
    let (dir, path) = match &source.image {
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
    image_file::write(&path, &plan, &image)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(Stick::Built { path, _dir: dir })
}
