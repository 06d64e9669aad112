//! Volume geometry: cluster size, FAT size and region offsets chosen for a
//! FAT variant and volume size, and the boot and FSInfo sectors that record them.

use anyhow::{Result, bail};

use super::FatParams;
pub(crate) use crate::model::fat::FatKind;

pub(crate) const SECTOR: u64 = 512;

/// The computed on-disk geometry of a volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Geometry {
    pub kind: FatKind,
    pub sectors_per_cluster: u64,
    pub reserved_sectors: u64,
    pub fat_sectors: u64,
    pub root_dir_sectors: u64,
    pub clusters: u64,
}

pub(super) const NUM_FATS: u64 = 2;
pub(super) const FAT16_ROOT_ENTRIES: u64 = 512;

impl Geometry {
    /// Picks the cluster size (2 KiB preferred, as small as the variant's cluster
    /// range allows) and sizes the FATs to fit.
    pub(crate) fn for_volume(kind: FatKind, total_sectors: u64) -> Result<Self> {
        let (min, max) = kind.cluster_range();
        let (reserved_sectors, root_dir_sectors) = match kind {
            FatKind::Fat16 => (4, FAT16_ROOT_ENTRIES * 32 / SECTOR),
            FatKind::Fat32 => (32, 0),
        };
        let mut spc = 4;
        loop {
            let g = Self::with_cluster_size(
                kind,
                total_sectors,
                spc,
                reserved_sectors,
                root_dir_sectors,
            );
            if g.clusters < min && spc > 1 {
                spc /= 2;
            } else if g.clusters > max && spc < 128 {
                spc *= 2;
            } else if (min..=max).contains(&g.clusters) {
                return Ok(g);
            } else {
                let mib = |s: u64| s * SECTOR / (1 << 20);
                bail!(
                    "a {kind:?} volume of {} MiB has {} clusters at {} bytes each, outside \
                     {kind:?}'s range of {min}..={max}; make the partition {}",
                    mib(total_sectors),
                    g.clusters,
                    spc * SECTOR,
                    if g.clusters < min {
                        "larger"
                    } else {
                        "smaller"
                    }
                );
            }
        }
    }

    pub(super) fn with_cluster_size(
        kind: FatKind,
        total: u64,
        spc: u64,
        reserved: u64,
        root_dir_sectors: u64,
    ) -> Self {
        let entry_bytes = match kind {
            FatKind::Fat16 => 2,
            FatKind::Fat32 => 4,
        };
        // Grow the FAT until it covers every cluster that the remaining space holds.
        let mut fat_sectors = 1;
        loop {
            let overhead = reserved + NUM_FATS * fat_sectors + root_dir_sectors;
            let clusters = total.saturating_sub(overhead) / spc;
            let needed = ((clusters + 2) * entry_bytes).div_ceil(SECTOR);
            if needed <= fat_sectors {
                return Geometry {
                    kind,
                    sectors_per_cluster: spc,
                    reserved_sectors: reserved,
                    fat_sectors,
                    root_dir_sectors,
                    clusters,
                };
            }
            fat_sectors = needed;
        }
    }

    pub(crate) fn cluster_bytes(&self) -> u64 {
        self.sectors_per_cluster * SECTOR
    }

    pub(super) fn fat_start(&self, copy: u64) -> u64 {
        (self.reserved_sectors + copy * self.fat_sectors) * SECTOR
    }

    pub(super) fn root_dir_start(&self) -> u64 {
        self.fat_start(NUM_FATS)
    }

    pub(super) fn data_start(&self) -> u64 {
        self.root_dir_start() + self.root_dir_sectors * SECTOR
    }

    /// Byte offset of cluster `n` (the first data cluster is 2).
    pub(super) fn cluster_offset(&self, n: u32) -> u64 {
        self.data_start() + (u64::from(n) - 2) * self.cluster_bytes()
    }
}

pub(super) fn boot_sector(p: &FatParams, g: &Geometry) -> [u8; 512] {
    let mut b = [0u8; 512];
    let put16 =
        |b: &mut [u8; 512], at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put32 =
        |b: &mut [u8; 512], at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    b[3..11].copy_from_slice(b"MKSTICK ");
    put16(&mut b, 11, SECTOR as u16);
    b[13] = g.sectors_per_cluster as u8;
    put16(&mut b, 14, g.reserved_sectors as u16);
    b[16] = NUM_FATS as u8;
    b[21] = 0xF8; // fixed disk
    put16(&mut b, 24, 63); // CHS geometry: unused on LBA media, conventional values
    put16(&mut b, 26, 255);
    put32(&mut b, 28, p.hidden_sectors as u32);
    let ext = match p.kind {
        FatKind::Fat16 => {
            b[..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
            put16(&mut b, 17, FAT16_ROOT_ENTRIES as u16);
            match u16::try_from(p.total_sectors) {
                Ok(n) => put16(&mut b, 19, n),
                Err(_) => put32(&mut b, 32, p.total_sectors as u32),
            }
            put16(&mut b, 22, g.fat_sectors as u16);
            36
        }
        FatKind::Fat32 => {
            b[..3].copy_from_slice(&[0xEB, 0x58, 0x90]);
            put32(&mut b, 32, p.total_sectors as u32);
            put32(&mut b, 36, g.fat_sectors as u32);
            put32(&mut b, 44, 2); // root directory cluster
            put16(&mut b, 48, 1); // FSInfo sector
            put16(&mut b, 50, 6); // backup boot sector
            64
        }
    };
    b[ext] = 0x80; // drive number
    b[ext + 2] = 0x29; // extended boot signature: the next three fields are valid
    put32(&mut b, ext + 3, p.volume_id);
    b[ext + 7..ext + 18].copy_from_slice(&p.label.0);
    b[ext + 18..ext + 26].copy_from_slice(match p.kind {
        FatKind::Fat16 => b"FAT16   ",
        FatKind::Fat32 => b"FAT32   ",
    });
    b[510] = 0x55;
    b[511] = 0xAA;
    b
}

pub(super) fn fsinfo_sector(free: u32, next_free: u32) -> [u8; 512] {
    let mut s = [0u8; 512];
    s[0..4].copy_from_slice(&0x4161_5252u32.to_le_bytes());
    s[484..488].copy_from_slice(&0x6141_7272u32.to_le_bytes());
    s[488..492].copy_from_slice(&free.to_le_bytes());
    s[492..496].copy_from_slice(&next_free.to_le_bytes());
    s[508..512].copy_from_slice(&0xAA55_0000u32.to_le_bytes());
    s
}
