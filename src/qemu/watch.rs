//! Reads the boot as it happens: milestones with their times, and the
//! outcome (the payload's verdict, or the first sign that the boot failed).

use std::time::Duration;

use serde::Deserialize;

/// The stages of a boot, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Milestone {
    /// The firmware starts the stick's boot entry.
    Firmware,
    /// iPXE found the stick's `autoexec.ipxe`.
    Ipxe,
    /// The script runs (its first `mkstick:` message).
    Script,
    /// DHCP done.
    Network,
    /// The Linux kernel (EFI stub) starts.
    Kernel,
    /// The payload's /init starts.
    Init,
    Verdict,
}

impl Milestone {
    pub(super) fn label(self) -> &'static str {
        match self {
            Milestone::Firmware => "firmware",
            Milestone::Ipxe => "iPXE",
            Milestone::Script => "script",
            Milestone::Network => "DHCP",
            Milestone::Kernel => "kernel",
            Milestone::Init => "init",
            Milestone::Verdict => "verdict",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    Pass { checks: Vec<String> },
    Fail(Failure),
}

/// Which check failed and why, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Failure {
    pub check: String,
    pub detail: String,
}

impl Failure {
    pub(super) fn new(check: &str, detail: impl Into<String>) -> Self {
        Self {
            check: check.to_string(),
            detail: detail.into(),
        }
    }
}

/// The line the payload's /init prints.
#[derive(Debug, Deserialize)]
struct Verdict {
    pass: bool,
    #[serde(default)]
    failed: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    checks: Vec<String>,
}

const VERDICT_MARK: &str = "MKSTICK-VERDICT ";

#[derive(Debug, Default)]
pub(super) struct Watcher {
    reached: Vec<(Milestone, Duration)>,
}

impl Watcher {
    pub(super) fn reached(&self) -> &[(Milestone, Duration)] {
        &self.reached
    }

    pub(super) fn last(&self) -> Option<Milestone> {
        self.reached.last().map(|(m, _)| *m)
    }

    fn has(&self, milestone: Milestone) -> bool {
        self.reached.iter().any(|(m, _)| *m == milestone)
    }

    fn reach(&mut self, milestone: Milestone, at: Duration) {
        if !self.has(milestone) {
            self.reached.push((milestone, at));
        }
    }

    /// One line of serial console output (escape sequences removed), seen
    /// `at` after QEMU started.
    pub(super) fn serial(&mut self, at: Duration, line: &str) -> Option<Outcome> {
        if let Some(pos) = line.find(VERDICT_MARK) {
            self.reach(Milestone::Verdict, at);
            return Some(parse_verdict(&line[pos + VERDICT_MARK.len()..]));
        }
        if line.contains("BdsDxe: starting") || line.contains("BdsDxe: loading") {
            self.reach(Milestone::Firmware, at);
        } else if line.contains("BdsDxe: failed to load") || line.contains("Access Denied") {
            return Some(fail(
                "firmware-boot",
                format!(
                    "the firmware could not start the stick (no ESP with /EFI/BOOT/BOOTX64.EFI?): {}",
                    line.trim()
                ),
            ));
        } else if line.contains("UEFI Interactive Shell") || line.contains("Start PXE over") {
            return Some(fail(
                "firmware-boot",
                format!(
                    "the firmware found nothing bootable on the stick (no ESP with /EFI/BOOT/BOOTX64.EFI?) and fell back to: {}",
                    line.trim()
                ),
            ));
        } else if line.contains("autoexec.ipxe... ok") {
            self.reach(Milestone::Ipxe, at);
        } else if line.starts_with("mkstick: ") && self.has(Milestone::Ipxe) {
            self.reach(Milestone::Script, at);
        } else if line.starts_with("Configuring (") && line.ends_with(" ok") {
            self.reach(Milestone::Network, at);
        } else if line.contains("EFI stub:") || line.contains("Linux version") {
            self.reach(Milestone::Kernel, at);
        } else if line.contains("MKSTICK-INIT") {
            self.reach(Milestone::Init, at);
        } else if line.contains("Kernel panic") {
            return Some(fail("kernel-panic", line.trim()));
        } else if self.has(Milestone::Ipxe)
            && !self.has(Milestone::Kernel)
            && let Some(error) = ipxe_error(line)
        {
            return Some(fail("ipxe-script", error));
        }
        None
    }

    /// A request the guest made to the payload server.
    pub(super) fn http(&mut self, path: &str, status: u16) -> Option<Outcome> {
        match status {
            404 => Some(fail(
                "payload-fetch",
                format!(
                    "the boot script asked for {path}, which is not a payload file (HTTP 404); \
                     the server answers paths ending in {} and {}",
                    super::server::KERNEL_NAMES[0],
                    super::server::INITRD_NAME
                ),
            )),
            400.. => Some(fail(
                "payload-fetch",
                format!("the payload server answered {status} for {path}"),
            )),
            _ => None,
        }
    }
}

fn fail(check: &str, detail: impl Into<String>) -> Outcome {
    Outcome::Fail(Failure::new(check, detail))
}

fn parse_verdict(json: &str) -> Outcome {
    match serde_json::from_str::<Verdict>(json.trim()) {
        Ok(Verdict {
            pass: true, checks, ..
        }) => Outcome::Pass { checks },
        Ok(v) => fail(
            v.failed.as_deref().unwrap_or("unnamed-check"),
            v.detail.unwrap_or_else(|| "no detail given".to_string()),
        ),
        Err(err) => fail(
            "verdict",
            format!("unreadable verdict line {json:?}: {err}"),
        ),
    }
}

/// An iPXE error report: `<what>... <error text> (https://ipxe.org/<code>)`
/// or `Could not <verb>: <error text> (...)`.
fn ipxe_error(line: &str) -> Option<String> {
    let line = line.trim();
    let code_at = line.find("(https://ipxe.org/")?;
    (line.ends_with(')') && (line[..code_at].contains("... ") || line.starts_with("Could not")))
        .then(|| line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    /// Lines from a real passing boot (docs: TCG, shell-built stick).
    #[test]
    fn passing_boot_reaches_every_milestone() {
        let mut w = Watcher::default();
        let lines = [
            (
                4.32,
                "BdsDxe: loading Boot0001 \"UEFI QEMU QEMU USB HARDDRIVE 1-0000:00:01.0-1\" from PciRoot",
            ),
            (4.33, "iPXE initialising devices..."),
            (
                4.35,
                "file:autoexec.ipxe... Not found (https://ipxe.org/7f4de18e)",
            ),
            (4.36, "file:/autoexec.ipxe... ok"),
            (4.70, "mkstick: configuring the network"),
            (8.65, "Configuring (net0 52:54:00:12:34:56)...... ok"),
            (
                11.76,
                "http://10.0.2.2:8123/stable/amd64-usr/1.0/flatcar_production_pxe.vmlinuz... ok",
            ),
            (
                15.30,
                "EFI stub: Loaded initrd from LINUX_EFI_INITRD_MEDIA_GUID device path",
            ),
            (15.70, "[    0.000000] Linux version 6.1.0-56-amd64"),
            (18.26, "MKSTICK-INIT start 2.79"),
            (18.30, "MKSTICK-CHECK ok kernel-cmdline"),
        ];
        for (at, line) in lines {
            assert_eq!(w.serial(s(at), line), None, "{line}");
        }
        let outcome = w.serial(
            s(20.42),
            r#"MKSTICK-VERDICT {"pass":true,"checks":["kernel-cmdline","secrets-files"]}"#,
        );
        assert_eq!(
            outcome,
            Some(Outcome::Pass {
                checks: vec!["kernel-cmdline".into(), "secrets-files".into()]
            })
        );
        let times: Vec<(Milestone, f64)> = w
            .reached()
            .iter()
            .map(|(m, d)| (*m, d.as_secs_f64()))
            .collect();
        assert_eq!(
            times,
            vec![
                (Milestone::Firmware, 4.32),
                (Milestone::Ipxe, 4.36),
                (Milestone::Script, 4.70),
                (Milestone::Network, 8.65),
                (Milestone::Kernel, 15.30),
                (Milestone::Init, 18.26),
                (Milestone::Verdict, 20.42)
            ]
        );
    }

    #[test]
    fn failed_verdict_names_the_check() {
        let mut w = Watcher::default();
        let line = r#"[   3.1] MKSTICK-VERDICT {"pass":false,"failed":"secrets-files","detail":"heartbeat_env is missing"}"#;
        assert_eq!(
            w.serial(s(1.0), line),
            Some(Outcome::Fail(Failure::new(
                "secrets-files",
                "heartbeat_env is missing"
            )))
        );
        let garbled = w.serial(s(1.0), "MKSTICK-VERDICT {\"pass\":tr");
        assert!(matches!(garbled, Some(Outcome::Fail(f)) if f.check == "verdict"));
    }

    #[test]
    fn ipxe_errors_count_only_while_the_script_runs() {
        let mut w = Watcher::default();
        // The lookup beside the binary fails on every stick: not an error.
        assert_eq!(
            w.serial(
                s(1.0),
                "file:autoexec.ipxe... Not found (https://ipxe.org/7f4de18e)"
            ),
            None
        );
        w.serial(s(1.1), "file:/autoexec.ipxe... ok");
        let outcome = w.serial(s(2.0), "http://10.0.2.2:1/x/flatcar_production_pxe.vmlinuz... No such file or directory (https://ipxe.org/2d0c613b)");
        assert!(
            matches!(outcome, Some(Outcome::Fail(f)) if f.check == "ipxe-script" && f.detail.contains("vmlinuz"))
        );
        assert_eq!(
            w.serial(s(2.0), "Press Ctrl-B for the iPXE command line..."),
            None
        );
    }

    #[test]
    fn firmware_and_kernel_failures() {
        let mut w = Watcher::default();
        let outcome = w.serial(s(5.0), "BdsDxe: failed to load Boot0001 \"UEFI QEMU QEMU USB HARDDRIVE\" from PciRoot(0x0): Not Found");
        assert!(matches!(outcome, Some(Outcome::Fail(f)) if f.check == "firmware-boot"));
        let outcome = w.serial(s(5.0), "UEFI Interactive Shell v2.2");
        assert!(matches!(outcome, Some(Outcome::Fail(f)) if f.check == "firmware-boot"));
        let outcome = w.serial(
            s(9.0),
            "[    2.0] Kernel panic - not syncing: No working init found.",
        );
        assert!(matches!(outcome, Some(Outcome::Fail(f)) if f.check == "kernel-panic"));
    }

    #[test]
    fn http_404_is_a_payload_failure() {
        let mut w = Watcher::default();
        assert_eq!(
            w.http("/stable/amd64-usr/1/flatcar_production_pxe.vmlinuz", 200),
            None
        );
        let outcome = w.http("/stable/amd64-usr/1/nope.vmlinuz", 404);
        assert!(
            matches!(outcome, Some(Outcome::Fail(f)) if f.check == "payload-fetch" && f.detail.contains("nope.vmlinuz"))
        );
    }
}
