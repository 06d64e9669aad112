//! Peak resident memory of one child process, read from its own
//! `/proc/PID/status` (VmHWM) while it runs.
//!
//! Not `getrusage(RUSAGE_CHILDREN)`: a child started with vfork/posix_spawn
//! inherits the parent's high-water mark until exec, so a bench that holds a
//! 400 MB test file in memory would report 400 MB for every child.

use std::process::{Command, ExitStatus};
use std::time::Duration;

/// Runs `cmd` to completion; returns its status and peak RSS in KiB.
pub(crate) fn run(cmd: &mut Command) -> (ExitStatus, u64) {
    let mut child = cmd.spawn().expect("starting the measured command");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        // VmHWM only grows, so the last reading before exit is the peak but
        // for what happens in the final few milliseconds.
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().expect("waiting for the measured command") {
            return (status, peak);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
