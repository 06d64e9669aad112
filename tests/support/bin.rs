//! The one place a whole-command test finds the mkstick it runs.
//!
//! By default that is the binary Cargo built for this test run. Setting
//! `MKSTICK_UNDER_TEST=/path/to/mkstick` runs the same tests against another
//! build, e.g. an older release, to show which hostile cases it fails
//! (`scripts/hostile-evidence OLD_BIN`, `docs/hostile-evidence.md`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The environment variable that names another mkstick binary to test.
pub const UNDER_TEST: &str = "MKSTICK_UNDER_TEST";

/// The mkstick binary under test: `$MKSTICK_UNDER_TEST` if set, else the
/// one Cargo built. A named binary that is missing fails the test at once
/// (a typo must not make every case "fail on the old binary").
pub fn path() -> PathBuf {
    let Some(p) = std::env::var_os(UNDER_TEST).filter(|p| !p.is_empty()) else {
        return PathBuf::from(env!("CARGO_BIN_EXE_mkstick"));
    };
    let p = PathBuf::from(p);
    assert!(
        p.is_file(),
        "{UNDER_TEST}={} is not a file: name a built mkstick binary",
        p.display()
    );
    p
}

/// A `Command` for the mkstick under test, with no arguments yet.
pub fn mkstick() -> Command {
    Command::new(path())
}

/// Whether `MKSTICK_UNDER_TEST` names another build than Cargo's.
pub fn is_other_build() -> bool {
    std::env::var_os(UNDER_TEST).is_some_and(|p| !p.is_empty())
}

/// Whether the binary under test lists `flag` in its `--help`: an older
/// build may predate an option the tests pass only to keep off the network
/// (see `k3s_pin::args`).
pub fn knows_flag(flag: &str) -> bool {
    static HELP: OnceLock<String> = OnceLock::new();
    HELP.get_or_init(|| {
        let out = mkstick().env_clear().arg("--help").output().unwrap();
        assert!(out.status.success(), "{} --help failed", path().display());
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
    .contains(flag)
}
