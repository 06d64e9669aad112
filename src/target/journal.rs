//! The undo journal of a device write: before each chunk goes to the device,
//! the bytes it replaces are saved, so an interrupted or failed write can put
//! the device back exactly as it was.
//!
//! The journal is an `O_TMPFILE` file (mode 0600) in `$TMPDIR` or /tmp: it
//! has no name, so it vanishes with the process, even on SIGKILL, and no
//! other user can open it (it may hold the previous owner's data). The index
//! (offset, length, position in the file) stays in memory; it is small, one
//! entry per chunk of at most `target::CHUNK` bytes.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};

use crate::model::stick::MIB;

/// Bytes saved from `offset` of the device, at `at` in the journal file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Record {
    offset: u64,
    len: u64,
    at: u64,
}

pub(crate) struct Journal {
    file: File,
    dir: PathBuf,
    records: Vec<Record>,
    /// Bytes saved so far (the end of the journal file).
    saved: u64,
    /// What the write may overwrite at most: checked up front against the
    /// free space, and never exceeded.
    bound: u64,
    buf: Vec<u8>,
}

impl Journal {
    /// An empty journal in `$TMPDIR` (or /tmp) that can hold `bound` bytes.
    pub(crate) fn create(bound: u64) -> Result<Journal> {
        Journal::create_in(&std::env::temp_dir(), bound)
    }

    pub(crate) fn create_in(dir: &Path, bound: u64) -> Result<Journal> {
        let d = dir.display();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE)
            .open(dir)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EOPNOTSUPP | libc::EISDIR) => anyhow::anyhow!(
                    "creating the undo journal in {d}: its filesystem has no unnamed temporary \
                     files (O_TMPFILE); set TMPDIR to a directory on tmpfs, ext4, xfs or btrfs"
                ),
                _ => anyhow::anyhow!(
                    "creating the undo journal in {d}: {e}; set TMPDIR to a writable directory"
                ),
            })?;
        let st = nix::sys::statvfs::fstatvfs(&file)
            .with_context(|| format!("checking the free space in {d}"))?;
        let free = st.blocks_available() * st.fragment_size();
        if free < bound {
            bail!(
                "a device write keeps the {} MiB it overwrites in a temporary file until the \
                 stick is verified (to put them back on Ctrl-C or an error), but {d} has only \
                 {} MiB free; free some space there or set TMPDIR to a directory with room; \
                 nothing was written",
                bound.div_ceil(MIB),
                free / MIB
            );
        }
        Ok(Journal {
            file,
            dir: dir.to_path_buf(),
            records: Vec::new(),
            saved: 0,
            bound,
            buf: Vec::new(),
        })
    }

    /// Saves the `len` bytes at `offset` of `dev`, before they are overwritten.
    pub(crate) fn save(&mut self, dev: &File, offset: u64, len: u64) -> Result<()> {
        ensure!(
            self.saved + len <= self.bound,
            "the undo journal would grow past the {} bytes the write was sized for",
            self.bound
        );
        self.buf.resize(usize::try_from(len)?, 0);
        dev.read_exact_at(&mut self.buf, offset).with_context(|| {
            format!("reading the {len} bytes at offset {offset} that the write replaces")
        })?;
        self.file
            .write_all_at(&self.buf, self.saved)
            .with_context(|| {
                format!(
                    "saving the bytes the write replaces to the undo journal in {}",
                    self.dir.display()
                )
            })?;
        self.records.push(Record {
            offset,
            len,
            at: self.saved,
        });
        self.saved += len;
        Ok(())
    }

    /// Bytes saved: what a restore puts back.
    pub(crate) fn saved(&self) -> u64 {
        self.saved
    }

    /// Writes the saved bytes back to `dev`, newest first (so where writes
    /// overlapped, the oldest bytes win). Returns the bytes put back.
    pub(crate) fn restore(&mut self, dev: &File, progress: &dyn Fn(u64)) -> Result<u64> {
        let mut done = 0;
        for r in self.records.iter().rev() {
            self.buf.resize(usize::try_from(r.len)?, 0);
            self.file
                .read_exact_at(&mut self.buf, r.at)
                .context("reading the undo journal")?;
            dev.write_all_at(&self.buf, r.offset)
                .with_context(|| format!("putting back {} bytes at offset {}", r.len, r.offset))?;
            done += r.len;
            progress(done);
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(len: usize) -> (File, Vec<u8>) {
        let before: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let dev = tempfile::tempfile().unwrap();
        dev.write_all_at(&before, 0).unwrap();
        (dev, before)
    }

    fn contents(dev: &File, len: usize) -> Vec<u8> {
        let mut got = vec![0; len];
        dev.read_exact_at(&mut got, 0).unwrap();
        got
    }

    /// Overlapping writes (the table wipe, then the image over it) undo in
    /// reverse order to exactly the original bytes.
    #[test]
    fn overlapping_writes_are_undone_exactly() {
        let (dev, before) = device(64 << 10);
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::create_in(dir.path(), 64 << 10).unwrap();
        for (offset, len, byte) in [(0u64, 8192u64, 0u8), (4096, 16384, 1), (0, 512, 2)] {
            j.save(&dev, offset, len).unwrap();
            dev.write_all_at(&vec![byte; len as usize], offset).unwrap();
        }
        assert_ne!(contents(&dev, before.len()), before);
        let last = std::cell::Cell::new(0);
        let n = j.restore(&dev, &|n| last.set(n)).unwrap();
        assert_eq!(n, 8192 + 16384 + 512);
        assert_eq!(last.get(), n);
        assert_eq!(contents(&dev, before.len()), before);
    }

    /// The journal has no name: nothing appears in its directory.
    #[test]
    fn the_journal_has_no_name() {
        let (dev, _) = device(8192);
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::create_in(dir.path(), 8192).unwrap();
        j.save(&dev, 0, 8192).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert_eq!(j.saved(), 8192);
    }

    #[test]
    fn it_never_grows_past_its_bound() {
        let (dev, _) = device(8192);
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::create_in(dir.path(), 4096).unwrap();
        j.save(&dev, 0, 4096).unwrap();
        let err = j.save(&dev, 4096, 1).unwrap_err();
        assert!(
            format!("{err:#}").contains("past the 4096 bytes"),
            "{err:#}"
        );
    }

    #[test]
    fn too_little_free_space_is_refused_up_front() {
        let dir = tempfile::tempdir().unwrap();
        let err = Journal::create_in(dir.path(), u64::MAX / 2)
            .err()
            .expect("no filesystem has 8 EiB free");
        let msg = format!("{err:#}");
        assert!(msg.contains("set TMPDIR"), "{msg}");
        assert!(msg.contains("nothing was written"), "{msg}");
    }
}
