//! Where an image goes: an image file or a block device. Both are a `File`;
//! they differ in how they are opened, checked and finished.

pub(crate) mod blockdev;
pub(crate) mod image_file;
mod interrupt;
// ioctl(2) is unsafe to call, even through nix's typed wrappers.
#[allow(unsafe_code)]
mod ioctl;

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};

use anyhow::{Context, Result};

use crate::image::Image;
use crate::image::extent::{Chunk, Extent};

/// What the target holds before the write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backing {
    /// A new sparse file: it reads as zeros, so zero runs are skipped.
    FreshSparse,
    /// A device (or reused file) that may hold stale data: zeros are written.
    Stale,
}

/// The bytes [`write_image`] will write: what the progress bar counts to.
pub(crate) fn bytes_to_write(image: &Image, backing: Backing) -> u64 {
    image
        .extents()
        .map(|e| match e.chunk {
            Chunk::Zeros(_) if backing == Backing::FreshSparse => 0,
            _ => e.chunk.len(),
        })
        .sum()
}

/// Writes the filesystems, then the partition table, then syncs. Returns the
/// number of bytes written.
pub(crate) fn write_image(
    file: &mut File,
    image: &Image,
    backing: Backing,
    progress: &dyn Fn(u64),
) -> Result<u64> {
    let mut written = 0;
    for e in image.body.iter().chain(&image.table) {
        written += write_extent(file, e, backing)
            .with_context(|| format!("writing {} bytes at offset {}", e.chunk.len(), e.offset))?;
        progress(written);
    }
    // sync_all reports latent write errors (and is per file: no global sync()).
    file.sync_all()
        .context("flushing the written data to the device")?;
    Ok(written)
}

fn write_extent(file: &mut File, e: &Extent, backing: Backing) -> Result<u64> {
    match &e.chunk {
        Chunk::Zeros(_) if backing == Backing::FreshSparse => Ok(0),
        Chunk::Zeros(len) => {
            file.seek(SeekFrom::Start(e.offset))?;
            let zeros = vec![0u8; (*len).min(1 << 20) as usize];
            let mut left = *len;
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                file.write_all(&zeros[..n])?;
                left -= n as u64;
            }
            Ok(*len)
        }
        Chunk::Bytes(b) => {
            use std::os::unix::fs::FileExt;
            file.write_all_at(b, e.offset)?;
            Ok(b.len() as u64)
        }
        Chunk::File(src) => {
            file.seek(SeekFrom::Start(e.offset))?;
            // Fails, before anything is finalised, unless the bytes read are
            // the verified ones.
            src.copy_to(file)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The device progress bar counts to `bytes_to_write`: it must be what
    /// `write_image` reports at the end, or the bar passes 100%.
    #[test]
    fn the_progress_total_is_what_is_written() {
        let image = Image {
            disk_bytes: 8 << 20,
            body: vec![
                Extent::zeros(0, 3 << 20),
                Extent::bytes(3 << 20, vec![7u8; 4096]),
            ],
            table: vec![Extent::bytes(0, vec![1u8; 512])],
        };
        for backing in [Backing::FreshSparse, Backing::Stale] {
            let mut file = tempfile::tempfile().unwrap();
            file.set_len(image.disk_bytes).unwrap();
            let last = std::cell::Cell::new(0);
            let written = write_image(&mut file, &image, backing, &|n| last.set(n)).unwrap();
            assert_eq!(written, bytes_to_write(&image, backing), "{backing:?}");
            assert_eq!(last.get(), written);
        }
    }
}
