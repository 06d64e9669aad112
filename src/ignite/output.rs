//! `ignite -o PATH`: the output replaces only a regular file or creates a
//! new one, atomically, mode 0600 (configs carry password hashes and tokens).
//! mkstick runs as root, so a device node, FIFO, socket, directory or
//! symlink at PATH is refused, never written through or renamed over.

use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::{Context as _, bail};

use crate::model::file_kind as kind;

/// Writes `data` to `path` through a temporary file beside it and a rename.
/// A new file gets mode 0600; an existing regular file keeps its mode, so
/// that its permissions are never widened.
pub(super) fn write_atomically(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let existing = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => Some(meta),
        Ok(meta) => bail!(
            "refusing to write the output to {}: {}; -o replaces only a regular file or creates a new one (give another path, or leave out -o to write to stdout)",
            path.display(),
            describe(path, &meta)
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(e).with_context(|| format!("checking the output path {}", path.display()));
        }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // NamedTempFile is created 0600 with O_EXCL, so nothing is written through.
    let mut tmp = tempfile::Builder::new()
        .prefix(".mkstick-ignite-")
        .tempfile_in(dir)
        .with_context(|| {
            format!(
                "creating a temporary file in {} for the output",
                dir.display()
            )
        })?;
    if let Some(meta) = &existing {
        // Keep the file's mode, never more than it had.
        let mode = meta.mode() & 0o7777;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode & 0o777))
            .with_context(|| format!("setting the mode of the new {}", path.display()))?;
    }
    tmp.write_all(data)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    match existing {
        // Replacing a regular file: check again right before the rename.
        Some(_) => {
            let now = std::fs::symlink_metadata(path)
                .with_context(|| format!("checking the output path {}", path.display()))?;
            if !now.file_type().is_file() {
                bail!(
                    "refusing to write the output to {}: it became {} while the config was written",
                    path.display(),
                    describe(path, &now)
                );
            }
            tmp.persist(path)
                .map_err(|e| e.error)
                .with_context(|| format!("renaming the output into place at {}", path.display()))?;
        }
        // A new path: never replace whatever appeared there meanwhile.
        None => {
            tmp.persist_noclobber(path).map_err(|e| e.error).with_context(|| {
                format!(
                    "creating the output {} (something appeared at that path while the config was written; not replacing it)",
                    path.display()
                )
            })?;
        }
    }
    Ok(())
}

/// "a block device", "a symbolic link (to /dev/sda)", …
fn describe(path: &Path, meta: &std::fs::Metadata) -> String {
    let what = kind(meta.file_type());
    match std::fs::read_link(path) {
        Ok(target) if meta.file_type().is_symlink() => {
            format!("{what} (to {})", target.display())
        }
        _ => what.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_files_are_private_and_existing_modes_kept() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.ign");
        write_atomically(&out, b"{}\n").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&out), 0o600);
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&out, b"{}\n").unwrap();
        assert_eq!(mode(&out), 0o640);
    }

    #[test]
    fn refuses_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let e = write_atomically(dir.path(), b"{}").unwrap_err();
        assert!(format!("{e:#}").contains("a directory"), "{e:#}");
    }
}
