//! Ctrl-C and SIGTERM during a write.
//!
//! Image files: the temporary file holds secrets, so it is removed before the
//! process exits. SIGKILL cannot be caught; the next run removes what it
//! leaves (`image_file::remove_stale`).
//!
//! Devices: the handler only raises a flag ([`DeviceWatch`]); the writing loop
//! checks it between chunks and puts the old bytes back from its undo journal
//! (`target::journal`), so no disk I/O happens on the handler's behalf.
//!
//! `ctrlc` runs the handler on its own thread, not in signal context, so
//! taking a lock there is safe.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Temporary files to remove if a signal arrives. The lock is also held
/// around the final rename, so a signal never removes a file mid-rename.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Device writes in progress: while non-zero a signal only sets [`STOP`].
static DEVICE_WRITES: AtomicUsize = AtomicUsize::new(0);

/// Raised by the handler while a device write is in progress.
static STOP: AtomicBool = AtomicBool::new(false);

/// Exit status after a signal: 128 + SIGINT, as shells report Ctrl-C.
pub(crate) const INTERRUPTED: u8 = 130;

pub(crate) fn lock() -> MutexGuard<'static, Vec<PathBuf>> {
    PENDING.lock().unwrap_or_else(PoisonError::into_inner)
}

fn install() {
    // Once per process; a handler set elsewhere (qemu-test) is kept.
    let _ = ctrlc::try_set_handler(on_signal);
}

/// Removes `path` on SIGINT/SIGTERM until the guard is dropped.
pub(crate) struct Guard {
    path: PathBuf,
}

impl Guard {
    pub(crate) fn new(path: PathBuf) -> Guard {
        install();
        lock().push(path.clone());
        Guard { path }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        lock().retain(|p| p != &self.path);
    }
}

/// While alive, SIGINT/SIGTERM do not end the process: they set a flag that
/// the device writer polls with [`DeviceWatch::requested`].
#[derive(Debug)]
pub(crate) struct DeviceWatch(());

impl DeviceWatch {
    pub(crate) fn start() -> DeviceWatch {
        install();
        STOP.store(false, Ordering::SeqCst);
        DEVICE_WRITES.fetch_add(1, Ordering::SeqCst);
        DeviceWatch(())
    }

    /// Whether a signal asked the write to stop.
    pub(crate) fn requested(&self) -> bool {
        STOP.load(Ordering::SeqCst)
    }
}

impl Drop for DeviceWatch {
    fn drop(&mut self) {
        DEVICE_WRITES.fetch_sub(1, Ordering::SeqCst);
    }
}

fn on_signal() {
    if DEVICE_WRITES.load(Ordering::SeqCst) > 0 {
        // The writer stops at its next chunk and restores the device; a
        // second signal during the restore changes nothing.
        STOP.store(true, Ordering::SeqCst);
        return;
    }
    let pending = lock();
    for path in pending.iter() {
        match std::fs::remove_file(path) {
            Ok(()) => eprint_quiet(&format!(
                "mkstick: interrupted; removed the unfinished {}\n",
                path.display()
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => eprint_quiet(&format!(
                "mkstick: interrupted; could not remove {} ({e}): delete it, it holds secrets\n",
                path.display()
            )),
        }
    }
    // Exit while holding the lock: no rename can start after the removal.
    std::process::exit(i32::from(INTERRUPTED));
}

fn eprint_quiet(s: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(s.as_bytes());
}
