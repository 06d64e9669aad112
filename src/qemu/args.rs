//! `mkstick qemu-test` arguments.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Boot a stick in QEMU under UEFI firmware: interactively (serial console
/// here, SSH forwarded), or as an offline pass/fail smoke test (--smoke).
#[derive(Debug, Args)]
pub struct QemuTestArgs {
    /// The stick: an image file or a block device. Opened read-only; QEMU
    /// writes to a temporary overlay (snapshot=on), never to the stick.
    pub target: PathBuf,

    /// Offline pass/fail test: boot a test payload served by mkstick and
    /// check what a node relies on (secrets volume, embedded Ignition,
    /// kernel arguments). Exit status 0 only on a full pass.
    #[arg(long)]
    pub smoke: bool,

    /// Stop QEMU and fail after this many seconds [default: 120 with
    /// --smoke, none interactively].
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,

    /// KVM or TCG; auto probes KVM with a short boot and falls back to TCG.
    #[arg(long, value_enum, default_value_t = AccelChoice::Auto)]
    pub accel: AccelChoice,

    /// Guest architecture (arm64 needs qemu-system-aarch64 and AAVMF).
    #[arg(long, value_enum, default_value_t = Arch::Amd64)]
    pub arch: Arch,

    /// UEFI firmware code file [default: the first OVMF/AAVMF found].
    #[arg(long, value_name = "CODE.fd")]
    pub firmware: Option<PathBuf>,

    /// UEFI variables template for --firmware (a private copy is used).
    #[arg(long, value_name = "VARS.fd", requires = "firmware")]
    pub firmware_vars: Option<PathBuf>,

    /// Guest memory in MiB [default: 4096 (Flatcar PXE needs 3 GB), 512
    /// with --smoke].
    #[arg(long, value_name = "MIB")]
    pub memory: Option<u32>,

    /// Host port forwarded to the guest's SSH port (interactive).
    #[arg(long, value_name = "PORT", default_value_t = 2222)]
    pub ssh_port: u16,

    /// Port of the payload server on 127.0.0.1, seen by the guest as
    /// 10.0.2.2 (--smoke). The stick's base URL must be
    /// http://10.0.2.2:PORT. 0 picks a free port.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub http_port: u16,

    /// Directory holding a prebuilt payload (vmlinuz, base.cpio.gz) instead
    /// of the cached one built by qemu/build-payload (--smoke).
    #[arg(long, value_name = "DIR", env = "MKSTICK_PAYLOAD")]
    pub payload: Option<PathBuf>,

    /// Write the serial console log here [default: a file in the temporary
    /// directory, kept and named when the test fails].
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccelChoice {
    Auto,
    Kvm,
    Tcg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Arch {
    Amd64,
    Arm64,
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        })
    }
}
