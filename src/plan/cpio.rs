//! newc ("070701") cpio archives, the format Linux unpacks as an initramfs:
//! written for the embedded Ignition config (and qemu-test's expectations),
//! read back by qemu-test and inspect.
//!
//! Small enough to own: iPXE hands the bytes to Linux unchanged, and Linux's
//! initramfs unpacker wants exactly this format. Every field is fixed (inode,
//! owner, mtime), so the archive is reproducible.

use anyhow::{Context, Result, bail, ensure};

const MAGIC: &[u8; 6] = b"070701";
const HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";

/// Appends one entry. `mode` includes the file type bits.
fn entry(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, data: &[u8]) {
    let namesize = name.len() + 1;
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        1, // nlink
        0, // mtime
        data.len() as u32,
        0, // devmajor
        0, // devminor
        0, // rdevmajor
        0, // rdevminor
        namesize as u32,
        0, // check
    ];
    out.extend_from_slice(MAGIC);
    for f in fields {
        out.extend_from_slice(format!("{f:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// An archive holding `files` (path, mode bits, data) and their parent
/// directories (0755), which Linux does not create on its own.
pub(crate) fn archive(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut dirs: Vec<String> = Vec::new();
    let mut ino = 1;
    for (path, mode, data) in files {
        let mut parent = String::new();
        for part in path
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map_or(&[][..], |(_, p)| p)
        {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            if !dirs.contains(&parent) {
                dirs.push(parent.clone());
                entry(&mut out, ino, &parent, 0o040_755, &[]);
                ino += 1;
            }
        }
        entry(&mut out, ino, path, 0o100_000 | mode, data);
        ino += 1;
    }
    entry(&mut out, 0, TRAILER, 0, &[]);
    out
}

/// The contents of the regular file `path` in a newc archive, if present.
/// Leading `./` and `/` are ignored on both sides.
pub(crate) fn find_file(archive: &[u8], path: &str) -> Result<Option<Vec<u8>>> {
    let wanted = normalise(path);
    let mut pos = 0;
    loop {
        let header = archive
            .get(pos..pos + HEADER_LEN)
            .with_context(|| format!("cpio archive truncated at byte {pos} (no trailer)"))?;
        ensure!(
            &header[..6] == MAGIC,
            "not a newc cpio archive: bad magic at byte {pos}"
        );
        let field = |i: usize| -> Result<usize> {
            let hex = std::str::from_utf8(&header[6 + 8 * i..14 + 8 * i])?;
            usize::from_str_radix(hex, 16)
                .with_context(|| format!("bad cpio header field {hex:?} at byte {pos}"))
        };
        let (mode, size, name_len) = (field(1)?, field(6)?, field(11)?);
        let name_start = pos + HEADER_LEN;
        let name = archive
            .get(name_start..name_start + name_len)
            .with_context(|| format!("cpio member name truncated at byte {name_start}"))?;
        let name = std::str::from_utf8(name.strip_suffix(&[0]).unwrap_or(name))
            .with_context(|| format!("cpio member name at byte {name_start} is not UTF-8"))?;
        let data_start = align4(name_start + name_len);
        if name == TRAILER {
            return Ok(None);
        }
        let data = archive
            .get(data_start..data_start + size)
            .with_context(|| format!("cpio member {name} truncated"))?;
        if mode & 0o170_000 == 0o100_000 && normalise(name) == wanted {
            return Ok(Some(data.to_vec()));
        }
        pos = align4(data_start + size);
        if pos >= archive.len() {
            bail!("cpio archive ends without a trailer");
        }
    }
}

fn normalise(path: &str) -> &str {
    path.trim_start_matches("./").trim_start_matches('/')
}

fn align4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_archive_reads_back() {
        let archive = archive(&[
            ("mkstick/expect", 0o644, b"cmdline a=b\n"),
            ("odd", 0o600, b"xyz"),
        ]);
        assert_eq!(archive.len() % 4, 0);
        assert_eq!(
            find_file(&archive, "/mkstick/expect").unwrap().unwrap(),
            b"cmdline a=b\n"
        );
        assert_eq!(find_file(&archive, "./odd").unwrap().unwrap(), b"xyz");
        assert_eq!(
            find_file(&archive, "mkstick").unwrap(),
            None,
            "a directory is not a file"
        );
        assert_eq!(find_file(&archive, "missing").unwrap(), None);
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(find_file(&[b'x'; 200], "x").is_err());
        let archive = archive(&[("f", 0o644, b"hello")]);
        assert!(find_file(&archive[..120], "g").is_err());
    }

    #[test]
    fn cpio_tool_lists_and_extracts_it() {
        let data = br#"{"ignition":{"version":"3.3.0"}}"#;
        let bytes = archive(&[("usr/share/oem/config.ign", 0o644, data)]);
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("cpio")
            .args(["-i", "-d", "--quiet"])
            .current_dir(dir.path())
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(&bytes)?;
                child.wait_with_output()
            })
            .expect("cpio must be installed (scripts/setup)");
        assert!(out.status.success());
        assert_eq!(
            std::fs::read(dir.path().join("usr/share/oem/config.ign")).unwrap(),
            data
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("usr/share/oem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }
}
