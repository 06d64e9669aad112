//! The block-device ioctls the writer needs, through `nix`'s typed
//! wrappers (request numbers computed from linux/fs.h's `_IO(0x12, n)`).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::errno::Errno;

nix::ioctl_none!(blkrrpart, 0x12, 95);
nix::ioctl_none!(blkflsbuf, 0x12, 97);
// BLKROGET is `_IO(0x12, 94)` but writes an int through its argument.
nix::ioctl_read_bad!(blkroget, nix::request_code_none!(0x12, 94), libc::c_int);

/// Attempts at re-reading the partition table: right after a write the
/// kernel (or udev probing the new table) can hold the disk for a moment,
/// and the re-read fails with EBUSY. coreos-installer retries 20 times,
/// 100 ms apart (src/blockdev.rs, `reread_partition_table`); so do we.
const REREAD_TRIES: u32 = 20;

/// Asks the kernel to re-read the partition table of the disk `file`.
pub(super) fn reread_partition_table(file: &File) -> Result<(), Errno> {
    let mut tries = REREAD_TRIES;
    loop {
        // SAFETY: BLKRRPART takes no argument and acts only on the open fd.
        match unsafe { blkrrpart(file.as_raw_fd()) } {
            Ok(_) => return Ok(()),
            // No partitions on this device (a loop device without partscan):
            // asking again will not change that.
            Err(e @ (Errno::EINVAL | Errno::ENOTTY)) => return Err(e),
            Err(e) if tries <= 1 => return Err(e),
            Err(_) => {
                tries -= 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Drops the disk's cached pages, so a read-back comes from the device.
pub(super) fn flush_buffers(file: &File) -> Result<(), Errno> {
    // SAFETY: BLKFLSBUF takes no argument and acts only on the open fd.
    unsafe { blkflsbuf(file.as_raw_fd()) }.map(|_| ())
}

/// The kernel's read-only flag of the disk `file`.
pub(super) fn read_only(file: &File) -> Result<bool, Errno> {
    let mut ro: libc::c_int = 0;
    // SAFETY: BLKROGET writes one int to the pointer, which is valid for it.
    unsafe { blkroget(file.as_raw_fd(), &mut ro) }?;
    Ok(ro != 0)
}
