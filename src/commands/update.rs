//! `mkstick update`: read a stick back as `clone` does, change only what was
//! asked, show the settings' before/after diff (secret key names only), and
//! write it back to the same target as the writer does.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail, ensure};

use super::clone;
use super::prompt::Consent;
use crate::cli::update::UpdateArgs;
use crate::image::Image;
use crate::k3s::{K3sPin, PinnedBinary};
use crate::model::component::ComponentId;
use crate::model::content::Chunk;
use crate::model::flatcar::Arch;
use crate::model::flatcar::{Channel, VersionSpec};
use crate::model::stick::{MANIFEST_PATH, MIB, OEM_CONFIG, OEM_CPIO_PATH, SECRETS_DIGESTS_PATH};
use crate::plan::bootscript::IgnitionSource;
use crate::plan::manifest::Manifest;
use crate::plan::spec::{
    ConfigOrigin, FlatcarSpec, IgnitionSpec, IpxeBinary, K3sSpec, Sizes, StickSpec,
};
use crate::plan::{Plan, PlannedFile, cpio};
use crate::resolve::k3s::K3sRequest;
use crate::resolve::{self, Environment, IgnitionRequest, SecretFlags};
use crate::secrets::{Inputs, SecretsVolume};

/// What to change; `None` keeps what is on the stick. A new setting (the k3s
/// version, say) is one more field here and one line in [`spec`].
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub channel: Option<Channel>,
    pub flatcar_version: Option<VersionSpec>,
    /// `File` or `Url`: the stick's own config is kept otherwise.
    pub ignition: Option<IgnitionRequest>,
    pub hostname: Option<String>,
    pub ssh_key: Option<PathBuf>,
    /// The secrets volume is rebuilt from these (and the environment).
    pub secrets: Option<SecretFlags>,
    /// A new k3s release to pin; the stick's pin is kept otherwise.
    pub k3s: Option<K3sRequest>,
}

impl Changes {
    fn of(args: &UpdateArgs) -> Self {
        let ignition = match (&args.ignition_url, &args.ignition) {
            (Some(url), _) => Some(IgnitionRequest::Url(url.clone())),
            (None, Some(path)) => Some(IgnitionRequest::File(path.clone())),
            (None, None) => None,
        };
        Changes {
            channel: args.channel,
            flatcar_version: args.flatcar_version.clone(),
            ignition,
            hostname: args.hostname.clone(),
            ssh_key: args.ssh_key.clone(),
            k3s: args.k3s_version.as_ref().map(|version| K3sRequest {
                version: version.clone(),
                sha256: args.k3s_sha256,
                base_url: args.k3s_base_url.clone(),
                channel_url: args.k3s_channel_url.clone(),
                airgap: false,
            }),
            secrets: args.secrets.as_ref().map(|file| SecretFlags {
                file: Some(file.clone()),
                ..Default::default()
            }),
        }
    }
}

pub fn run(args: &UpdateArgs) -> Result<ExitCode> {
    let target = &args.target;
    let old = clone::read_plan(target, args.force)?;
    let new = updated(&old, &Changes::of(args))
        .with_context(|| format!("updating {}", target.display()))?;
    super::write::warn("mkstick", &new);
    let diff = diff(&old, &new);
    if diff.is_empty() {
        eprintln!(
            "mkstick: nothing to change: {} already has these settings; nothing written",
            target.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("Changes to {}:", target.display());
    for d in &diff {
        println!("  {:<18} {}\n  {:<18} → {}", d.name, d.before, "", d.after);
    }
    if args.dry_run {
        eprintln!("mkstick: --dry-run: nothing written");
        return Ok(ExitCode::SUCCESS);
    }
    let image = Image::build(&new).context("laying out the updated stick")?;
    let consent = if args.yes {
        Consent::Given
    } else {
        Consent::Ask
    };
    let written = clone::write_target(target, &new, &image, consent)?;
    eprintln!(
        "mkstick: updated {}: {} KiB of data, verified by reading it back",
        target.display(),
        written / 1024
    );
    Ok(ExitCode::SUCCESS)
}

/// The stick `old` with `changes` applied: the same layout, GUIDs and
/// volume ids, and (unless secrets change) the same secrets volume.
pub(crate) fn updated(old: &Plan, changes: &Changes) -> Result<Plan> {
    let secrets = match &changes.secrets {
        Some(flags) => Some(resolve::read_secrets(flags, &Environment::current(None))?),
        None => None,
    };
    let keep_secrets = secrets.is_none();
    // Kept secrets are copied as the stick's files below; the plan is built
    // with an empty volume only to lay out everything else.
    let secrets = match secrets {
        Some(s) => s,
        None => SecretsVolume::from_inputs(&Inputs::default())?,
    };
    let mut new = Plan::build(&spec(old, changes, secrets)?)?;
    new.layout = old.layout.clone();
    new.esp.volume_id = old.esp.volume_id;
    new.ipxe = old.ipxe.clone();
    if keep_secrets {
        // The k3s pin lives on the secrets volume: a new one replaces the
        // stick's `k3s_release` (and its digest), every other file is kept.
        let pin = new
            .secrets
            .files
            .iter()
            .find(|f| f.path == crate::k3s::release_file::FILE_NAME)
            .cloned()
            .filter(|_| changes.k3s.is_some());
        new.secrets = old.secrets.clone();
        if let Some(pin) = pin {
            repin(&mut new.secrets.files, pin);
        }
        new.components = old.components.clone();
        // Warnings about components left off describe the empty stand-in.
        new.warnings.retain(|w| !w.contains(" is off: "));
    } else {
        new.secrets.volume_id = old.secrets.volume_id;
    }
    // The manifest describes the final plan.
    new.esp.files.retain(|f| f.path != MANIFEST_PATH);
    let manifest = Manifest::of(&new).to_bytes();
    new.esp
        .files
        .push(PlannedFile::new(MANIFEST_PATH, manifest));
    Ok(new)
}

/// The spec that makes `old` with `changes` applied.
fn spec(old: &Plan, changes: &Changes, secrets: SecretsVolume) -> Result<StickSpec> {
    let b = &old.boot;
    if b.offline_dir.is_some() {
        bail!(
            "the stick carries Flatcar itself (--offline), which update cannot replace yet; \
             write a new stick with `mkstick --offline`"
        );
    }
    let arg = |prefix: &str| {
        b.kernel_args
            .iter()
            .find_map(|a| a.strip_prefix(prefix).map(str::to_string))
    };
    let consoles: Vec<&str> = b
        .kernel_args
        .iter()
        .filter_map(|a| a.strip_prefix("console="))
        .collect();
    let ssh_key = match &changes.ssh_key {
        Some(path) => Some(resolve::read_ssh_key(path)?),
        None => arg("sshkey=").map(|k| k.trim_matches('"').to_string()),
    };
    let ignition = match &changes.ignition {
        Some(IgnitionRequest::Url(url)) => IgnitionSpec::Url(url.clone()),
        Some(IgnitionRequest::File(path)) => IgnitionSpec::Embedded {
            config: resolve::load_ignition(path)?,
            origin: ConfigOrigin::User,
        },
        Some(IgnitionRequest::BuiltIn) | None => stick_ignition(old)?,
    };
    let ipxe = old
        .ipxe
        .iter()
        .map(|i| {
            Ok(IpxeBinary {
                arch: i.arch,
                source: PathBuf::from(&i.from),
                bytes: file_bytes(old, &i.path)?,
            })
        })
        .collect::<Result<_>>()?;
    // Kept secrets keep k3s as it was; new ones decide it afresh.
    let k3s_on = match &changes.secrets {
        Some(_) => secrets.is_enabled(ComponentId::K3s),
        None => old.k3s.is_some(),
    };
    let k3s = match &changes.k3s {
        Some(req) => {
            ensure!(
                k3s_on,
                "--k3s-version: this stick has no k3s settings (add them with --secrets)"
            );
            Some(
                resolve::k3s::pin(req, b.arch.arches(), None)
                    .context("pinning the new k3s release")?,
            )
        }
        None => kept_k3s(old, k3s_on)?,
    };
    Ok(StickSpec {
        flatcar: FlatcarSpec {
            channel: changes.channel.unwrap_or(b.channel),
            version: changes
                .flatcar_version
                .clone()
                .unwrap_or_else(|| b.version.clone()),
            arch: b.arch,
            base_url: b.base_url.clone(),
            consoles: consoles.join(" "),
        },
        ignition,
        ssh_key,
        hostname: changes.hostname.clone().or_else(|| arg("hostname=")),
        secrets,
        offline: None,
        k3s,
        ipxe,
        sizes: Sizes {
            esp_mib: Some(old.layout.esp.size_bytes / MIB),
            secrets_mib: old.layout.secrets.size_bytes / MIB,
            disk_bytes: Some(old.layout.disk_bytes),
        },
        source_date_epoch: old.source_date_epoch,
    })
}

/// `files` (a kept secrets volume) with `pin` as its `k3s_release` and the
/// digest file rebuilt over the result.
fn repin(files: &mut Vec<PlannedFile>, pin: PlannedFile) {
    files.retain(|f| f.path != SECRETS_DIGESTS_PATH);
    match files.iter_mut().find(|f| f.path == pin.path) {
        Some(f) => *f = pin,
        None => files.push(pin),
    }
    let digests = crate::plan::manifest::secrets_digests(files);
    files.push(PlannedFile::new(SECRETS_DIGESTS_PATH, digests));
}

/// The k3s pin on the stick, kept as it is (the node installs exactly what
/// the stick was written with). A stick that gains k3s settings has no pin
/// to keep: that needs a new stick, whose writer pins the release.
fn kept_k3s(old: &Plan, wanted: bool) -> Result<Option<K3sSpec>> {
    let Some(entry) = &old.k3s else {
        if wanted {
            bail!(
                "the new secrets turn k3s on, but this stick has no k3s release pinned; \
                 write a new stick (`mkstick ... --k3s-version TAG`), which pins one"
            );
        }
        return Ok(None);
    };
    if !wanted {
        return Ok(None);
    }
    let binaries = entry
        .binaries
        .iter()
        .map(|b| {
            let arch = [Arch::Amd64, Arch::Arm64]
                .into_iter()
                .find(|a| a.as_str() == b.arch)
                .with_context(|| {
                    format!("the manifest's k3s binary has an unknown arch {:?}", b.arch)
                })?;
            Ok(PinnedBinary {
                arch,
                url: b.url.parse().context("the manifest's k3s URL")?,
                sha256: b.sha256,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Some(K3sSpec {
        pin: K3sPin {
            version: entry
                .version
                .parse()
                .context("the manifest's k3s version")?,
            binaries,
        },
        carried: None,
    }))
}

/// The Ignition source on the stick: a URL, or the config embedded in its
/// OEM archive.
fn stick_ignition(old: &Plan) -> Result<IgnitionSpec> {
    match &old.boot.ignition {
        IgnitionSource::Url(url) => Ok(IgnitionSpec::Url(url.clone())),
        IgnitionSource::Embedded(_) => {
            let archive = file_bytes(old, OEM_CPIO_PATH)?;
            let config = cpio::find_file(&archive, OEM_CONFIG)
                .with_context(|| format!("reading /{OEM_CPIO_PATH} on the stick"))?
                .with_context(|| format!("/{OEM_CPIO_PATH} on the stick holds no {OEM_CONFIG}"))?;
            let origin = if config == crate::ignite::DEFAULT_NODE_CONFIG_IGN.as_bytes() {
                ConfigOrigin::BuiltIn
            } else {
                ConfigOrigin::User
            };
            Ok(IgnitionSpec::Embedded { config, origin })
        }
    }
}

/// The bytes of an ESP file read back from the stick.
fn file_bytes(plan: &Plan, path: &str) -> Result<Arc<[u8]>> {
    match plan.esp.files.iter().find(|f| f.path == path) {
        Some(PlannedFile {
            content: Chunk::Bytes(b),
            ..
        }) => Ok(b.clone()),
        Some(_) => bail!("/{path} on the stick was not read into memory"),
        None => bail!("the stick has no /{path}"),
    }
}

/// One changed setting, as shown before asking.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub name: String,
    pub before: String,
    pub after: String,
}

/// The settings that differ between `old` and `new`. Secrets appear as key
/// names, and as whether the volume's contents change: never values.
pub(crate) fn diff(old: &Plan, new: &Plan) -> Vec<Change> {
    let before = settings(old);
    let after = settings(new);
    let mut out: Vec<Change> = before
        .into_iter()
        .zip(after)
        .filter(|((_, b), (_, a))| a != b)
        .map(|((name, before), (_, after))| Change {
            name,
            before,
            after,
        })
        .collect();
    let hashes = |p: &Plan| -> Vec<(String, String)> {
        p.secrets
            .files
            .iter()
            .map(|f| (f.path.clone(), f.sha256.to_string()))
            .collect()
    };
    if hashes(old) != hashes(new) {
        out.push(Change {
            name: "secret values".into(),
            before: "as on the stick".into(),
            after: format!("replaced, with {} (values not shown)", keys(new).join(", ")),
        });
    }
    out
}

/// Every secret key name the stick carries.
fn keys(p: &Plan) -> Vec<String> {
    p.components.iter().flat_map(|c| c.keys.clone()).collect()
}

/// The settings a user chose, by name, in a fixed order.
fn settings(p: &Plan) -> Vec<(String, String)> {
    let b = &p.boot;
    let mut s = vec![
        ("channel".to_string(), b.channel.as_str().to_string()),
        ("flatcar version".into(), b.version.to_string()),
        ("arch".into(), b.arch.as_str().to_string()),
        ("base url".into(), b.base_url.to_string()),
        ("kernel arguments".into(), b.kernel_args.join(" ")),
        (
            "ignition".into(),
            match &b.ignition {
                IgnitionSource::Url(u) => format!("url {u}"),
                IgnitionSource::Embedded(sha) => format!("embedded sha256:{sha}"),
            },
        ),
    ];
    s.push((
        "k3s release".into(),
        p.k3s.as_ref().map_or_else(
            || "none".to_string(),
            |k| {
                let pins: Vec<String> = k
                    .binaries
                    .iter()
                    .map(|b| format!("{} sha256:{}", b.arch, b.sha256))
                    .collect();
                format!("{} ({})", k.version, pins.join(", "))
            },
        ),
    ));
    s.extend(p.components.iter().map(|c| {
        let state = if c.enabled {
            format!("on ({})", c.keys.join(", "))
        } else {
            "off".into()
        };
        (c.name.clone(), state)
    }));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::flatcar::{Arch, ArchChoice};
    use crate::secrets::{Input, Origin, Secret};

    fn plan(token: &str, version: &str) -> Plan {
        let inputs = Inputs {
            flags: vec![Input {
                key: "K3S_TOKEN".into(),
                value: Secret::new(token),
                origin: Origin::Flag("--test".into()),
            }],
            ..Default::default()
        };
        Plan::build(&StickSpec {
            flatcar: FlatcarSpec {
                channel: Channel::Stable,
                version: version.parse().unwrap(),
                arch: ArchChoice::Amd64,
                base_url: "https://flatcar.example.com".parse().unwrap(),
                consoles: "ttyS0,115200n8".into(),
            },
            ignition: IgnitionSpec::Url("https://example.com/n.ign".parse().unwrap()),
            ssh_key: None,
            hostname: Some("n1".into()),
            secrets: SecretsVolume::from_inputs(&inputs).unwrap(),
            offline: None,
            k3s: Some(K3sSpec {
                pin: K3sPin {
                    version: "v1.31.4+k3s1".parse().unwrap(),
                    binaries: vec![PinnedBinary {
                        arch: Arch::Amd64,
                        url: "https://github.com/k3s-io/k3s/releases/download/v1.31.4%2Bk3s1/k3s"
                            .parse()
                            .unwrap(),
                        sha256: crate::model::Sha256Digest::of(b"k3s"),
                    }],
                },
                carried: None,
            }),
            ipxe: vec![IpxeBinary {
                arch: Arch::Amd64,
                source: "ipxe.efi".into(),
                bytes: Arc::from(&b"MZ"[..]),
            }],
            sizes: Sizes {
                esp_mib: None,
                secrets_mib: 16,
                disk_bytes: None,
            },
            source_date_epoch: None,
        })
        .unwrap()
    }

    #[test]
    fn diff_lists_changed_settings_and_secret_names_only() {
        let old = plan("first-value", "4593.2.5");
        assert!(diff(&old, &plan("first-value", "4593.2.5")).is_empty());
        let changes = diff(&old, &plan("second-value", "4593.2.6"));
        let names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["flatcar version", "secret values"]);
        let shown = format!("{changes:?}");
        assert!(shown.contains("K3S_TOKEN"), "{shown}");
        assert!(!shown.contains("first-value") && !shown.contains("second-value"));
    }

    #[test]
    fn updated_keeps_identity_and_changes_only_what_is_asked() {
        let old = plan("first-value", "4593.2.5");
        let new = updated(
            &old,
            &Changes {
                hostname: Some("n2".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(new.layout.disk_guid, old.layout.disk_guid);
        assert_eq!(new.esp.volume_id, old.esp.volume_id);
        let names: Vec<String> = diff(&old, &new).into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["kernel arguments"]);
        assert!(new.boot.kernel_args.contains(&"hostname=n2".to_string()));
    }
}
