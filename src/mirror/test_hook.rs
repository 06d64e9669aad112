//! A pause between verifying a release and copying it onto the stick, so the
//! test suite can swap a file in that window (tests/hostile_mirror.rs).
//! Compiled only with the `test-keys` feature, which only the test suite's
//! dev-dependency turns on: a release build has no such pause.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

const PAUSE_ENV: &str = "MKSTICK_TEST_PAUSE_AFTER_VERIFY";
/// The longest a test may take to do its swap.
const PAUSE_LIMIT: Duration = Duration::from_secs(60);

/// When `MKSTICK_TEST_PAUSE_AFTER_VERIFY` names a file that does not exist
/// yet: creates it, then waits until the test removes it.
pub(super) fn pause_after_verify() -> Result<()> {
    let Some(flag) = std::env::var_os(PAUSE_ENV).map(PathBuf::from) else {
        return Ok(());
    };
    eprintln!("warning: {PAUSE_ENV} is set: pausing after verification, for mkstick's tests only");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&flag)
        .with_context(|| format!("creating {}", flag.display()))?;
    let deadline = Instant::now() + PAUSE_LIMIT;
    while flag.try_exists()? {
        ensure!(
            Instant::now() < deadline,
            "{PAUSE_ENV}: {} was not removed within {PAUSE_LIMIT:?}",
            flag.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
