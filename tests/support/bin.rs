//! The one place a whole-command test finds the mkstick it runs.
//!
//! By default that is the binary Cargo built for this test run. Setting
//! `MKSTICK_UNDER_TEST=/path/to/mkstick` runs the same tests against another
//! build, e.g. an older release, to show which hostile cases it fails
//! (`scripts/hostile-evidence OLD_BIN`, `docs/hostile-evidence.md`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The environment variable that names another mkstick binary to test.
pub const UNDER_TEST: &str = "MKSTICK_UNDER_TEST";

/// The mkstick binary under test: `$MKSTICK_UNDER_TEST` if set, else the
/// one Cargo built. A named binary that is missing fails the test at once
/// (a typo must not make every case "fail on the old binary").
pub fn path() -> PathBuf {
    match std::env::var_os(UNDER_TEST) {
        Some(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "{UNDER_TEST}={} is not a file: name a built mkstick binary",
                p.display()
            );
            p
        }
        _ => PathBuf::from(env!("CARGO_BIN_EXE_mkstick")),
    }
}

/// A `Command` for the mkstick under test, with no arguments yet.
pub fn mkstick() -> Command {
    Command::new(path())
}
