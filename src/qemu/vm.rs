//! The QEMU command line, and the running VM as a guard that always stops
//! QEMU: on drop (errors, panics), and when mkstick itself dies
//! (PR_SET_PDEATHSIG), so no run leaves an orphan behind.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::model::flatcar::Arch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accel {
    Kvm,
    Tcg,
}

impl std::fmt::Display for Accel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Accel::Kvm => "KVM",
            Accel::Tcg => "TCG",
        })
    }
}

/// Where the guest's serial console goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Console {
    /// The user's terminal (interactive mode).
    Terminal,
    /// A pipe mkstick reads (smoke mode, KVM probe).
    Captured,
}

#[derive(Debug, Clone)]
pub(super) struct VmSpec {
    pub arch: Arch,
    pub accel: Accel,
    pub memory_mib: u32,
    pub firmware_code: PathBuf,
    pub firmware_vars: PathBuf,
    /// Attached as a USB stick, copy-on-write (`snapshot=on`): QEMU never
    /// writes to it.
    pub stick: Option<PathBuf>,
    pub network: Network,
    /// Guest connections to these addresses go to host ports (user
    /// networking only): the faked outside world of `--node`.
    pub guest_forwards: Vec<GuestForward>,
    pub console: Console,
}

/// `guest:port` inside the VM → `127.0.0.1:host_port`. QEMU starts one
/// `ncat` relay per connection (`guestfwd=…-cmd:`): a chardev target would
/// carry a single connection for the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GuestForward {
    pub guest: std::net::Ipv4Addr,
    pub port: u16,
    pub host_port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Network {
    None,
    /// virtio-net on user-mode networking (host = 10.0.2.2), optionally
    /// forwarding 127.0.0.1:<port> to the guest's SSH port.
    User {
        ssh_port: Option<u16>,
    },
}

impl VmSpec {
    pub(super) fn program(&self) -> &'static str {
        match self.arch {
            Arch::Amd64 => "qemu-system-x86_64",
            Arch::Arm64 => "qemu-system-aarch64",
        }
    }

    pub(super) fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |parts: &[&str]| args.extend(parts.iter().map(OsString::from));
        let accel = match self.accel {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        };
        let (machine, cpu) = match (self.arch, self.accel) {
            (Arch::Amd64, Accel::Kvm) => ("q35", "host"),
            // RDRAND: iPXE seeds its entropy pool from it in an instant, while
            // timer-jitter sampling takes about 4 s under TCG.
            (Arch::Amd64, Accel::Tcg) => ("q35", "qemu64,+rdrand"),
            (Arch::Arm64, Accel::Kvm) => ("virt", "host"),
            (Arch::Arm64, Accel::Tcg) => ("virt", "max"),
        };
        let smp = match self.accel {
            Accel::Kvm => "2",
            Accel::Tcg => "1",
        };
        push(&[
            "-machine",
            &format!("{machine},accel={accel}"),
            "-cpu",
            cpu,
            "-smp",
            smp,
        ]);
        push(&["-m", &self.memory_mib.to_string()]);
        // No default devices (VGA, floppy, CD-ROM, parallel): less firmware
        // work, and the serial console is the only output.
        push(&[
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
        ]);
        push(&[
            "-drive",
            &format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={}",
                qemu_path(&self.firmware_code)
            ),
        ]);
        push(&[
            "-drive",
            &format!(
                "if=pflash,format=raw,unit=1,file={}",
                qemu_path(&self.firmware_vars)
            ),
        ]);
        if let Some(stick) = &self.stick {
            push(&[
                "-drive",
                &format!(
                    "if=none,id=stick,format=raw,snapshot=on,file={}",
                    qemu_path(stick)
                ),
            ]);
            push(&["-device", "qemu-xhci,id=xhci"]);
            // bootindex: the firmware tries the stick first, as a user would pick it.
            push(&[
                "-device",
                "usb-storage,bus=xhci.0,drive=stick,removable=on,bootindex=0",
            ]);
        }
        match self.network {
            Network::None => {}
            Network::User { ssh_port } => {
                let mut netdev = "user,id=net0".to_string();
                if let Some(port) = ssh_port {
                    netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{port}-:22"));
                }
                for f in &self.guest_forwards {
                    netdev.push_str(&format!(
                        ",guestfwd=tcp:{}:{}-cmd:ncat 127.0.0.1 {}",
                        f.guest, f.port, f.host_port
                    ));
                }
                // romfile=: no option ROM, so QEMU's own (old) iPXE never runs.
                push(&[
                    "-netdev",
                    &netdev,
                    "-device",
                    "virtio-net-pci,netdev=net0,romfile=",
                ]);
            }
        }
        push(&["-serial", "stdio"]);
        args
    }
}

/// QEMU option values are comma-separated: a comma in a path is doubled.
fn qemu_path(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// A running QEMU. Dropping it stops QEMU.
pub(super) struct Vm {
    child: Child,
    pub started: Instant,
}

impl Vm {
    pub(super) fn spawn(spec: &VmSpec) -> Result<Vm> {
        let mut command = Command::new(spec.program());
        command.args(spec.args());
        match spec.console {
            Console::Terminal => command
                .stdin(Stdio::inherit())
                .stdout(Stdio::inherit())
                .stderr(Stdio::inherit()),
            Console::Captured => command
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        };
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let child = command.spawn().with_context(|| {
            format!(
                "starting {}: is QEMU installed (Debian: qemu-system-x86 / qemu-system-arm)?",
                spec.program()
            )
        })?;
        Ok(Vm { child, started })
    }

    pub(super) fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    pub(super) fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.child.try_wait().context("checking on QEMU")
    }

    /// SIGTERM (QEMU exits cleanly and restores the terminal), then SIGKILL
    /// if it has not gone after `grace`.
    pub(super) fn stop(&mut self, grace: Duration) -> Result<ExitStatus> {
        if let Some(status) = self.try_wait()? {
            return Ok(status);
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: plain syscall on our own, not yet reaped, child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill().context("killing QEMU")?;
        self.child.wait().context("waiting for QEMU")
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Err(err) = self.stop(Duration::from_secs(2)) {
            eprintln!(
                "qemu-test: could not stop QEMU (pid {}): {err:#}",
                self.child.id()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(arch: Arch, accel: Accel) -> VmSpec {
        VmSpec {
            arch,
            accel,
            memory_mib: 512,
            firmware_code: "/fw/CODE.fd".into(),
            firmware_vars: "/tmp/x/VARS.fd".into(),
            stick: Some("/images/a,b.img".into()),
            network: Network::User {
                ssh_port: Some(2222),
            },
            guest_forwards: Vec::new(),
            console: Console::Captured,
        }
    }

    fn joined(spec: &VmSpec) -> String {
        spec.args()
            .iter()
            .map(|a| a.to_str().unwrap())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn amd64_tcg_command_line() {
        let s = spec(Arch::Amd64, Accel::Tcg);
        assert_eq!(s.program(), "qemu-system-x86_64");
        assert_eq!(
            joined(&s),
            "-machine q35,accel=tcg -cpu qemu64,+rdrand -smp 1 -m 512 \
             -nodefaults -no-user-config -display none -no-reboot \
             -drive if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd \
             -drive if=pflash,format=raw,unit=1,file=/tmp/x/VARS.fd \
             -drive if=none,id=stick,format=raw,snapshot=on,file=/images/a,,b.img \
             -device qemu-xhci,id=xhci -device usb-storage,bus=xhci.0,drive=stick,removable=on,bootindex=0 \
             -netdev user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22 -device virtio-net-pci,netdev=net0,romfile= \
             -serial stdio"
        );
    }

    #[test]
    fn guest_forwards_relay_each_connection() {
        let mut s = spec(Arch::Amd64, Accel::Tcg);
        s.guest_forwards = vec![GuestForward {
            guest: std::net::Ipv4Addr::new(10, 0, 2, 100),
            port: 443,
            host_port: 40001,
        }];
        assert!(joined(&s).contains(
            "-netdev user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22,\
             guestfwd=tcp:10.0.2.100:443-cmd:ncat 127.0.0.1 40001 "
        ));
    }

    #[test]
    fn kvm_probe_and_arm64_variants() {
        let mut s = spec(Arch::Amd64, Accel::Kvm);
        s.stick = None;
        s.network = Network::None;
        let line = joined(&s);
        assert!(
            line.starts_with("-machine q35,accel=kvm -cpu host -smp 2 "),
            "{line}"
        );
        assert!(
            !line.contains("usb-storage") && !line.contains("netdev"),
            "{line}"
        );
        let arm = spec(Arch::Arm64, Accel::Tcg);
        assert_eq!(arm.program(), "qemu-system-aarch64");
        assert!(joined(&arm).starts_with("-machine virt,accel=tcg -cpu max "));
    }

    #[test]
    fn dropping_the_guard_kills_the_process() {
        // A stand-in child: the guard must not care what it runs.
        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        drop(Vm {
            child,
            started: Instant::now(),
        });
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
        assert!(!alive, "pid {pid} survived the guard");
    }
}
