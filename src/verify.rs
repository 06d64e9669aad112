//! Read a written stick back and compare it with the plan: the partition
//! table, and every file's SHA-256, through an independent FAT reader.

use std::io::{Read, Seek};

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};

use crate::image::gpt;
use crate::plan::{PartitionSpec, Plan, VolumePlan};
use crate::target::io::Slice;

/// Checks `dev` (an image file or device, positioned anywhere) against `plan`.
pub fn against_plan<D: Read + Seek + std::fmt::Debug>(dev: &mut D, plan: &Plan) -> Result<()> {
    let parts = gpt::read(Slice::new(&mut *dev, 0, plan.layout.disk_bytes))?;
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
    let slice = Slice::new(dev, part.start_bytes, part.size_bytes);
    let fs = fatfs::FileSystem::new(slice, fatfs::FsOptions::new())
        .context("mounting the FAT volume")?;
    let label = fs.volume_label();
    ensure!(
        label.trim_end() == vol.label,
        "volume label is {label:?}, expected {:?}",
        vol.label
    );
    for f in &vol.files {
        let got = sha256_of(&fs, &f.path)?;
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

/// SHA-256 (hex) of a file on a FAT volume.
pub fn sha256_of<T: fatfs::ReadWriteSeek>(fs: &fatfs::FileSystem<T>, path: &str) -> Result<String> {
    let mut file = fs
        .root_dir()
        .open_file(path)
        .with_context(|| format!("opening {path}"))?;
    let mut h = Sha256::new();
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
    Ok(hex::encode(h.finalize()))
}
