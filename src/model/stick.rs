//! The stick's fixed names and sizes: partitions, labels, and the paths of the
//! files mkstick writes on the ESP. One definition each, for the writer, the
//! read-back and the qemu harness.

use crate::model::flatcar::Arch;

pub(crate) const MIB: u64 = 1 << 20;
pub(crate) const ESP_LABEL: &str = "MKSTICK";
pub(crate) const SECRETS_LABEL: &str = "SECRETS";
/// GPT partition names.
pub(crate) const ESP_NAME: &str = "esp";
pub(crate) const SECRETS_NAME: &str = "secrets";
/// The boot script, at the ESP root where iPXE's EFI build looks for it.
pub(crate) const AUTOEXEC_PATH: &str = "autoexec.ipxe";
pub(crate) const MANIFEST_PATH: &str = "mkstick/manifest.json";
/// On the secrets volume: the SHA-256 of each other file there, in
/// `sha256sum` form. Kept off the ESP, where a hash would let anyone confirm
/// a guessed secret.
pub(crate) const SECRETS_DIGESTS_PATH: &str = "mkstick.sha256";
/// The embedded Ignition config, as an extra initrd on the ESP.
pub(crate) const OEM_CPIO_PATH: &str = "mkstick/oem.cpio";
/// The name iPXE gives that initrd (and `initrd=` on the kernel command line).
pub(crate) const OEM_CPIO_NAME: &str = "oem.cpio";
/// Where the config sits inside `oem.cpio`.
pub(crate) const OEM_CONFIG: &str = "usr/share/oem/config.ign";

/// Where UEFI firmware looks on removable media.
pub(crate) fn boot_path(arch: Arch) -> &'static str {
    match arch {
        Arch::Amd64 => "EFI/BOOT/BOOTX64.EFI",
        Arch::Arm64 => "EFI/BOOT/BOOTAA64.EFI",
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PartKind {
    Esp,
    Secrets,
}

impl PartKind {
    pub fn gpt_type(self) -> gpt::partition_types::Type {
        match self {
            PartKind::Esp => gpt::partition_types::EFI,
            // Linux data rather than Microsoft basic data: Windows does not
            // mount it (and show the secrets) when the stick is plugged in.
            PartKind::Secrets => gpt::partition_types::LINUX_FS,
        }
    }
}
