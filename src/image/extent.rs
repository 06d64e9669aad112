//! A disk image as a sparse list of extents: what to put where, in write order.
//!
//! Building an image is pure (a `Plan` in, extents out); writing it
//! is the target's job. Keeping the two apart lets an image file skip the zeros a
//! fresh sparse file already has, while a block device writes them (it may hold
//! stale data).

use std::sync::Arc;

use std::io::{self, SeekFrom};

pub(crate) use crate::model::content::Chunk;

/// `chunk` placed at byte `offset` of the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Extent {
    pub offset: u64,
    pub chunk: Chunk,
}

impl Extent {
    pub(crate) fn bytes(offset: u64, bytes: impl Into<Arc<[u8]>>) -> Self {
        Extent {
            offset,
            chunk: Chunk::Bytes(bytes.into()),
        }
    }

    pub(crate) fn zeros(offset: u64, len: u64) -> Self {
        Extent {
            offset,
            chunk: Chunk::Zeros(len),
        }
    }

    #[cfg(test)]
    pub(crate) fn end(&self) -> u64 {
        self.offset + self.chunk.len()
    }

    /// The same extent moved `by` bytes further into the image.
    pub(crate) fn shifted(self, by: u64) -> Self {
        Extent {
            offset: self.offset + by,
            chunk: self.chunk,
        }
    }
}

/// The position `pos` resolves to in a stream of `len` bytes now at `current`.
pub(crate) fn seek_in(len: u64, current: u64, pos: SeekFrom) -> io::Result<u64> {
    match pos {
        SeekFrom::Start(n) => Some(n),
        SeekFrom::End(d) => len.checked_add_signed(d),
        SeekFrom::Current(d) => current.checked_add_signed(d),
    }
    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))
}
