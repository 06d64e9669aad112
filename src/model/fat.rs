//! FAT vocabulary shared by the plan (what to format) and the image writer.

/// Which FAT variant to write. The cluster count decides what readers see, so
/// the geometry is chosen to land well inside the variant's range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum FatKind {
    Fat16,
    Fat32,
}

impl FatKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FatKind::Fat16 => "FAT16",
            FatKind::Fat32 => "FAT32",
        }
    }

    /// Cluster counts each variant must have, with a safety margin of 16 from the
    /// boundaries where drivers disagree.
    pub fn cluster_range(self) -> (u64, u64) {
        match self {
            FatKind::Fat16 => (4085 + 16, 65524 - 16),
            FatKind::Fat32 => (65525 + 16, 0x0FFF_FFF5 - 16),
        }
    }
}

/// A FAT timestamp (local time is UTC here: images are reproducible).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DosTime {
    pub date: u16,
    pub time: u16,
}

impl DosTime {
    /// 1980-01-01 00:00:00, the FAT epoch.
    pub const EPOCH: DosTime = DosTime {
        date: 1 << 5 | 1,
        time: 0,
    };

    /// Converts Unix seconds, clamped to the range FAT can store (1980–2107).
    pub fn from_unix(secs: u64) -> Self {
        const MIN: u64 = 315_532_800; // 1980-01-01
        const MAX: u64 = 4_354_819_199; // 2107-12-31 23:59:59
        let secs = secs.clamp(MIN, MAX);
        let (y, m, d) = crate::civil::civil_from_days((secs / 86_400) as i64);
        let rem = secs % 86_400;
        let (h, min, s) = (rem / 3600, rem / 60 % 60, rem % 60);
        DosTime {
            date: ((y - 1980) as u16) << 9 | (m as u16) << 5 | d as u16,
            time: (h as u16) << 11 | (min as u16) << 5 | (s / 2) as u16,
        }
    }
}
