//! Inputs → a validated [`Plan`]: every byte of the stick, decided before any
//! target is opened. All user errors surface here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::assets::ipxe::{self, Arch, IpxeBinary};
use crate::bootscript::{self, BootSettings, IgnitionSource};
use crate::cli::WriteArgs;
use crate::image::extent::Chunk;
use crate::image::fat::{DosTime, FatKind, FatParams, VolumeLabel};
use crate::mirror::layout::VersionSpec;
use crate::secrets::{self, Input, Inputs, Origin, Secret, SecretsVolume};
use crate::{cpio, manifest, sshkey};

pub const MIB: u64 = 1 << 20;
pub const ESP_LABEL: &str = "MKSTICK";
pub const SECRETS_LABEL: &str = "SECRETS";
pub const ESP_NAME: &str = "esp";
pub const SECRETS_NAME: &str = "secrets";
pub const MANIFEST_PATH: &str = "mkstick/manifest.json";
/// GPT needs 33 sectors at the end for its backup; we keep a whole MiB.
const TAIL: u64 = MIB;

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
    pub sha256: String,
    #[serde(skip)]
    pub content: Chunk,
}

impl PlannedFile {
    /// A file streamed from the host at write time, hashed when it was verified.
    pub fn from_host(path: &str, f: &crate::mirror::VerifiedFile) -> Self {
        PlannedFile {
            path: path.to_string(),
            size: f.size,
            sha256: f.sha256.to_string(),
            content: Chunk::File {
                path: f.path.clone(),
                len: f.size,
            },
        }
    }

    pub fn new(path: &str, bytes: Vec<u8>) -> Self {
        PlannedFile {
            path: path.to_string(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
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

impl VolumePlan {
    pub fn fat_params(&self, part: &PartitionSpec) -> Result<FatParams> {
        Ok(FatParams {
            kind: self.kind,
            total_sectors: part.size_bytes / 512,
            hidden_sectors: part.start_bytes / 512,
            label: VolumeLabel::new(&self.label)?,
            volume_id: self.volume_id,
            time: self.time,
        })
    }
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
    pub secrets: VolumePlan,
    pub boot: BootSettings,
    pub components: Vec<ComponentStatus>,
    pub ipxe: Vec<IpxeSource>,
    pub source_date_epoch: Option<u64>,
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct IpxeSource {
    pub arch: Arch,
    pub path: String,
    pub from: String,
}

/// What the plan reads from outside the arguments, injectable for tests.
pub struct Environment {
    pub vars: Vec<(String, String)>,
    /// `None` for an image file (sized to fit); a device's size otherwise.
    pub disk_bytes: Option<u64>,
}

impl Environment {
    pub fn current(disk_bytes: Option<u64>) -> Self {
        Environment {
            vars: std::env::vars().collect(),
            disk_bytes,
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// mkstick's download cache: `$XDG_CACHE_HOME/mkstick`, else `~/.cache/mkstick`.
    pub fn cache_dir(&self) -> Result<PathBuf> {
        match (self.var("XDG_CACHE_HOME"), self.var("HOME")) {
            (Some(xdg), _) if !xdg.is_empty() => Ok(PathBuf::from(xdg).join("mkstick")),
            (_, Some(home)) if !home.is_empty() => Ok(PathBuf::from(home).join(".cache/mkstick")),
            _ => bail!(
                "neither XDG_CACHE_HOME nor HOME is set: no place for mkstick's download cache"
            ),
        }
    }
}

/// Serializes with `Display` (versions as "4593.2.5").
pub fn display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl Plan {
    pub fn build(args: &WriteArgs, env: &Environment) -> Result<Plan> {
        let mut warnings = Vec::new();

        ensure!(
            (3..=1024).contains(&args.secrets_size),
            "--secrets-size {} MiB: the secrets volume is FAT16, which needs 3 to 1024 MiB",
            args.secrets_size
        );

        let source_date_epoch = match env.var("SOURCE_DATE_EPOCH") {
            None => None,
            Some(s) => Some(s.parse::<u64>().with_context(|| {
                format!("SOURCE_DATE_EPOCH={s:?} is not a number of seconds since 1970")
            })?),
        };
        // Without SOURCE_DATE_EPOCH the FAT epoch: the same inputs always give
        // the same image.
        let time = source_date_epoch.map_or(DosTime::EPOCH, DosTime::from_unix);

        let secrets = read_secrets(args, env)?;
        for c in &secrets.disabled {
            warnings.push(format!(
                "{} is off: none of its keys ({}) were given",
                c.name,
                c.keys
                    .iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }

        // Offline: the release on the stick decides the version (the online
        // fallback boots the same one).
        let offline = match args.offline {
            false => None,
            true => Some(offline_release(args, env)?),
        };
        let version = match &offline {
            Some(r) => VersionSpec::Exact(r.version.clone()),
            None => args.flatcar_version.clone(),
        };
        let esp_mib = esp_size(args.esp_size, offline.as_ref())?;
        let need = DiskLayout::min_bytes(esp_mib, args.secrets_size);
        let disk_bytes = match env.disk_bytes {
            None => need,
            Some(have) if have >= need => have,
            Some(have) => bail!(
                "the device holds {} MiB but the stick needs {} MiB; use a larger stick or smaller --esp-size",
                have / MIB,
                need.div_ceil(MIB)
            ),
        };
        if version == VersionSpec::Current {
            warnings.push(
                "--flatcar-version current: nodes boot whatever is current at boot time; pin a version \
                 for reproducible boots"
                    .into(),
            );
        }
        secrets::format::check_url(&args.base_url, &["http", "https"])
            .with_context(|| format!("--base-url {:?}", args.base_url))?;
        bootscript::check_script_safe("--base-url", &args.base_url)?;
        for c in args.console.split_whitespace() {
            bootscript::check_script_safe("--console", c)?;
        }

        let hostname = args.hostname.as_deref();
        if let Some(h) = hostname {
            secrets::format::check_hostname(h)
                .with_context(|| format!("--hostname / NODE_HOSTNAME {h:?}"))?;
        }
        if secrets.is_enabled("namecheap-ddns") {
            match hostname {
                Some(h) if h.trim_end_matches('.').split('.').count() >= 3 => {}
                _ => bail!(
                    "Namecheap DDNS updates HOST.DOMAIN.TLD from the node's name: set --hostname / \
                     NODE_HOSTNAME to a FQDN like node1.example.com"
                ),
            }
        }
        let ssh_key = match &args.ssh_key {
            None => {
                warnings.push("no --ssh-key / SSH_KEY_PATH: no SSH access unless the Ignition config adds keys".into());
                None
            }
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!(
                        "reading SSH public key {} (--ssh-key / SSH_KEY_PATH)",
                        path.display()
                    )
                })?;
                Some(
                    sshkey::parse(&text)
                        .with_context(|| format!("SSH public key {}", path.display()))?,
                )
            }
        };

        // Ignition: a URL, or a config embedded as an initrd.
        let (ignition, oem) = match (&args.ignition_url, &args.ignition) {
            (Some(url), _) => {
                secrets::format::check_url(url, &["http", "https"])
                    .with_context(|| format!("--ignition-url / IGN_PATH {url:?}"))?;
                bootscript::check_script_safe("--ignition-url", url)?;
                (IgnitionSource::Url(url.clone()), None)
            }
            (None, file) => {
                bootscript::check_embedded_ignition(&version, args.channel)?;
                let config = load_ignition(file.as_deref())?;
                let cpio = cpio::archive(&[("usr/share/oem/config.ign", 0o600, &config)]);
                let sha = hex::encode(Sha256::digest(&config));
                (IgnitionSource::Embedded(sha), Some(cpio))
            }
        };

        let boot = BootSettings {
            channel: args.channel,
            version,
            arch: args.arch,
            base_url: args.base_url.trim_end_matches('/').to_string(),
            kernel_args: bootscript::kernel_args(
                &args.console,
                ssh_key.as_deref(),
                hostname,
                &ignition,
            ),
            ignition,
            offline_dir: offline.as_ref().map(offline_dir),
        };

        let ipxe = load_ipxe(args, env)?;
        let mut esp_files: Vec<PlannedFile> = ipxe
            .iter()
            .map(|b| PlannedFile::new(ipxe::boot_path(b.arch), b.bytes.to_vec()))
            .collect();
        esp_files.push(PlannedFile::new(
            "autoexec.ipxe",
            bootscript::render(&boot).into_bytes(),
        ));
        if let Some(cpio) = oem {
            esp_files.push(PlannedFile::new(bootscript::OEM_CPIO_PATH, cpio));
        }
        if let Some(r) = &offline {
            let dir = offline_dir(r);
            for (name, f) in [
                (bootscript::KERNEL_NAME, &r.kernel),
                (bootscript::INITRD_NAME, &r.initrd),
            ] {
                esp_files.push(PlannedFile::from_host(&format!("{dir}/{name}"), f));
            }
        }
        let secret_files: Vec<PlannedFile> = secrets
            .files()
            .into_iter()
            .map(|(name, body)| PlannedFile::new(name, body))
            .collect();

        let components: Vec<ComponentStatus> = secrets::schema::schema()
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
            .collect();

        // Identity (GUIDs, volume ids) derives from public inputs only: a GUID
        // is visible to anyone, so it must not be a hash of a secret.
        let seed = identity_seed(
            &esp_files,
            &components,
            esp_mib,
            args.secrets_size,
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
            esp: PartitionSpec {
                name: ESP_NAME.into(),
                kind: PartKind::Esp,
                start_bytes: MIB,
                size_bytes: esp_mib * MIB,
                guid: id("esp"),
            },
            secrets: PartitionSpec {
                name: SECRETS_NAME.into(),
                kind: PartKind::Secrets,
                start_bytes: MIB + esp_mib * MIB,
                size_bytes: args.secrets_size * MIB,
                guid: id("secrets"),
            },
        };

        let mut plan = Plan {
            layout,
            esp: VolumePlan {
                label: ESP_LABEL.into(),
                kind: FatKind::Fat32,
                volume_id: volume_id("esp-volume"),
                files: esp_files,
                time,
            },
            secrets: VolumePlan {
                label: SECRETS_LABEL.into(),
                kind: FatKind::Fat16,
                volume_id: volume_id("secrets-volume"),
                files: secret_files,
                time,
            },
            boot,
            components,
            ipxe: ipxe
                .iter()
                .map(|b| IpxeSource {
                    arch: b.arch,
                    path: ipxe::boot_path(b.arch).into(),
                    from: b.source.display().to_string(),
                })
                .collect(),
            source_date_epoch,
            warnings,
        };
        let manifest = manifest::Manifest::of(&plan);
        plan.esp
            .files
            .push(PlannedFile::new(MANIFEST_PATH, manifest.to_bytes()));
        Ok(plan)
    }
}

/// The verified release for `--offline`: from the mirror directory if it is
/// there and intact (no network), else downloaded and verified into it.
fn offline_release(args: &WriteArgs, env: &Environment) -> Result<crate::mirror::Release> {
    use crate::mirror::{self, Release};
    let [arch] = args.arch.arches() else {
        bail!("--offline carries one architecture's Flatcar; choose --arch amd64 or --arch arm64");
    };
    let dir = match &args.mirror {
        Some(dir) => dir.clone(),
        None => env.cache_dir()?.join("mirror"),
    };
    match Release::open(&dir, args.channel, *arch, &args.flatcar_version) {
        Ok(release) => Ok(release),
        Err(why) => {
            eprintln!(
                "mkstick: {why:#}; downloading the release into {}",
                dir.display()
            );
            let opts = mirror::MirrorOptions {
                base_url: args.base_url.clone(),
                keyring: args.keyring.clone(),
                ..mirror::MirrorOptions::new()?
            };
            mirror::ensure(&dir, args.channel, *arch, &args.flatcar_version, &opts)
                .with_context(|| format!("getting Flatcar for --offline into {}", dir.display()))
        }
    }
}

/// Where an offline release sits on the ESP.
fn offline_dir(r: &crate::mirror::Release) -> String {
    format!("flatcar/{}/{}", r.arch, r.version)
}

/// The ESP size in MiB: as asked, or 256 MiB, or (offline) room for the
/// release twice over (a second version can be added before the first goes).
fn esp_size(asked: Option<u64>, offline: Option<&crate::mirror::Release>) -> Result<u64> {
    let need = offline.map(|r| (2 * (r.kernel.size + r.initrd.size)).div_ceil(MIB) + 64);
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
        h.update(f.sha256.as_bytes());
    }
    for c in components {
        h.update(c.keys.join(",").as_bytes());
    }
    h.update(format!("{esp_mib}/{secrets_mib}/{disk_bytes}").as_bytes());
    hex::encode(h.finalize())
}

fn read_secrets(args: &WriteArgs, env: &Environment) -> Result<SecretsVolume> {
    let mut inputs = Inputs {
        env: Inputs::from_env(env.vars.iter().cloned()),
        ..Default::default()
    };
    if let Some(path) = &args.secrets {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --secrets file {}", path.display()))?;
        inputs.file = secrets::envfile::parse(&path.display().to_string(), &text)?;
    }
    let flag = |key: &str, flag: &str, value: &Option<String>| {
        value.as_ref().map(|v| Input {
            key: key.into(),
            value: Secret::new(v.clone()),
            origin: Origin::Flag(flag.into()),
        })
    };
    inputs.flags.extend(
        [
            flag("LOGEXPORT_HOST", "--logexport-host", &args.logexport_host),
            flag("LOGEXPORT_PORT", "--logexport-port", &args.logexport_port),
            flag("HEARTBEAT_URL", "--heartbeat-url", &args.heartbeat_url),
            flag(
                "NAMECHEAP_DDNS_PASS",
                "--namecheap-ddns-pass",
                &args.namecheap_ddns_pass,
            ),
            flag(
                "NAMECHEAP_DDNS_INTERFACE",
                "--namecheap-ddns-interface",
                &args.namecheap_ddns_interface,
            ),
        ]
        .into_iter()
        .flatten(),
    );
    for kv in &args.k3s {
        let (key, value) = kv
            .split_once('=')
            .with_context(|| "--k3s takes K3S_NAME=VALUE (e.g. --k3s K3S_TOKEN=...)".to_string())?;
        ensure!(
            key.starts_with("K3S_"),
            "--k3s {key}=...: the name must start with K3S_"
        );
        inputs.flags.push(Input {
            key: key.into(),
            value: Secret::new(value),
            origin: Origin::Flag("--k3s".into()),
        });
    }
    SecretsVolume::from_inputs(&inputs)
}

/// The Ignition config to embed: a file (`.ign`/`.json` as is, YAML
/// transpiled with `local:` paths relative to its directory) or the default
/// node config built into mkstick.
fn load_ignition(file: Option<&Path>) -> Result<Vec<u8>> {
    let Some(path) = file else {
        return Ok(crate::ignite::DEFAULT_NODE_CONFIG_IGN.as_bytes().to_vec());
    };
    if matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml")
    ) {
        let opts = crate::ignite::Options {
            files_dir: path.parent().map(Path::to_path_buf),
            pretty: false,
            ..Default::default()
        };
        let out = crate::ignite::transpile_file(path, &opts)
            .with_context(|| format!("transpiling --ignition {}", path.display()))?;
        return Ok(out.json.into_bytes());
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading Ignition config {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not JSON (an Ignition config is); YAML needs a .yml name",
            path.display()
        )
    })?;
    let version = value.pointer("/ignition/version").and_then(|v| v.as_str());
    // Flatcar's Ignition reads spec 3.x, and translates 2.x at boot.
    ensure!(
        version.is_some_and(|v| v.starts_with("3.") || v.starts_with("2.")),
        "{}: not an Ignition config (ignition.version is {:?}; expected 2.x or 3.x)",
        path.display(),
        version
    );
    Ok(text.into_bytes())
}

fn load_ipxe(args: &WriteArgs, env: &Environment) -> Result<Vec<IpxeBinary>> {
    let arches = args.arch.arches();
    // clap makes --ipxe-url and --ipxe-sha256 come together.
    let downloaded = match (&args.ipxe_url, &args.ipxe_sha256) {
        (Some(url), Some(sha)) => {
            ensure!(
                args.ipxe_efi.is_none(),
                "--ipxe-url and --ipxe-efi both name the amd64 binary; pass one"
            );
            secrets::format::check_url(url, &["http", "https"])
                .with_context(|| format!("--ipxe-url {url:?}"))?;
            let sha: crate::fetch::Sha256Digest = sha.parse().with_context(|| {
                format!("--ipxe-sha256 {sha:?} is not a SHA-256 (64 hex digits)")
            })?;
            Some(crate::fetch::download_sha256(
                url,
                &sha,
                &env.cache_dir()?.join("ipxe"),
            )?)
        }
        _ => None,
    };
    arches
        .iter()
        .map(|&arch| {
            let explicit = match arch {
                Arch::Amd64 => downloaded.as_deref().or(args.ipxe_efi.as_deref()),
                Arch::Arm64 => args.ipxe_efi_arm64.as_deref(),
            };
            ipxe::resolve(arch, explicit)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn test_ipxe() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps/ipxe/ipxe-amd64.efi")
    }

    fn args() -> (WriteArgs, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let ign = dir.path().join("node.ign");
        std::fs::write(&ign, r#"{"ignition":{"version":"3.3.0"}}"#).unwrap();
        let args = WriteArgs {
            ignition: Some(ign),
            ipxe_efi: Some(test_ipxe()),
            esp_size: None,
            secrets_size: 16,
            flatcar_version: "4593.2.5".parse().unwrap(),
            base_url: "https://flatcar.cdn.cncf.io".into(),
            console: "ttyS0,115200n8".into(),
            ..Default::default()
        };
        (args, dir)
    }

    fn env(vars: &[(&str, &str)]) -> Environment {
        Environment {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            disk_bytes: None,
        }
    }

    #[test]
    fn plan_is_deterministic_and_lays_out_the_stick() {
        let (a, _d) = args();
        let p1 = Plan::build(&a, &env(&[("K3S_TOKEN", "t")])).unwrap();
        let p2 = Plan::build(&a, &env(&[("K3S_TOKEN", "t")])).unwrap();
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
        let (a, _d) = args();
        let p1 = Plan::build(&a, &env(&[("K3S_TOKEN", "one")])).unwrap();
        let p2 = Plan::build(&a, &env(&[("K3S_TOKEN", "two")])).unwrap();
        assert_eq!(p1.layout.disk_guid, p2.layout.disk_guid);
    }

    #[test]
    fn bad_inputs_are_rejected_before_anything_is_written() {
        let (a, _d) = args();
        let cases: Vec<(WriteArgs, &str)> = vec![
            (
                WriteArgs {
                    esp_size: Some(32),
                    ..args().0
                },
                "--esp-size",
            ),
            (
                WriteArgs {
                    flatcar_version: "4000.0.0".parse().unwrap(),
                    ..args().0
                },
                "cannot read an embedded",
            ),
            (
                WriteArgs {
                    hostname: Some("bad_name".into()),
                    ..args().0
                },
                "NODE_HOSTNAME",
            ),
            (
                WriteArgs {
                    base_url: "ftp://x".into(),
                    ..args().0
                },
                "--base-url",
            ),
            (
                WriteArgs {
                    k3s: vec!["TOKEN=x".into()],
                    ..args().0
                },
                "must start with K3S_",
            ),
        ];
        for (bad, want) in cases {
            let err = Plan::build(&bad, &env(&[])).unwrap_err();
            assert!(
                format!("{err:#}").contains(want),
                "want {want:?} in {err:#}"
            );
        }
        let err = Plan::build(&a, &env(&[("SOURCE_DATE_EPOCH", "yesterday")])).unwrap_err();
        assert!(format!("{err:#}").contains("SOURCE_DATE_EPOCH"));
    }

    #[test]
    fn default_and_yaml_ignition_are_embedded() {
        let (a, d) = args();
        let p = Plan::build(
            &WriteArgs {
                ignition: None,
                ..args().0
            },
            &env(&[]),
        )
        .unwrap();
        let want = hex::encode(Sha256::digest(
            crate::ignite::DEFAULT_NODE_CONFIG_IGN.as_bytes(),
        ));
        assert_eq!(p.boot.ignition, IgnitionSource::Embedded(want));

        let yml = d.path().join("node.yml");
        std::fs::write(&yml, "variant: flatcar\nversion: 1.0.0\nstorage:\n  files:\n    - path: /etc/motd\n      contents:\n        inline: hi\n").unwrap();
        let p = Plan::build(
            &WriteArgs {
                ignition: Some(yml.clone()),
                ..args().0
            },
            &env(&[]),
        )
        .unwrap();
        assert!(matches!(p.boot.ignition, IgnitionSource::Embedded(_)));
        std::fs::write(
            &yml,
            "variant: flatcar\nversion: 1.0.0\nstorage:\n  files:\n    - path: etc/motd\n",
        )
        .unwrap();
        let err = Plan::build(
            &WriteArgs {
                ignition: Some(yml),
                ..a
            },
            &env(&[]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("node.yml:5:"), "{err:#}");
    }

    #[test]
    fn ddns_needs_a_fqdn() {
        let (a, _d) = args();
        let e = env(&[("NAMECHEAP_DDNS_PASS", "p")]);
        assert!(
            Plan::build(
                &WriteArgs {
                    hostname: Some("node1".into()),
                    ..args().0
                },
                &e
            )
            .is_err()
        );
        assert!(
            Plan::build(
                &WriteArgs {
                    hostname: Some("node1.example.com".into()),
                    ..a
                },
                &e
            )
            .is_ok()
        );
    }
}
