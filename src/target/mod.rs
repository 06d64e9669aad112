//! Where an image goes: an image file or a block device. Both are a `File`;
//! they differ in how they are opened, checked and finished.

pub(crate) mod blockdev;
mod fault;
pub(crate) mod image_file;
pub(crate) mod interrupt;
mod journal;
// ioctl(2) is unsafe to call, even through nix's typed wrappers.
#[allow(unsafe_code)]
mod ioctl;

use std::fs::File;
use std::os::unix::fs::FileExt;

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

/// The most bytes sent to the target at once: between chunks a device write
/// checks for Ctrl-C, so this bounds how long it takes to answer (a slow
/// stick writes 1 MiB in a tenth of a second).
pub(crate) const CHUNK: u64 = 1 << 20;

/// Where [`write_extents`] sends each chunk.
pub(crate) trait Sink {
    fn put(&mut self, offset: u64, bytes: &[u8]) -> Result<()>;
}

impl Sink for File {
    fn put(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        self.write_all_at(bytes, offset)?;
        Ok(())
    }
}

/// Writes the filesystems, then the partition table, then syncs. Returns the
/// number of bytes written.
pub(crate) fn write_image(
    file: &mut File,
    image: &Image,
    backing: Backing,
    progress: &dyn Fn(u64),
) -> Result<u64> {
    let written = write_extents(
        file,
        image.body.iter().chain(&image.table),
        backing,
        progress,
    )?;
    // sync_all reports latent write errors (and is per file: no global sync()).
    file.sync_all()
        .context("flushing the written data to the device")?;
    Ok(written)
}

/// Sends `extents` to `sink` in chunks of at most [`CHUNK`] bytes. Returns
/// the number of bytes written; `progress` hears it after every chunk.
pub(crate) fn write_extents<'a>(
    sink: &mut dyn Sink,
    extents: impl Iterator<Item = &'a Extent>,
    backing: Backing,
    progress: &dyn Fn(u64),
) -> Result<u64> {
    let mut written = 0;
    let mut buf = Vec::new();
    for e in extents {
        let len = e.chunk.len();
        write_extent(sink, e, backing, &mut buf, &mut |n| {
            written += n;
            progress(written);
        })
        .with_context(|| format!("writing {len} bytes at offset {}", e.offset))?;
    }
    Ok(written)
}

fn write_extent(
    sink: &mut dyn Sink,
    e: &Extent,
    backing: Backing,
    buf: &mut Vec<u8>,
    done: &mut dyn FnMut(u64),
) -> Result<()> {
    let pieces = (0..e.chunk.len()).step_by(CHUNK as usize);
    let piece_len = |at: u64| (e.chunk.len() - at).min(CHUNK);
    match &e.chunk {
        Chunk::Zeros(_) if backing == Backing::FreshSparse => {}
        Chunk::Zeros(_) => {
            for at in pieces {
                buf.clear();
                buf.resize(piece_len(at) as usize, 0);
                sink.put(e.offset + at, buf)?;
                done(buf.len() as u64);
            }
        }
        Chunk::Bytes(b) => {
            for at in pieces {
                let piece = &b[at as usize..(at + piece_len(at)) as usize];
                sink.put(e.offset + at, piece)?;
                done(piece.len() as u64);
            }
        }
        Chunk::File(src) => {
            // Fails, before anything is finalised, unless the bytes read are
            // the verified ones.
            let mut out = SinkWriter {
                sink,
                offset: e.offset,
                done,
            };
            src.copy_to(&mut out)?;
        }
    }
    Ok(())
}

/// A host file's verified copy ([`crate::model::content::HostFile::copy_to`])
/// writes through this, so it reaches the sink in chunks like any extent.
struct SinkWriter<'a, 'b> {
    sink: &'a mut dyn Sink,
    offset: u64,
    done: &'b mut dyn FnMut(u64),
}

impl std::io::Write for SinkWriter<'_, '_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let n = bytes.len().min(CHUNK as usize);
        self.sink
            .put(self.offset, &bytes[..n])
            .map_err(std::io::Error::other)?;
        self.offset += n as u64;
        (self.done)(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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

    /// Every chunk is at most `CHUNK` bytes (a signal is answered between
    /// chunks), whatever the extent's kind, and together they are the image.
    #[test]
    fn extents_are_sent_in_small_chunks() {
        struct Record(Vec<(u64, usize)>, File);
        impl Sink for Record {
            fn put(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
                self.0.push((offset, bytes.len()));
                self.1.put(offset, bytes)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("big");
        let data: Vec<u8> = (0..(5 * CHUNK / 2)).map(|i| (i % 253) as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let image = Image {
            disk_bytes: 16 << 20,
            body: vec![
                Extent::zeros(0, 3 * CHUNK),
                Extent {
                    offset: 4 * CHUNK,
                    chunk: Chunk::File(crate::model::content::HostFile {
                        path: src,
                        len: data.len() as u64,
                        sha256: crate::model::digest::Sha256Digest::of(&data),
                    }),
                },
                Extent::bytes(8 * CHUNK, data.clone()),
            ],
            table: vec![],
        };
        let mut sink = Record(Vec::new(), tempfile::tempfile().unwrap());
        let n = write_extents(&mut sink, image.extents(), Backing::Stale, &|_| {}).unwrap();
        assert_eq!(n, 3 * CHUNK + 2 * data.len() as u64);
        assert!(
            sink.0.iter().all(|&(_, len)| len as u64 <= CHUNK),
            "{:?}",
            sink.0
        );
        assert_eq!(sink.0.len(), 3 + 3 + 3);
        let mut back = vec![0; data.len()];
        for at in [4 * CHUNK, 8 * CHUNK] {
            sink.1.read_exact_at(&mut back, at).unwrap();
            assert!(back == data, "the bytes at {at} differ");
        }
    }
}
