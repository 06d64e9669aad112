//! Stage 2, pure: a [`spec::StickSpec`] → a validated [`Plan`], every byte of
//! the stick decided before any target is opened. No I/O and no printing:
//! warnings are returned in the plan for the command to show.

pub(crate) mod bootscript;
pub(crate) mod cpio;
pub(crate) mod manifest;
pub(crate) mod spec;

use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::k3s::release_file::{OnEsp, ReleaseFile, esp_airgap_path, esp_binary_path};
use crate::mirror::Release;
use crate::model::Sha256Digest;
use crate::model::component::ComponentId;
use crate::model::content::{Chunk, HostFile};
use crate::model::fat::{DosTime, FatKind};
use crate::model::flatcar::{INITRD, KERNEL, VersionSpec};
use crate::model::stick::{
    AUTOEXEC_PATH, ESP_LABEL, ESP_NAME, MANIFEST_PATH, MIB, OEM_CONFIG, OEM_CPIO_PATH, PartKind,
    SECRETS_DIGESTS_PATH, SECRETS_LABEL, SECRETS_NAME, boot_path,
};
use crate::secrets;
use bootscript::{BootSettings, IgnitionSource};
use manifest::K3sEntry;
use spec::{IgnitionSpec, K3sSpec, StickSpec};

/// GPT needs 33 sectors at the end for its backup; we keep a whole MiB.
const TAIL: u64 = MIB;

#[derive(Clone, Debug, serde::Serialize)]
pub struct PartitionSpec {
    pub name: String,
    pub kind: PartKind,
    pub start_bytes: u64,
    pub size_bytes: u64,
    pub guid: Uuid,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DiskLayout {
    pub disk_bytes: u64,
    pub disk_guid: Uuid,
    pub esp: PartitionSpec,
    pub secrets: PartitionSpec,
}

impl DiskLayout {
    pub fn partitions(&self) -> [&PartitionSpec; 2] {
        [&self.esp, &self.secrets]
    }

    /// Bytes the layout needs: both partitions, 1 MiB aligned, plus the GPT tail.
    pub fn min_bytes(esp_mib: u64, secrets_mib: u64) -> u64 {
        MIB + (esp_mib + secrets_mib) * MIB + TAIL
    }
}

/// A file the plan puts on a volume, with its hash for the manifest and read-back.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PlannedFile {
    pub path: String,
    pub size: u64,
    pub sha256: Sha256Digest,
    #[serde(skip)]
    pub content: Chunk,
}

impl PlannedFile {
    /// A file streamed from the host at write time, hashed when it was verified.
    pub fn from_host(path: &str, f: &crate::mirror::VerifiedFile) -> Self {
        PlannedFile {
            path: path.to_string(),
            size: f.size,
            sha256: f.sha256,
            content: Chunk::File(HostFile {
                path: f.path.clone(),
                len: f.size,
                sha256: f.sha256,
            }),
        }
    }

    pub fn new(path: &str, bytes: Vec<u8>) -> Self {
        PlannedFile {
            path: path.to_string(),
            size: bytes.len() as u64,
            sha256: Sha256Digest::of(&bytes),
            content: Chunk::Bytes(Arc::from(bytes)),
        }
    }
}

/// A FAT volume: how to format it and what goes on it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VolumePlan {
    pub label: String,
    pub kind: FatKind,
    pub volume_id: u32,
    pub files: Vec<PlannedFile>,
    #[serde(skip)]
    pub time: DosTime,
}

/// A component of the node and whether the stick turns it on.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ComponentStatus {
    pub name: String,
    pub file: String,
    pub enabled: bool,
    /// Key names only: values never leave the secrets volume.
    pub keys: Vec<String>,
}

/// Every decision about the stick, validated.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Plan {
    pub layout: DiskLayout,
    pub esp: VolumePlan,
    /// Shown without hashes (`--json`): see [`manifest`] for why.
    #[serde(serialize_with = "without_hashes")]
    pub secrets: VolumePlan,
    pub boot: BootSettings,
    pub components: Vec<ComponentStatus>,
    pub ipxe: Vec<IpxeSource>,
    /// The pinned k3s release, when the stick runs k3s.
    pub k3s: Option<K3sEntry>,
    pub source_date_epoch: Option<u64>,
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct IpxeSource {
    pub arch: crate::model::flatcar::Arch,
    pub path: String,
    pub from: String,
}

/// A volume as `--json` shows the secrets volume: names and sizes, no hashes.
fn without_hashes<S: serde::Serializer>(v: &VolumePlan, s: S) -> Result<S::Ok, S::Error> {
    #[derive(serde::Serialize)]
    struct File<'a> {
        path: &'a str,
        size: u64,
    }
    #[derive(serde::Serialize)]
    struct Volume<'a> {
        label: &'a str,
        kind: FatKind,
        volume_id: u32,
        files: Vec<File<'a>>,
    }
    serde::Serialize::serialize(
        &Volume {
            label: &v.label,
            kind: v.kind,
            volume_id: v.volume_id,
            files: v
                .files
                .iter()
                .map(|f| File {
                    path: &f.path,
                    size: f.size,
                })
                .collect(),
        },
        s,
    )
}

/// Serializes with `Display` (versions as "4593.2.5").
pub(crate) fn display<T: std::fmt::Display, S: serde::Serializer>(
    v: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl Plan {
    pub fn build(spec: &StickSpec) -> Result<Plan> {
        let mut warnings = Vec::new();
        let sizes = &spec.sizes;
        ensure!(
            (3..=1024).contains(&sizes.secrets_mib),
            "--secrets-size {} MiB: the secrets volume is FAT16, which needs 3 to 1024 MiB",
            sizes.secrets_mib
        );
        // Without SOURCE_DATE_EPOCH the FAT epoch: the same inputs always give
        // the same image.
        let time = spec
            .source_date_epoch
            .map_or(DosTime::EPOCH, DosTime::from_unix);
        let secrets = &spec.secrets;
        warnings.extend(secrets.disabled.iter().map(|c| {
            let keys: Vec<&str> = c.keys.iter().map(|k| k.name.as_str()).collect();
            format!(
                "{} is off: none of its keys ({}) were given",
                c.name,
                keys.join(", ")
            )
        }));

        let esp_mib = esp_size(sizes.esp_mib, offline_bytes(spec))?;
        let disk_bytes = disk_bytes(sizes, esp_mib)?;
        let (boot, oem) = boot(spec, &mut warnings)?;
        let esp_files = esp_files(spec, &boot, oem);
        let mut secret_files: Vec<PlannedFile> = secrets
            .files()
            .into_iter()
            .map(|(name, body)| PlannedFile::new(name, body))
            .collect();
        secret_files.extend(
            secrets
                .extra
                .iter()
                .map(|(path, body)| PlannedFile::new(path, body.expose().as_bytes().to_vec())),
        );
        let k3s = spec.k3s.as_ref().map(release_file);
        if let Some(file) = &k3s {
            secret_files.push(PlannedFile::new(
                crate::k3s::release_file::FILE_NAME,
                file.render()?.into_bytes(),
            ));
        }
        let digests = manifest::secrets_digests(&secret_files);
        secret_files.push(PlannedFile::new(SECRETS_DIGESTS_PATH, digests));
        let components = components(secrets);
        let (layout, ids) = identity(&esp_files, &components, sizes, esp_mib, disk_bytes);
        let mut plan = Plan {
            layout,
            esp: VolumePlan {
                label: ESP_LABEL.into(),
                kind: FatKind::Fat32,
                volume_id: ids.esp,
                files: esp_files,
                time,
            },
            secrets: VolumePlan {
                label: SECRETS_LABEL.into(),
                kind: FatKind::Fat16,
                volume_id: ids.secrets,
                files: secret_files,
                time,
            },
            boot,
            components,
            ipxe: spec
                .ipxe
                .iter()
                .map(|b| IpxeSource {
                    arch: b.arch,
                    path: boot_path(b.arch).into(),
                    from: b.source.display().to_string(),
                })
                .collect(),
            k3s: k3s.as_ref().map(K3sEntry::of),
            source_date_epoch: spec.source_date_epoch,
            warnings,
        };
        let manifest = manifest::Manifest::of(&plan);
        plan.esp
            .files
            .push(PlannedFile::new(MANIFEST_PATH, manifest.to_bytes()));
        Ok(plan)
    }
}

/// FAT volume ids, derived like the GUIDs.
struct VolumeIds {
    esp: u32,
    secrets: u32,
}

/// The boot settings (checked) and the embedded Ignition archive, if any.
fn boot(spec: &StickSpec, warnings: &mut Vec<String>) -> Result<(BootSettings, Option<Vec<u8>>)> {
    // Offline: the release on the stick decides the version (the online
    // fallback boots the same one).
    let offline = spec.offline.as_ref();
    let version = match offline {
        Some(r) => VersionSpec::Exact(r.version.clone()),
        None => spec.flatcar.version.clone(),
    };
    if version == VersionSpec::Current {
        warnings.push(
            "--flatcar-version current: nodes boot whatever is current at boot time; pin a version \
             for reproducible boots"
                .into(),
        );
    }
    let flatcar = &spec.flatcar;
    check_flatcar(flatcar)?;
    check_hostname(spec)?;
    if spec.ssh_key.is_none() {
        warnings.push(
            "no --ssh-key / SSH_KEY_PATH: no SSH access unless the Ignition config adds keys"
                .into(),
        );
    }
    let (ignition, oem) = ignition(spec, &version)?;
    let boot = BootSettings {
        channel: flatcar.channel,
        version,
        arch: flatcar.arch,
        base_url: flatcar.base_url.clone(),
        kernel_args: bootscript::kernel_args(
            &flatcar.consoles,
            spec.ssh_key.as_deref(),
            spec.hostname.as_deref(),
            &ignition,
        ),
        ignition,
        offline_dir: offline.map(offline_dir),
    };
    bootscript::check_command_line(&boot.kernel_args)?;
    Ok((boot, oem))
}

/// The disk layout with its GUIDs, and the volume ids.
fn identity(
    esp_files: &[PlannedFile],
    components: &[ComponentStatus],
    sizes: &spec::Sizes,
    esp_mib: u64,
    disk_bytes: u64,
) -> (DiskLayout, VolumeIds) {
    // Identity (GUIDs, volume ids) derives from public inputs only: a GUID
    // is visible to anyone, so it must not be a hash of a secret.
    let seed = identity_seed(
        esp_files,
        components,
        esp_mib,
        sizes.secrets_mib,
        disk_bytes,
    );
    let id = |what: &str| Uuid::new_v5(&MKSTICK_NAMESPACE, format!("{seed}/{what}").as_bytes());
    let volume_id = |what: &str| {
        let b = id(what).into_bytes();
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    };
    let layout = DiskLayout {
        disk_bytes,
        disk_guid: id("disk"),
        esp: partition(ESP_NAME, PartKind::Esp, MIB, esp_mib, id("esp")),
        secrets: partition(
            SECRETS_NAME,
            PartKind::Secrets,
            MIB + esp_mib * MIB,
            sizes.secrets_mib,
            id("secrets"),
        ),
    };
    let ids = VolumeIds {
        esp: volume_id("esp-volume"),
        secrets: volume_id("secrets-volume"),
    };
    (layout, ids)
}

fn partition(name: &str, kind: PartKind, start_bytes: u64, mib: u64, guid: Uuid) -> PartitionSpec {
    PartitionSpec {
        name: name.into(),
        kind,
        start_bytes,
        size_bytes: mib * MIB,
        guid,
    }
}

/// The disk's size: the device's, or (an image file) just what the layout needs.
fn disk_bytes(sizes: &spec::Sizes, esp_mib: u64) -> Result<u64> {
    let need = DiskLayout::min_bytes(esp_mib, sizes.secrets_mib);
    match sizes.disk_bytes {
        None => Ok(need),
        Some(have) if have >= need => Ok(have),
        Some(have) => bail!(
            "the device holds {} MiB but the stick needs {} MiB; use a larger stick or smaller --esp-size",
            have / MIB,
            need.div_ceil(MIB)
        ),
    }
}

/// Values that end up on script lines: valid, and inert to iPXE.
fn check_flatcar(flatcar: &spec::FlatcarSpec) -> Result<()> {
    ensure!(
        !flatcar.consoles.trim().is_empty(),
        "--console is empty: give at least one kernel console, such as ttyS0,115200n8 or tty0"
    );
    for c in flatcar.consoles.split_whitespace() {
        bootscript::check_console(c)?;
    }
    Ok(())
}

/// The host name's form, and the FQDN Namecheap DDNS needs.
fn check_hostname(spec: &StickSpec) -> Result<()> {
    let hostname = spec.hostname.as_deref();
    if let Some(h) = hostname {
        secrets::format::check_hostname(h)
            .with_context(|| format!("--hostname / NODE_HOSTNAME {h:?}"))?;
    }
    if spec.secrets.is_enabled(ComponentId::NamecheapDdns) {
        match hostname {
            Some(h) if h.trim_end_matches('.').split('.').count() >= 3 => {}
            _ => bail!(
                "Namecheap DDNS updates HOST.DOMAIN.TLD from the node's name: set --hostname / \
                 NODE_HOSTNAME to a FQDN like node1.example.com"
            ),
        }
    }
    Ok(())
}

/// Ignition: a URL, or a config embedded as an initrd (the archive returned).
fn ignition(spec: &StickSpec, version: &VersionSpec) -> Result<(IgnitionSource, Option<Vec<u8>>)> {
    match &spec.ignition {
        // Checked when parsed (`ConfigUrl`): script-safe, a scheme Ignition fetches.
        IgnitionSpec::Url(url) => Ok((IgnitionSource::Url(url.clone()), None)),
        IgnitionSpec::Embedded { config, .. } => {
            bootscript::check_embedded_ignition(version, spec.flatcar.channel)?;
            let archive = cpio::archive(&[(OEM_CONFIG, 0o600, config)]);
            let sha = hex::encode(Sha256::digest(config));
            Ok((IgnitionSource::Embedded(sha), Some(archive)))
        }
    }
}

/// The ESP's files, in write order (the manifest is added last, by the caller).
fn esp_files(spec: &StickSpec, boot: &BootSettings, oem: Option<Vec<u8>>) -> Vec<PlannedFile> {
    let mut files: Vec<PlannedFile> = spec
        .ipxe
        .iter()
        .map(|b| PlannedFile::new(boot_path(b.arch), b.bytes.to_vec()))
        .collect();
    files.push(PlannedFile::new(
        AUTOEXEC_PATH,
        bootscript::render(boot).into_bytes(),
    ));
    if let Some(cpio) = oem {
        files.push(PlannedFile::new(OEM_CPIO_PATH, cpio));
    }
    if let Some(r) = &spec.offline {
        let dir = offline_dir(r);
        for (name, f) in [(KERNEL, &r.kernel), (INITRD, &r.initrd)] {
            files.push(PlannedFile::from_host(&format!("{dir}/{name}"), f));
        }
    }
    // The k3s files were checked against the pin in the mirror; the read-back
    // after writing checks the stick's copies against the same hashes.
    let carried = spec.k3s.as_ref().and_then(|k| k.carried.as_ref());
    for f in carried.iter().flat_map(|r| &r.binaries) {
        files.push(PlannedFile::from_host(&esp_binary_path(f.arch), &f.binary));
        if let Some(airgap) = &f.airgap {
            files.push(PlannedFile::from_host(&esp_airgap_path(f.arch), airgap));
        }
    }
    files
}

/// What `k3s_release` says: the pin, and which files the ESP carries.
fn release_file(k3s: &K3sSpec) -> ReleaseFile {
    let on_esp = k3s.carried.iter().flat_map(|r| &r.binaries);
    ReleaseFile {
        pin: k3s.pin.clone(),
        on_esp: on_esp
            .map(|f| OnEsp {
                arch: f.arch,
                airgap: f.airgap.as_ref().map(|a| a.sha256),
            })
            .collect(),
    }
}

/// Bytes of the releases `--offline` carries (Flatcar, k3s), if any.
fn offline_bytes(spec: &StickSpec) -> Option<u64> {
    let flatcar = spec.offline.as_ref().map(|r| r.kernel.size + r.initrd.size);
    let carried = spec.k3s.as_ref().and_then(|k| k.carried.as_ref());
    let k3s = carried.map(|r| {
        r.binaries
            .iter()
            .map(|f| f.binary.size + f.airgap.as_ref().map_or(0, |a| a.size))
            .sum::<u64>()
    });
    match (flatcar, k3s) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}

/// Every component of the schema, on when the secrets give any of its keys.
fn components(secrets: &secrets::SecretsVolume) -> Vec<ComponentStatus> {
    secrets::schema::schema()
        .components
        .iter()
        .map(|c| {
            let keys: Vec<String> = secrets
                .enabled
                .iter()
                .filter(|e| e.component.name == c.name)
                .flat_map(|e| e.values.iter().map(|(k, _)| k.clone()))
                .collect();
            ComponentStatus {
                name: c.name.clone(),
                file: c.file.clone(),
                enabled: !keys.is_empty(),
                keys,
            }
        })
        .collect()
}

/// Where an offline release sits on the ESP.
fn offline_dir(r: &Release) -> String {
    format!("flatcar/{}/{}", r.arch, r.version)
}

/// The ESP size in MiB: as asked, or 256 MiB, or (offline) room for the
/// releases twice over (a second version can be added before the first goes).
fn esp_size(asked: Option<u64>, offline_bytes: Option<u64>) -> Result<u64> {
    let need = offline_bytes.map(|bytes| (2 * bytes).div_ceil(MIB) + 64);
    let mib = match (asked, need) {
        (Some(mib), Some(need)) if mib < need => bail!(
            "--esp-size {mib} MiB cannot hold the offline release: it needs {need} MiB (two versions' room)"
        ),
        (Some(mib), _) => mib,
        (None, Some(need)) => need.max(256),
        (None, None) => 256,
    };
    ensure!(
        (33..=65_536).contains(&mib),
        "--esp-size {mib} MiB: the ESP is FAT32, which needs 33 to 65536 MiB"
    );
    Ok(mib)
}

/// Namespace for mkstick's v5 UUIDs.
const MKSTICK_NAMESPACE: Uuid = Uuid::from_u128(0x6d6b_7374_6963_4b00_9a1e_0c5e_ed5f_1a57);

fn identity_seed(
    esp: &[PlannedFile],
    components: &[ComponentStatus],
    esp_mib: u64,
    secrets_mib: u64,
    disk_bytes: u64,
) -> String {
    let mut h = Sha256::new();
    for f in esp {
        h.update(f.path.as_bytes());
        h.update(f.sha256.to_string().as_bytes());
    }
    for c in components {
        h.update(c.keys.join(",").as_bytes());
    }
    h.update(format!("{esp_mib}/{secrets_mib}/{disk_bytes}").as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::spec::{ConfigOrigin, FlatcarSpec, IpxeBinary, Sizes};
    use super::*;
    use crate::model::flatcar::{Arch, ArchChoice, Channel};
    use crate::secrets::{Input, Inputs, Origin, Secret, SecretsVolume};

    const IGN: &[u8] = br#"{"ignition":{"version":"3.3.0"}}"#;

    fn secrets(vars: &[(&str, &str)]) -> SecretsVolume {
        let inputs = Inputs {
            flags: vars
                .iter()
                .map(|(k, v)| Input {
                    key: (*k).into(),
                    value: Secret::new(*v),
                    origin: Origin::Flag("--test".into()),
                })
                .collect(),
            ..Default::default()
        };
        SecretsVolume::from_inputs(&inputs).unwrap()
    }

    /// A spec as `resolve` would make it, entirely in memory.
    fn spec(vars: &[(&str, &str)]) -> StickSpec {
        StickSpec {
            flatcar: FlatcarSpec {
                channel: Channel::Stable,
                version: "4593.2.5".parse().unwrap(),
                arch: ArchChoice::Amd64,
                base_url: crate::model::BaseUrl::default(),
                consoles: "ttyS0,115200n8".into(),
            },
            ignition: IgnitionSpec::Embedded {
                config: IGN.to_vec(),
                origin: ConfigOrigin::User,
            },
            ssh_key: None,
            hostname: None,
            secrets: secrets(vars),
            offline: None,
            k3s: None,
            ipxe: vec![IpxeBinary {
                arch: Arch::Amd64,
                source: "/usr/lib/ipxe/ipxe-amd64.efi".into(),
                bytes: Arc::from(&b"MZ autoexec.ipxe"[..]),
            }],
            sizes: Sizes {
                esp_mib: None,
                secrets_mib: 16,
                disk_bytes: None,
            },
            source_date_epoch: None,
        }
    }

    #[test]
    fn plan_is_deterministic_and_lays_out_the_stick() {
        let s = spec(&[("K3S_TOKEN", "t")]);
        let p1 = Plan::build(&s).unwrap();
        let p2 = Plan::build(&s).unwrap();
        assert_eq!(p1.layout.disk_guid, p2.layout.disk_guid);
        assert_eq!(p1.layout.esp.start_bytes, MIB);
        assert_eq!(p1.layout.secrets.start_bytes, 257 * MIB);
        assert_eq!(p1.layout.disk_bytes, 274 * MIB);
        let paths: Vec<&str> = p1.esp.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "EFI/BOOT/BOOTX64.EFI",
                "autoexec.ipxe",
                "mkstick/oem.cpio",
                "mkstick/manifest.json"
            ]
        );
        assert!(p1.components[0].enabled);
    }

    #[test]
    fn secrets_do_not_change_public_identity() {
        let p1 = Plan::build(&spec(&[("K3S_TOKEN", "one")])).unwrap();
        let p2 = Plan::build(&spec(&[("K3S_TOKEN", "two")])).unwrap();
        assert_eq!(p1.layout.disk_guid, p2.layout.disk_guid);
    }

    #[test]
    fn bad_inputs_are_rejected_before_anything_is_written() {
        let with = |f: &dyn Fn(&mut StickSpec)| {
            let mut s = spec(&[]);
            f(&mut s);
            s
        };
        let cases: Vec<(StickSpec, &str)> = vec![
            (with(&|s| s.sizes.esp_mib = Some(32)), "--esp-size"),
            (with(&|s| s.sizes.secrets_mib = 2), "--secrets-size"),
            (
                with(&|s| s.flatcar.version = "4000.0.0".parse().unwrap()),
                "cannot read an embedded",
            ),
            (
                with(&|s| s.hostname = Some("bad_name".into())),
                "NODE_HOSTNAME",
            ),
            (
                with(&|s| s.flatcar.consoles = "tty0 ${x}".into()),
                "--console",
            ),
            (
                with(&|s| s.sizes.disk_bytes = Some(100 * MIB)),
                "the device holds 100 MiB",
            ),
        ];
        for (bad, want) in cases {
            let err = Plan::build(&bad).unwrap_err();
            assert!(
                format!("{err:#}").contains(want),
                "want {want:?} in {err:#}"
            );
        }
    }

    #[test]
    fn warnings_are_returned_not_printed() {
        let mut s = spec(&[]);
        s.flatcar.version = VersionSpec::Current;
        let w = Plan::build(&s).unwrap().warnings;
        assert!(w.iter().any(|w| w.contains("k3s is off")), "{w:?}");
        assert!(w.iter().any(|w| w.contains("--flatcar-version current")));
        assert!(w.iter().any(|w| w.contains("no --ssh-key")));
        s.ssh_key = Some("ssh-ed25519 AAAA k".into());
        let w = Plan::build(&s).unwrap().warnings;
        assert!(!w.iter().any(|w| w.contains("no --ssh-key")));
    }

    fn pinned(carried: Option<crate::mirror::k3s::K3sRelease>) -> K3sSpec {
        K3sSpec {
            pin: crate::k3s::K3sPin {
                version: "v1.31.4+k3s1".parse().unwrap(),
                binaries: vec![crate::k3s::PinnedBinary {
                    arch: Arch::Amd64,
                    url: "https://h/v1.31.4%2Bk3s1/k3s".parse().unwrap(),
                    sha256: Sha256Digest::of(b"k3s"),
                }],
            },
            carried,
        }
    }

    fn bytes_of(f: &PlannedFile) -> String {
        match &f.content {
            Chunk::Bytes(b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("{} is {other:?}", f.path),
        }
    }

    #[test]
    fn a_k3s_stick_carries_its_pin_on_the_secrets_volume() {
        let mut s = spec(&[("K3S_TOKEN", "t")]);
        s.k3s = Some(pinned(None));
        let p = Plan::build(&s).unwrap();
        let file = p.secrets.files.iter().find(|f| f.path == "k3s_release");
        let text = bytes_of(file.expect("k3s_release on the secrets volume"));
        let read = ReleaseFile::parse(&text, "k3s_release").unwrap();
        assert_eq!(read.pin, pinned(None).pin);
        assert!(read.on_esp.is_empty());
        let entry = p.k3s.as_ref().unwrap();
        assert_eq!(entry.version, "v1.31.4+k3s1");
        assert_eq!(entry.binaries[0].sha256, Sha256Digest::of(b"k3s"));
        let manifest = p.esp.files.iter().find(|f| f.path == MANIFEST_PATH);
        let manifest = manifest::Manifest::parse(bytes_of(manifest.unwrap()).as_bytes()).unwrap();
        assert_eq!(manifest.k3s.as_ref(), Some(entry));
        assert!(
            manifest
                .secrets_files
                .iter()
                .any(|f| f.path == "k3s_release")
        );

        let p = Plan::build(&spec(&[])).unwrap();
        assert!(p.k3s.is_none());
        assert!(!p.secrets.files.iter().any(|f| f.path == "k3s_release"));
    }

    #[test]
    fn carried_k3s_files_go_on_the_esp_and_grow_it() {
        use crate::mirror::VerifiedFile;
        use crate::mirror::k3s::{K3sFiles, K3sRelease};
        let file = |name: &str, size: u64| VerifiedFile {
            path: format!("/mirror/k3s/v1.31.4+k3s1/{name}").into(),
            size,
            sha256: Sha256Digest::of(name.as_bytes()),
        };
        let carried = K3sRelease {
            tag: "v1.31.4+k3s1".parse().unwrap(),
            dir: "/mirror/k3s/v1.31.4+k3s1".into(),
            binaries: vec![K3sFiles {
                arch: Arch::Amd64,
                binary: file("k3s", 70 * MIB),
                airgap: Some(file("k3s-airgap-images-amd64.tar.zst", 130 * MIB)),
            }],
        };
        let mut s = spec(&[("K3S_TOKEN", "t")]);
        s.k3s = Some(pinned(Some(carried)));
        let p = Plan::build(&s).unwrap();
        let on_esp: Vec<(&str, u64)> = p
            .esp
            .files
            .iter()
            .filter(|f| f.path.starts_with("mkstick/k3s/"))
            .map(|f| (f.path.as_str(), f.size))
            .collect();
        assert_eq!(
            on_esp,
            [
                ("mkstick/k3s/k3s-amd64", 70 * MIB),
                ("mkstick/k3s/k3s-airgap-images-amd64.tar.zst", 130 * MIB)
            ]
        );
        // Room for the k3s files twice over, as for an offline Flatcar.
        assert_eq!(p.layout.esp.size_bytes, (400 + 64) * MIB);
        let text = bytes_of(
            p.secrets
                .files
                .iter()
                .find(|f| f.path == "k3s_release")
                .unwrap(),
        );
        assert!(text.contains("K3S_RELEASE_AMD64_FILE=mkstick/k3s/k3s-amd64\n"));
        assert!(text.contains(
            "K3S_RELEASE_AMD64_AIRGAP_FILE=mkstick/k3s/k3s-airgap-images-amd64.tar.zst\n"
        ));
        let entry = &p.k3s.as_ref().unwrap().binaries[0];
        assert_eq!(entry.file.as_deref(), Some("mkstick/k3s/k3s-amd64"));
    }

    #[test]
    fn embedded_config_is_hashed_and_url_config_is_checked() {
        let p = Plan::build(&spec(&[])).unwrap();
        let want = hex::encode(Sha256::digest(IGN));
        assert_eq!(p.boot.ignition, IgnitionSource::Embedded(want));
        let mut s = spec(&[]);
        let url: crate::model::ConfigUrl = "https://example.com/n.ign".parse().unwrap();
        s.ignition = IgnitionSpec::Url(url.clone());
        let p = Plan::build(&s).unwrap();
        assert!(!p.esp.files.iter().any(|f| f.path == OEM_CPIO_PATH));
        assert_eq!(p.boot.ignition, IgnitionSource::Url(url));
        assert!(
            p.boot
                .kernel_args
                .contains(&"ignition.config.url=https://example.com/n.ign".to_string())
        );
    }

    #[test]
    fn ddns_needs_a_fqdn() {
        let mut s = spec(&[("NAMECHEAP_DDNS_PASS", "p")]);
        s.hostname = Some("node1".into());
        assert!(Plan::build(&s).is_err());
        s.hostname = Some("node1.example.com".into());
        assert!(Plan::build(&s).is_ok());
    }
}
