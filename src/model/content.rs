//! Where a file's bytes come from: held in memory, or streamed from the host
//! at write time.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use sha2::Digest as _;

use super::digest::Sha256Digest;

/// The bytes of one extent.
#[derive(Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Literal bytes.
    Bytes(Arc<[u8]>),
    /// A run of zeros that must read back as zeros (FAT tables, root directory).
    Zeros(u64),
    /// The contents of a file on the host, streamed at write time (large assets).
    File(HostFile),
}

/// Sizes only: contents can be large, and on the secrets volume, secret.
impl std::fmt::Debug for Chunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Chunk::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Chunk::Zeros(n) => write!(f, "Zeros({n})"),
            Chunk::File(h) => write!(f, "File({}, {} bytes)", h.path.display(), h.len),
        }
    }
}

/// A host file (a mirrored kernel, initrd or k3s binary) whose SHA-256 was
/// verified before planning. Between that check and the copy the file can be
/// swapped or rewritten in place, so the copy hashes the bytes it actually
/// reads and fails unless they are the verified ones: the writer then
/// finalises nothing (no rename, no partition table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFile {
    pub path: PathBuf,
    pub len: u64,
    pub sha256: Sha256Digest,
}

impl HostFile {
    /// Copies exactly `len` bytes to `out`, never more (the next extent
    /// follows), and checks their digest once they are all read.
    pub fn copy_to(&self, out: &mut dyn Write) -> Result<u64> {
        let path = self.path.display();
        let redo = "nothing was finalised; check what writes to the mirror and run \
                    `mkstick mirror` again";
        // O_NOFOLLOW: a link planted after the check is not followed;
        // O_NONBLOCK: a FIFO planted there does not block the open.
        let mut src = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&self.path)
            .with_context(|| format!("opening {path}, verified earlier, to copy it; {redo}"))?;
        let meta = src
            .metadata()
            .with_context(|| format!("reading the metadata of {path}"))?;
        ensure!(
            meta.is_file(),
            "{path} is no longer a regular file since it was verified; {redo}"
        );
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut copied = 0u64;
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).with_context(|| format!("reading {path}")),
            };
            copied += n as u64;
            ensure!(
                copied <= self.len,
                "{path} grew since it was verified ({} bytes); {redo}",
                self.len
            );
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
        }
        ensure!(
            copied == self.len,
            "{path} shrank since it was verified ({copied} of {} bytes); {redo}",
            self.len
        );
        let actual = Sha256Digest::from(hasher);
        ensure!(
            actual == self.sha256,
            "{path} changed since it was verified: the bytes copied have SHA-256 {actual}, \
             not the verified {}; {redo}",
            self.sha256
        );
        Ok(copied)
    }
}

impl Chunk {
    pub fn len(&self) -> u64 {
        match self {
            Chunk::Bytes(b) => b.len() as u64,
            Chunk::Zeros(n) => *n,
            Chunk::File(h) => h.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_file(dir: &std::path::Path, bytes: &[u8]) -> HostFile {
        let path = dir.join("kernel");
        std::fs::write(&path, bytes).unwrap();
        HostFile {
            path,
            len: bytes.len() as u64,
            sha256: Sha256Digest::of(bytes),
        }
    }

    #[test]
    fn copies_only_the_verified_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let f = host_file(dir.path(), &vec![7u8; 3 << 20]);
        let mut out = Vec::new();
        assert_eq!(f.copy_to(&mut out).unwrap(), 3 << 20);
        assert_eq!(out, vec![7u8; 3 << 20]);

        std::fs::write(&f.path, vec![8u8; 3 << 20]).unwrap();
        let msg = format!("{:#}", f.copy_to(&mut Vec::new()).unwrap_err());
        assert!(msg.contains("changed since it was verified"), "{msg}");

        // Never more than its extent, even when the file grew.
        std::fs::write(&f.path, vec![7u8; (3 << 20) + 1]).unwrap();
        let mut out = Vec::new();
        let msg = format!("{:#}", f.copy_to(&mut out).unwrap_err());
        assert!(msg.contains("grew since it was verified"), "{msg}");
        assert!(out.len() as u64 <= f.len);

        std::fs::write(&f.path, [7u8; 10]).unwrap();
        let msg = format!("{:#}", f.copy_to(&mut Vec::new()).unwrap_err());
        assert!(msg.contains("shrank since it was verified"), "{msg}");
    }
}
