//! newc ("070701") cpio archives, the format Linux unpacks as an initramfs:
//! written for the per-run expectations, read for the stick's `oem.cpio`.

use anyhow::{Context, Result, bail, ensure};

const MAGIC: &[u8; 6] = b"070701";
const HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";

/// One archive member. Parent directories are not implied: Linux creates
/// nothing on its own, so list them before their contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry<'a> {
    Dir {
        path: &'a str,
    },
    File {
        path: &'a str,
        mode: u32,
        data: &'a [u8],
    },
}

/// Serialises `entries` plus the trailer. Timestamps, owners and inode
/// numbers are zero so the same entries always give the same bytes.
pub fn write(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        match entry {
            Entry::Dir { path } => push(&mut out, path, 0o040_755, 2, &[]),
            Entry::File { path, mode, data } => push(&mut out, path, 0o100_000 | mode, 1, data),
        }
    }
    push(&mut out, TRAILER, 0, 1, &[]);
    out
}

fn push(out: &mut Vec<u8>, path: &str, mode: u32, nlink: u32, data: &[u8]) {
    let name_len = path.len() + 1;
    let fields = [
        0, // ino
        mode,
        0, // uid
        0, // gid
        nlink,
        0, // mtime
        u32::try_from(data.len()).expect("cpio member larger than 4 GiB"),
        0, // devmajor
        0, // devminor
        0, // rdevmajor
        0, // rdevminor
        u32::try_from(name_len).expect("cpio path longer than 4 GiB"),
        0, // check
    ];
    out.extend_from_slice(MAGIC);
    for field in fields {
        out.extend_from_slice(format!("{field:08X}").as_bytes());
    }
    out.extend_from_slice(path.as_bytes());
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

/// The contents of the regular file `path` in a newc archive, if present.
/// Leading `./` and `/` are ignored on both sides.
pub fn find_file(archive: &[u8], path: &str) -> Result<Option<Vec<u8>>> {
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
        let archive = write(&[
            Entry::Dir { path: "mkstick" },
            Entry::File {
                path: "mkstick/expect",
                mode: 0o644,
                data: b"cmdline a=b\n",
            },
            Entry::File {
                path: "odd",
                mode: 0o600,
                data: b"xyz",
            },
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
    fn matches_gnu_cpio_layout() {
        // Header of `echo -n hi > f; echo f | cpio -o -H newc` with zeroed metadata.
        let archive = write(&[Entry::File {
            path: "f",
            mode: 0o644,
            data: b"hi",
        }]);
        let header = std::str::from_utf8(&archive[..HEADER_LEN]).unwrap();
        let expected = [
            "070701", "00000000", "000081A4", "00000000", "00000000", "00000001", "00000000",
            "00000002", "00000000", "00000000", "00000000", "00000000", "00000002", "00000000",
        ]
        .concat();
        assert_eq!(header, expected);
        assert_eq!(&archive[HEADER_LEN..HEADER_LEN + 4], b"f\0hi");
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(find_file(b"not a cpio archive at all, definitely not one of those.........................................................", "x").is_err());
        let archive = write(&[Entry::File {
            path: "f",
            mode: 0o644,
            data: b"hello",
        }]);
        assert!(find_file(&archive[..120], "g").is_err());
    }
}
