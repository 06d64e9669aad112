//! Faults the hostile-interrupt tests inject into a device write, to make a
//! signal or an error land at a known point. They exist only with the
//! crate's one test-only feature, `test-keys` (named for its first seam, the
//! test signing key), which only this crate's own dev-dependency turns on
//! (`cargo test`, `cargo bench`): a release build has no variable to read and
//! every method below does nothing.

use std::borrow::Cow;

use anyhow::Result;

use super::interrupt::DeviceWatch;
use crate::plan::Plan;

/// Where a test pauses the write until it has sent its signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    PauseAfterFirstChunk,
    PauseBeforeVerify,
}

/// The faults asked for by `MKSTICK_TEST_DEVICE_FAULT` (test builds only).
#[derive(Debug, Default)]
pub(crate) struct Faults {
    #[cfg(feature = "test-keys")]
    spec: Option<String>,
    /// Chunks sent to the device so far.
    #[cfg(feature = "test-keys")]
    chunks: std::cell::Cell<u32>,
    /// Time spent saving old bytes to the journal, for `report-journal`.
    #[cfg(feature = "test-keys")]
    journaling: std::cell::Cell<std::time::Duration>,
}

#[cfg(feature = "test-keys")]
impl Faults {
    /// One of `pause-after-first-chunk`, `pause-before-verify`,
    /// `io-error-mid-write`, `readback-mismatch`, or `report-journal` (not a
    /// fault: the cost of the journal, for `benches/device.rs`).
    pub(crate) fn from_env() -> Faults {
        Faults {
            spec: std::env::var("MKSTICK_TEST_DEVICE_FAULT").ok(),
            chunks: std::cell::Cell::new(0),
            journaling: std::cell::Cell::default(),
        }
    }

    fn is(&self, name: &str) -> bool {
        self.spec.as_deref() == Some(name)
    }

    /// Waits (at most a minute) for a signal, after telling the test where.
    pub(crate) fn pause(&self, at: Fault, watch: &DeviceWatch) {
        let name = match at {
            Fault::PauseAfterFirstChunk => "pause-after-first-chunk",
            Fault::PauseBeforeVerify => "pause-before-verify",
        };
        if !self.is(name) {
            return;
        }
        eprintln!("mkstick: test hook: {name}: waiting for a signal");
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !watch.requested() && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// An I/O error instead of the fourth chunk: the old tables are erased
    /// (two chunks) and the image has begun.
    pub(crate) fn before_chunk(&self) -> Result<()> {
        let n = self.chunks.get() + 1;
        self.chunks.set(n);
        if self.is("io-error-mid-write") && n == 4 {
            let e = std::io::Error::from_raw_os_error(libc::EIO);
            anyhow::bail!("{e} (injected by MKSTICK_TEST_DEVICE_FAULT)");
        }
        Ok(())
    }

    /// Runs `save`, the journal's part of a chunk, timing it.
    pub(crate) fn journaling<T>(&self, save: impl FnOnce() -> T) -> T {
        let start = std::time::Instant::now();
        let out = save();
        self.journaling.set(self.journaling.get() + start.elapsed());
        out
    }

    /// For `report-journal`: the journal's size and time against the whole
    /// write and read-back.
    pub(crate) fn report(&self, journal_bytes: u64, total: std::time::Duration) {
        if self.is("report-journal") {
            eprintln!(
                "mkstick: test hook: report-journal: {journal_bytes} bytes, {} us journaling of {} us writing and verifying",
                self.journaling.get().as_micros(),
                total.as_micros()
            );
        }
    }

    /// The plan the read-back compares with: for `readback-mismatch`, one
    /// whose first ESP file has another hash than what was written.
    pub(crate) fn expected<'a>(&self, plan: &'a Plan) -> Cow<'a, Plan> {
        if !self.is("readback-mismatch") {
            return Cow::Borrowed(plan);
        }
        let mut wrong = plan.clone();
        if let Some(f) = wrong.esp.files.first_mut() {
            f.sha256 = crate::model::Sha256Digest::of(b"not what was written");
        }
        Cow::Owned(wrong)
    }
}

#[cfg(not(feature = "test-keys"))]
impl Faults {
    pub(crate) fn from_env() -> Faults {
        Faults {}
    }

    pub(crate) fn pause(&self, _at: Fault, _watch: &DeviceWatch) {}

    // The same signature as the test build's, which can fail a chunk.
    #[allow(clippy::unused_self, clippy::unnecessary_wraps)]
    pub(crate) fn before_chunk(&self) -> Result<()> {
        Ok(())
    }

    pub(crate) fn expected<'a>(&self, plan: &'a Plan) -> Cow<'a, Plan> {
        Cow::Borrowed(plan)
    }

    pub(crate) fn journaling<T>(&self, save: impl FnOnce() -> T) -> T {
        save()
    }

    pub(crate) fn report(&self, _journal_bytes: u64, _total: std::time::Duration) {}
}
