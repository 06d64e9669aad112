//! The one bounded read of a user-named input file. mkstick runs as root, so
//! a path may name a disk, a FIFO or a huge file: only regular files are read
//! (a FIFO is refused before it can block), and never past the input's cap.

use std::path::Path;

use anyhow::Result;

use crate::ignite::input::{self, ReadError};

/// What an input is: it decides the cap and names the input in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InputKind {
    SshKey,
    SecretsFile,
    IgnitionConfig,
    IpxeBinary,
}

impl InputKind {
    /// The largest file accepted. Caps sit far above real inputs (an RSA-16384
    /// public key is under 3 KiB; iPXE EFI builds are about 1 MiB; the ESP
    /// holds the Ignition config) and far below what could exhaust memory.
    pub(crate) fn cap(self) -> u64 {
        match self {
            InputKind::SshKey => 64 << 10,
            InputKind::SecretsFile => 1 << 20,
            InputKind::IgnitionConfig => input::MAX_CONFIG_BYTES,
            InputKind::IpxeBinary => 16 << 20,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            InputKind::SshKey => "SSH public key (--ssh-key / SSH_KEY_PATH)",
            InputKind::SecretsFile => "--secrets file",
            InputKind::IgnitionConfig => "Ignition config (--ignition)",
            InputKind::IpxeBinary => "iPXE binary",
        }
    }
}

/// Reads `path` as `kind`, or fails naming the input, the path and why.
pub(crate) fn read(path: &Path, kind: InputKind) -> Result<Vec<u8>> {
    input::read_regular(path, kind.cap()).map_err(|e| {
        let hint = match &e {
            ReadError::NotRegular(_) => "; give a regular file",
            ReadError::TooLarge { .. } | ReadError::Io(_) => "",
        };
        anyhow::anyhow!("reading {} {}: {e}{hint}", kind.name(), path.display())
    })
}

/// As [`read`], for text inputs.
pub(crate) fn read_text(path: &Path, kind: InputKind) -> Result<String> {
    String::from_utf8(read(path, kind)?).map_err(|e| {
        anyhow::anyhow!(
            "{} {} is not UTF-8 text (invalid byte at offset {})",
            kind.name(),
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_cap_fails_naming_input_and_limit() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("key.pub");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(InputKind::SshKey.cap() + 1).unwrap();
        let err = format!("{:#}", read(&p, InputKind::SshKey).unwrap_err());
        assert!(
            err.contains("SSH public key") && err.contains("65536 bytes"),
            "{err}"
        );
        f.set_len(InputKind::SshKey.cap()).unwrap();
        assert_eq!(
            read(&p, InputKind::SshKey).unwrap().len() as u64,
            InputKind::SshKey.cap()
        );
    }

    #[test]
    fn directories_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let err = format!("{:#}", read(d.path(), InputKind::SecretsFile).unwrap_err());
        assert!(err.contains("a directory, not a regular file"), "{err}");
    }
}
