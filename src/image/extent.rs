//! A disk image as a sparse list of extents: what to put where, in write order.
//!
//! Building an image is pure (a [`crate::plan::Plan`] in, extents out); writing it
//! is the target's job. Keeping the two apart lets an image file skip the zeros a
//! fresh sparse file already has, while a block device writes them (it may hold
//! stale data).

use std::path::PathBuf;
use std::sync::Arc;

/// The bytes of one extent.
#[derive(Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Literal bytes.
    Bytes(Arc<[u8]>),
    /// A run of zeros that must read back as zeros (FAT tables, root directory).
    Zeros(u64),
    /// The contents of a file on the host, streamed at write time (large assets).
    File { path: PathBuf, len: u64 },
}

/// Sizes only: contents can be large, and on the secrets volume, secret.
impl std::fmt::Debug for Chunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Chunk::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Chunk::Zeros(n) => write!(f, "Zeros({n})"),
            Chunk::File { path, len } => write!(f, "File({}, {len} bytes)", path.display()),
        }
    }
}

impl Chunk {
    pub fn len(&self) -> u64 {
        match self {
            Chunk::Bytes(b) => b.len() as u64,
            Chunk::Zeros(n) => *n,
            Chunk::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `chunk` placed at byte `offset` of the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub chunk: Chunk,
}

impl Extent {
    pub fn bytes(offset: u64, bytes: impl Into<Arc<[u8]>>) -> Self {
        Extent {
            offset,
            chunk: Chunk::Bytes(bytes.into()),
        }
    }

    pub fn zeros(offset: u64, len: u64) -> Self {
        Extent {
            offset,
            chunk: Chunk::Zeros(len),
        }
    }

    pub fn end(&self) -> u64 {
        self.offset + self.chunk.len()
    }

    /// The same extent moved `by` bytes further into the image.
    pub fn shifted(self, by: u64) -> Self {
        Extent {
            offset: self.offset + by,
            chunk: self.chunk,
        }
    }
}
