//! A bounded, read-only window onto a partition: `fatfs` and `gpt` need
//! `Write` in their bounds, and a stick being read back must never change.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::image::extent::seek_in;

/// The bytes `start..start+len` of `inner`, as a stream of their own.
/// Reads are budgeted: a hostile volume whose cluster chains loop would make
/// a FAT reader go round forever; past the budget every read fails instead.
#[derive(Debug)]
pub(crate) struct Slice<T> {
    inner: T,
    start: u64,
    len: u64,
    pos: u64,
    budget: u64,
    calls: u64,
}

/// How much reading one slice allows: every byte a few times over (a
/// verify reads each file once, plus FAT and directory lookups), and a floor
/// for tiny slices.
fn budget(len: u64) -> u64 {
    len.saturating_mul(4).saturating_add(64 << 20)
}

/// Read calls allowed: a directory walk reads 32-byte entries one at a time,
/// so a loop there spends calls long before bytes. Two per sector (its data
/// and its FAT entry) covers reading every file once.
fn call_budget(len: u64) -> u64 {
    (len / 512).saturating_mul(2).saturating_add(1 << 16)
}

impl<T: Seek> Slice<T> {
    pub(crate) fn new(inner: T, start: u64, len: u64) -> Self {
        Slice {
            inner,
            start,
            len,
            pos: 0,
            budget: budget(len),
            calls: call_budget(len),
        }
    }
}

impl<T: Read + Seek> Read for Slice<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.len.saturating_sub(self.pos) as usize);
        if n == 0 {
            return Ok(0);
        }
        if self.budget < n as u64 || self.calls == 0 {
            return Err(io::Error::other(format!(
                "read more than {} bytes or {} times from a {}-byte volume: its cluster chains loop (damaged or hostile stick)",
                budget(self.len),
                call_budget(self.len),
                self.len
            )));
        }
        self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
        let got = self.inner.read(&mut buf[..n])?;
        self.pos += got as u64;
        self.budget -= got as u64;
        self.calls -= 1;
        Ok(got)
    }
}

impl<T: Seek> Seek for Slice<T> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = seek_in(self.len, self.pos, pos)?;
        Ok(self.pos)
    }
}

impl<T> Write for Slice<T> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "read-back is read-only",
        ))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
