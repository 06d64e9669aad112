//! The directory tree being laid out, and its on-disk encoding: short and
//! long-name entries, `.`/`..`, the volume label entry, and the clusters of
//! every directory and file.

use anyhow::{Context, Result, bail, ensure};

use super::geometry::Geometry;
use super::names::{alias_for, check_name, entries_for, long_entries, short_name_for};
use crate::image::extent::{Chunk, Extent};
use crate::model::fat::DosTime;

/// A directory being laid out: its entries in insertion order.
#[derive(Debug, Default)]
pub(super) struct Dir {
    pub(super) entries: Vec<Node>,
    pub(super) first_cluster: u32,
}

#[derive(Debug)]
pub(super) enum Node {
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
    pub(super) fn name(&self) -> &str {
        match self {
            Node::Dir { name, .. } | Node::File { name, .. } => name,
        }
    }
}

/// Inserts a file at `path`, creating parent directories on the way.
pub(super) fn insert(root: &mut Dir, path: &str, content: Chunk) -> Result<()> {
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

/// Where a directory sits: the root has no `.`/`..` and holds the label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Level {
    Root,
    Sub,
}

/// Size of a directory's entries: `.`/`..` (not in the root), the volume label
/// (root only), one short entry per child plus its long-name entries.
pub(super) fn dir_bytes(dir: &Dir, level: Level) -> u64 {
    let fixed = match level {
        Level::Root => 1,
        Level::Sub => 2,
    };
    let names: usize = dir.entries.iter().map(|n| entries_for(n.name())).sum();
    (fixed + names) as u64 * 32
}

/// Emits the clusters of `dir`'s children; `level` because a `..` that
/// points at the root must say cluster 0, even on FAT32 where the root has one.
pub(super) fn emit_contents(
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
pub(super) fn cluster_extent(geo: &Geometry, first: u32, mut entries: Vec<u8>) -> Extent {
    let len = (entries.len() as u64)
        .next_multiple_of(geo.cluster_bytes())
        .max(geo.cluster_bytes());
    entries.resize(len as usize, 0);
    Extent::bytes(geo.cluster_offset(first), entries)
}

pub(super) const ATTR_DIRECTORY: u8 = 0x10;
pub(super) const ATTR_ARCHIVE: u8 = 0x20;
pub(super) const ATTR_VOLUME_ID: u8 = 0x08;
pub(super) const ATTR_LONG_NAME: u8 = 0x0F;

/// Encodes a directory's entries. `parent` is `Some(cluster)` for a
/// subdirectory (0 when the parent is the root, as FAT requires).
pub(super) fn encode_dir(
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

pub(super) fn short_entry(
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
