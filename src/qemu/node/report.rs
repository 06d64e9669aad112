//! What the user reads: before the boot, what is booted and which names the
//! harness plays; after it, one line per component, the timings and the
//! verdict (on failure with the console's last lines and the kept log).

use std::path::Path;
use std::process::ExitCode;

use super::Served;
use super::outside::Outside;
use super::verdict::Status;
use super::watch::{Boot, INTERRUPTED};
use crate::qemu::console::secs;

/// What is booted, how, and which names the harness plays.
pub(super) fn announce(
    stick: &Path,
    machine: &crate::qemu::Machine,
    testos_dir: &Path,
    port: u16,
    outside: &Outside,
    served: &Served,
) {
    println!(
        "qemu-test: node test of {} with {} ({})",
        stick.display(),
        machine.decision.accel,
        machine.decision.why
    );
    println!(
        "qemu-test: test OS {} (Debian kernel, real Ignition, real systemd; not Flatcar) served at http://10.0.2.2:{}",
        testos_dir.display(),
        port
    );
    for (e, f) in outside.endpoints.iter().zip(&outside.forwards) {
        println!(
            "qemu-test: world: {}:{} → {}:{} → 127.0.0.1:{}",
            e.host, e.port, f.guest, f.port, f.host_port
        );
    }
    if let (Some(url), Some(config)) = (&outside.world.ignition_url, served.describe()) {
        println!("qemu-test: ignition: the harness serves {config} at {url}");
    }
    if outside.world.k3s.is_some() {
        println!(
            "qemu-test: k3s: the harness serves a stand-in (sha256 {}) at the pinned URL; real k3s is not run here",
            outside.standin_sha256
        );
    }
}

/// The serial log: the user's `--log`, or a temporary one removed after a
/// pass.
pub(super) struct SerialLog<'a> {
    pub(super) path: &'a Path,
    pub(super) users: bool,
}

/// One line per component, the timings, and the verdict. Returns the exit
/// status.
pub(super) fn verdict(boot: &Boot, accel: &str, log: &SerialLog) -> ExitCode {
    for c in &boot.components {
        let (word, text) = match &c.status {
            Status::Pass(t) => ("ok     ", t.as_str()),
            Status::Fail(t) => ("FAILED ", t.as_str()),
            Status::Pending(t) if boot.failure.is_some() => ("not seen", t.as_str()),
            Status::Pending(t) => ("pending", t.as_str()),
        };
        println!("qemu-test: {:<10} {word} {text}", c.name);
    }
    let timings: Vec<String> = boot
        .milestones
        .iter()
        .map(|(m, at)| format!("{m} {}", secs(*at)))
        .collect();
    println!(
        "qemu-test: timings (s from QEMU start): {}",
        if timings.is_empty() {
            "no milestone reached".to_string()
        } else {
            timings.join(", ")
        }
    );
    match &boot.failure {
        None => {
            println!("qemu-test: PASS ({accel}): every component of the node works");
            if log.users {
                println!("qemu-test: serial log: {}", log.path.display());
            } else {
                let _ = std::fs::remove_file(log.path);
            }
            ExitCode::SUCCESS
        }
        Some(failure) => {
            let detail = if failure.detail.is_empty() {
                component_text(boot, &failure.check)
            } else {
                failure.detail.clone()
            };
            println!("qemu-test: FAIL ({accel}): {}: {detail}", failure.check);
            for line in &boot.systemd {
                println!("qemu-test: node's last report: {line}");
            }
            println!("qemu-test: last {} console lines:", boot.tail.len());
            for line in &boot.tail {
                println!("  | {line}");
            }
            println!("qemu-test: full serial log: {}", log.path.display());
            ExitCode::from(if failure.check == INTERRUPTED { 130 } else { 1 })
        }
    }
}

/// The status text of the component called `name` (a failed component's
/// reason).
fn component_text(boot: &Boot, name: &str) -> String {
    boot.components
        .iter()
        .find(|c| c.name == name)
        .map(|c| match &c.status {
            Status::Fail(t) | Status::Pass(t) | Status::Pending(t) => t.clone(),
        })
        .unwrap_or_default()
}
