//! Ctrl-C and SIGTERM during a write: the temporary image file holds secrets,
//! so it is removed before the process exits. SIGKILL cannot be caught; the
//! next run removes what it leaves (`image_file::remove_stale`).

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Temporary files to remove if a signal arrives. The lock is also held
/// around the final rename, so a signal never removes a file mid-rename.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Exit status after a signal: 128 + SIGINT, as shells report Ctrl-C.
const INTERRUPTED: i32 = 130;

pub(crate) fn lock() -> MutexGuard<'static, Vec<PathBuf>> {
    PENDING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes `path` on SIGINT/SIGTERM until the guard is dropped.
pub(crate) struct Guard {
    path: PathBuf,
}

impl Guard {
    pub(crate) fn new(path: PathBuf) -> Guard {
        // Once per process; a handler set elsewhere (qemu-test) is kept.
        let _ = ctrlc::try_set_handler(on_signal);
        lock().push(path.clone());
        Guard { path }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        lock().retain(|p| p != &self.path);
    }
}

fn on_signal() {
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
    std::process::exit(INTERRUPTED);
}

fn eprint_quiet(s: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(s.as_bytes());
}
