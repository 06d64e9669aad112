//! What the payload's /init must find, sent to it as `/mkstick/expect` in a
//! second cpio archive appended to the served initrd.

use anyhow::{Context, Result, ensure};

use super::stick::StickContents;
use crate::model::Sha256Digest;
use crate::plan::manifest::Manifest;

/// The env files the stick contract puts on the secrets volume, always.
pub(super) const SECRET_FILES: [&str; 4] = [
    "k3s_env",
    "logexport_env",
    "heartbeat_env",
    "namecheap_ddns_env",
];

/// Kernel arguments every boot script must pass (stick contract).
pub(super) const CONTRACT_ARGS: [&str; 3] = [
    "initrd=flatcar_production_pxe_image.cpio.gz",
    "flatcar.first_boot=1",
    "console=ttyS0,115200n8",
];
pub(super) const OEM_ARG: &str = "initrd=oem.cpio";

/// A file the secrets volume must hold; `None`: present, content unknown
/// (the stick lacks it, so the guest will report it missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SecretFile {
    pub name: String,
    pub digest: Option<Sha256Digest>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Expectations {
    cmdline: Vec<String>,
    ignition: Option<Sha256Digest>,
    secrets: Vec<SecretFile>,
    secrets_wait_secs: u32,
}

impl Expectations {
    /// Expectations for `cmdline` arguments, an embedded Ignition config and
    /// secrets files. Arguments go one per line, so none may hold a newline.
    pub(super) fn new(
        cmdline: Vec<String>,
        ignition: Option<Sha256Digest>,
        secrets: Vec<SecretFile>,
    ) -> Result<Self> {
        for arg in &cmdline {
            ensure!(
                !arg.is_empty() && !arg.contains(['\n', '\r']),
                "kernel argument {arg:?} cannot be checked"
            );
        }
        for file in &secrets {
            // A path under the volume (a cluster server's k3s-tls/…), never
            // out of it: no empty, `.` or `..` component.
            ensure!(
                !file.name.contains(['\n', '\r', ' '])
                    && file
                        .name
                        .split('/')
                        .all(|c| !c.is_empty() && c != "." && c != ".."),
                "secrets file name {:?} cannot be checked",
                file.name
            );
        }
        Ok(Self {
            cmdline,
            ignition,
            secrets,
            secrets_wait_secs: 20,
        })
    }

    /// What a node booted from this stick must see. A stick written by
    /// mkstick says so in its manifest; without one, the stick contract and
    /// the stick's own files stand in.
    pub(super) fn for_stick(stick: &StickContents) -> Result<Self> {
        match &stick.manifest {
            Some(bytes) => Self::from_manifest(&Manifest::parse(bytes)?, stick),
            None => Self::from_contract(stick),
        }
    }

    /// Everything the writer recorded: its kernel arguments, the embedded
    /// Ignition config's hash and every secrets file with its hash.
    /// Secrets files without a hash in the manifest (all since the hashes
    /// moved to the secrets volume) are expected as the stick holds them.
    pub(super) fn from_manifest(manifest: &Manifest, stick: &StickContents) -> Result<Self> {
        let ignition = match manifest.ignition.strip_prefix("embedded sha256:") {
            Some(hex) => Some(
                hex.parse::<Sha256Digest>()
                    .context("the manifest's ignition entry")?,
            ),
            None => None,
        };
        // The digest file is mkstick's, not one the node's units read.
        let secrets = manifest
            .secrets_files
            .iter()
            .filter(|f| f.path != crate::model::stick::SECRETS_DIGESTS_PATH)
            .map(|f| {
                let name = f.path.trim_start_matches('/').to_string();
                let on_stick = stick
                    .secrets
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, data)| Sha256Digest::of(data));
                Ok(SecretFile {
                    digest: f.sha256.or(on_stick),
                    name,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Self::new(manifest.kernel_args.clone(), ignition, secrets)
    }

    /// The contract's kernel arguments, the stick's own Ignition config and
    /// secrets files (all four contract files, whether or not it has them).
    pub(super) fn from_contract(stick: &StickContents) -> Result<Self> {
        let mut cmdline: Vec<String> = CONTRACT_ARGS.iter().map(|a| a.to_string()).collect();
        if stick.oem_config.is_some() {
            cmdline.push(OEM_ARG.to_string());
        }
        let on_stick = stick.secrets.as_deref().unwrap_or_default();
        let secrets = SECRET_FILES
            .iter()
            .map(|name| SecretFile {
                name: name.to_string(),
                digest: on_stick
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, data)| Sha256Digest::of(data)),
            })
            .collect();
        Self::new(
            cmdline,
            stick.oem_config.as_deref().map(Sha256Digest::of),
            secrets,
        )
    }

    /// The `/mkstick/expect` text the payload's /init reads.
    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        for arg in &self.cmdline {
            out.push_str(&format!("cmdline {arg}\n"));
        }
        if let Some(digest) = self.ignition {
            out.push_str(&format!("ignition {digest}\n"));
        }
        for file in &self.secrets {
            match file.digest {
                Some(digest) => out.push_str(&format!("secret {} {digest}\n", file.name)),
                None => out.push_str(&format!("secret {} -\n", file.name)),
            }
        }
        out.push_str(&format!("secrets-wait {}\n", self.secrets_wait_secs));
        out
    }

    /// A newc archive holding `/mkstick/expect`.
    pub(super) fn to_cpio(&self) -> Vec<u8> {
        let text = self.render();
        crate::plan::cpio::archive(&[("mkstick/expect", 0o644, text.as_bytes())])
    }
}

/// The initrd served to the guest: the payload's base initramfs followed by
/// the expectations. Linux unpacks concatenated archives, but only looks for
/// an uncompressed one at a 4-byte boundary (zero padding is skipped).
pub(super) fn served_initrd(base: &[u8], expectations: &Expectations) -> Vec<u8> {
    let mut out = base.to_vec();
    out.resize(base.len().div_ceil(4) * 4, 0);
    out.extend_from_slice(&expectations.to_cpio());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stick(oem: Option<&[u8]>, secrets: Option<&[(&str, &[u8])]>) -> StickContents {
        StickContents {
            esp: true,
            manifest: None,
            oem_config: oem.map(<[u8]>::to_vec),
            secrets: secrets.map(|s| s.iter().map(|(n, d)| (n.to_string(), d.to_vec())).collect()),
        }
    }

    #[test]
    fn full_stick_expects_everything_it_carries() {
        let files: Vec<(&str, &[u8])> = SECRET_FILES
            .iter()
            .map(|n| (*n, b"K=\"v\"\n" as &[u8]))
            .collect();
        let e = Expectations::for_stick(&stick(Some(b"{}"), Some(&files))).unwrap();
        let text = e.render();
        assert!(text.starts_with(
            "cmdline initrd=flatcar_production_pxe_image.cpio.gz\ncmdline flatcar.first_boot=1\n\
             cmdline console=ttyS0,115200n8\ncmdline initrd=oem.cpio\n"
        ));
        // sha256("{}")
        assert!(text.contains(
            "ignition 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\n"
        ));
        let digest = Sha256Digest::of(b"K=\"v\"\n");
        for name in SECRET_FILES {
            assert!(
                text.contains(&format!("secret {name} {digest}\n")),
                "{text}"
            );
        }
        assert!(text.ends_with("secrets-wait 20\n"));
    }

    #[test]
    fn missing_pieces_are_still_expected() {
        let e = Expectations::for_stick(&stick(None, Some(&[("k3s_env", b"")]))).unwrap();
        let text = e.render();
        assert!(!text.contains("initrd=oem.cpio") && !text.contains("ignition "));
        assert!(text.contains(
            "secret k3s_env e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        ));
        assert!(text.contains("secret heartbeat_env -\n"));
        let none = Expectations::for_stick(&stick(None, None))
            .unwrap()
            .render();
        assert_eq!(none.matches(" -\n").count(), 4);
    }

    #[test]
    fn refuses_what_the_line_format_cannot_carry() {
        assert!(Expectations::new(vec!["a\nb".into()], None, vec![]).is_err());
        let secret = |name: &str| {
            Expectations::new(
                vec![],
                None,
                vec![SecretFile {
                    name: name.into(),
                    digest: None,
                }],
            )
        };
        for bad in ["", "a b", "../a", "a/../../b", "a//b", "/a", "./a"] {
            assert!(secret(bad).is_err(), "{bad:?}");
        }
        // A cluster server's CA files live in a directory of the volume.
        assert!(secret("k3s-tls/etcd/peer-ca.key").is_ok());
    }

    #[test]
    fn served_initrd_aligns_the_appended_archive() {
        let e = Expectations::new(vec!["x=1".into()], None, vec![]).unwrap();
        let served = served_initrd(b"\x1f\x8b\x08", &e);
        assert_eq!(&served[..4], b"\x1f\x8b\x08\0");
        assert_eq!(&served[4..10], b"070701");
        assert_eq!(
            crate::plan::cpio::find_file(&served[4..], "mkstick/expect")
                .unwrap()
                .unwrap(),
            e.render().as_bytes()
        );
    }
}
