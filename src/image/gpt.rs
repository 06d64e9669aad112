//! The partition table: protective MBR + primary and backup GPT, deterministic.
//!
//! The `gpt` crate writes through `Read + Write + Seek`; we hand it a recording
//! device of the disk's size that keeps only what was written, so the table
//! becomes extents like everything else and the target writes it last.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom, Write};

use anyhow::{Context, Result, ensure};

use super::extent::Extent;
use crate::plan::{DiskLayout, PartitionSpec};

const LBA: u64 = 512;

/// Writes the protective MBR and both GPT copies for `layout` and returns what
/// was written, as extents in disk order.
pub(crate) fn build(layout: &DiskLayout) -> Result<Vec<Extent>> {
    let mut dev = RecordingDisk::new(layout.disk_bytes);
    let lbas = layout.disk_bytes / LBA;
    gpt::mbr::ProtectiveMBR::with_lb_size(u32::try_from(lbas - 1).unwrap_or(u32::MAX))
        .overwrite_lba0(&mut dev)
        .context("writing the protective MBR")?;
    let mut disk = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .create_from_device(dev, Some(layout.disk_guid))
        .context("creating the GPT")?;
    for part in layout.partitions() {
        add(&mut disk, part)?;
    }
    // The crate always picks random partition GUIDs; ours derive from the inputs.
    let mut parts = disk.take_partitions();
    for (part, spec) in parts.values_mut().zip(layout.partitions()) {
        part.part_guid = spec.guid;
    }
    disk.update_partitions(parts)
        .context("setting partition GUIDs")?;
    let dev = disk.write().context("writing the GPT")?;
    Ok(dev.into_extents())
}

fn add(disk: &mut gpt::GptDisk<RecordingDisk>, spec: &PartitionSpec) -> Result<()> {
    let id = disk
        .add_partition(
            &spec.name,
            spec.size_bytes,
            spec.kind.gpt_type(),
            0,
            Some(2048),
        )
        .with_context(|| format!("adding partition {}", spec.name))?;
    let first = disk.partitions()[&id].first_lba;
    ensure!(
        first * LBA == spec.start_bytes,
        "partition {} landed at LBA {first}, not at byte {} as planned",
        spec.name,
        spec.start_bytes
    );
    Ok(())
}

/// A disk of a given size that reads zeros and records writes by sector.
#[derive(Debug)]
struct RecordingDisk {
    len: u64,
    pos: u64,
    sectors: BTreeMap<u64, [u8; LBA as usize]>,
}

impl RecordingDisk {
    fn new(len: u64) -> Self {
        RecordingDisk {
            len,
            pos: 0,
            sectors: BTreeMap::new(),
        }
    }

    /// Merges runs of consecutive written sectors into extents.
    fn into_extents(self) -> Vec<Extent> {
        let mut out: Vec<(u64, Vec<u8>)> = Vec::new();
        for (lba, data) in self.sectors {
            match out.last_mut() {
                Some((start, bytes)) if *start + bytes.len() as u64 == lba * LBA => {
                    bytes.extend(data)
                }
                _ => out.push((lba * LBA, data.to_vec())),
            }
        }
        out.into_iter()
            .map(|(offset, bytes)| Extent::bytes(offset, bytes))
            .collect()
    }
}

impl Read for RecordingDisk {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.len.saturating_sub(self.pos) as usize);
        for (i, byte) in buf[..n].iter_mut().enumerate() {
            let at = self.pos + i as u64;
            *byte = self
                .sectors
                .get(&(at / LBA))
                .map_or(0, |s| s[(at % LBA) as usize]);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for RecordingDisk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pos + buf.len() as u64 > self.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "write past the end of the disk",
            ));
        }
        for (i, byte) in buf.iter().enumerate() {
            let at = self.pos + i as u64;
            self.sectors.entry(at / LBA).or_insert([0; LBA as usize])[(at % LBA) as usize] = *byte;
        }
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for RecordingDisk {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = super::extent::seek_in(self.len, self.pos, pos)?;
        Ok(self.pos)
    }
}
