//! The write command's arguments (also the stick options of `qemu-test`).

use std::path::PathBuf;

use clap::Args;

use crate::k3s;
use crate::k3s::pin::{ChannelServerUrl, ReleaseBaseUrl};
use crate::model::flatcar::{ArchChoice, Channel, DEFAULT_BASE_URL, VersionSpec};
use crate::model::{BaseUrl, ConfigUrl, IpxeUrl, Sha256Digest};

// What to write and where. Every input is validated before anything is opened
// for writing. (Not a doc comment: clap would make it the help text of the
// deferred subcommands that flatten this; see `cli::Command`.)
#[derive(Clone, Debug, Args, Default)]
pub struct WriteArgs {
    /// Block device to write (e.g. /dev/sdb). Needs root. Everything on it is lost,
    /// unless the write is stopped or fails: then it is put back from a copy of
    /// what was overwritten, which needs that much free space in $TMPDIR.
    #[arg(value_name = "DEVICE", conflicts_with = "image")]
    pub device: Option<PathBuf>,

    /// Write an image file instead of a device (no root needed). Copy it to a
    /// stick later with any flasher.
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,

    /// Do not ask before overwriting a device or an existing image file.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Allow a non-removable device (an internal disk!).
    #[arg(long)]
    pub force: bool,

    /// Print the plan (layout, files, kernel arguments, components) and write
    /// nothing. Secret values are redacted.
    #[arg(long)]
    pub dry_run: bool,

    /// With --dry-run: print the plan as JSON.
    #[arg(long, requires = "dry_run")]
    pub json: bool,

    // --- What the node boots --------------------------------------------------
    /// Flatcar release channel.
    #[arg(long, value_enum, default_value_t = Channel::Stable, help_heading = "Flatcar")]
    pub channel: Channel,

    /// Flatcar version to boot, e.g. 4593.2.5 (reproducible boots), or "current".
    #[arg(
        long,
        default_value = "current",
        value_name = "VERSION",
        help_heading = "Flatcar"
    )]
    pub flatcar_version: VersionSpec,

    /// CPU architecture of the nodes.
    #[arg(long, value_enum, default_value_t = ArchChoice::Amd64, help_heading = "Flatcar")]
    pub arch: ArchChoice,

    /// Where the Flatcar releases live: the CDN or your mirror (`mkstick mirror`).
    /// The script appends /CHANNEL/ARCH-usr/VERSION/.
    #[arg(
        long,
        default_value = DEFAULT_BASE_URL,
        value_name = "URL",
        help_heading = "Flatcar"
    )]
    pub base_url: BaseUrl,

    /// Kernel consoles, space separated (each becomes console=...).
    #[arg(
        long,
        default_value = "tty0 ttyS0,115200n8",
        value_name = "CONSOLES",
        help_heading = "Flatcar"
    )]
    pub console: String,

    // --- Ignition and node identity ----------------------------------------------
    /// Ignition config to embed in the stick (.ign/.json as is; .yml/.yaml is
    /// transpiled first). Default: the node config built into mkstick.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "ignition_url",
        help_heading = "Node"
    )]
    pub ignition: Option<PathBuf>,

    /// Fetch the Ignition config from this public URL at boot instead (http,
    /// https, tftp, s3 or gs; nothing secret may be in it). [env: IGN_PATH]
    // IGN_PATH is read by `Invocation::from_env`, for a write only: clap reads
    // an `env` of the top-level arguments for every subcommand too.
    #[arg(long, value_name = "URL", help_heading = "Node")]
    pub ignition_url: Option<ConfigUrl>,

    /// SSH public key for the `core` user (passed as sshkey= on the kernel command line).
    #[arg(long, env = "SSH_KEY_PATH", value_name = "FILE", help_heading = "Node")]
    pub ssh_key: Option<PathBuf>,

    /// Host name of the node (a FQDN if Namecheap DDNS is on).
    #[arg(
        long,
        env = "NODE_HOSTNAME",
        value_name = "NAME",
        help_heading = "Node"
    )]
    pub hostname: Option<String>,

    // --- Secrets ---------------------------------------------------------------
    /// Read secrets from an env file (KEY=value lines): keeps them out of the
    /// environment and shell history. Flags override it; it overrides the environment.
    #[arg(long, value_name = "FILE", help_heading = "Secrets")]
    pub secrets: Option<PathBuf>,

    /// A k3s setting, e.g. --k3s K3S_TOKEN=... (repeatable; any K3S_* name).
    #[arg(long, value_name = "K3S_NAME=VALUE", help_heading = "Secrets")]
    pub k3s: Vec<String>,

    /// Log service host (LOGEXPORT_HOST).
    #[arg(long, value_name = "HOST", help_heading = "Secrets")]
    pub logexport_host: Option<String>,

    /// Log service TLS port (LOGEXPORT_PORT).
    #[arg(long, value_name = "PORT", help_heading = "Secrets")]
    pub logexport_port: Option<String>,

    /// Heartbeat URL, fetched every 5 minutes (HEARTBEAT_URL).
    #[arg(long, value_name = "URL", help_heading = "Secrets")]
    pub heartbeat_url: Option<String>,

    /// Namecheap Dynamic DNS password (NAMECHEAP_DDNS_PASS). Prefer --secrets.
    #[arg(long, value_name = "PASSWORD", help_heading = "Secrets")]
    pub namecheap_ddns_pass: Option<String>,

    /// Interface whose address DDNS publishes (NAMECHEAP_DDNS_INTERFACE).
    #[arg(long, value_name = "IFACE", help_heading = "Secrets")]
    pub namecheap_ddns_interface: Option<String>,

    // --- Cluster ---------------------------------------------------------------
    /// Write one node of a cluster (see `mkstick cluster`): its host name,
    /// architecture, Ignition file and secrets come from this inventory and
    /// its secrets store, not from the secret flags or the environment.
    #[arg(
        long,
        value_name = "INVENTORY",
        conflicts_with_all = ["secrets", "k3s", "logexport_host", "logexport_port", "heartbeat_url", "namecheap_ddns_pass", "namecheap_ddns_interface"],
        help_heading = "Cluster"
    )]
    pub cluster: Option<PathBuf>,

    /// The node to write, by its name in the inventory (with `cluster build`:
    /// build only these nodes; repeatable).
    // Its id is not "node": qemu-test has its own --node (the node proof)
    // and renames this one --cluster-node.
    #[arg(
        long = "node",
        id = "cluster_node",
        value_name = "NAME",
        help_heading = "Cluster"
    )]
    pub node: Vec<String>,

    /// The cluster's secrets store. Default: INVENTORY's name with `.secrets`, beside it.
    #[arg(long = "store", value_name = "DIR", help_heading = "Cluster")]
    pub cluster_store: Option<PathBuf>,

    // --- k3s -------------------------------------------------------------------
    /// The k3s release nodes run: a tag (v1.31.4+k3s1) or a channel (stable,
    /// latest, v1.31, ...) resolved to its tag now. Pinned by SHA-256 when the
    /// stick is written, and only when k3s is on (a --k3s setting is given).
    #[arg(
        long,
        value_name = "TAG|CHANNEL",
        default_value = "stable",
        help_heading = "k3s"
    )]
    pub k3s_version: k3s::VersionSpec,

    /// The k3s binary's SHA-256, pinned by hand: no network. Needs a tag in
    /// --k3s-version and one --arch.
    #[arg(long, value_name = "HEX", help_heading = "k3s")]
    pub k3s_sha256: Option<Sha256Digest>,

    /// Where k3s releases live (GitHub or your mirror, `mkstick mirror --k3s`),
    /// laid out URL/<tag>/<asset>. Nodes download the binary from here.
    #[arg(
        long,
        value_name = "URL",
        default_value = k3s::DEFAULT_BASE_URL,
        help_heading = "k3s"
    )]
    pub k3s_base_url: ReleaseBaseUrl,

    /// k3s's channel server, which names a channel's current tag.
    #[arg(
        long,
        value_name = "URL",
        default_value = k3s::DEFAULT_CHANNEL_URL,
        help_heading = "k3s"
    )]
    pub k3s_channel_url: ChannelServerUrl,

    /// With --offline: also carry k3s's airgap images on the stick, for
    /// nodes that cannot pull the system images.
    #[arg(long, requires = "offline", help_heading = "k3s")]
    pub k3s_airgap: bool,

    // --- Offline ---------------------------------------------------------------
    /// Put Flatcar itself on the stick (about 410 MB), and k3s's binary when
    /// k3s is on: the node boots Flatcar with `file:` and installs k3s from
    /// the stick. The online boot stays as the fallback. The releases come
    /// verified from --mirror (downloaded there first if missing).
    #[arg(long, help_heading = "Offline")]
    pub offline: bool,

    /// Mirror directory with verified releases (`mkstick mirror DIR`).
    /// Default: ~/.cache/mkstick/mirror.
    #[arg(
        long,
        value_name = "DIR",
        requires = "offline",
        help_heading = "Offline"
    )]
    pub mirror: Option<PathBuf>,

    /// Flatcar's image-signing key from a file instead of its published URL
    /// (its fingerprint must still match the one mkstick pins).
    #[arg(
        long,
        value_name = "FILE",
        requires = "offline",
        help_heading = "Offline"
    )]
    pub keyring: Option<PathBuf>,

    // --- iPXE ------------------------------------------------------------------
    /// iPXE EFI binary for amd64 (default: the distribution's, if new enough).
    #[arg(long, value_name = "FILE", help_heading = "iPXE")]
    pub ipxe_efi: Option<PathBuf>,

    /// iPXE EFI binary for arm64 (with --arch arm64 or all).
    #[arg(long, value_name = "FILE", help_heading = "iPXE")]
    pub ipxe_efi_arm64: Option<PathBuf>,

    /// Download the amd64 iPXE EFI binary from this URL (needs --ipxe-sha256).
    #[arg(
        long,
        value_name = "URL",
        requires = "ipxe_sha256",
        help_heading = "iPXE"
    )]
    pub ipxe_url: Option<IpxeUrl>,

    /// Expected SHA-256 of the --ipxe-url download.
    #[arg(long, value_name = "HEX", requires = "ipxe_url", help_heading = "iPXE")]
    pub ipxe_sha256: Option<Sha256Digest>,

    // --- Layout ----------------------------------------------------------------
    /// Size of the EFI System Partition in MiB (FAT32: at least 33). Default:
    /// 256, or with --offline room for two releases.
    #[arg(long, value_name = "MIB", help_heading = "Layout")]
    pub esp_size: Option<u64>,

    /// Size of the secrets volume in MiB (FAT16: 3 to 1024).
    #[arg(
        long,
        default_value_t = 16,
        value_name = "MIB",
        help_heading = "Layout"
    )]
    pub secrets_size: u64,
}

pub(super) fn secrets_help() -> String {
    format!(
        "Secrets volume (also read from the environment, as the seed scripts did):\n\n{}",
        crate::secrets::schema::markdown_table()
    )
}
