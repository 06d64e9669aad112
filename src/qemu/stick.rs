//! Read-only view of a stick (image file or block device): what the smoke
//! test expects the booted node to see.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{Context, Result};

use crate::bootscript::OEM_CPIO_PATH;
use crate::plan::MANIFEST_PATH;

/// Where the embedded Ignition config sits inside `oem.cpio`.
pub const OEM_CONFIG: &str = "usr/share/oem/config.ign";

/// What was found on the stick. Partitions that are missing are `None`:
/// a broken stick is still booted, so the guest reports what went wrong.
#[derive(Debug, Default)]
pub struct StickContents {
    /// The ESP exists (GPT type EFI System) and holds a readable FAT.
    pub esp: bool,
    /// `usr/share/oem/config.ign` out of `/mkstick/oem.cpio`, when embedded.
    pub oem_config: Option<Vec<u8>>,
    /// `/mkstick/manifest.json`: what the writer meant to put on the stick.
    pub manifest: Option<Vec<u8>>,
    /// Files in the root of the secrets volume (GPT name `secrets`).
    pub secrets: Option<Vec<(String, Vec<u8>)>>,
}

pub fn read(path: &Path) -> Result<StickContents> {
    let disk = gpt::GptConfig::new()
        .writable(false)
        .open(path)
        .with_context(|| {
            format!(
                "reading the GPT of {}: is it a stick written by mkstick?",
                path.display()
            )
        })?;
    let block = u64::from(*disk.logical_block_size());
    let mut contents = StickContents::default();
    for part in disk.partitions().values() {
        if part.part_type_guid == gpt::partition_types::UNUSED {
            continue;
        }
        let start = part.first_lba * block;
        let len = (part.last_lba + 1 - part.first_lba) * block;
        if part.part_type_guid == gpt::partition_types::EFI {
            let fs = open_fat(path, start, len).with_context(|| {
                format!(
                    "reading the ESP (partition {:?}) of {}",
                    part.name,
                    path.display()
                )
            })?;
            contents.esp = true;
            contents.oem_config = match read_file(&fs, OEM_CPIO_PATH)? {
                Some(archive) => crate::cpio::find_file(&archive, OEM_CONFIG)
                    .with_context(|| format!("reading /{OEM_CPIO_PATH} on {}", path.display()))?,
                None => None,
            };
            contents.manifest = read_file(&fs, MANIFEST_PATH)?;
        } else if part.name == "secrets" {
            let fs = open_fat(path, start, len)
                .with_context(|| format!("reading the secrets volume of {}", path.display()))?;
            let mut files = Vec::new();
            for entry in fs.root_dir().iter() {
                let entry = entry.context("listing the secrets volume")?;
                if entry.is_file() {
                    let mut data = Vec::new();
                    entry
                        .to_file()
                        .read_to_end(&mut data)
                        .context("reading a secrets file")?;
                    files.push((entry.file_name(), data));
                }
            }
            contents.secrets = Some(files);
        }
    }
    Ok(contents)
}

type Fat = fatfs::FileSystem<ReadOnlySlice>;

fn open_fat(path: &Path, start: u64, len: u64) -> Result<Fat> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let slice = ReadOnlySlice {
        file,
        start,
        len,
        pos: 0,
    };
    Ok(fatfs::FileSystem::new(slice, fatfs::FsOptions::new())?)
}

fn read_file(fs: &Fat, path: &str) -> Result<Option<Vec<u8>>> {
    match fs.root_dir().open_file(path) {
        Ok(mut file) => {
            let mut data = Vec::new();
            file.read_to_end(&mut data)
                .with_context(|| format!("reading /{path}"))?;
            Ok(Some(data))
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("opening /{path}")),
    }
}

/// One partition of the stick, readable only: fatfs wants `Write`, and a
/// stick under test must never be changed.
struct ReadOnlySlice {
    file: File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for ReadOnlySlice {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        self.file.seek(SeekFrom::Start(self.start + self.pos))?;
        let read = self.file.read(&mut buf[..n])?;
        self.pos += read as u64;
        Ok(read)
    }
}

impl Seek for ReadOnlySlice {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.filter(|p| *p <= self.len).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "seek outside the partition")
        })?;
        Ok(self.pos)
    }
}

impl Write for ReadOnlySlice {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the stick is opened read-only",
        ))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
