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
//! is still used, independently, to read every volume back (`crate::verify`).

use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};

use super::extent::{Chunk, Extent};
pub(crate) use crate::model::fat::{DosTime, FatKind};

pub const SECTOR: u64 = 512;

/// An 11-byte volume label: upper case, space padded. Checked once, here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VolumeLabel([u8; 11]);

impl VolumeLabel {
    pub fn new(label: &str) -> Result<Self> {
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

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default().trim_end()
    }
}

/// What to format: size, variant and identity of the volume.
#[derive(Clone, Debug)]
pub struct FatParams {
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
pub struct FatFile {
    pub path: String,
    pub content: Chunk,
}

/// The computed on-disk geometry of a volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Geometry {
    pub kind: FatKind,
    pub sectors_per_cluster: u64,
    pub reserved_sectors: u64,
    pub fat_sectors: u64,
    pub root_dir_sectors: u64,
    pub clusters: u64,
}

const NUM_FATS: u64 = 2;
const FAT16_ROOT_ENTRIES: u64 = 512;

impl Geometry {
    /// Picks the cluster size (2 KiB preferred, as small as the variant's cluster
    /// range allows) and sizes the FATs to fit.
    pub fn for_volume(kind: FatKind, total_sectors: u64) -> Result<Self> {
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

    fn with_cluster_size(
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

    pub fn cluster_bytes(&self) -> u64 {
        self.sectors_per_cluster * SECTOR
    }

    fn fat_start(&self, copy: u64) -> u64 {
        (self.reserved_sectors + copy * self.fat_sectors) * SECTOR
    }

    fn root_dir_start(&self) -> u64 {
        self.fat_start(NUM_FATS)
    }

    fn data_start(&self) -> u64 {
        self.root_dir_start() + self.root_dir_sectors * SECTOR
    }

    /// Byte offset of cluster `n` (the first data cluster is 2).
    fn cluster_offset(&self, n: u32) -> u64 {
        self.data_start() + (u64::from(n) - 2) * self.cluster_bytes()
    }
}

/// A directory being laid out: its entries in insertion order.
#[derive(Debug, Default)]
struct Dir {
    entries: Vec<Node>,
    first_cluster: u32,
}

#[derive(Debug)]
enum Node {
    Dir {
        name: String,
        dir: Dir,
    },
    File {
        name: String,
        content: Chunk,
        first_cluster: u32,
    },
}

impl Node {
    fn name(&self) -> &str {
        match self {
            Node::Dir { name, .. } | Node::File { name, .. } => name,
        }
    }
}

/// Formats a volume holding `files` and returns its extents, offsets relative to
/// the volume start, in write order.
pub fn build(params: &FatParams, files: &[FatFile]) -> Result<(Geometry, Vec<Extent>)> {
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

/// Inserts a file at `path`, creating parent directories on the way.
fn insert(root: &mut Dir, path: &str, content: Chunk) -> Result<()> {
    let parts: Vec<&str> = path.split('/').collect();
    let (name, parents) = parts.split_last().context("empty path")?;
    let mut dir = root;
    for part in parents {
        check_name(part)?;
        let pos = match dir
            .entries
            .iter()
            .position(|n| n.name().eq_ignore_ascii_case(part))
        {
            Some(pos) => pos,
            None => {
                dir.entries.push(Node::Dir {
                    name: part.to_string(),
                    dir: Dir::default(),
                });
                dir.entries.len() - 1
            }
        };
        dir = match &mut dir.entries[pos] {
            Node::Dir { dir, .. } => dir,
            Node::File { .. } => bail!("{part} is a file, not a directory"),
        };
    }
    check_name(name)?;
    ensure!(
        !dir.entries
            .iter()
            .any(|n| n.name().eq_ignore_ascii_case(name)),
        "{path} is listed twice (FAT names are case-insensitive)"
    );
    dir.entries.push(Node::File {
        name: name.to_string(),
        content,
        first_cluster: 0,
    });
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    ensure!(
        !name.is_empty() && name != "." && name != "..",
        "empty or relative path component {name:?}"
    );
    ensure!(
        name.encode_utf16().count() <= 255,
        "name {name:?} is longer than FAT's 255 characters"
    );
    ensure!(
        !name
            .chars()
            .any(|c| c.is_control() || "\"*/:<>?\\|".contains(c)),
        "name {name:?} holds a character FAT cannot store"
    );
    ensure!(
        !name.ends_with('.') && !name.ends_with(' '),
        "name {name:?} ends with a dot or space, which FAT drops"
    );
    Ok(())
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

/// Where a directory sits: the root has no `.`/`..` and holds the label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Root,
    Sub,
}

/// Size of a directory's entries: `.`/`..` (not in the root), the volume label
/// (root only), one short entry per child plus its long-name entries.
fn dir_bytes(dir: &Dir, level: Level) -> u64 {
    let fixed = match level {
        Level::Root => 1,
        Level::Sub => 2,
    };
    let names: usize = dir.entries.iter().map(|n| entries_for(n.name())).sum();
    (fixed + names) as u64 * 32
}

fn entries_for(name: &str) -> usize {
    match short_name_for(name) {
        Some(_) => 1,
        None => 1 + name.encode_utf16().count().div_ceil(13),
    }
}

/// Emits the clusters of `dir`'s children; `level` because a `..` that
/// points at the root must say cluster 0, even on FAT32 where the root has one.
fn emit_contents(
    geo: &Geometry,
    dir: &Dir,
    level: Level,
    time: DosTime,
    out: &mut Vec<Extent>,
) -> Result<()> {
    let self_cluster = match level {
        Level::Root => 0,
        Level::Sub => dir.first_cluster,
    };
    for node in &dir.entries {
        match node {
            Node::Dir { dir: sub, .. } => {
                let entries = encode_dir(sub, Some(self_cluster), None, time)?;
                out.push(cluster_extent(geo, sub.first_cluster, entries));
            }
            Node::File {
                content,
                first_cluster,
                ..
            } if !content.is_empty() => {
                let offset = geo.cluster_offset(*first_cluster);
                out.push(Extent {
                    offset,
                    chunk: content.clone(),
                });
                // Zero the slack of the last cluster so the image is reproducible.
                let slack = content.len().next_multiple_of(geo.cluster_bytes()) - content.len();
                if slack > 0 {
                    out.push(Extent::bytes(
                        offset + content.len(),
                        vec![0u8; slack as usize],
                    ));
                }
            }
            Node::File { .. } => {}
        }
    }
    for node in &dir.entries {
        if let Node::Dir { dir: sub, .. } = node {
            emit_contents(geo, sub, Level::Sub, time, out)?;
        }
    }
    Ok(())
}

/// A directory's bytes padded to whole clusters.
fn cluster_extent(geo: &Geometry, first: u32, mut entries: Vec<u8>) -> Extent {
    let len = (entries.len() as u64)
        .next_multiple_of(geo.cluster_bytes())
        .max(geo.cluster_bytes());
    entries.resize(len as usize, 0);
    Extent::bytes(geo.cluster_offset(first), entries)
}

const ATTR_DIRECTORY: u8 = 0x10;
const ATTR_ARCHIVE: u8 = 0x20;
const ATTR_VOLUME_ID: u8 = 0x08;
const ATTR_LONG_NAME: u8 = 0x0F;
/// NTRes bits that make Linux and Windows show an 8.3 name in lower case.
const NT_LOWER_BASE: u8 = 0x08;
const NT_LOWER_EXT: u8 = 0x10;

/// Encodes a directory's entries. `parent` is `Some(cluster)` for a
/// subdirectory (0 when the parent is the root, as FAT requires).
fn encode_dir(
    dir: &Dir,
    parent: Option<u32>,
    label: Option<[u8; 32]>,
    time: DosTime,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    if let Some(parent) = parent {
        out.extend(short_entry(
            b".          ",
            ATTR_DIRECTORY,
            0,
            dir.first_cluster,
            0,
            time,
        ));
        out.extend(short_entry(
            b"..         ",
            ATTR_DIRECTORY,
            0,
            parent,
            0,
            time,
        ));
    }
    if let Some(label) = label {
        out.extend(label);
    }
    let mut taken: Vec<[u8; 11]> = Vec::new();
    for node in &dir.entries {
        let (attr, cluster, size) = match node {
            Node::Dir { dir, .. } => (ATTR_DIRECTORY, dir.first_cluster, 0),
            Node::File {
                content,
                first_cluster,
                ..
            } => {
                let size = u32::try_from(content.len()).with_context(|| {
                    format!("{} is 4 GiB or larger, which FAT cannot store", node.name())
                })?;
                (ATTR_ARCHIVE, *first_cluster, size)
            }
        };
        let name = node.name();
        match short_name_for(name) {
            Some((short, case)) => {
                taken.push(short);
                out.extend(short_entry(&short, attr, case, cluster, size, time));
            }
            None => {
                let short = alias_for(name, &taken, &dir.entries);
                taken.push(short);
                out.extend(long_entries(name, &short));
                out.extend(short_entry(&short, attr, 0, cluster, size, time));
            }
        }
    }
    Ok(out)
}

/// The 8.3 form of `name` and its NTRes case bits, if it fits without a long
/// name: base ≤ 8 and extension ≤ 3 valid characters, each part in one case.
fn short_name_for(name: &str) -> Option<([u8; 11], u8)> {
    let (base, ext) = match name.rsplit_once('.') {
        Some((b, e)) => (b, e),
        None => (name, ""),
    };
    if base.is_empty() || base.len() > 8 || ext.len() > 3 || base.starts_with('.') {
        return None;
    }
    let valid = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'()-@^_`{}~".contains(&b))
    };
    let one_case = |s: &str| {
        !(s.bytes().any(|b| b.is_ascii_lowercase()) && s.bytes().any(|b| b.is_ascii_uppercase()))
    };
    if !valid(base) || !valid(ext) || !one_case(base) || !one_case(ext) {
        return None;
    }
    let mut short = [b' '; 11];
    short[..base.len()].copy_from_slice(base.to_ascii_uppercase().as_bytes());
    short[8..8 + ext.len()].copy_from_slice(ext.to_ascii_uppercase().as_bytes());
    let mut case = 0;
    if base.bytes().any(|b| b.is_ascii_lowercase()) {
        case |= NT_LOWER_BASE;
    }
    if ext.bytes().any(|b| b.is_ascii_lowercase()) {
        case |= NT_LOWER_EXT;
    }
    Some((short, case))
}

/// A unique `BASIS~N.EXT` alias for a name that needs a long-name entry.
fn alias_for(name: &str, taken: &[[u8; 11]], siblings: &[Node]) -> [u8; 11] {
    let clean = |s: &str| -> Vec<u8> {
        s.chars()
            .filter(|c| *c != ' ' && *c != '.')
            .map(|c| {
                let c = c.to_ascii_uppercase();
                if c.is_ascii_alphanumeric() || "!#$%&'()-@^_`{}~".contains(c) {
                    c as u8
                } else {
                    b'_'
                }
            })
            .collect()
    };
    let (base, ext) = match name.rsplit_once('.') {
        Some((b, e)) if !b.is_empty() => (clean(b), clean(e)),
        _ => (clean(name), Vec::new()),
    };
    let is_taken = |cand: &[u8; 11]| {
        taken.contains(cand)
            || siblings
                .iter()
                .any(|n| short_name_for(n.name()).is_some_and(|(s, _)| s == *cand))
    };
    for n in 1u32.. {
        let tail = format!("~{n}");
        let keep = base.len().min(8 - tail.len()).max(1.min(base.len()));
        let mut cand = [b' '; 11];
        cand[..keep].copy_from_slice(&base[..keep]);
        cand[keep..keep + tail.len()].copy_from_slice(tail.as_bytes());
        let ext_len = ext.len().min(3);
        cand[8..8 + ext_len].copy_from_slice(&ext[..ext_len]);
        if !is_taken(&cand) {
            return cand;
        }
    }
    unreachable!("u32 aliases exhausted")
}

fn short_entry(
    name: &[u8; 11],
    attr: u8,
    case: u8,
    cluster: u32,
    size: u32,
    time: DosTime,
) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[..11].copy_from_slice(name);
    e[11] = attr;
    e[12] = case;
    e[14..16].copy_from_slice(&time.time.to_le_bytes());
    e[16..18].copy_from_slice(&time.date.to_le_bytes());
    e[18..20].copy_from_slice(&time.date.to_le_bytes());
    e[20..22].copy_from_slice(&((cluster >> 16) as u16).to_le_bytes());
    e[22..24].copy_from_slice(&time.time.to_le_bytes());
    e[24..26].copy_from_slice(&time.date.to_le_bytes());
    e[26..28].copy_from_slice(&(cluster as u16).to_le_bytes());
    e[28..32].copy_from_slice(&size.to_le_bytes());
    e
}

fn lfn_checksum(short: &[u8; 11]) -> u8 {
    short.iter().fold(0u8, |sum, &b| {
        (sum & 1)
            .wrapping_shl(7)
            .wrapping_add(sum >> 1)
            .wrapping_add(b)
    })
}

/// Long-name entries for `name`, last part first, as FAT stores them.
fn long_entries(name: &str, short: &[u8; 11]) -> Vec<u8> {
    let mut units: Vec<u16> = name.encode_utf16().collect();
    let parts = units.len().div_ceil(13);
    if !units.len().is_multiple_of(13) {
        units.push(0);
    }
    units.resize(parts * 13, 0xFFFF);
    let sum = lfn_checksum(short);
    let mut out = Vec::with_capacity(parts * 32);
    for i in (0..parts).rev() {
        let mut e = [0u8; 32];
        e[0] = (i as u8 + 1) | if i + 1 == parts { 0x40 } else { 0 };
        e[11] = ATTR_LONG_NAME;
        e[13] = sum;
        let chunk = &units[i * 13..i * 13 + 13];
        let slots = (1..11)
            .step_by(2)
            .chain((14..26).step_by(2))
            .chain((28..32).step_by(2));
        for (unit, at) in chunk.iter().zip(slots) {
            e[at..at + 2].copy_from_slice(&unit.to_le_bytes());
        }
        out.extend(e);
    }
    out
}

fn boot_sector(p: &FatParams, g: &Geometry) -> [u8; 512] {
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

fn fsinfo_sector(free: u32, next_free: u32) -> [u8; 512] {
    let mut s = [0u8; 512];
    s[0..4].copy_from_slice(&0x4161_5252u32.to_le_bytes());
    s[484..488].copy_from_slice(&0x6141_7272u32.to_le_bytes());
    s[488..492].copy_from_slice(&free.to_le_bytes());
    s[492..496].copy_from_slice(&next_free.to_le_bytes());
    s[508..512].copy_from_slice(&0xAA55_0000u32.to_le_bytes());
    s
}

impl From<Vec<u8>> for Chunk {
    fn from(v: Vec<u8>) -> Self {
        Chunk::Bytes(Arc::from(v))
    }
}

#[cfg(test)]
mod tests {
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
                Chunk::File { .. } => unreachable!("tests use in-memory files"),
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
