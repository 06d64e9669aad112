//! What a signature's creation time says about the release it was made for.
//!
//! Flatcar's detached `.sig` files sign bytes, not a version: a mirror (or
//! `--base-url`) could serve an older, genuinely signed kernel under a newer
//! version's path and every signature would verify. Two dates bind what can
//! be bound without another trust anchor:
//!
//! - A major version is the number of days since CoreOS's epoch,
//!   Mon 2013-07-01 00:00 UTC: flatcar/scripts `common.sh:352-355`
//!   (`COREOS_EPOCH=1372636800`, `TODAYS_VERSION=$(( (now - COREOS_EPOCH) / 86400 ))`),
//!   the default major of `tag_release:26`. So nothing of `M.m.p` can be
//!   signed before day M; a day of slack absorbs clock and time-zone skew.
//! - A release's files are signed in one loop of one CI job
//!   (`sign_artifacts`, `ci-automation/ci_automation_common.sh:378`, called
//!   for all images at `ci-automation/image.sh:118`, and again after Secure
//!   Boot signing at `ci-automation/sbsign_image.sh:97`): kernel and initrd
//!   signatures are minutes apart. [`PAIR_BOUND`] allows a week, for a job
//!   re-run or a later re-signing, and still refuses a kernel and an initrd
//!   from releases a week or more apart.
//!
//! What is left: an older patch release of the same major (signed after day
//! M) passes, and `current`, resolved through an unsigned `version.txt`, can
//! be pointed at any older version as a whole.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::VerifiedFile;
use super::keyring::date;
use super::layout::Version;

/// CoreOS's epoch, 2013-07-01 00:00:00 UTC (flatcar/scripts `common.sh:354`).
const COREOS_EPOCH: u64 = 1_372_636_800;
const DAY: u64 = 86_400;
/// Clock and time-zone slack on the earliest date a version allows.
const SLACK: u64 = DAY;
/// The most a release's kernel and initrd signatures may be apart.
pub(super) const PAIR_BOUND: u64 = 7 * DAY;

/// A file and when its signature was made (Unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SignedAt<'a> {
    pub file: &'a str,
    pub at: u32,
}

/// The earliest signature time (Unix seconds) a file of `version` can have.
pub(super) fn earliest(version: &Version) -> u64 {
    let major: u64 = version
        .as_str()
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    (COREOS_EPOCH + major.saturating_mul(DAY)).saturating_sub(SLACK)
}

/// Refuses a signature made before `version` could exist.
pub(super) fn check_date(version: &Version, signed: SignedAt<'_>) -> Result<()> {
    let earliest = earliest(version);
    if u64::from(signed.at) < earliest {
        bail!(
            "refusing {}: its signature was made on {}, but version {version} allows no \
             signature before {} (a Flatcar major version counts days since 2013-07-01): this \
             is an older release served under {version}'s name; check the mirror or --base-url",
            signed.file,
            date(signed.at),
            date_u64(earliest),
        );
    }
    Ok(())
}

/// Refuses a kernel and an initrd whose signatures are too far apart to be
/// from one release.
pub(super) fn check_pair(kernel: SignedAt<'_>, initrd: SignedAt<'_>) -> Result<()> {
    let apart = u64::from(kernel.at.abs_diff(initrd.at));
    if apart > PAIR_BOUND {
        bail!(
            "refusing {} and {}: their signatures were made on {} and {}, {} days apart, but \
             one release's files are signed within hours (at most {} days allowed): they come \
             from different releases; check the mirror or --base-url",
            kernel.file,
            initrd.file,
            date(kernel.at),
            date(initrd.at),
            apart / DAY,
            PAIR_BOUND / DAY,
        );
    }
    Ok(())
}

/// When the kernel's and the initrd's signatures were made (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureDates {
    pub kernel: u32,
    pub initrd: u32,
}

impl SignatureDates {
    /// The dates of a kernel and an initrd signed for one release, refused
    /// when they are too far apart for that.
    pub(super) fn of_pair(
        kernel: (&Path, Option<u32>),
        initrd: (&Path, Option<u32>),
    ) -> Result<Self> {
        let at = |(path, at): (&Path, Option<u32>)| {
            at.with_context(|| format!("{}: its signature carries no date", path.display()))
        };
        let dates = Self {
            kernel: at(kernel)?,
            initrd: at(initrd)?,
        };
        let (k, i) = (
            kernel.0.display().to_string(),
            initrd.0.display().to_string(),
        );
        check_pair(
            SignedAt {
                file: &k,
                at: dates.kernel,
            },
            SignedAt {
                file: &i,
                at: dates.initrd,
            },
        )?;
        Ok(dates)
    }

    /// [`Self::of_pair`] for files just mirrored: a mismatched pair is
    /// removed, since each file verifies alone and a later run would keep
    /// them; a fixed mirror is then downloaded again.
    pub(super) fn of_mirrored_pair(
        kernel: (&VerifiedFile, Option<u32>),
        initrd: (&VerifiedFile, Option<u32>),
    ) -> Result<Self> {
        Self::of_pair((&kernel.0.path, kernel.1), (&initrd.0.path, initrd.1)).or_else(|e| {
            for f in [kernel.0, initrd.0] {
                fs::remove_file(&f.path)
                    .with_context(|| format!("removing {}", f.path.display()))?;
            }
            Err(e.context("both files were removed from the mirror"))
        })
    }

    /// `kernel signed 2026-01-28, initrd signed 2026-01-28 (4593.2.5 allows
    /// signatures from 2026-01-26)`, for progress lines.
    pub(super) fn describe(&self, version: &Version) -> String {
        format!(
            "kernel signed {}, initrd signed {} ({version} allows signatures from {})",
            date(self.kernel),
            date(self.initrd),
            date_u64(earliest(version))
        )
    }
}

fn date_u64(secs: u64) -> String {
    date(u32::try_from(secs).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn a_major_is_days_since_coreos_epoch() {
        // 4593 days after 2013-07-01 is 2026-01-27; a day of slack before it.
        assert_eq!(date_u64(earliest(&v("4593.2.5"))), "2026-01-26");
        assert_eq!(date_u64(earliest(&v("0.0.0"))), "2013-06-30");
        // The largest major there can be does not wrap around to an early
        // date: no signature time can be late enough for it.
        let huge = v("999999999.0.0");
        assert!(earliest(&huge) > u64::from(u32::MAX));
        assert!(
            check_date(
                &huge,
                SignedAt {
                    file: "k",
                    at: u32::MAX
                }
            )
            .is_err()
        );
    }

    #[test]
    fn signatures_older_than_the_version_are_refused() {
        let version = v("4593.2.5");
        let day = u32::try_from(earliest(&version)).unwrap();
        check_date(&version, SignedAt { file: "k", at: day }).unwrap();
        let msg = format!(
            "{:#}",
            check_date(
                &version,
                SignedAt {
                    file: "k",
                    at: day - 1
                }
            )
            .unwrap_err()
        );
        assert!(msg.contains("refusing k"), "{msg}");
        assert!(msg.contains("made on 2026-01-25"), "{msg}");
        assert!(msg.contains("before 2026-01-26"), "{msg}");
    }

    #[test]
    fn kernel_and_initrd_must_be_signed_together() {
        let at = 1_800_000_000;
        let k = SignedAt { file: "k", at };
        let bound = u32::try_from(PAIR_BOUND).unwrap();
        check_pair(
            k,
            SignedAt {
                file: "i",
                at: at + bound,
            },
        )
        .unwrap();
        check_pair(
            k,
            SignedAt {
                file: "i",
                at: at - bound,
            },
        )
        .unwrap();
        let msg = format!(
            "{:#}",
            check_pair(
                k,
                SignedAt {
                    file: "i",
                    at: at - bound - 1
                }
            )
            .unwrap_err()
        );
        assert!(msg.contains("refusing k and i"), "{msg}");
        assert!(msg.contains("7 days apart"), "{msg}");
    }
}
