//! A newc ("070701") cpio archive writer, for the embedded Ignition initrd.
//!
//! Small enough to own: iPXE hands the bytes to Linux unchanged, and Linux's
//! initramfs unpacker wants exactly this format. Every field is fixed (inode,
//! owner, mtime), so the archive is reproducible.

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
    out.extend_from_slice(b"070701");
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
pub fn archive(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
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
    entry(&mut out, 0, "TRAILER!!!", 0, &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
