//! Plan → image: the bytes of a whole stick, as sparse extents.

pub(crate) mod extent;
pub(crate) mod fat;
pub(crate) mod gpt;

use anyhow::{Context, Result};

use crate::plan::{PartitionSpec, Plan, VolumePlan};
use extent::Extent;
use fat::FatFile;
use fat::{FatParams, VolumeLabel};

/// A whole stick: the filesystems, and the partition table to write after them.
#[derive(Debug)]
pub(crate) struct Image {
    pub disk_bytes: u64,
    /// Both volumes, in write order.
    pub body: Vec<Extent>,
    /// Protective MBR and both GPTs: written last, so an interrupted write
    /// never leaves a table pointing at half-written filesystems.
    pub table: Vec<Extent>,
}

impl Image {
    pub(crate) fn build(plan: &Plan) -> Result<Image> {
        let mut body =
            volume(&plan.esp, &plan.layout.esp).context("laying out the EFI System Partition")?;
        body.extend(
            volume(&plan.secrets, &plan.layout.secrets).context("laying out the secrets volume")?,
        );
        let table = gpt::build(&plan.layout)?;
        Ok(Image {
            disk_bytes: plan.layout.disk_bytes,
            body,
            table,
        })
    }

    /// Bytes that carry data (what a sparse image file allocates).
    pub(crate) fn data_bytes(&self) -> u64 {
        self.extents()
            .filter(|e| !matches!(e.chunk, extent::Chunk::Zeros(_)))
            .map(|e| e.chunk.len())
            .sum()
    }

    pub(crate) fn extents(&self) -> impl Iterator<Item = &Extent> {
        self.body.iter().chain(&self.table)
    }
}

fn volume(vol: &VolumePlan, part: &PartitionSpec) -> Result<Vec<Extent>> {
    let files: Vec<FatFile> = vol
        .files
        .iter()
        .map(|f| FatFile {
            path: f.path.clone(),
            content: f.content.clone(),
        })
        .collect();
    let (_, extents) = fat::build(&fat_params(vol, part)?, &files)?;
    Ok(extents
        .into_iter()
        .map(|e| e.shifted(part.start_bytes))
        .collect())
}

/// How to format `vol` in `part`.
fn fat_params(vol: &VolumePlan, part: &PartitionSpec) -> Result<FatParams> {
    Ok(FatParams {
        kind: vol.kind,
        total_sectors: part.size_bytes / 512,
        hidden_sectors: part.start_bytes / 512,
        label: VolumeLabel::new(&vol.label)?,
        volume_id: vol.volume_id,
        time: vol.time,
    })
}
