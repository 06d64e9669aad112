//! File names: what FAT accepts, the 8.3 short form (or a unique `~N`
//! alias), and the VFAT long-name entries.

use anyhow::{Result, ensure};

use super::directory::{ATTR_LONG_NAME, Node};

/// NTRes bits that make Linux and Windows show an 8.3 name in lower case.
pub(super) const NT_LOWER_BASE: u8 = 0x08;
pub(super) const NT_LOWER_EXT: u8 = 0x10;

pub(super) fn check_name(name: &str) -> Result<()> {
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

pub(super) fn entries_for(name: &str) -> usize {
    match short_name_for(name) {
        Some(_) => 1,
        None => 1 + name.encode_utf16().count().div_ceil(13),
    }
}

/// The 8.3 form of `name` and its NTRes case bits, if it fits without a long
/// name: base ≤ 8 and extension ≤ 3 valid characters, each part in one case.
pub(super) fn short_name_for(name: &str) -> Option<([u8; 11], u8)> {
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
pub(super) fn alias_for(name: &str, taken: &[[u8; 11]], siblings: &[Node]) -> [u8; 11] {
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

pub(super) fn lfn_checksum(short: &[u8; 11]) -> u8 {
    short.iter().fold(0u8, |sum, &b| {
        (sum & 1)
            .wrapping_shl(7)
            .wrapping_add(sum >> 1)
            .wrapping_add(b)
    })
}

/// Long-name entries for `name`, last part first, as FAT stores them.
pub(super) fn long_entries(name: &str, short: &[u8; 11]) -> Vec<u8> {
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
