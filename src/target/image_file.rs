//! Image files: written to a temporary file beside the target, verified, then
//! renamed over it, so a failure leaves nothing new and an existing file intact.
//! Only a regular file (or nothing) is ever replaced: mkstick runs as root, and
//! `--image /dev/null` must not replace the system's /dev/null.

use std::fs::{File, Metadata, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, RenameFlags, renameat2};
use nix::sys::stat::fstatat;

use super::interrupt;
use crate::image::Image;
use crate::plan::Plan;

/// Whether an image file would be created or replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Destination {
    New,
    /// A regular file is there: replacing it needs the user's consent.
    Existing,
}

/// Images hold secrets: owner-only, whatever the umask.
const MODE: u32 = 0o600;

/// Checks that `path` can take an image file, before anything is built and
/// again right before the rename. The path itself is examined, not what a
/// symbolic link points to.
pub(crate) fn destination(path: &Path) -> Result<Destination> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Destination::New),
        Err(e) => return Err(e).with_context(|| format!("checking --image {}", path.display())),
    };
    let ft = meta.file_type();
    let p = path.display();
    if ft.is_file() {
        return Ok(Destination::Existing);
    }
    if ft.is_block_device() {
        bail!(
            "--image {p} is a block device; to write the stick itself, drop --image: sudo mkstick {p}"
        );
    }
    if ft.is_dir() {
        bail!("--image {p} is a directory; give an image file name such as {p}/stick.img");
    }
    let what = if ft.is_symlink() {
        "a symbolic link (mkstick does not write through links; give the real path)".to_owned()
    } else {
        format!("{}, not a file", crate::model::file_kind(ft))
    };
    bail!("--image {p} is {what}; give a new or regular file name such as stick.img")
}

/// Writes `image` to `path` (replacing a file the user agreed to replace).
pub(crate) fn write(path: &Path, plan: &Plan, image: &Image) -> Result<()> {
    let dest = destination(path)?;
    let existing = match dest {
        Destination::Existing => Some(std::fs::metadata(path)?),
        Destination::New => None,
    };
    let (dir, name) = split(path)?;
    // The temp file and the rename go through this fd: a directory swapped
    // for a link meanwhile cannot redirect the rename.
    let dir_fd = File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(&dir)
        .with_context(|| format!("opening the directory {}", dir.display()))?;
    for (stale, pid) in remove_stale(&dir, &name)? {
        eprintln!(
            "mkstick: removed {}, left by an interrupted mkstick run (process {pid})",
            stale.display()
        );
    }
    let tmp_name = temp_name(&name, std::process::id());
    let tmp = dir.join(&tmp_name);
    let guard = interrupt::Guard::new(tmp.clone());
    let result = fill(&tmp, plan, image, existing.as_ref());
    let result = result.and_then(|()| {
        // Held across the last check and the rename: a signal then waits.
        let _pending = interrupt::lock();
        destination(path)?;
        rename_into(&dir_fd, &tmp_name, &name, dest)
            .with_context(|| format!("renaming the finished image to {}", path.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    drop(guard);
    result
}

/// Creates the temporary file (never following or reusing one), writes and
/// verifies the image in it.
fn fill(tmp: &Path, plan: &Plan, image: &Image, existing: Option<&Metadata>) -> Result<()> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(tmp)
        .with_context(|| format!("creating the temporary image {}", tmp.display()))?;
    // A replaced file's mode is kept if it was narrower: never widened.
    let mode = existing.map_or(MODE, |m| m.permissions().mode() & MODE);
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", tmp.display()))?;
    file.set_len(image.disk_bytes)
        .with_context(|| format!("sizing the image file {}", tmp.display()))?;
    super::write_image(&mut file, image, super::Backing::FreshSparse, &|_| {})
        .with_context(|| format!("writing the image to {}", tmp.display()))?;
    crate::readback::verify::against_plan(&mut file, plan)
        .with_context(|| format!("reading the image {} back", tmp.display()))?;
    drop::<File>(file);
    Ok(())
}

/// Renames `tmp` to `name`, both in `dir`. The entry is checked once more on
/// the directory fd, and a name that was free is taken with
/// RENAME_NOREPLACE: a device node, FIFO or link that appears meanwhile is
/// never replaced.
fn rename_into(dir: &File, tmp: &str, name: &str, dest: Destination) -> Result<()> {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => {}
        Ok(_) => {
            bail!("{name} changed into something other than a regular file; nothing was replaced")
        }
        Err(Errno::ENOENT) => {}
        Err(e) => bail!("checking {name} again: {e}"),
    }
    let flags = match dest {
        Destination::New => RenameFlags::RENAME_NOREPLACE,
        Destination::Existing => RenameFlags::empty(),
    };
    match renameat2(dir, tmp, dir, name, flags) {
        Ok(()) => Ok(()),
        Err(Errno::EEXIST) => {
            bail!("{name} appeared while the image was written; nothing was replaced")
        }
        // A file system without RENAME_NOREPLACE (some network ones): the
        // check just above is the last word.
        Err(Errno::EINVAL) if dest == Destination::New => {
            renameat2(dir, tmp, dir, name, RenameFlags::empty()).map_err(Into::into)
        }
        Err(e) => Err(e.into()),
    }
}

fn split(path: &Path) -> Result<(PathBuf, String)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("--image {}: give a file name", path.display()))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.to_string()))
}

/// `.stick.img.mkstick-1234.part`: the target and the writing process, so a
/// later run knows which temp files are its own and whether their writer
/// is gone.
fn temp_name(target: &str, pid: u32) -> String {
    format!(".{target}.mkstick-{pid}.part")
}

/// Removes temp files of `target` whose writing process no longer exists
/// (killed with SIGKILL, or the machine lost power). Returns them.
fn remove_stale(dir: &Path, target: &str) -> Result<Vec<(PathBuf, u32)>> {
    let prefix = format!(".{target}.mkstick-");
    let mut removed = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.strip_suffix(".part"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if !regular || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let path = entry.path();
        std::fs::remove_file(&path).with_context(|| {
            format!(
                "removing {}, a stale temporary image (it holds secrets)",
                path.display()
            )
        })?;
        removed.push((path, pid));
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_new_or_regular_files_are_destinations() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("stick.img");
        assert_eq!(destination(&f).unwrap(), Destination::New);
        std::fs::write(&f, "x").unwrap();
        assert_eq!(destination(&f).unwrap(), Destination::Existing);
        let link = d.path().join("link.img");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        let err = format!("{:#}", destination(&link).unwrap_err());
        assert!(err.contains("symbolic link"), "{err}");
        let err = format!("{:#}", destination(d.path()).unwrap_err());
        assert!(err.contains("directory"), "{err}");
    }

    #[test]
    fn a_name_taken_meanwhile_is_not_replaced() {
        let d = tempfile::tempdir().unwrap();
        let dir = File::open(d.path()).unwrap();
        std::fs::write(d.path().join("tmp"), "image").unwrap();
        std::os::unix::fs::symlink("/nowhere", d.path().join("stick.img")).unwrap();
        let err = format!(
            "{:#}",
            rename_into(&dir, "tmp", "stick.img", Destination::New).unwrap_err()
        );
        assert!(err.contains("other than a regular file"), "{err}");
        std::fs::remove_file(d.path().join("stick.img")).unwrap();
        std::fs::write(d.path().join("stick.img"), "theirs").unwrap();
        let err = format!(
            "{:#}",
            rename_into(&dir, "tmp", "stick.img", Destination::New).unwrap_err()
        );
        assert!(err.contains("appeared while"), "{err}");
        assert_eq!(
            std::fs::read_to_string(d.path().join("stick.img")).unwrap(),
            "theirs"
        );
        rename_into(&dir, "tmp", "stick.img", Destination::Existing).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("stick.img")).unwrap(),
            "image"
        );
    }

    #[test]
    fn stale_temp_files_of_dead_writers_only_are_removed() {
        let d = tempfile::tempdir().unwrap();
        // pid_max is at most 2^22: this process cannot exist.
        let dead = d.path().join(temp_name("stick.img", 4_999_999));
        let alive = d.path().join(temp_name("stick.img", std::process::id()));
        let other = d.path().join(temp_name("other.img", 4_999_999));
        for p in [&dead, &alive, &other] {
            std::fs::write(p, "secret").unwrap();
        }
        let removed = remove_stale(d.path(), "stick.img").unwrap();
        assert_eq!(removed, vec![(dead.clone(), 4_999_999)]);
        assert!(!dead.exists() && alive.exists() && other.exists());
    }
}
