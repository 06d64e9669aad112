//! Block devices: the safety rules of DESIGN.md, then the same bytes as an
//! image file. Naming a device is not enough consent on its own: we refuse
//! devices in use, the disk `/` lives on and internal disks (without --force).
//! Asking the user is the command's job (`commands::prompt`), before `write`.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};

use super::fault::{Fault, Faults};
use super::interrupt::DeviceWatch;
use super::journal::Journal;
use crate::image::Image;
use crate::image::extent::Extent;
use crate::model::stick::MIB;
use crate::plan::Plan;
use crate::target::Backing;

/// Where the kernel's views live; tests point this at recorded fixtures.
#[derive(Clone, Debug)]
pub(crate) struct System {
    pub root: PathBuf,
}

impl System {
    pub(crate) fn live() -> Self {
        System {
            root: PathBuf::from("/"),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    fn read(&self, p: &str) -> Option<String> {
        std::fs::read_to_string(self.path(p))
            .ok()
            .map(|s| s.trim().to_string())
    }
}

/// What the kernel says about a whole disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DiskInfo {
    pub name: String,
    pub devnum: (u32, u32),
    pub size_bytes: u64,
    pub removable: bool,
    /// The kernel's `ro` flag: a write-protect switch, a read-only loop device.
    pub read_only: bool,
    pub model: String,
    pub serial: String,
    /// Partitions: (name, devnum).
    pub partitions: Vec<(String, (u32, u32))>,
    /// Devices stacked on the disk or its partitions (dm, md, ...).
    pub holders: Vec<String>,
}

impl DiskInfo {
    /// Reads `/sys/dev/block/MAJ:MIN` and friends.
    pub(crate) fn probe(sys: &System, devnum: (u32, u32)) -> Result<DiskInfo> {
        let link = sys.path(&format!("/sys/dev/block/{}:{}", devnum.0, devnum.1));
        let dir = std::fs::canonicalize(&link)
            .with_context(|| format!("no sysfs entry {}", link.display()))?;
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .context("odd sysfs path")?
            .to_string();
        if dir.join("partition").exists() {
            let parent = dir
                .parent()
                .and_then(|p| p.file_name())
                .and_then(|n| n.to_str())
                .unwrap_or("?");
            bail!("/dev/{name} is a partition; give the whole disk, /dev/{parent}");
        }
        let attr = |f: &str| {
            std::fs::read_to_string(dir.join(f))
                .ok()
                .map(|s| s.trim().to_string())
        };
        let size_bytes = attr("size")
            .and_then(|s| s.parse::<u64>().ok())
            .context("reading the disk size")?
            * 512;
        let mut partitions = Vec::new();
        let mut holders = list(&dir.join("holders"));
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let p = entry.path();
            if p.join("partition").exists() {
                let pname = entry.file_name().to_string_lossy().to_string();
                let dev = std::fs::read_to_string(p.join("dev")).unwrap_or_default();
                partitions.push((pname, parse_devnum(dev.trim()).unwrap_or((0, 0))));
                holders.extend(list(&p.join("holders")));
            }
        }
        partitions.sort();
        let udev = sys
            .read(&format!("/run/udev/data/b{}:{}", devnum.0, devnum.1))
            .unwrap_or_default();
        let serial = udev
            .lines()
            .find_map(|l| l.strip_prefix("E:ID_SERIAL_SHORT="))
            .map(String::from)
            .or_else(|| attr("device/serial"))
            .unwrap_or_else(|| "unknown".into());
        let model = [attr("device/vendor"), attr("device/model")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(DiskInfo {
            name,
            devnum,
            size_bytes,
            removable: attr("removable").as_deref() == Some("1"),
            read_only: attr("ro").as_deref() == Some("1"),
            model: if model.is_empty() {
                "unknown".into()
            } else {
                model
            },
            serial,
            partitions,
            holders,
        })
    }

    /// Everything that makes writing this disk unsafe, as sentences.
    pub(crate) fn problems(&self, sys: &System, disks: DiskPolicy) -> Vec<String> {
        let mut out = Vec::new();
        let mine: Vec<(u32, u32)> = std::iter::once(self.devnum)
            .chain(self.partitions.iter().map(|(_, d)| *d))
            .collect();
        let mountinfo = sys.read("/proc/self/mountinfo").unwrap_or_default();
        for line in mountinfo.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(dev), Some(point)) = (f.get(2).and_then(|d| parse_devnum(d)), f.get(4))
            else {
                continue;
            };
            if mine.contains(&dev) {
                if *point == "/" {
                    out.push(format!(
                        "/dev/{} holds the running system's root filesystem",
                        self.name
                    ));
                } else {
                    out.push(format!(
                        "{} is mounted (device {}:{}); unmount it first",
                        point, dev.0, dev.1
                    ));
                }
            }
        }
        let swaps = sys.read("/proc/swaps").unwrap_or_default();
        for line in swaps.lines().skip(1) {
            let dev = line.split_whitespace().next().unwrap_or_default();
            let base = dev.rsplit('/').next().unwrap_or_default();
            if base == self.name || self.partitions.iter().any(|(p, _)| p == base) {
                out.push(format!("{dev} is in use as swap; swapoff it first"));
            }
        }
        if !self.holders.is_empty() {
            out.push(format!(
                "/dev/{} is in use by {} (LVM, RAID or dm-crypt); stop those first",
                self.name,
                self.holders.join(", ")
            ));
        }
        if self.read_only {
            out.push(format!(
                "/dev/{} is read-only (a write-protect switch, or a read-only loop device); nothing was written",
                self.name
            ));
        }
        if !self.removable && disks == DiskPolicy::RemovableOnly {
            out.push(format!(
                "/dev/{} is not a removable disk (an internal disk?); pass --force if you are sure",
                self.name
            ));
        }
        out
    }

    pub(crate) fn describe(&self) -> String {
        let parts = if self.partitions.is_empty() {
            "none".to_string()
        } else {
            self.partitions
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "/dev/{}: {}, {} MiB, serial {}, partitions: {parts}",
            self.name,
            self.model,
            self.size_bytes / MIB,
            self.serial
        )
    }
}

fn list(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|it| {
            it.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn parse_devnum(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The device number of a block device node (links such as
/// /dev/disk/by-id/... are followed).
pub(crate) fn devnum_of(path: &Path) -> Result<(u32, u32)> {
    let p = path.display();
    let meta = std::fs::metadata(path).with_context(|| {
        format!("{p} does not exist; give a USB stick's device (lsblk lists them) or --image FILE")
    })?;
    let ft = meta.file_type();
    // Only a regular file (or a name to create) can become an image file:
    // never suggest --image for a device node, a FIFO or a directory.
    ensure!(
        !ft.is_file(),
        "{p} is a regular file, not a block device; to write an image file use --image {p}"
    );
    ensure!(
        ft.is_block_device(),
        "{p} is {}, not a block device; give a USB stick's device such as /dev/sdb (lsblk lists them)",
        crate::model::file_kind(ft)
    );
    let rdev = meta.rdev();
    Ok((libc::major(rdev), libc::minor(rdev)))
}

/// Which disks may be written: removable ones only, or (`--force`) internal
/// disks too. Mounted disks and the root disk are refused either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DiskPolicy {
    RemovableOnly,
    AllowInternal,
}

/// A device write stopped by SIGINT/SIGTERM, after the device was restored.
/// The command prints it and exits with [`Interrupted::EXIT_CODE`].
#[derive(Debug)]
pub(crate) struct Interrupted {
    device: PathBuf,
    put_back: u64,
}

impl Interrupted {
    /// 128 + SIGINT, as shells report Ctrl-C.
    pub(crate) const EXIT_CODE: u8 = super::interrupt::INTERRUPTED;
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interrupted; {} restored to what it held before ({} MiB put back)",
            self.device.display(),
            self.put_back.div_ceil(MIB)
        )
    }
}

impl std::error::Error for Interrupted {}

/// Writes `image` to the device at `path`, checked by `problems` and
/// consented to by the user. Every byte it overwrites is kept in an undo
/// journal first: on Ctrl-C, SIGTERM or any error (a failed write, a
/// read-back mismatch) the device is put back as it was, so it ends up
/// either verified or unchanged.
pub(crate) fn write(path: &Path, disk: &DiskInfo, plan: &Plan, image: &Image) -> Result<()> {
    // O_EXCL on a block device: the kernel refuses if anything has it open
    // exclusively (a mount, dm, md) — the race-free version of the checks above.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_EXCL)
        .open(path)
        .map_err(|e| open_error(path, e))?;
    if is_read_only(&file) {
        bail!(
            "{} is read-only (a write-protect switch, or a read-only loop device); nothing was written",
            path.display()
        );
    }
    let wipe = wipe_extents(disk.size_bytes);
    let bound = super::bytes_to_write(image, Backing::Stale)
        + wipe.iter().map(|e| e.chunk.len()).sum::<u64>();
    let mut journal = Journal::create(bound)?;
    let watch = DeviceWatch::start();
    let faults = Faults::from_env();
    let started = std::time::Instant::now();
    let result = {
        let mut sink = Journaled {
            dev: &file,
            journal: &mut journal,
            watch: &watch,
            faults: &faults,
        };
        write_and_verify(&mut sink, &file, &wipe, plan, image, &watch, &faults)
    };
    let Err(err) = result else {
        faults.report(journal.saved(), started.elapsed());
        return Ok(());
    };
    let interrupted = watch.requested();
    match restore(&file, &mut journal) {
        Ok(put_back) if interrupted => Err(Interrupted {
            device: path.to_path_buf(),
            put_back,
        }
        .into()),
        Ok(put_back) => Err(err.context(format!(
            "writing {} failed; nothing was written: it was restored to what it held before ({} MiB put back)",
            path.display(),
            put_back.div_ceil(MIB)
        ))),
        Err(e) => {
            let what = if interrupted {
                "interrupted".to_string()
            } else {
                format!("the write failed ({err:#})")
            };
            // Last resort, as before the journal: a stick without a table cannot boot.
            let wiped = match super::write_extents(&mut file, wipe.iter(), Backing::Stale, &|_| {})
                .and_then(|_| Ok(file.sync_all()?))
            {
                Ok(()) => "; its partition table is erased so it cannot boot",
                Err(_) => "",
            };
            bail!(
                "{what}, and putting back what {} held failed too ({e:#}): the stick is in an unknown state{wiped}; rewrite it",
                path.display()
            )
        }
    }
}

/// Erases the old tables, writes the image, re-reads the partition table and
/// reads everything back, stopping at the first error or signal.
fn write_and_verify(
    sink: &mut Journaled<'_>,
    file: &File,
    wipe: &[Extent],
    plan: &Plan,
    image: &Image,
    watch: &DeviceWatch,
    faults: &Faults,
) -> Result<()> {
    super::write_extents(sink, wipe.iter(), Backing::Stale, &|_| {})
        .context("erasing the old partition table")?;
    let total = super::bytes_to_write(image, Backing::Stale);
    let bar = bar(
        total,
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    );
    let first = std::cell::Cell::new(true);
    super::write_extents(
        sink,
        image.body.iter().chain(&image.table),
        Backing::Stale,
        &|n| {
            bar.set_position(n.min(total));
            if first.replace(false) {
                faults.pause(Fault::PauseAfterFirstChunk, watch);
            }
        },
    )?;
    file.sync_all()
        .context("flushing the written data to the device")?;
    bar.finish_and_clear();
    if let Err(e) = super::ioctl::reread_partition_table(file) {
        eprintln!(
            "mkstick: warning: the kernel did not re-read the partition table ({e}); replug the stick"
        );
    }
    // Drop cached pages so the read-back comes from the device itself.
    if let Err(e) = super::ioctl::flush_buffers(file) {
        // Not fatal: the read-back may then come from the page cache.
        eprintln!("mkstick: warning: could not drop the device's cached pages ({e})");
    }
    faults.pause(Fault::PauseBeforeVerify, watch);
    let plan = faults.expected(plan);
    crate::readback::verify::against_plan(&mut Watched { file, watch }, &plan)
        .context("reading the stick back")?;
    ensure!(!watch.requested(), "stopped by a signal");
    Ok(())
}

/// Puts the journal back on the device, syncs and re-reads the table.
fn restore(file: &File, journal: &mut Journal) -> Result<u64> {
    let bar = bar(journal.saved(), "restoring {bar:40} {bytes}/{total_bytes}");
    let put_back = journal.restore(file, &|n| bar.set_position(n))?;
    file.sync_all()
        .context("flushing the restored data to the device")?;
    bar.finish_and_clear();
    if let Err(e) = super::ioctl::reread_partition_table(file) {
        eprintln!(
            "mkstick: warning: the kernel did not re-read the restored partition table ({e}); replug the stick"
        );
    }
    Ok(put_back)
}

fn bar(total: u64, template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// The device as a write target: each chunk's old bytes go to the journal
/// before the chunk goes to the device, and a signal stops the write.
struct Journaled<'a> {
    dev: &'a File,
    journal: &'a mut Journal,
    watch: &'a DeviceWatch,
    faults: &'a Faults,
}

impl super::Sink for Journaled<'_> {
    fn put(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        ensure!(!self.watch.requested(), "stopped by a signal");
        self.faults.before_chunk()?;
        let (journal, dev) = (&mut *self.journal, self.dev);
        self.faults
            .journaling(|| journal.save(dev, offset, bytes.len() as u64))?;
        use std::os::unix::fs::FileExt;
        self.dev.write_all_at(bytes, offset)?;
        Ok(())
    }
}

/// The device as the read-back sees it: a signal makes the next read fail.
#[derive(Debug)]
struct Watched<'a> {
    file: &'a File,
    watch: &'a DeviceWatch,
}

impl std::io::Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.watch.requested() {
            return Err(std::io::Error::other("stopped by a signal"));
        }
        (&mut &*self.file).read(buf)
    }
}

impl std::io::Seek for Watched<'_> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        (&mut &*self.file).seek(pos)
    }
}

/// Why the device could not be opened, in the user's terms.
fn open_error(path: &Path, e: std::io::Error) -> anyhow::Error {
    let p = path.display();
    match e.raw_os_error() {
        Some(libc::EROFS | libc::EACCES | libc::EPERM) => anyhow::anyhow!(
            "{p} cannot be opened for writing ({e}): it is read-only (a write-protect switch?) or you are not root; nothing was written"
        ),
        Some(libc::EBUSY) => anyhow::anyhow!(
            "{p} is in use (mounted, or held by LVM, RAID or dm-crypt): {e}; nothing was written"
        ),
        _ => anyhow::anyhow!("opening {p} exclusively: {e}; nothing was written"),
    }
}

/// The kernel's read-only flag of an open block device (BLKROGET); a
/// device whose flag cannot be read is treated as writable, and a write
/// to it fails with its own message.
fn is_read_only(file: &File) -> bool {
    super::ioctl::read_only(file).unwrap_or(false)
}

/// Zeros of the first and last MiB: MBR, both GPTs, and any old filesystem
/// signature there.
fn wipe_extents(size: u64) -> [Extent; 2] {
    [Extent::zeros(0, MIB), Extent::zeros(size - MIB, MIB)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A recorded machine: an internal NVMe disk holding `/` and swap, and a
    /// USB stick (sdb) with one partition, optionally mounted.
    fn fixture(stick_mounted: bool) -> (tempfile::TempDir, System) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let root = root.as_path();
        let w = |p: &str, s: &str| {
            let p = root.join(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, s).unwrap();
        };
        let disk = |name: &str, dev: &str, size: &str, removable: &str, parts: &[(&str, &str)]| {
            let base = format!("sys/devices/pci0000:00/block/{name}");
            w(&format!("{base}/size"), size);
            w(&format!("{base}/removable"), removable);
            w(&format!("{base}/dev"), dev);
            w(&format!("{base}/device/model"), "Flash Disk");
            w(&format!("{base}/device/vendor"), "Acme");
            fs::create_dir_all(root.join(format!("{base}/holders"))).unwrap();
            fs::create_dir_all(root.join("sys/dev/block")).unwrap();
            std::os::unix::fs::symlink(root.join(&base), root.join(format!("sys/dev/block/{dev}")))
                .unwrap();
            for (p, pdev) in parts {
                w(&format!("{base}/{p}/partition"), "1");
                w(&format!("{base}/{p}/dev"), pdev);
                fs::create_dir_all(root.join(format!("{base}/{p}/holders"))).unwrap();
                std::os::unix::fs::symlink(
                    root.join(format!("{base}/{p}")),
                    root.join(format!("sys/dev/block/{pdev}")),
                )
                .unwrap();
            }
        };
        disk(
            "nvme0n1",
            "259:0",
            "1000215216",
            "0",
            &[("nvme0n1p1", "259:1"), ("nvme0n1p2", "259:2")],
        );
        disk("sdb", "8:16", "61440000", "1", &[("sdb1", "8:17")]);
        w(
            "run/udev/data/b8:16",
            "S:disk/by-id/usb-Acme\nE:ID_SERIAL_SHORT=0401abcd\n",
        );
        let mut mountinfo = "22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw\n\
                             23 22 0:21 / /proc rw shared:2 - proc proc rw\n"
            .to_string();
        if stick_mounted {
            mountinfo += "90 22 8:17 / /media/user/STICK rw,nosuid shared:40 - vfat /dev/sdb1 rw\n";
        }
        w("proc/self/mountinfo", &mountinfo);
        w(
            "proc/swaps",
            "Filename Type Size Used Priority\n/dev/nvme0n1p2 partition 8388604 0 -2\n",
        );
        (
            dir,
            System {
                root: root.to_path_buf(),
            },
        )
    }

    #[test]
    fn a_free_usb_stick_passes() {
        let (_d, sys) = fixture(false);
        let info = DiskInfo::probe(&sys, (8, 16)).unwrap();
        assert_eq!(info.name, "sdb");
        assert_eq!(info.serial, "0401abcd");
        assert_eq!(info.size_bytes, 61_440_000 * 512);
        assert!(
            info.problems(&sys, DiskPolicy::RemovableOnly).is_empty(),
            "{:?}",
            info.problems(&sys, DiskPolicy::RemovableOnly)
        );
        assert_eq!(
            info.describe(),
            "/dev/sdb: Acme Flash Disk, 30000 MiB, serial 0401abcd, partitions: sdb1"
        );
    }

    #[test]
    fn a_mounted_stick_is_refused() {
        let (_d, sys) = fixture(true);
        let info = DiskInfo::probe(&sys, (8, 16)).unwrap();
        let p = info.problems(&sys, DiskPolicy::AllowInternal);
        assert!(
            p.iter().any(|m| m.contains("/media/user/STICK is mounted")),
            "{p:?}"
        );
    }

    #[test]
    fn the_root_disk_is_refused_even_with_force() {
        let (_d, sys) = fixture(false);
        let info = DiskInfo::probe(&sys, (259, 0)).unwrap();
        let p = info.problems(&sys, DiskPolicy::AllowInternal);
        assert!(p.iter().any(|m| m.contains("root filesystem")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("swap")), "{p:?}");
        let p = info.problems(&sys, DiskPolicy::RemovableOnly);
        assert!(
            p.iter().any(|m| m.contains("not a removable disk")),
            "{p:?}"
        );
    }

    #[test]
    fn a_partition_is_refused_with_the_disk_named() {
        let (_d, sys) = fixture(false);
        let err = DiskInfo::probe(&sys, (8, 17)).unwrap_err();
        assert!(
            format!("{err:#}").contains("give the whole disk, /dev/sdb"),
            "{err:#}"
        );
    }

    #[test]
    fn a_regular_file_is_not_a_device() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let err = devnum_of(f.path()).unwrap_err();
        assert!(format!("{err:#}").contains("--image"), "{err:#}");
    }
}
