//! Stage 1: all input I/O. A [`Request`] (what the user asked for, typed)
//! plus the [`Environment`] → a [`StickSpec`]: files read, secrets gathered,
//! the offline release and iPXE binaries found or downloaded. Nothing after
//! this stage reads the environment or the file system for inputs.

pub(crate) mod ipxe;
pub(crate) mod k3s;
pub(crate) mod read;
pub(crate) mod sshkey;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};

use crate::mirror::{self, Release};
use crate::model::component::ComponentId;
use crate::model::flatcar::{Arch, ArchChoice, Channel, VersionSpec};
use crate::model::{BaseUrl, ConfigUrl, IpxeUrl, Sha256Digest};
use crate::plan::spec::{ConfigOrigin, FlatcarSpec, IgnitionSpec, IpxeBinary, Sizes, StickSpec};
use crate::secrets::{self, Input, Inputs, Origin, Secret, SecretsVolume};
pub(crate) use k3s::K3sRequest;

/// What the user asked for, as typed values (the write command's and
/// qemu-test's options, without where to write).
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub channel: Channel,
    pub flatcar_version: VersionSpec,
    pub arch: ArchChoice,
    pub base_url: BaseUrl,
    pub console: String,
    pub ignition: IgnitionRequest,
    pub ssh_key: Option<PathBuf>,
    pub hostname: Option<String>,
    pub secrets: SecretFlags,
    /// The whole secrets volume, decided before (a cluster node's, from its
    /// inventory and secrets store): `secrets` and the environment are not read.
    pub preset_secrets: Option<SecretsVolume>,
    pub offline: Option<OfflineRequest>,
    pub k3s: K3sRequest,
    pub ipxe: IpxeRequest,
    pub esp_size: Option<u64>,
    pub secrets_size: u64,
}

/// Where the Ignition config comes from.
#[derive(Clone, Debug, Default)]
pub enum IgnitionRequest {
    /// The node config built into mkstick, embedded.
    #[default]
    BuiltIn,
    /// A file to embed (`.ign`/`.json` as is, `.yml`/`.yaml` transpiled).
    File(PathBuf),
    /// A public URL the node fetches at boot.
    Url(ConfigUrl),
}

/// Secret values from flags, and the env file to read.
#[derive(Clone, Debug, Default)]
pub struct SecretFlags {
    pub file: Option<PathBuf>,
    /// `K3S_NAME=VALUE` settings.
    pub k3s: Vec<String>,
    pub logexport_host: Option<String>,
    pub logexport_port: Option<String>,
    pub heartbeat_url: Option<String>,
    pub namecheap_ddns_pass: Option<String>,
    pub namecheap_ddns_interface: Option<String>,
}

/// `--offline`: the mirror to take the release from, and the signing key.
#[derive(Clone, Debug, Default)]
pub struct OfflineRequest {
    /// Default: the download cache's `mirror` directory.
    pub mirror: Option<PathBuf>,
    pub keyring: Option<PathBuf>,
}

/// Which iPXE binaries to use: files, a pinned download, or the distribution's.
#[derive(Clone, Debug, Default)]
pub struct IpxeRequest {
    pub amd64: Option<PathBuf>,
    pub arm64: Option<PathBuf>,
    pub download: Option<(IpxeUrl, Sha256Digest)>,
}

/// What resolving reads from outside the request, injectable for tests.
pub(crate) struct Environment {
    pub vars: Vec<(String, String)>,
    /// `None` for an image file (sized to fit); a device's size otherwise.
    pub disk_bytes: Option<u64>,
}

impl Environment {
    pub(crate) fn current(disk_bytes: Option<u64>) -> Self {
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
    pub(crate) fn cache_dir(&self) -> Result<PathBuf> {
        match (self.var("XDG_CACHE_HOME"), self.var("HOME")) {
            (Some(xdg), _) if !xdg.is_empty() => Ok(PathBuf::from(xdg).join("mkstick")),
            (_, Some(home)) if !home.is_empty() => Ok(PathBuf::from(home).join(".cache/mkstick")),
            _ => bail!(
                "neither XDG_CACHE_HOME nor HOME is set: no place for mkstick's download cache"
            ),
        }
    }
}

/// Reads every input the request names. Form errors (a bad file, a bad
/// `--k3s` pair) surface here; the plan checks how the values fit together.
pub(crate) fn resolve(req: &Request, env: &Environment) -> Result<StickSpec> {
    let source_date_epoch = match env.var("SOURCE_DATE_EPOCH") {
        None => None,
        Some(s) => Some(s.parse::<u64>().with_context(|| {
            format!("SOURCE_DATE_EPOCH={s:?} is not a number of seconds since 1970")
        })?),
    };
    let secrets = match &req.preset_secrets {
        Some(volume) => volume.clone(),
        None => read_secrets(&req.secrets, env)?,
    };
    // Only a stick that runs k3s needs its release, and so the network.
    let k3s = match secrets.is_enabled(ComponentId::K3s) {
        false => None,
        true => {
            let mirror = match &req.offline {
                // Checked first: nothing is downloaded for a stick refused anyway.
                Some(o) => offline_arch(req)
                    .and_then(|_| mirror_dir(o, env))
                    .map(Some)?,
                None => None,
            };
            Some(
                k3s::pin(&req.k3s, req.arch.arches(), mirror.as_deref())
                    .context("pinning the k3s release (the stick has k3s settings)")?,
            )
        }
    };
    let offline = match &req.offline {
        None => None,
        Some(o) => Some(offline_release(req, o, env)?),
    };
    let ssh_key = match &req.ssh_key {
        None => None,
        Some(path) => Some(read_ssh_key(path)?),
    };
    let ignition = match &req.ignition {
        IgnitionRequest::Url(url) => IgnitionSpec::Url(url.clone()),
        IgnitionRequest::BuiltIn => IgnitionSpec::Embedded {
            config: crate::ignite::DEFAULT_NODE_CONFIG_IGN.as_bytes().to_vec(),
            origin: ConfigOrigin::BuiltIn,
        },
        IgnitionRequest::File(path) => IgnitionSpec::Embedded {
            config: load_ignition(path)?,
            origin: ConfigOrigin::User,
        },
    };
    let ipxe = load_ipxe(req, env)?;
    Ok(StickSpec {
        flatcar: FlatcarSpec {
            channel: req.channel,
            version: req.flatcar_version.clone(),
            arch: req.arch,
            base_url: req.base_url.clone(),
            consoles: req.console.clone(),
        },
        ignition,
        ssh_key,
        hostname: req.hostname.clone(),
        secrets,
        offline,
        k3s,
        ipxe,
        sizes: Sizes {
            esp_mib: req.esp_size,
            secrets_mib: req.secrets_size,
            disk_bytes: env.disk_bytes,
        },
        source_date_epoch,
    })
}

pub(crate) fn read_ssh_key(path: &Path) -> Result<String> {
    let text = read::read_text(path, read::InputKind::SshKey)?;
    sshkey::parse(&text).with_context(|| format!("SSH public key {}", path.display()))
}

/// The verified release for `--offline`: from the mirror directory if its
/// signatures verify (no network), else downloaded and verified into it.
fn offline_release(req: &Request, o: &OfflineRequest, env: &Environment) -> Result<Release> {
    let arch = offline_arch(req)?;
    let dir = mirror_dir(o, env)?;
    let opts = mirror::MirrorOptions {
        base_url: req.base_url.to_string(),
        keyring: o.keyring.clone(),
        ..mirror::MirrorOptions::new()?
    };
    mirror::verified_release(&dir, req.channel, arch, &req.flatcar_version, &opts)
        .with_context(|| format!("getting Flatcar for --offline into {}", dir.display()))
}

/// The one architecture an offline stick carries.
fn offline_arch(req: &Request) -> Result<Arch> {
    match req.arch.arches() {
        [arch] => Ok(*arch),
        _ => bail!(
            "--offline carries one architecture's Flatcar; choose --arch amd64 or --arch arm64"
        ),
    }
}

/// `--mirror`, or the download cache's `mirror` directory.
fn mirror_dir(o: &OfflineRequest, env: &Environment) -> Result<PathBuf> {
    match &o.mirror {
        Some(dir) => Ok(dir.clone()),
        None => Ok(env.cache_dir()?.join("mirror")),
    }
}

pub(crate) fn read_secrets(flags: &SecretFlags, env: &Environment) -> Result<SecretsVolume> {
    let mut inputs = Inputs {
        env: Inputs::from_env(env.vars.iter().cloned()),
        ..Default::default()
    };
    if let Some(path) = &flags.file {
        let text = read::read_text(path, read::InputKind::SecretsFile)?;
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
            flag("LOGEXPORT_HOST", "--logexport-host", &flags.logexport_host),
            flag("LOGEXPORT_PORT", "--logexport-port", &flags.logexport_port),
            flag("HEARTBEAT_URL", "--heartbeat-url", &flags.heartbeat_url),
            flag(
                "NAMECHEAP_DDNS_PASS",
                "--namecheap-ddns-pass",
                &flags.namecheap_ddns_pass,
            ),
            flag(
                "NAMECHEAP_DDNS_INTERFACE",
                "--namecheap-ddns-interface",
                &flags.namecheap_ddns_interface,
            ),
        ]
        .into_iter()
        .flatten(),
    );
    for kv in &flags.k3s {
        let (key, value) = kv
            .split_once('=')
            .with_context(|| "--k3s takes K3S_NAME=VALUE (e.g. --k3s K3S_TOKEN=...)".to_string())?;
        // The name is echoed only once it is known to be a name: a mistyped
        // `--k3s` may well hold the token itself.
        ensure!(
            key.starts_with("K3S_") && secrets::envfile::is_variable_name(key),
            "--k3s NAME=...: the name must start with K3S_ and hold only letters, digits and '_' (the text given is not shown; it may be a secret)"
        );
        inputs.flags.push(Input {
            key: key.into(),
            value: Secret::new(value),
            origin: Origin::Flag("--k3s".into()),
        });
    }
    SecretsVolume::from_inputs(&inputs)
}

/// The Ignition config to embed from a file: `.ign`/`.json` as is, YAML
/// transpiled with `local:` paths relative to its directory.
pub(crate) fn load_ignition(path: &Path) -> Result<Vec<u8>> {
    if matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml")
    ) {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading Ignition config {}", path.display()))?;
        ensure!(
            crate::secrets::sniff::looks_like_config_yaml(&text),
            "{} is not a Butane config or Container Linux Config (its top-level keys are not theirs; the text is not shown): it looks like {}",
            path.display(),
            crate::secrets::sniff::kind(text.as_bytes())
        );
        let opts = crate::ignite::Options {
            files_dir: path.parent().map(Path::to_path_buf),
            pretty: false,
            ..Default::default()
        };
        let out = crate::ignite::transpile_file(path, &opts)
            .with_context(|| format!("transpiling --ignition {}", path.display()))?;
        return Ok(out.json.into_bytes());
    }
    let text = read::read_text(path, read::InputKind::IgnitionConfig)?;
    // Only the position of a syntax error is reported, and the kind of file:
    // a secrets file given here by mistake must not be echoed.
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not JSON (an Ignition config is; YAML needs a .yml name): it looks like {} (syntax error at line {}, column {})",
            path.display(),
            crate::secrets::sniff::kind(text.as_bytes()),
            e.line(),
            e.column()
        )
    })?;
    let version = value.pointer("/ignition/version").and_then(|v| v.as_str());
    // Flatcar's Ignition reads spec 3.x, and translates 2.x at boot.
    ensure!(
        version.is_some_and(|v| v.starts_with("3.") || v.starts_with("2.")),
        "{}: not an Ignition config (ignition.version is missing or not a 2.x or 3.x string; it looks like {})",
        path.display(),
        crate::secrets::sniff::kind(text.as_bytes())
    );
    Ok(text.into_bytes())
}

fn load_ipxe(req: &Request, env: &Environment) -> Result<Vec<IpxeBinary>> {
    let downloaded = match &req.ipxe.download {
        Some((url, sha)) => {
            ensure!(
                req.ipxe.amd64.is_none(),
                "--ipxe-url and --ipxe-efi both name the amd64 binary; pass one"
            );
            Some(crate::fetch::download_sha256(
                url.as_str(),
                sha,
                &env.cache_dir()?.join("ipxe"),
            )?)
        }
        None => None,
    };
    req.arch
        .arches()
        .iter()
        .map(|&arch| {
            let explicit = match arch {
                Arch::Amd64 => downloaded.as_deref().or(req.ipxe.amd64.as_deref()),
                Arch::Arm64 => req.ipxe.arm64.as_deref(),
            };
            ipxe::resolve(arch, explicit)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Environment {
        Environment {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            disk_bytes: None,
        }
    }

    fn request(dir: &Path) -> Request {
        let ign = dir.join("node.ign");
        std::fs::write(&ign, r#"{"ignition":{"version":"3.3.0"}}"#).unwrap();
        Request {
            ignition: IgnitionRequest::File(ign),
            ipxe: IpxeRequest {
                amd64: Some(
                    Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps/ipxe/ipxe-amd64.efi"),
                ),
                ..Default::default()
            },
            secrets_size: 16,
            flatcar_version: "4593.2.5".parse().unwrap(),
            base_url: BaseUrl::default(),
            console: "ttyS0,115200n8".into(),
            ..Default::default()
        }
    }

    #[test]
    fn bad_inputs_name_their_source() {
        let d = tempfile::tempdir().unwrap();
        let mut r = request(d.path());
        r.secrets.k3s = vec!["TOKEN=x".into()];
        let err = resolve(&r, &env(&[])).unwrap_err();
        assert!(
            format!("{err:#}").contains("must start with K3S_"),
            "{err:#}"
        );
        let err = resolve(
            &request(d.path()),
            &env(&[("SOURCE_DATE_EPOCH", "yesterday")]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("SOURCE_DATE_EPOCH"));
    }

    #[test]
    fn default_and_yaml_ignition_are_read() {
        let d = tempfile::tempdir().unwrap();
        let mut r = request(d.path());
        r.ignition = IgnitionRequest::BuiltIn;
        let spec = resolve(&r, &env(&[])).unwrap();
        assert!(matches!(
            spec.ignition,
            IgnitionSpec::Embedded { ref config, origin: ConfigOrigin::BuiltIn }
                if config == crate::ignite::DEFAULT_NODE_CONFIG_IGN.as_bytes()
        ));

        let yml = d.path().join("node.yml");
        std::fs::write(&yml, "variant: flatcar\nversion: 1.0.0\nstorage:\n  files:\n    - path: /etc/motd\n      contents:\n        inline: hi\n").unwrap();
        r.ignition = IgnitionRequest::File(yml.clone());
        let spec = resolve(&r, &env(&[])).unwrap();
        assert!(matches!(
            spec.ignition,
            IgnitionSpec::Embedded {
                origin: ConfigOrigin::User,
                ..
            }
        ));
        std::fs::write(
            &yml,
            "variant: flatcar\nversion: 1.0.0\nstorage:\n  files:\n    - path: etc/motd\n",
        )
        .unwrap();
        let err = resolve(&r, &env(&[])).unwrap_err();
        assert!(format!("{err:#}").contains("node.yml:5:"), "{err:#}");
    }
}
