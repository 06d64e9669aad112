//! Image files: written to a temporary file beside the target, verified, then
//! renamed over it, so a failure leaves nothing new and an existing file intact.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::image::Image;
use crate::plan::Plan;

/// What a finished write did.
pub(crate) struct Written {
    pub bytes_written: u64,
}

/// Whether an image file would be created or replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Destination {
    New,
    /// A file is there: replacing it needs the user's consent.
    Existing,
}

/// Checks that `path` can take an image file, before anything is built.
pub(crate) fn destination(path: &Path) -> Result<Destination> {
    if path.is_dir() {
        bail!(
            "{} is a directory; give an image file name such as stick.img",
            path.display()
        );
    }
    Ok(if path.exists() {
        Destination::Existing
    } else {
        Destination::New
    })
}

/// Writes `image` to `path` (replacing a file the user agreed to replace).
pub(crate) fn write(path: &Path, plan: &Plan, image: &Image) -> Result<Written> {
    destination(path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".mkstick-")
        .suffix(".img.part")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let file = tmp.as_file_mut();
    file.set_len(image.disk_bytes)
        .context("sizing the image file")?;
    let bytes_written = super::write_image(file, image, super::Backing::FreshSparse, &|_| {})?;
    crate::readback::verify::against_plan(file, plan).context("reading the image back")?;
    tmp.persist(path)
        .with_context(|| format!("renaming the finished image to {}", path.display()))?;
    Ok(Written { bytes_written })
}
