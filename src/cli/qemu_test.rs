//! `mkstick qemu-test` arguments: its own options plus every option of the
//! write command, used to build a temporary stick when no TARGET is given.

use std::path::PathBuf;

use clap::Args;

use super::write::WriteArgs;
use crate::qemu::AccelChoice;

// Boot a stick in QEMU under UEFI firmware: interactively (serial console
// here, SSH forwarded), or as an offline pass/fail smoke test (--smoke).
// Without TARGET, a temporary stick is built from the write options.
// (Not a doc comment: with the subcommands deferred, clap would let it
// replace the help text, which is the variant's doc in `cli::Command`.)
#[derive(Debug, Args)]
#[command(
    mut_arg("device", |a| a
        .value_name("TARGET")
        .help("Stick to boot: an image file or a block device. Opened read-only: QEMU \
               writes to a temporary overlay (snapshot=on). Default: build one from the \
               write options")),
    mut_arg("image", |a| a.help("Build the stick into this image file and keep it")),
    mut_arg("ignition", |a| a.help("Ignition config to embed in the stick built for the test \
        (.ign/.json as is; .yml/.yaml is transpiled first). With --node and a TARGET that \
        fetches its config by URL (ignition.config.url=): the config the harness serves at \
        that URL. Default: the node config built into mkstick")),
    // --node is the node proof here; a cluster's node is --cluster-node.
    mut_arg("cluster_node", |a| a.long("cluster-node")),
    mut_arg("yes", |a| a.hide(true)),
    mut_arg("force", |a| a.hide(true)),
    mut_arg("dry_run", |a| a.hide(true)),
    mut_arg("json", |a| a.hide(true)),
)]
pub struct QemuTestArgs {
    /// Offline pass/fail test: boot a test payload served by mkstick and
    /// check what a node relies on (secrets volume, embedded Ignition,
    /// kernel arguments). Exit status 0 only on a full pass.
    #[arg(long, help_heading = "QEMU")]
    pub smoke: bool,

    /// Offline proof of the node config: boot a test OS (real Ignition,
    /// real systemd) and play the outside world the stick names (log
    /// service, heartbeat URL, DDNS, k3s release host); one line per
    /// component. Exit status 0 only when every enabled component works.
    #[arg(long, conflicts_with = "smoke", help_heading = "QEMU")]
    pub node: bool,

    /// With --node: after the verdict, leave the VM running with its SSH
    /// port forwarded to 127.0.0.1:--ssh-port and print the ssh command
    /// (the private key of the stick's sshkey=, found beside --ssh-key or in
    /// ~/.ssh); Ctrl-C stops QEMU and cleans up.
    #[arg(long, requires = "node", help_heading = "QEMU")]
    pub keep: bool,

    /// With --node: the log service presents a certificate from a CA the
    /// node does not trust (proves the node verifies it: logexport fails).
    #[arg(long, requires = "node", help_heading = "QEMU")]
    pub untrusted_log_ca: bool,

    /// Directory holding a prebuilt test OS (vmlinuz, testos.cpio.zst)
    /// instead of the cached one built by qemu/build-testos (--node).
    #[arg(
        long,
        value_name = "DIR",
        env = "MKSTICK_TESTOS",
        help_heading = "QEMU"
    )]
    pub testos: Option<PathBuf>,

    /// Stop QEMU and fail after this many seconds [default: 120 with
    /// --smoke, 600 with --node, none interactively].
    #[arg(long, value_name = "SECONDS", help_heading = "QEMU")]
    pub timeout: Option<u64>,

    /// KVM or TCG; auto probes KVM with a short boot and falls back to TCG.
    #[arg(long, value_enum, default_value_t = AccelChoice::Auto, help_heading = "QEMU")]
    pub accel: AccelChoice,

    /// UEFI firmware code file [default: the first OVMF/AAVMF found].
    #[arg(long, value_name = "CODE.fd", help_heading = "QEMU")]
    pub firmware: Option<PathBuf>,

    /// UEFI variables template for --firmware (a private copy is used).
    #[arg(
        long,
        value_name = "VARS.fd",
        requires = "firmware",
        help_heading = "QEMU"
    )]
    pub firmware_vars: Option<PathBuf>,

    /// Guest memory in MiB [default: 4096 (Flatcar PXE needs 3 GB), 512
    /// with --smoke].
    #[arg(long, value_name = "MIB", help_heading = "QEMU")]
    pub memory: Option<u32>,

    /// Host port forwarded to the guest's SSH port (interactive, and
    /// --node --keep).
    #[arg(
        long,
        value_name = "PORT",
        default_value_t = 2222,
        help_heading = "QEMU"
    )]
    pub ssh_port: u16,

    /// Port of the payload server on 127.0.0.1, seen by the guest as
    /// 10.0.2.2 (--smoke with a TARGET whose base URL is
    /// http://10.0.2.2:PORT). 0 picks a free port.
    #[arg(long, value_name = "PORT", default_value_t = 0, help_heading = "QEMU")]
    pub http_port: u16,

    /// Directory holding a prebuilt payload (vmlinuz, base.cpio.gz) instead
    /// of the cached one built by qemu/build-payload (--smoke).
    #[arg(
        long,
        value_name = "DIR",
        env = "MKSTICK_PAYLOAD",
        help_heading = "QEMU"
    )]
    pub payload: Option<PathBuf>,

    /// Write the serial console log here [default: a file in the temporary
    /// directory, kept and named when the test fails].
    #[arg(long, value_name = "FILE", help_heading = "QEMU")]
    pub log: Option<PathBuf>,

    #[command(flatten)]
    pub write: WriteArgs,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> super::QemuTestArgs {
        let cli = Cli::try_parse_from([&["mkstick", "qemu-test"], args].concat()).unwrap();
        match cli.command {
            Some(Command::QemuTest(args)) => *args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn target_or_write_options() {
        let a = parse(&["--smoke", "stick.img"]);
        assert!(a.smoke);
        assert_eq!(
            a.write.device.as_deref(),
            Some(std::path::Path::new("stick.img"))
        );
        let b = parse(&[
            "--smoke",
            "--k3s",
            "K3S_TOKEN=t",
            "--arch",
            "arm64",
            "--timeout",
            "30",
        ]);
        assert_eq!(b.write.device, None);
        assert_eq!(b.write.k3s, ["K3S_TOKEN=t"]);
        assert_eq!(b.write.arch, crate::model::flatcar::ArchChoice::Arm64);
        assert_eq!(b.timeout, Some(30));
        assert!(
            Cli::try_parse_from(["mkstick", "qemu-test", "x.img", "--image", "y.img"]).is_err()
        );
    }
}
