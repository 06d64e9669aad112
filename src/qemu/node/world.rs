//! The outside world a stick's node talks to, read from the stick itself
//! (its manifest's kernel arguments and its secrets volume), so the harness
//! fakes exactly the endpoints the user configured: the log service, the
//! heartbeat URL, Namecheap's DDNS endpoint, the k3s release host and the
//! Ignition config URL.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Context, Result, bail, ensure};

use crate::plan::manifest::Manifest;
use crate::qemu::stick::StickContents;
use crate::secrets::Secret;

/// Namecheap's Dynamic DNS endpoint, as the node config calls it.
pub(crate) const DDNS_HOST: &str = "dynamicdns.park-your-domain.com";
/// Where names of the outside world point inside the guest (QEMU forwards
/// connections to it to the harness).
pub(crate) const WORLD_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http,
    Https,
}

/// A host and port the node connects to, with its protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) scheme: Scheme,
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Endpoint {
    /// The guest address the name resolves to: the name's own address when
    /// it is an IPv4 literal, else [`WORLD_ADDR`] (through /etc/hosts).
    pub(crate) fn guest_addr(&self) -> Ipv4Addr {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => ip,
            _ => WORLD_ADDR,
        }
    }
}

/// A URL as the node requests it: the endpoint and the request target
/// (path and query) exactly as written, without normalising escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawUrl {
    pub(crate) endpoint: Endpoint,
    pub(crate) target: String,
}

impl RawUrl {
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else {
            bail!("not an http(s) URL");
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let cut = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(cut);
        let authority = authority.rsplit('@').next().unwrap_or_default();
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                (h, p.parse::<u16>().context("the URL's port")?)
            }
            _ => (
                authority,
                match scheme {
                    Scheme::Http => 80,
                    Scheme::Https => 443,
                },
            ),
        };
        ensure!(!host.is_empty(), "the URL has no host");
        let target = match target {
            "" => "/".to_string(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_string(),
        };
        Ok(Self {
            endpoint: Endpoint {
                scheme,
                host: host.to_ascii_lowercase(),
                port,
            },
            target,
        })
    }
}

/// The URL as the node requests it (the default port left out).
impl std::fmt::Display for RawUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = &self.endpoint;
        let (scheme, default_port) = match e.scheme {
            Scheme::Http => ("http", 80),
            Scheme::Https => ("https", 443),
        };
        write!(f, "{scheme}://{}", e.host)?;
        if e.port != default_port {
            write!(f, ":{}", e.port)?;
        }
        f.write_str(&self.target)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Server,
    Agent,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Agent => "agent",
        }
    }
}

/// The k3s release the stick pins (`k3s_release`, amd64: the guest's arch).
#[derive(Debug, Clone)]
pub(crate) struct Release {
    pub(crate) version: String,
    pub(crate) url: RawUrl,
    pub(crate) sha256: String,
}

#[derive(Debug, Clone)]
pub(crate) struct K3s {
    pub(crate) role: Role,
    /// Every `K3S_*` value of `k3s_env`, as systemd hands it to k3s.
    pub(crate) env: Vec<(String, Secret)>,
    /// `None`: the stick has no usable pin (the node must refuse to start).
    pub(crate) release: Option<Release>,
}

#[derive(Debug, Clone)]
pub(crate) struct Ddns {
    pub(crate) password: Secret,
    /// The host record (first label of the FQDN) and the domain.
    pub(crate) host: String,
    pub(crate) domain: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct World {
    pub(crate) hostname: Option<String>,
    pub(crate) sshkey: Option<String>,
    pub(crate) ignition_url: Option<RawUrl>,
    pub(crate) heartbeat: Option<RawUrl>,
    pub(crate) log: Option<Endpoint>,
    pub(crate) ddns: Option<Ddns>,
    pub(crate) k3s: Option<K3s>,
}

impl World {
    pub(crate) fn from_stick(stick: &StickContents) -> Result<Self> {
        let manifest = stick.manifest.as_deref().context(
            "the stick has no /mkstick/manifest.json: --node needs a stick written by mkstick",
        )?;
        let manifest = Manifest::parse(manifest)?;
        let secrets = stick.secrets.as_deref().unwrap_or_default();
        let file = |name: &str| -> Result<Vec<(String, Secret)>> {
            let Some((_, bytes)) = secrets.iter().find(|(n, _)| n == name) else {
                return Ok(Vec::new());
            };
            let text = std::str::from_utf8(bytes)
                .with_context(|| format!("{name} on the secrets volume is not UTF-8"))?;
            Ok(crate::secrets::envfile::parse(name, text)?
                .into_iter()
                .map(|i| (i.key, i.value))
                .collect())
        };
        let get = |vars: &[(String, Secret)], key: &str| {
            vars.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.expose().is_empty())
        };
        let mut world = World::default();
        for arg in &manifest.kernel_args {
            if let Some(h) = arg.strip_prefix("hostname=") {
                world.hostname = Some(h.to_string());
            } else if let Some(k) = arg.strip_prefix("sshkey=") {
                world.sshkey = Some(k.trim_matches('"').to_string());
            } else if let Some(u) = arg.strip_prefix("ignition.config.url=") {
                world.ignition_url =
                    Some(RawUrl::parse(u).with_context(|| format!("ignition.config.url={u}"))?);
            }
        }
        let heartbeat = file("heartbeat_env")?;
        if let Some(url) = get(&heartbeat, "HEARTBEAT_URL") {
            world.heartbeat =
                Some(RawUrl::parse(url.expose()).context("HEARTBEAT_URL in heartbeat_env")?);
        }
        let log = file("logexport_env")?;
        if let Some(host) = get(&log, "LOGEXPORT_HOST") {
            let port = get(&log, "LOGEXPORT_PORT")
                .context("logexport_env has LOGEXPORT_HOST but no LOGEXPORT_PORT")?;
            let port = port
                .expose()
                .parse()
                .context("LOGEXPORT_PORT in logexport_env is not a port number")?;
            world.log = Some(Endpoint {
                scheme: Scheme::Https,
                host: host.expose().to_ascii_lowercase(),
                port,
            });
        }
        let ddns = file("namecheap_ddns_env")?;
        if let Some(password) = get(&ddns, "NAMECHEAP_DDNS_PASS") {
            let fqdn = world
                .hostname
                .as_deref()
                .context("Namecheap DDNS is on but the stick sets no hostname=")?;
            let (host, domain) = fqdn
                .split_once('.')
                .context("Namecheap DDNS needs a FQDN hostname")?;
            world.ddns = Some(Ddns {
                password,
                host: host.to_string(),
                domain: domain.to_string(),
            });
        }
        let k3s_env: Vec<(String, Secret)> = file("k3s_env")?
            .into_iter()
            .filter(|(k, _)| k.starts_with("K3S_"))
            .collect();
        if !k3s_env.is_empty() {
            let role = match get(&k3s_env, "K3S_ROLE").as_ref().map(Secret::expose) {
                Some("server") => Role::Server,
                Some("agent") => Role::Agent,
                Some(_) => bail!("K3S_ROLE in k3s_env must be server or agent"),
                None if get(&k3s_env, "K3S_URL").is_some() => Role::Agent,
                None => Role::Server,
            };
            let release = match secrets.iter().find(|(n, _)| n == "k3s_release") {
                Some((_, bytes)) => parse_release(bytes)?,
                None => None,
            };
            world.k3s = Some(K3s {
                role,
                env: k3s_env,
                release,
            });
        }
        Ok(world)
    }

    /// Every endpoint the guest connects to, each once.
    pub(crate) fn endpoints(&self) -> Vec<Endpoint> {
        let mut all: Vec<Endpoint> = Vec::new();
        let urls = [&self.ignition_url, &self.heartbeat];
        all.extend(urls.into_iter().flatten().map(|u| u.endpoint.clone()));
        if let Some(r) = self.k3s.as_ref().and_then(|k| k.release.as_ref()) {
            all.push(r.url.endpoint.clone());
        }
        if self.ddns.is_some() {
            all.push(Endpoint {
                scheme: Scheme::Https,
                host: DDNS_HOST.to_string(),
                port: 443,
            });
        }
        all.extend(self.log.clone());
        let mut unique: Vec<Endpoint> = Vec::new();
        for e in all {
            if !unique.contains(&e) {
                unique.push(e);
            }
        }
        unique
    }
}

/// The amd64 pin of `k3s_release` (the contract's `KEY=VALUE` lines);
/// `None` when it pins nothing for amd64.
fn parse_release(bytes: &[u8]) -> Result<Option<Release>> {
    let text = std::str::from_utf8(bytes).context("k3s_release is not UTF-8")?;
    let mut version = None;
    let mut url = None;
    let mut sha256 = None;
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .with_context(|| format!("k3s_release:{}: not KEY=VALUE", i + 1))?;
        match key {
            "K3S_RELEASE_VERSION" => version = Some(value.to_string()),
            "K3S_RELEASE_AMD64_URL" => {
                url = Some(
                    RawUrl::parse(value)
                        .with_context(|| format!("k3s_release:{}: {key}", i + 1))?,
                );
            }
            "K3S_RELEASE_AMD64_SHA256" => sha256 = Some(value.to_string()),
            _ => {}
        }
    }
    Ok(match (version, url, sha256) {
        (Some(version), Some(url), Some(sha256)) => Some(Release {
            version,
            url,
            sha256,
        }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_urls_keep_the_target_as_written() {
        let u = RawUrl::parse("https://Hb.Example.com/ping/a%2Fb?x=1&y=%C3%A9#frag").unwrap();
        assert_eq!(u.endpoint.host, "hb.example.com");
        assert_eq!(u.endpoint.port, 443);
        assert_eq!(u.target, "/ping/a%2Fb?x=1&y=%C3%A9");
        let v = RawUrl::parse("http://user@10.1.2.3:8080?q").unwrap();
        assert_eq!(
            (v.endpoint.scheme, v.endpoint.port, v.target.as_str()),
            (Scheme::Http, 8080, "/?q")
        );
        assert_eq!(v.endpoint.guest_addr(), Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(u.endpoint.guest_addr(), WORLD_ADDR);
        assert_eq!(
            u.to_string(),
            "https://hb.example.com/ping/a%2Fb?x=1&y=%C3%A9"
        );
        assert_eq!(v.to_string(), "http://10.1.2.3:8080/?q");
        assert!(RawUrl::parse("ftp://x/y").is_err());
        assert!(RawUrl::parse("https:///y").is_err());
    }

    #[test]
    fn release_pin_for_amd64() {
        let pin = b"# pinned by mkstick\nK3S_RELEASE_VERSION=v1.31.4+k3s1\n\
            K3S_RELEASE_AMD64_URL=https://github.com/k3s-io/k3s/releases/download/v1.31.4%2Bk3s1/k3s\n\
            K3S_RELEASE_AMD64_SHA256=abc\nK3S_RELEASE_ARM64_URL=https://x/k3s-arm64\n";
        let r = parse_release(pin).unwrap().unwrap();
        assert_eq!(r.version, "v1.31.4+k3s1");
        assert_eq!(
            r.url.target,
            "/k3s-io/k3s/releases/download/v1.31.4%2Bk3s1/k3s"
        );
        assert_eq!(r.sha256, "abc");
        assert!(
            parse_release(b"K3S_RELEASE_VERSION=v1\n")
                .unwrap()
                .is_none()
        );
        assert!(parse_release(b"garbage\n").is_err());
    }
}
