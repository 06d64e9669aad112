//! KVM or TCG. A `/dev/kvm` that opens is not enough: some hosts (nested
//! PVM) accept KVM guests but hang firmware ones, and QEMU then neither
//! runs nor exits. So a short probe boot decides.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::Event;
use super::console;
use super::firmware::Firmware;
use super::vm::{Accel, Console, Network, Vm, VmSpec};
use crate::model::flatcar::Arch;

/// How QEMU runs the guest: auto probes KVM with a short boot and falls back to TCG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AccelChoice {
    Auto,
    Kvm,
    Tcg,
}

/// A working KVM reaches the firmware's boot manager in about a second.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub(crate) struct Decision {
    pub accel: Accel,
    pub why: String,
}

pub(super) fn choose(choice: AccelChoice, arch: Arch, firmware: &Firmware) -> Result<Decision> {
    match choice {
        AccelChoice::Tcg => Ok(Decision {
            accel: Accel::Tcg,
            why: "asked for with --accel tcg".into(),
        }),
        AccelChoice::Kvm => match probe(arch, firmware) {
            Ok(took) => Ok(Decision {
                accel: Accel::Kvm,
                why: format!(
                    "probe boot reached the firmware in {}s",
                    console::secs(took)
                ),
            }),
            Err(why) => bail!("--accel kvm: KVM does not work here: {why}"),
        },
        AccelChoice::Auto => Ok(match probe(arch, firmware) {
            Ok(took) => Decision {
                accel: Accel::Kvm,
                why: format!(
                    "probe boot reached the firmware in {}s",
                    console::secs(took)
                ),
            },
            Err(why) => Decision {
                accel: Accel::Tcg,
                why: format!("KVM unusable: {why}"),
            },
        }),
    }
}

/// Boots the firmware alone under KVM; Ok(time to its boot manager).
fn probe(arch: Arch, firmware: &Firmware) -> Result<Duration, String> {
    let native = match arch {
        Arch::Amd64 => cfg!(target_arch = "x86_64"),
        Arch::Arm64 => cfg!(target_arch = "aarch64"),
    };
    if !native {
        return Err(format!("the host cannot run {arch} guests natively"));
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map_err(|err| format!("/dev/kvm: {err}"))?;
    let vars = firmware.private_vars().map_err(|err| format!("{err:#}"))?;
    let spec = VmSpec {
        arch,
        accel: Accel::Kvm,
        memory_mib: 256,
        firmware_code: firmware.code.clone(),
        firmware_vars: vars.path.clone(),
        stick: None,
        network: Network::None,
        guest_forwards: Vec::new(),
        console: Console::Captured,
    };
    let mut vm = Vm::spawn(&spec).map_err(|err| format!("{err:#}"))?;
    let (tx, rx) = mpsc::channel();
    console::capture(&mut vm, None, tx).map_err(|err| format!("{err:#}"))?;
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let mut stderr = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(Event::Serial { at, line }) if line.contains("BdsDxe") => return Ok(at),
            Ok(Event::Stderr(line)) => {
                if line.contains("KVM internal error") || line.contains("failed to") {
                    return Err(format!("QEMU: {line}"));
                }
                stderr.push(line);
            }
            Ok(Event::ConsoleClosed) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = vm
                    .stop(Duration::from_secs(1))
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                return Err(format!(
                    "QEMU exited ({status}) during the probe boot: {}",
                    stderr.join(" | ")
                ));
            }
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => break,
        }
    }
    Err(format!(
        "the firmware made no progress within {}s under KVM",
        PROBE_TIMEOUT.as_secs()
    ))
}
