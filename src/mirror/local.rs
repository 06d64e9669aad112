//! The mirror directory as an input that may be hostile: files are read only
//! when they are regular files (a FIFO, a device or a directory planted under
//! a release's name is refused, never waited on or read without end), with a
//! bound, and written only through fresh temporary files, never through a link.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Whether the last component of a path may be a symbolic link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Links {
    /// Small files (signatures, DIGESTS, keys): what is read is verified.
    Follow,
    /// A release's kernel and initrd: verified from this descriptor and
    /// copied onto the stick from the same path, which must then be the
    /// same regular file, not a link that can be re-pointed in between.
    Refuse,
}

/// Opens `path` for reading if it is a regular file (links to one are fine:
/// what is read is verified). `Ok(None)` when there is nothing at `path`.
pub(super) fn open_regular(path: &Path) -> Result<Option<(File, u64)>> {
    open_checked(path, Links::Follow)
}

/// [`open_regular`] that refuses a symbolic link when `links` says so.
pub(super) fn open_checked(path: &Path, links: Links) -> Result<Option<(File, u64)>> {
    // O_NONBLOCK: opening a FIFO must not wait for a writer.
    let nofollow = match links {
        Links::Follow => 0,
        Links::Refuse => libc::O_NOFOLLOW,
    };
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | nofollow)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) if links == Links::Refuse && e.raw_os_error() == Some(libc::ELOOP) => bail!(
            "{} is a symbolic link, not a file of a Flatcar release; put the file itself \
             there, or remove the link and run `mkstick mirror` again",
            path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    let meta = file
        .metadata()
        .with_context(|| format!("reading the metadata of {}", path.display()))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let kind = crate::model::file_kind(ft);
        bail!(
            "{} is {kind}, not a file of a Flatcar release; remove it and run `mkstick mirror` \
             again",
            path.display()
        );
    }
    Ok(Some((file, meta.len())))
}

/// Reads a small file (signature, DIGESTS, key, bookkeeping) of at most
/// `limit` bytes; `Ok(None)` when it does not exist.
pub(super) fn read_bounded(path: &Path, limit: u64) -> Result<Option<Vec<u8>>> {
    let Some((file, _)) = open_regular(path)? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > limit {
        bail!(
            "{} is larger than the {limit} bytes allowed for it; remove it and run \
             `mkstick mirror` again",
            path.display()
        );
    }
    Ok(Some(bytes))
}

/// Replaces `path` with `bytes` atomically: a new temporary file with a
/// random name beside it (created exclusively, so no planted link is
/// followed), then a rename over `path` (which replaces a link, not its target).
pub(super) fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".mkstick-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let msg = format!("{:#}", read_bounded(&fifo, 10).unwrap_err());
        assert!(msg.contains("is a FIFO"), "{msg}");
        let msg = format!("{:#}", read_bounded(dir.path(), 10).unwrap_err());
        assert!(msg.contains("is a directory"), "{msg}");
        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let msg = format!("{:#}", read_bounded(&link, 10).unwrap_err());
        assert!(msg.contains("is a character device"), "{msg}");
        assert!(
            read_bounded(&dir.path().join("none"), 10)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn release_files_may_not_be_links() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"kernel").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(open_checked(&link, Links::Follow).unwrap().is_some());
        let msg = format!("{:#}", open_checked(&link, Links::Refuse).unwrap_err());
        assert!(msg.contains("link is a symbolic link"), "{msg}");
        let (_, size) = open_checked(&file, Links::Refuse).unwrap().unwrap();
        assert_eq!(size, 6);
    }

    #[test]
    fn bounds_reads_and_replaces_links_not_their_targets() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"precious").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let msg = format!("{:#}", read_bounded(&link, 4).unwrap_err());
        assert!(msg.contains("larger than the 4 bytes"), "{msg}");
        replace_file(&link, b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        assert_eq!(std::fs::read(&link).unwrap(), b"new");
        assert!(!link.is_symlink());
    }
}
