//! Bounded reads of what `mkstick ignite` is given: the config and the
//! files it embeds. mkstick runs as root, so a path may name a disk, a FIFO
//! or a huge file: only regular files are opened, and never read past a cap.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// The largest config read. The 40,000-file bench config is 8 MB; Ignition
/// configs are fetched by nodes at boot, so anything near this is a mistake.
pub const MAX_CONFIG_BYTES: u64 = 64 << 20;
/// The largest single `local:` / `contents_local` / `trees` file embedded.
pub const MAX_LOCAL_FILE_BYTES: u64 = 64 << 20;
/// All embedded files of one config together.
pub const MAX_LOCAL_TOTAL_BYTES: u64 = 256 << 20;

/// Why an input could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// Not a regular file: what it is instead ("a block device").
    NotRegular(&'static str),
    /// Larger than `limit` bytes.
    TooLarge {
        limit: u64,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotRegular(kind) => write!(f, "it is {kind}, not a regular file"),
            ReadError::TooLarge { limit } => {
                write!(f, "it is larger than the limit of {}", size(*limit))
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// `64 MiB` for whole MiB, else bytes.
pub fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads a regular file of at most `limit` bytes. The type is checked before
/// opening (opening some devices has effects) and again on the open file
/// (the path may have changed in between); `O_NONBLOCK` keeps a FIFO that
/// appears in between from blocking the open.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let before = std::fs::metadata(path).map_err(ReadError::Io)?;
    if !before.is_file() {
        return Err(ReadError::NotRegular(crate::model::file_kind(
            before.file_type(),
        )));
    }
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(crate::model::file_kind(
            meta.file_type(),
        )));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    // Sized from the file: one read instead of read_to_end's doubling from
    // 32 bytes (nine reads for a 2 KB config). One byte more sees EOF.
    let expected = usize::try_from(meta.len()).unwrap_or(0).saturating_add(1);
    read_into(file, limit, Vec::with_capacity(expected))
}

/// Reads at most `limit` bytes, failing if there are more.
pub fn read_bounded(reader: impl Read, limit: u64) -> Result<Vec<u8>, ReadError> {
    read_into(reader, limit, Vec::new())
}

fn read_into(reader: impl Read, limit: u64, mut out: Vec<u8>) -> Result<Vec<u8>, ReadError> {
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(ReadError::Io)?;
    if out.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads_fail_past_the_limit() {
        assert_eq!(read_bounded(&b"12345"[..], 5).unwrap(), b"12345");
        assert!(matches!(
            read_bounded(&b"123456"[..], 5),
            Err(ReadError::TooLarge { limit: 5 })
        ));
    }

    #[test]
    fn refuses_directories_and_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_regular(dir.path(), 10).unwrap_err();
        assert_eq!(e.to_string(), "it is a directory, not a regular file");
        let f = dir.path().join("f");
        std::fs::write(&f, "x".repeat(11)).unwrap();
        assert_eq!(
            read_regular(&f, 10).unwrap_err().to_string(),
            "it is larger than the limit of 10 bytes"
        );
        assert_eq!(read_regular(&f, 11).unwrap().len(), 11);
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(64 << 20), "64 MiB");
        assert_eq!(size(1000), "1000 bytes");
    }
}
