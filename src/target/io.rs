//! I/O adapters for reading a stick back: a bounded window onto a partition,
//! and a guard that refuses writes (the readers need `Write` in their bounds).

use std::io::{self, Read, Seek, SeekFrom, Write};

/// The bytes `start..start+len` of `inner`, as a stream of their own.
#[derive(Debug)]
pub struct Slice<T> {
    inner: T,
    start: u64,
    len: u64,
    pos: u64,
}

impl<T: Seek> Slice<T> {
    pub fn new(inner: T, start: u64, len: u64) -> Self {
        Slice {
            inner,
            start,
            len,
            pos: 0,
        }
    }
}

impl<T: Read + Seek> Read for Slice<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.len.saturating_sub(self.pos) as usize);
        if n == 0 {
            return Ok(0);
        }
        self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
        let got = self.inner.read(&mut buf[..n])?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl<T: Seek> Seek for Slice<T> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = seek_in(self.len, self.pos, pos)?;
        Ok(self.pos)
    }
}

/// The position `pos` resolves to in a stream of `len` bytes now at `current`.
pub fn seek_in(len: u64, current: u64, pos: SeekFrom) -> io::Result<u64> {
    match pos {
        SeekFrom::Start(n) => Some(n),
        SeekFrom::End(d) => len.checked_add_signed(d),
        SeekFrom::Current(d) => current.checked_add_signed(d),
    }
    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))
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
