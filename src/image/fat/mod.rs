//! A FAT16/FAT32 writer for fresh volumes whose whole content is known up front.
//!
//! Why not the `fatfs` crate: its only release (0.3.6) writes LFN entries for `.`
//! and `..`, a wrong `..` cluster on FAT32 and an unset FSInfo free count, so
//! `fsck.vfat -n` fails on every volume it makes (the fixes live only on its
//! unreleased master, which our builds cannot fetch). It also formats by writing
//! every FAT sector, zeros included. A fresh volume with a known file list is a
//! much smaller problem: lay every directory and file out contiguously, write the
//! FAT chains in one go, and emit only the sectors that carry data, plus explicit
//! zero runs for the metadata regions a reused stick must not keep stale. `fatfs`
//! is still used, independently, to read every volume back (`crate::readback`).

use std::sync::Arc;

use anyhow::{Context, Result, ensure};

mod directory;
mod geometry;
mod names;

use super::extent::{Chunk, Extent};
pub(crate) use crate::model::fat::{DosTime, FatKind};
use directory::{
    ATTR_VOLUME_ID, Dir, Level, Node, cluster_extent, dir_bytes, emit_contents, encode_dir, insert,
    short_entry,
};
pub(crate) use geometry::{Geometry, SECTOR};
use geometry::{NUM_FATS, boot_sector, fsinfo_sector};

/// An 11-byte volume label: upper case, space padded. Checked once, here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct VolumeLabel([u8; 11]);

impl VolumeLabel {
    pub(crate) fn new(label: &str) -> Result<Self> {
        ensure!(
            !label.is_empty() && label.len() <= 11,
            "FAT volume label {label:?} must be 1 to 11 characters"
        );
        ensure!(
            label
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b"-_ ".contains(&b)),
            "FAT volume label {label:?} may hold only A-Z, 0-9, '-', '_' and spaces \
             (upper case: blkid matches labels case-sensitively)"
        );
        let mut bytes = [b' '; 11];
        bytes[..label.len()].copy_from_slice(label.as_bytes());
        Ok(VolumeLabel(bytes))
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default().trim_end()
    }
}

/// What to format: size, variant and identity of the volume.
#[derive(Clone, Debug)]
pub(crate) struct FatParams {
    pub kind: FatKind,
    pub total_sectors: u64,
    /// LBA of the volume on its disk (the BPB's "hidden sectors").
    pub hidden_sectors: u64,
    pub label: VolumeLabel,
    pub volume_id: u32,
    pub time: DosTime,
}

/// A file to place on the volume, at a `/`-separated path relative to its root.
#[derive(Clone, Debug)]
pub(crate) struct FatFile {
    pub path: String,
    pub content: Chunk,
}

/// Formats a volume holding `files` and returns its extents, offsets relative to
/// the volume start, in write order.
pub(crate) fn build(params: &FatParams, files: &[FatFile]) -> Result<(Geometry, Vec<Extent>)> {
    let geo = Geometry::for_volume(params.kind, params.total_sectors)?;
    let mut root = Dir::default();
    for file in files {
        insert(&mut root, &file.path, file.content.clone()).with_context(|| {
            format!("placing {} on volume {}", file.path, params.label.as_str())
        })?;
    }

    // Allocate clusters: directories (pre-order) then their files, contiguously.
    let mut fat = Fat::new(geo.cluster_bytes());
    if params.kind == FatKind::Fat32 {
        root.first_cluster = fat.alloc(dir_bytes(&root, Level::Root));
    }
    allocate(&mut root, &mut fat);
    ensure!(
        fat.next - 2 <= geo.clusters as u32,
        "the files need {} KiB but volume {} holds {} KiB; make the partition larger",
        (u64::from(fat.next - 2) * geo.cluster_bytes()) / 1024,
        params.label.as_str(),
        geo.clusters * geo.cluster_bytes() / 1024
    );

    let mut out = Vec::new();
    let boot = boot_sector(params, &geo);
    out.push(Extent::bytes(0, boot.to_vec()));
    match params.kind {
        FatKind::Fat32 => {
            let free = geo.clusters - u64::from(fat.next - 2);
            let info = fsinfo_sector(free as u32, fat.next);
            out.push(Extent::bytes(SECTOR, info.to_vec()));
            out.push(Extent::zeros(2 * SECTOR, 4 * SECTOR));
            out.push(Extent::bytes(6 * SECTOR, boot.to_vec()));
            out.push(Extent::bytes(7 * SECTOR, info.to_vec()));
            out.push(Extent::zeros(
                8 * SECTOR,
                (geo.reserved_sectors - 8) * SECTOR,
            ));
        }
        FatKind::Fat16 => {
            out.push(Extent::zeros(SECTOR, (geo.reserved_sectors - 1) * SECTOR));
        }
    }

    let table = fat.encode(params.kind);
    let fat_bytes = geo.fat_sectors * SECTOR;
    for copy in 0..NUM_FATS {
        let start = geo.fat_start(copy);
        out.push(Extent::bytes(start, table.clone()));
        out.push(Extent::zeros(
            start + table.len() as u64,
            fat_bytes - table.len() as u64,
        ));
    }

    let label_entry = short_entry(&params.label.0, ATTR_VOLUME_ID, 0, 0, 0, params.time);
    match params.kind {
        FatKind::Fat16 => {
            let mut bytes = vec![0u8; (geo.root_dir_sectors * SECTOR) as usize];
            let entries = encode_dir(&root, None, Some(label_entry), params.time)?;
            ensure!(
                entries.len() <= bytes.len(),
                "too many files in the root directory of volume {}",
                params.label.as_str()
            );
            bytes[..entries.len()].copy_from_slice(&entries);
            out.push(Extent::bytes(geo.root_dir_start(), bytes));
        }
        FatKind::Fat32 => {
            let entries = encode_dir(&root, None, Some(label_entry), params.time)?;
            out.push(cluster_extent(&geo, root.first_cluster, entries));
        }
    }
    emit_contents(&geo, &root, Level::Root, params.time, &mut out)?;
    Ok((geo, out))
}

/// Bump allocator over data clusters; every allocation is one contiguous chain.
struct Fat {
    cluster_bytes: u64,
    next: u32,
    /// FAT entries for clusters 0..next.
    entries: Vec<u32>,
}

const END_OF_CHAIN: u32 = 0x0FFF_FFFF;

impl Fat {
    fn new(cluster_bytes: u64) -> Self {
        Fat {
            cluster_bytes,
            next: 2,
            entries: vec![0x0FFF_FFF8, END_OF_CHAIN],
        }
    }

    /// Allocates a chain for `bytes` (at least one cluster) and returns its start.
    fn alloc(&mut self, bytes: u64) -> u32 {
        let count = bytes.div_ceil(self.cluster_bytes).max(1) as u32;
        let first = self.next;
        for c in first..first + count - 1 {
            self.entries.push(c + 1);
        }
        self.entries.push(END_OF_CHAIN);
        self.next += count;
        first
    }

    fn encode(&self, kind: FatKind) -> Vec<u8> {
        match kind {
            FatKind::Fat16 => self
                .entries
                .iter()
                .flat_map(|&e| {
                    (if e >= 0x0FFF_FFF8 {
                        e as u16 | 0xFFF8
                    } else {
                        e as u16
                    })
                    .to_le_bytes()
                })
                .collect(),
            FatKind::Fat32 => self.entries.iter().flat_map(|e| e.to_le_bytes()).collect(),
        }
    }
}

fn allocate(dir: &mut Dir, fat: &mut Fat) {
    for node in &mut dir.entries {
        match node {
            Node::Dir { dir: sub, .. } => sub.first_cluster = fat.alloc(dir_bytes(sub, Level::Sub)),
            Node::File {
                content,
                first_cluster,
                ..
            } => {
                if !content.is_empty() {
                    *first_cluster = fat.alloc(content.len());
                }
            }
        }
    }
    for node in &mut dir.entries {
        if let Node::Dir { dir: sub, .. } = node {
            allocate(sub, fat);
        }
    }
}

impl From<Vec<u8>> for Chunk {
    fn from(v: Vec<u8>) -> Self {
        Chunk::Bytes(Arc::from(v))
    }
}

#[cfg(test)]
mod tests {
    use super::names::{NT_LOWER_BASE, alias_for, short_name_for};
    use super::*;
    use std::io::{Cursor, Read};

    /// Renders in-memory extents into one buffer.
    fn render(size: u64, extents: &[Extent]) -> Vec<u8> {
        let mut buf = vec![0u8; size as usize];
        for e in extents {
            let range = e.offset as usize..e.end() as usize;
            match &e.chunk {
                Chunk::Bytes(b) => buf[range].copy_from_slice(b),
                Chunk::Zeros(_) => buf[range].fill(0),
                Chunk::File(_) => unreachable!("tests use in-memory files"),
            }
        }
        buf
    }

    fn params(kind: FatKind, mib: u64) -> FatParams {
        FatParams {
            kind,
            total_sectors: mib * 2048,
            hidden_sectors: 2048,
            label: VolumeLabel::new("TESTVOL").unwrap(),
            volume_id: 0x1234_5678,
            time: DosTime::from_unix(1_700_000_000),
        }
    }

    fn files() -> Vec<FatFile> {
        let f = |path: &str, data: &[u8]| FatFile {
            path: path.into(),
            content: Chunk::from(data.to_vec()),
        };
        vec![
            f("EFI/BOOT/BOOTX64.EFI", &vec![0xAB; 5000]),
            f("autoexec.ipxe", b"#!ipxe\n"),
            f("mkstick/manifest.json", b"{}"),
            f("mkstick/oem.cpio", &[]),
            f("k3s_env", b"K3S_TOKEN=\"x\"\n"),
        ]
    }

    /// Reads every file back with the independent `fatfs` reader.
    fn read_back(kind: FatKind) {
        let p = params(kind, if kind == FatKind::Fat32 { 40 } else { 16 });
        let (_, extents) = build(&p, &files()).unwrap();
        let img = render(p.total_sectors * SECTOR, &extents);
        let fs = fatfs::FileSystem::new(Cursor::new(img), fatfs::FsOptions::new()).unwrap();
        assert_eq!(fs.volume_label().trim_end(), "TESTVOL");
        for f in files() {
            let mut file = fs.root_dir().open_file(&f.path).unwrap();
            let mut data = Vec::new();
            file.read_to_end(&mut data).unwrap();
            let Chunk::Bytes(want) = &f.content else {
                unreachable!()
            };
            assert_eq!(&data[..], &want[..], "{}", f.path);
        }
        let names: Vec<String> = fs
            .root_dir()
            .iter()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["EFI", "autoexec.ipxe", "mkstick", "k3s_env"]);
    }

    /// The real checker, as a user's boot-time `fsck -a` would see the volume.
    fn fsck(kind: FatKind, mib: u64) {
        let p = params(kind, mib);
        let (_, extents) = build(&p, &files()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vol.img");
        std::fs::write(&path, render(p.total_sectors * SECTOR, &extents)).unwrap();
        let out = std::process::Command::new("fsck.vfat")
            .args(["-n", "-v"])
            .arg(&path)
            .output()
            .expect("fsck.vfat must be installed (scripts/setup)");
        let log = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "fsck.vfat -n failed on {kind:?}:\n{log}"
        );
        assert!(!log.contains("FSCK"), "{log}");
    }

    #[test]
    fn fsck_accepts_fat32() {
        fsck(FatKind::Fat32, 256);
        fsck(FatKind::Fat32, 33);
    }

    #[test]
    fn fsck_accepts_fat16() {
        fsck(FatKind::Fat16, 16);
        fsck(FatKind::Fat16, 3);
    }

    #[test]
    fn fat32_reads_back() {
        read_back(FatKind::Fat32);
    }

    #[test]
    fn fat16_reads_back() {
        read_back(FatKind::Fat16);
    }

    #[test]
    fn geometry_picks_cluster_size_inside_the_variant_range() {
        // 256 MiB at 4 KiB clusters would fall just under FAT32's minimum.
        let g = Geometry::for_volume(FatKind::Fat32, 256 * 2048).unwrap();
        assert_eq!(g.sectors_per_cluster, 4);
        assert!(g.clusters >= 65_541);
        let g = Geometry::for_volume(FatKind::Fat32, 33 * 2048).unwrap();
        assert_eq!(g.sectors_per_cluster, 1);
        assert!(Geometry::for_volume(FatKind::Fat32, 32 * 2048).is_err());
        let g = Geometry::for_volume(FatKind::Fat16, 16 * 2048).unwrap();
        assert_eq!(g.sectors_per_cluster, 4);
        assert!(Geometry::for_volume(FatKind::Fat16, 1024).is_err());
    }

    #[test]
    fn short_names_and_aliases() {
        assert_eq!(short_name_for("BOOTX64.EFI"), Some((*b"BOOTX64 EFI", 0)));
        assert_eq!(
            short_name_for("k3s_env"),
            Some((*b"K3S_ENV    ", NT_LOWER_BASE))
        );
        assert_eq!(short_name_for("oem.cpio"), None);
        assert_eq!(short_name_for("Mixed.txt"), None);
        assert_eq!(&alias_for("autoexec.ipxe", &[], &[]), b"AUTOEX~1IPX");
        assert_eq!(
            &alias_for("autoexec.ipxe", &[*b"AUTOEX~1IPX"], &[]),
            b"AUTOEX~2IPX"
        );
    }

    #[test]
    fn dos_time_conversion() {
        assert_eq!(DosTime::from_unix(0), DosTime::EPOCH);
        // 2023-11-14 22:13:20 UTC
        let t = DosTime::from_unix(1_700_000_000);
        assert_eq!(t.date, (2023 - 1980) << 9 | 11 << 5 | 14);
        assert_eq!(t.time, 22 << 11 | 13 << 5 | 10);
    }

    #[test]
    fn labels_are_validated() {
        assert!(VolumeLabel::new("SECRETS").is_ok());
        assert!(VolumeLabel::new("secrets").is_err());
        assert!(VolumeLabel::new("TWELVE_CHARS").is_err());
    }

    #[test]
    fn duplicate_names_are_refused() {
        let p = params(FatKind::Fat16, 16);
        let dup = vec![
            FatFile {
                path: "a.txt".into(),
                content: Chunk::from(vec![1]),
            },
            FatFile {
                path: "A.TXT".into(),
                content: Chunk::from(vec![2]),
            },
        ];
        assert!(build(&p, &dup).is_err());
    }
}
