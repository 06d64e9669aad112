//! Read-only view of a stick (image file or block device): what the smoke
//! test expects the booted node to see.

use std::path::Path;

use anyhow::{Context, Result};

use crate::model::stick::{MANIFEST_PATH, OEM_CONFIG, OEM_CPIO_PATH, SECRETS_NAME};
use crate::readback::{self, Stick};

/// What was found on the stick. Partitions that are missing are `None`:
/// a broken stick is still booted, so the guest reports what went wrong.
#[derive(Debug, Default)]
pub(super) struct StickContents {
    /// The ESP exists (GPT type EFI System) and holds a readable FAT.
    pub esp: bool,
    /// `usr/share/oem/config.ign` out of `/mkstick/oem.cpio`, when embedded.
    pub oem_config: Option<Vec<u8>>,
    /// `/mkstick/manifest.json`: what the writer meant to put on the stick.
    pub manifest: Option<Vec<u8>>,
    /// Files in the root of the secrets volume (GPT name `secrets`).
    pub secrets: Option<Vec<(String, Vec<u8>)>>,
}

pub(super) fn read(path: &Path) -> Result<StickContents> {
    let stick = Stick::open(path).with_context(|| {
        format!(
            "reading the GPT of {}: is it a stick written by mkstick?",
            path.display()
        )
    })?;
    let mut contents = StickContents::default();
    for part in &stick.partitions {
        if part.type_guid == gpt::partition_types::EFI.guid {
            let fs = stick.fat(part).with_context(|| {
                format!(
                    "reading the ESP (partition {:?}) of {}",
                    part.name,
                    path.display()
                )
            })?;
            contents.esp = true;
            contents.oem_config = match readback::read_file(&fs, OEM_CPIO_PATH)? {
                Some(archive) => crate::plan::cpio::find_file(&archive, OEM_CONFIG)
                    .with_context(|| format!("reading /{OEM_CPIO_PATH} on {}", path.display()))?,
                None => None,
            };
            contents.manifest = readback::read_file(&fs, MANIFEST_PATH)?;
        } else if part.name == SECRETS_NAME {
            let fs = stick
                .fat(part)
                .with_context(|| format!("reading the secrets volume of {}", path.display()))?;
            let mut files = Vec::new();
            for entry in fs.root_dir().iter() {
                let entry = entry.context("listing the secrets volume")?;
                if entry.is_file() {
                    let mut data = Vec::new();
                    std::io::Read::read_to_end(&mut entry.to_file(), &mut data)
                        .context("reading a secrets file")?;
                    files.push((entry.file_name(), data));
                }
            }
            contents.secrets = Some(files);
        }
    }
    Ok(contents)
}
