//! Checks a GPT header before the `gpt` crate sees it: the crate asserts (and
//! so panics) on a partition entry size of 0 or a huge one, and believes
//! entries that lie past the end of the device.

use std::io::{Read, Seek, SeekFrom};

use anyhow::{Context, Result, ensure};

use super::LBA;

/// Entry counts and sizes any real table stays within (the spec's minimum
/// array is 128 entries of 128 bytes; mkstick writes exactly that).
const MAX_ENTRIES: u32 = 1024;
const MAX_ENTRY_SIZE: u32 = 1024;

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The header at `lba`: its fields, checked to describe a table that fits
/// in `disk_bytes`.
fn header<D: Read + Seek>(dev: &mut D, lba: u64, disk_bytes: u64, which: &str) -> Result<u64> {
    let mut h = [0u8; 512];
    dev.seek(SeekFrom::Start(lba * LBA))
        .and_then(|_| dev.read_exact(&mut h))
        .with_context(|| format!("reading the {which} GPT header at LBA {lba}"))?;
    ensure!(
        &h[..8] == b"EFI PART",
        "no {which} GPT header at LBA {lba} (a stick written by mkstick has both; the device may be cut short or damaged)"
    );
    let size = le32(&h, 12);
    ensure!(
        (92..=512).contains(&size),
        "the {which} GPT header claims a size of {size} bytes (92 to 512 are valid)"
    );
    let last_lba = disk_bytes / LBA - 1;
    let (my, alternate, first_usable, last_usable) =
        (le64(&h, 24), le64(&h, 32), le64(&h, 40), le64(&h, 48));
    ensure!(
        my == lba,
        "the {which} GPT header says it is at LBA {my}, but was read at LBA {lba}"
    );
    ensure!(
        alternate <= last_lba && first_usable <= last_usable && last_usable <= last_lba,
        "the {which} GPT header describes a disk larger than the device ({} bytes): partitions past its end",
        disk_bytes
    );
    let (entries_lba, count, entry_size) = (le64(&h, 72), le32(&h, 80), le32(&h, 84));
    ensure!(
        count <= MAX_ENTRIES && (128..=MAX_ENTRY_SIZE).contains(&entry_size) && entry_size % 8 == 0,
        "the {which} GPT header claims {count} entries of {entry_size} bytes (at most {MAX_ENTRIES} entries of 128 to {MAX_ENTRY_SIZE} bytes are valid)"
    );
    let array_end = entries_lba
        .checked_mul(LBA)
        .and_then(|b| b.checked_add(u64::from(count) * u64::from(entry_size)));
    ensure!(
        array_end.is_some_and(|end| end <= disk_bytes),
        "the {which} GPT's partition entries lie past the end of the device"
    );
    Ok(alternate)
}

/// Both headers present and consistent with a device of `disk_bytes`.
pub(crate) fn check<D: Read + Seek>(dev: &mut D, disk_bytes: u64) -> Result<()> {
    ensure!(
        disk_bytes >= 34 * LBA * 2,
        "the device is {disk_bytes} bytes: too small to hold a GPT"
    );
    let alternate = header(dev, 1, disk_bytes, "primary")?;
    ensure!(
        alternate == disk_bytes / LBA - 1,
        "the backup GPT header should be at the device's last LBA {}, the primary header says {alternate}: the device was cut short or the table copied from a larger one",
        disk_bytes / LBA - 1
    );
    header(dev, alternate, disk_bytes, "backup")?;
    Ok(())
}
