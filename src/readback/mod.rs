//! Stage 5: the one reader of a written stick (image file or device), used
//! by verify-after-write, `inspect` and `qemu-test`. It reads the partition
//! table and the FAT volumes through an independent implementation (`gpt`
//! and `fatfs`, not our writer), and never writes.

mod gpt_check;
pub(crate) mod slice;
pub(crate) mod verify;

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{Context, Result};
use sha2::Digest as _;
use uuid::Uuid;

use crate::model::Sha256Digest;
use crate::plan::manifest::Manifest;
pub(crate) use slice::Slice;

const LBA: u64 = 512;

/// One used entry of the partition table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PartitionEntry {
    pub name: String,
    pub guid: Uuid,
    pub type_guid: Uuid,
    pub start_bytes: u64,
    pub size_bytes: u64,
}

/// Reads the partition table of a disk image or device back.
pub(crate) fn partitions<D: Read + Seek + std::fmt::Debug>(
    dev: &mut D,
    disk_bytes: u64,
) -> Result<Vec<PartitionEntry>> {
    gpt_check::check(dev, disk_bytes).context("reading the GPT (is this a mkstick stick?)")?;
    let disk = gpt::GptConfig::new()
        .writable(false)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .open_from_device(Slice::new(dev, 0, disk_bytes))
        .context("reading the GPT (is this a mkstick stick?)")?;
    disk.partitions()
        .values()
        .map(|p| {
            // A hostile entry may end before it starts, or past the device.
            let end = p.last_lba.checked_add(1).and_then(|e| e.checked_mul(LBA));
            anyhow::ensure!(
                p.first_lba <= p.last_lba && end.is_some_and(|e| e <= disk_bytes),
                "partition {:?} (LBA {} to {}) does not fit on the device of {disk_bytes} bytes",
                printable(&p.name),
                p.first_lba,
                p.last_lba
            );
            Ok(PartitionEntry {
                name: p.name.clone(),
                guid: p.part_guid,
                type_guid: p.part_type_guid.guid,
                start_bytes: p.first_lba * LBA,
                size_bytes: (p.last_lba + 1 - p.first_lba) * LBA,
            })
        })
        .collect()
}

/// A FAT volume of a stick, read-only.
pub(crate) type Fat<'a> = fatfs::FileSystem<Slice<&'a File>>;

/// A stick opened read-only, with its partition table read.
pub(crate) struct Stick {
    file: File,
    pub partitions: Vec<PartitionEntry>,
}

impl Stick {
    pub(crate) fn open(path: &Path) -> Result<Stick> {
        let mut file =
            File::open(path).with_context(|| format!("opening {} read-only", path.display()))?;
        let len = file
            .metadata()
            .with_context(|| format!("reading the size of {}", path.display()))?
            .len();
        // A block device reports size 0 in its metadata: ask it by seeking.
        let len = match len {
            0 => file
                .seek(SeekFrom::End(0))
                .with_context(|| format!("finding the size of {}", path.display()))?,
            len => len,
        };
        let partitions =
            partitions(&mut file, len).with_context(|| format!("{}", path.display()))?;
        Ok(Stick { file, partitions })
    }

    /// The partition with GPT name `name`, or an error saying it is missing.
    pub(crate) fn partition(&self, name: &str) -> Result<&PartitionEntry> {
        self.partitions
            .iter()
            .find(|p| p.name == name)
            .with_context(|| format!("no partition named {name:?}: not a mkstick stick"))
    }

    /// Mounts the FAT volume of `part`, read-only.
    pub(crate) fn fat(&self, part: &PartitionEntry) -> Result<Fat<'_>> {
        open_fat(&self.file, part)
    }
}

/// Mounts the FAT volume of `part` on `dev`, read-only.
pub(crate) fn open_fat<D: Read + Seek>(
    dev: D,
    part: &PartitionEntry,
) -> Result<fatfs::FileSystem<Slice<D>>> {
    fatfs::FileSystem::new(
        Slice::new(dev, part.start_bytes, part.size_bytes),
        fatfs::FsOptions::new(),
    )
    .with_context(|| format!("mounting the FAT volume of partition {:?}", part.name))
}

/// The most [`read_file`] reads into memory: manifests, scripts and env files
/// are kilobytes; a stick claiming more is damaged or hostile.
pub(crate) const MAX_READ: u64 = 16 << 20;

/// A file's bytes, or `None` when there is no such file.
pub(crate) fn read_file<T: fatfs::ReadWriteSeek>(
    fs: &fatfs::FileSystem<T>,
    path: &str,
) -> Result<Option<Vec<u8>>> {
    match fs.root_dir().open_file(path) {
        Ok(file) => {
            let mut data = Vec::new();
            file.take(MAX_READ + 1)
                .read_to_end(&mut data)
                .with_context(|| format!("reading /{path}"))?;
            anyhow::ensure!(
                data.len() as u64 <= MAX_READ,
                "/{path} is larger than {MAX_READ} bytes: not a file mkstick wrote"
            );
            Ok(Some(data))
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("opening /{path}")),
    }
}

/// SHA-256 of a file on a FAT volume, streamed.
pub(crate) fn sha256_of<T: fatfs::ReadWriteSeek>(
    fs: &fatfs::FileSystem<T>,
    path: &str,
) -> Result<Sha256Digest> {
    let mut file = fs
        .root_dir()
        .open_file(path)
        .with_context(|| format!("opening {path}"))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {path}"))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(Sha256Digest::from_slice(&h.finalize()).expect("SHA-256 is 32 bytes"))
}

/// Text from a stick as it may be printed: control characters (terminal
/// escapes, NUL, carriage returns) escaped, the rest as is.
pub(crate) fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// How a file on the stick compares with what was recorded for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileState {
    Matches,
    Changed,
    Missing,
}

/// The one manifest check: each `(path, sha256)` against volume `fs`.
pub(crate) fn check_files<'a, T: fatfs::ReadWriteSeek>(
    fs: &fatfs::FileSystem<T>,
    files: impl IntoIterator<Item = (&'a str, &'a Sha256Digest)>,
) -> Vec<(&'a str, FileState)> {
    files
        .into_iter()
        .map(|(path, want)| {
            let state = match sha256_of(fs, path) {
                Ok(got) if got == *want => FileState::Matches,
                Ok(_) => FileState::Changed,
                Err(_) => FileState::Missing,
            };
            (path, state)
        })
        .collect()
}

/// The manifest on an ESP, parsed; `None` when there is none.
pub(crate) fn manifest<T: fatfs::ReadWriteSeek>(
    fs: &fatfs::FileSystem<T>,
) -> Result<Option<Manifest>> {
    read_file(fs, crate::model::stick::MANIFEST_PATH)?
        .map(|b| Manifest::parse(&b))
        .transpose()
}

/// The disk GUID of the partition table (a re-made stick keeps it).
pub(crate) fn disk_guid<D: Read + Seek + std::fmt::Debug>(
    dev: &mut D,
    disk_bytes: u64,
) -> Result<Uuid> {
    let disk = gpt::GptConfig::new()
        .writable(false)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .open_from_device(Slice::new(dev, 0, disk_bytes))
        .context("reading the GPT (is this a mkstick stick?)")?;
    Ok(*disk.guid())
}

/// Every file of a FAT volume with its bytes, depth first in directory
/// order (the order the writer laid them out), paths relative to the root.
/// At most `limit` bytes in all: a volume is read into memory.
pub(crate) fn read_tree<T: fatfs::ReadWriteSeek>(
    fs: &fatfs::FileSystem<T>,
    limit: u64,
) -> Result<Vec<(String, Vec<u8>)>> {
    fn walk<T: fatfs::ReadWriteSeek>(
        dir: fatfs::Dir<'_, T>,
        prefix: &str,
        left: &mut u64,
        out: &mut Vec<(String, Vec<u8>)>,
    ) -> Result<()> {
        for entry in dir.iter() {
            let entry = entry.with_context(|| format!("listing /{prefix}"))?;
            let name = entry.file_name();
            if name == "." || name == ".." {
                continue;
            }
            let path = format!("{prefix}{name}");
            if entry.is_dir() {
                walk(entry.to_dir(), &format!("{path}/"), left, out)?;
            } else {
                let mut data = Vec::new();
                entry
                    .to_file()
                    .take(*left + 1)
                    .read_to_end(&mut data)
                    .with_context(|| format!("reading /{path}"))?;
                anyhow::ensure!(
                    data.len() as u64 <= *left,
                    "the volume holds more than expected at /{path}"
                );
                *left -= data.len() as u64;
                out.push((path, data));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    let mut left = limit;
    walk(fs.root_dir(), "", &mut left, &mut out)?;
    Ok(out)
}
