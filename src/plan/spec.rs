//! The typed spec of a stick: every input, already read, parsed and checked
//! for form by `resolve`. Building a [`super::Plan`] from it needs no I/O.

use std::path::PathBuf;
use std::sync::Arc;

use crate::k3s::K3sPin;
use crate::mirror::Release;
use crate::mirror::k3s::K3sRelease;
use crate::model::flatcar::{Arch, ArchChoice, Channel, VersionSpec};
use crate::model::{BaseUrl, ConfigUrl};
use crate::secrets::SecretsVolume;

/// Everything that decides the bytes of a stick.
#[derive(Clone, Debug)]
pub struct StickSpec {
    pub flatcar: FlatcarSpec,
    pub ignition: IgnitionSpec,
    /// The `core` user's SSH public key, one line.
    pub ssh_key: Option<String>,
    pub hostname: Option<String>,
    pub secrets: SecretsVolume,
    /// The verified release to put on the stick (`--offline`).
    pub offline: Option<Release>,
    /// The pinned k3s release, when the stick runs k3s.
    pub k3s: Option<K3sSpec>,
    /// One checked binary per architecture the stick serves.
    pub ipxe: Vec<IpxeBinary>,
    pub sizes: Sizes,
    pub source_date_epoch: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct FlatcarSpec {
    pub channel: Channel,
    pub version: VersionSpec,
    pub arch: ArchChoice,
    pub base_url: BaseUrl,
    /// Kernel consoles, space separated.
    pub consoles: String,
}

/// Where the node's Ignition config comes from.
#[derive(Clone, Debug)]
pub enum IgnitionSpec {
    /// A public URL, fetched by the node at boot.
    Url(ConfigUrl),
    /// A config to embed, already in JSON.
    Embedded {
        config: Vec<u8>,
        origin: ConfigOrigin,
    },
}

/// Whose config is embedded: the one built into mkstick, or the user's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigOrigin {
    BuiltIn,
    User,
}

/// Requested sizes, in MiB, and the device's size if there is one.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// `None`: 256 MiB, or room for the offline release.
    pub esp_mib: Option<u64>,
    pub secrets_mib: u64,
    /// `None` for an image file (sized to fit); a device's size otherwise.
    pub disk_bytes: Option<u64>,
}

/// A validated iPXE binary, read into memory (about 1 MB).
#[derive(Clone, Debug)]
pub struct IpxeBinary {
    pub arch: Arch,
    pub source: PathBuf,
    pub bytes: Arc<[u8]>,
}

/// The k3s release a stick pins, and the verified files it carries
/// (`--offline`; the airgap images with `--k3s-airgap`).
#[derive(Clone, Debug)]
pub struct K3sSpec {
    pub pin: K3sPin,
    pub carried: Option<K3sRelease>,
}
