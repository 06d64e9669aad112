//! Where a file's bytes come from: held in memory, or streamed from the host
//! at write time.

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
