//! Read a written stick back and compare it with the plan: the partition
//! table, and every file's SHA-256, through an independent FAT reader.

use std::io::{Read, Seek};

use anyhow::{Context, Result, bail, ensure};

use super::{PartitionEntry, open_fat};
use crate::plan::{PartitionSpec, Plan, VolumePlan};

/// Checks `dev` (an image file or device, positioned anywhere) against `plan`.
pub(crate) fn against_plan<D: Read + Seek + std::fmt::Debug>(
    dev: &mut D,
    plan: &Plan,
) -> Result<()> {
    let parts: Vec<_> = super::partitions(dev, plan.layout.disk_bytes)?
        .into_iter()
        .map(|p| (p.name, p.guid, p.start_bytes, p.size_bytes))
        .collect();
    let want: Vec<_> = plan
        .layout
        .partitions()
        .iter()
        .map(|p| (p.name.clone(), p.guid, p.start_bytes, p.size_bytes))
        .collect();
    ensure!(
        parts == want,
        "partition table read back as {parts:?}, expected {want:?}"
    );
    volume(dev, &plan.layout.esp, &plan.esp).context("checking the EFI System Partition")?;
    volume(dev, &plan.layout.secrets, &plan.secrets).context("checking the secrets volume")?;
    Ok(())
}

fn volume<D: Read + Seek>(dev: &mut D, part: &PartitionSpec, vol: &VolumePlan) -> Result<()> {
    let entry = PartitionEntry {
        name: part.name.clone(),
        guid: part.guid,
        type_guid: part.kind.gpt_type().guid,
        start_bytes: part.start_bytes,
        size_bytes: part.size_bytes,
    };
    let fs = open_fat(dev, &entry)?;
    let label = fs.volume_label();
    ensure!(
        label.trim_end() == vol.label,
        "volume label is {label:?}, expected {:?}",
        vol.label
    );
    for f in &vol.files {
        let got = super::sha256_of(&fs, &f.path)?;
        if got != f.sha256 {
            bail!(
                "{} reads back with sha256 {got}, expected {}",
                f.path,
                f.sha256
            );
        }
    }
    Ok(())
}
