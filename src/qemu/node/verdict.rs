//! Turns what the harness saw (requests to the faked world, log lines, the
//! guest reporter's snapshots, the k3s stand-in's report) into one line per
//! component: passed with its evidence, failed with the reason, or still
//! pending. Secret values are compared here and never printed.

use sha2::{Digest, Sha256};

use super::http::Request;
use super::services::Observation;
use super::world::{DDNS_HOST, Role, Scheme, World};

/// The guest's address on QEMU's user network.
const GUEST_IP: &str = "10.0.2.15";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    Pass(String),
    Fail(String),
    Pending(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Component {
    pub(crate) name: &'static str,
    pub(crate) status: Status,
}

/// Everything observed so far.
#[derive(Debug, Default)]
pub(crate) struct Evidence {
    pub(crate) requests: Vec<(Scheme, Request, u16)>,
    pub(crate) tls_failures: Vec<(&'static str, String)>,
    pub(crate) log_lines: usize,
    pub(crate) log_tls: Option<String>,
    pub(crate) standin: Option<String>,
    /// The latest snapshot from the guest's reporter, as `key rest` lines.
    pub(crate) snapshot: Option<String>,
}

impl Evidence {
    pub(crate) fn add(&mut self, observation: Observation) {
        match observation {
            Observation::Request {
                scheme,
                request,
                status,
            } => self.requests.push((scheme, request, status)),
            Observation::TlsFailed { service, detail } => {
                self.tls_failures.push((service, detail));
            }
            Observation::LogLine { tls } => {
                self.log_lines += 1;
                self.log_tls = Some(tls);
            }
            Observation::Report(text) => self.snapshot = Some(text),
            Observation::Standin(text) => self.standin = Some(text),
        }
    }

    fn snap(&self, key: &str) -> Vec<&str> {
        let Some(text) = &self.snapshot else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .collect()
    }

    fn snap_one(&self, key: &str) -> Option<&str> {
        self.snap(key).into_iter().next()
    }

    /// systemd has finished starting up (running, or degraded).
    fn settled(&self) -> bool {
        matches!(self.snap_one("system"), Some("running" | "degraded"))
    }

    /// `ActiveState SubState Result NRestarts` of a unit.
    fn unit(&self, name: &str) -> Option<Vec<&str>> {
        self.snap("unit")
            .into_iter()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map(|rest| rest.split(' ').collect())
    }

    fn failed_units(&self) -> Vec<&str> {
        self.snap_one("failed")
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

use Status::{Fail, Pass, Pending};

/// Every component's state. `standin_sha256`: the bytes served at the
/// release URL.
pub(crate) fn evaluate(world: &World, standin_sha256: &str, ev: &Evidence) -> Vec<Component> {
    let mut out = vec![
        Component {
            name: "secrets",
            status: secrets(ev),
        },
        Component {
            name: "hostname",
            status: hostname(world, ev),
        },
        Component {
            name: "ignition",
            status: ignition(world, ev),
        },
        Component {
            name: "k3s",
            status: k3s(world, standin_sha256, ev),
        },
        Component {
            name: "logexport",
            status: logexport(world, ev),
        },
        Component {
            name: "heartbeat",
            status: heartbeat(world, ev),
        },
        Component {
            name: "ddns",
            status: ddns(world, standin_sha256, ev),
        },
    ];
    let k3s_refusal_expected = matches!(&out[3].status, Pass(s) if s.starts_with("refused"));
    out.push(Component {
        name: "units",
        status: units(ev, k3s_refusal_expected),
    });
    out
}

fn secrets(ev: &Evidence) -> Status {
    if ev.snapshot.is_none() {
        return Pending("no report from the node yet".into());
    }
    for path in ["/mnt/secrets", "/secrets"] {
        let mount = ev
            .snap("mount")
            .into_iter()
            .find_map(|l| l.strip_prefix(path)?.strip_prefix(' '));
        let Some(mount) = mount.filter(|m| *m != "none") else {
            return if ev.settled() {
                Fail(format!("{path} is not mounted"))
            } else {
                Pending(format!("{path} not mounted yet"))
            };
        };
        let mut parts = mount.split(' ');
        let (fstype, opts) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let opts: Vec<&str> = opts.split(',').collect();
        let missing: Vec<&str> = ["ro", "nosuid", "nodev", "noexec"]
            .into_iter()
            .filter(|o| !opts.contains(o))
            .collect();
        if fstype != "vfat" || !missing.is_empty() {
            return Fail(format!(
                "{path}: {fstype} mounted without {}",
                missing.join(",")
            ));
        }
        let perm = ev
            .snap("perm")
            .into_iter()
            .find_map(|l| l.strip_prefix(path)?.strip_prefix(' '));
        if perm != Some("700 0 0") {
            return Fail(format!(
                "{path} has mode/owner {perm:?}, expected 700 root:root"
            ));
        }
        if ev
            .snap("writable")
            .into_iter()
            .any(|l| l == format!("{path} yes"))
        {
            return Fail(format!("{path}: a file could be created on it"));
        }
    }
    Pass("vfat, ro,nosuid,nodev,noexec, root-only (0700 root:root), a write refused, at /mnt/secrets and /secrets".into())
}

fn hostname(world: &World, ev: &Evidence) -> Status {
    let Some(want) = &world.hostname else {
        return Pass("no hostname= argument on the stick (kept the default)".into());
    };
    match ev.snap_one("hostname") {
        Some(h) if h == want => Pass(format!("{h}, from the hostname= kernel argument")),
        Some(h) if ev.settled() => Fail(format!("the node is called {h}, the stick says {want}")),
        _ => Pending("no report yet".into()),
    }
}

fn ignition(world: &World, ev: &Evidence) -> Status {
    let how = match &world.ignition_url {
        Some(url) => {
            let fetched = ev.requests.iter().any(|(s, r, status)| {
                *s == url.endpoint.scheme
                    && r.host == url.endpoint.host
                    && r.target == url.target
                    && *status == 200
            });
            if !fetched {
                return Pending(format!("the config at {url} not fetched yet"));
            }
            let over = match url.endpoint.scheme {
                Scheme::Https => "HTTPS, certificate verified",
                Scheme::Http => "HTTP",
            };
            format!("config fetched from {url} ({over}), applied")
        }
        None => "applied the embedded config (oem.cpio)".to_string(),
    };
    if ev.snap_one("ignition-result").is_none() {
        return Pending("no Ignition result on the node yet".into());
    }
    match (world.sshkey.is_some(), ev.snap_one("core-key")) {
        (false, _) => Pass(format!("real Ignition: {how}")),
        (true, Some("present")) => Pass(format!("real Ignition: {how}; core's SSH key installed")),
        (true, Some(_)) => Fail("the sshkey= key is not in core's authorized keys".into()),
        (true, None) => Pending("no report yet".into()),
    }
}

fn off(ev: &Evidence, units: &[&str], why: &str) -> Status {
    if !ev.settled() {
        return Pending("system still starting".into());
    }
    for u in units {
        match ev.unit(u) {
            Some(s) if s.first() == Some(&"inactive") && s.get(2) == Some(&"success") => {}
            Some(s) => return Fail(format!("{why}, but {u} is {}", s.join(" "))),
            None => return Pending(format!("no state of {u} yet")),
        }
    }
    Pass(format!(
        "off ({why}): {} inactive, not failed",
        units.join(", ")
    ))
}

fn k3s(world: &World, standin_sha256: &str, ev: &Evidence) -> Status {
    let Some(k3s) = &world.k3s else {
        return off(
            ev,
            &["k3s-install.service", "k3s.service"],
            "no k3s_env on the stick",
        );
    };
    let Some(release) = &k3s.release else {
        return Fail(
            "the stick has k3s_env but pins no k3s release for amd64 (no k3s_release): \
             the node refuses to install k3s; write the stick again with the k3s pin"
                .into(),
        );
    };
    let downloaded = ev.requests.iter().any(|(s, r, status)| {
        *s == release.url.endpoint.scheme
            && r.host == release.url.endpoint.host
            && r.target == release.url.target
            && *status == 200
    });
    if !downloaded {
        return Pending("the pinned release URL not requested yet".into());
    }
    let host = &release.url.endpoint.host;
    if release.sha256 != standin_sha256 {
        // The stick pins other bytes than the ones served: the node must refuse.
        if ev.standin.is_some() {
            return Fail(format!(
                "the node EXECUTED the served binary (sha256 {standin_sha256}) although the stick pins {}",
                release.sha256
            ));
        }
        return match (ev.snap_one("k3s-install-log"), ev.snap_one("k3s-binary")) {
            (Some(line), Some("none"))
                if line.contains(standin_sha256) && line.contains(&release.sha256) =>
            {
                Pass(format!(
                    "refused: the binary served at {host} (sha256 {standin_sha256}) does not match the pin {}; \
                 not installed, never executed; journal names k3s {} and both hashes",
                    release.sha256, release.version
                ))
            }
            (_, Some(b)) if b != "none" => Fail(format!(
                "/opt/bin/k3s exists (sha256 {b}) although the download did not match the pin"
            )),
            _ => Pending("waiting for the installer's refusal in the journal".into()),
        };
    }
    let Some(report) = &ev.standin else {
        return Pending("the k3s stand-in has not started yet".into());
    };
    let role = report.lines().find_map(|l| l.strip_prefix("role "));
    if role != Some(k3s.role.as_str()) {
        return Fail(format!(
            "k3s started as {role:?}, the stick's k3s_env means {}",
            k3s.role.as_str()
        ));
    }
    let mut matched = Vec::new();
    for (key, value) in &k3s.env {
        let want = format!("env {key} {}", sha256_hex(value.expose().as_bytes()));
        if !report.lines().any(|l| l == want) {
            let seen = report
                .lines()
                .any(|l| l.starts_with(&format!("env {key} ")));
            return Fail(if seen {
                format!("k3s got {key} with a different value than k3s_env holds")
            } else {
                format!("k3s did not get {key} from k3s_env")
            });
        }
        matched.push(key.as_str());
    }
    match (ev.snap_one("k3s-binary"), ev.unit("k3s.service")) {
        (Some(b), Some(u)) if b == release.sha256 && u.first() == Some(&"active") => Pass(format!(
            "k3s {} downloaded from {host}{} (a stand-in, not real k3s), sha256 checked, \
                 started as {} and ready; {} values matched k3s_env",
            release.version,
            release.url.target,
            k3s.role.as_str(),
            matched.join(", ")
        )),
        _ => Pending("k3s.service not active yet".into()),
    }
}

fn logexport(world: &World, ev: &Evidence) -> Status {
    let Some(log) = &world.log else {
        return off(ev, &["logexport.service"], "no logexport_env");
    };
    if let Some((_, detail)) = ev.tls_failures.iter().find(|(s, _)| *s == "logexport") {
        return Fail(format!(
            "the node's TLS connection to {}:{} failed: {detail}",
            log.host, log.port
        ));
    }
    if ev.log_lines > 0 {
        return Pass(format!(
            "{} journal lines received at {}:{} over TLS ({}), the node verifying the certificate",
            ev.log_lines,
            log.host,
            log.port,
            ev.log_tls.as_deref().unwrap_or("?")
        ));
    }
    Pending("no journal line received yet".into())
}

fn heartbeat(world: &World, ev: &Evidence) -> Status {
    let Some(url) = &world.heartbeat else {
        return off(
            ev,
            &["heartbeat.timer", "heartbeat.service"],
            "no heartbeat_env",
        );
    };
    let to_host: Vec<&Request> = ev
        .requests
        .iter()
        .filter(|(s, r, _)| *s == url.endpoint.scheme && r.host == url.endpoint.host)
        .map(|(_, r, _)| r)
        .collect();
    if to_host.iter().any(|r| r.target == url.target) {
        return Pass(format!(
            "{} requested the exact URL of heartbeat_env (path and query, {} bytes)",
            url.endpoint.host,
            url.target.len()
        ));
    }
    if !to_host.is_empty() {
        return Fail(format!(
            "{} was asked for another path or query than heartbeat_env's URL",
            url.endpoint.host
        ));
    }
    Pending("no heartbeat request yet".into())
}

fn ddns(world: &World, standin_sha256: &str, ev: &Evidence) -> Status {
    let Some(ddns) = &world.ddns else {
        return off(
            ev,
            &["namecheap-ddns.timer", "namecheap-ddns.service"],
            "no namecheap_ddns_env",
        );
    };
    let mut records = Vec::new();
    for (scheme, r, _) in &ev.requests {
        if *scheme != Scheme::Https || r.host != DDNS_HOST || r.path() != "/update" {
            continue;
        }
        let q = r.query();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_slice());
        let record = String::from_utf8_lossy(get("host").unwrap_or_default()).into_owned();
        if record != ddns.host && record != "primary" {
            return Fail(format!(
                "the node updated the record {record:?} of {}; only {} and primary may be updated (never the apex @)",
                ddns.domain, ddns.host
            ));
        }
        if get("domain") != Some(ddns.domain.as_bytes()) {
            return Fail(format!(
                "the update of {record} named another domain than {}",
                ddns.domain
            ));
        }
        if get("password") != Some(ddns.password.expose().as_bytes()) {
            return Fail(format!(
                "the update of {record}.{} carried a password that differs from namecheap_ddns_env",
                ddns.domain
            ));
        }
        if get("ip") != Some(GUEST_IP.as_bytes()) {
            return Fail(format!(
                "the update of {record} did not carry the node's address {GUEST_IP}"
            ));
        }
        if !records.contains(&record) {
            records.push(record);
        }
    }
    // A server runs (and claims primary) only when the served binary is the pinned one.
    let server = world.k3s.as_ref().is_some_and(|k| {
        k.role == Role::Server
            && k.release
                .as_ref()
                .is_some_and(|r| r.sha256 == standin_sha256)
    });
    let primary = records.iter().any(|r| r == "primary");
    if primary && !server {
        return Fail("primary was updated by a node that is not a Ready k3s server".into());
    }
    if !records.contains(&ddns.host) || (server && !primary) {
        return Pending(format!("records updated so far: {records:?}"));
    }
    let names: Vec<String> = records
        .iter()
        .map(|r| format!("{r}.{}", ddns.domain))
        .collect();
    Pass(format!(
        "updated {} to {GUEST_IP}{}; password matched; never the apex",
        names.join(" and "),
        if server {
            " (primary: this Ready k3s server)"
        } else {
            " (no primary: not a k3s server)"
        }
    ))
}

fn units(ev: &Evidence, k3s_refusal_expected: bool) -> Status {
    if !ev.settled() {
        return Pending(format!(
            "system state {:?}",
            ev.snap_one("system").unwrap_or("unknown")
        ));
    }
    let allowed: &[&str] = if k3s_refusal_expected {
        &["k3s-install.service", "k3s.service"]
    } else {
        &[]
    };
    let failed: Vec<&str> = ev
        .failed_units()
        .into_iter()
        .filter(|u| !allowed.contains(u))
        .collect();
    if failed.is_empty() {
        Pass(format!(
            "systemctl --failed: none{}",
            if k3s_refusal_expected {
                " besides the refused k3s install"
            } else {
                ""
            }
        ))
    } else {
        Fail(format!("systemctl --failed: {}", failed.join(" ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::node::world::{Ddns, Endpoint, K3s, RawUrl, Release};
    use crate::secrets::Secret;

    const PASS: &str = r#"p "q" $x #h \b é"#;

    fn world() -> World {
        World {
            hostname: Some("node1.example.com".into()),
            heartbeat: Some(RawUrl::parse("https://hb.example.com/p/a%2Fb?t=1&u=%C3%A9").unwrap()),
            ddns: Some(Ddns {
                password: Secret::new(PASS),
                host: "node1".into(),
                domain: "example.com".into(),
            }),
            k3s: Some(K3s {
                role: Role::Agent,
                env: vec![("K3S_TOKEN".into(), Secret::new("tok en"))],
                release: Some(Release {
                    version: "v1.31.4+k3s1".into(),
                    url: RawUrl::parse("https://github.com/k/k3s").unwrap(),
                    sha256: "aa".into(),
                }),
            }),
            log: Some(Endpoint {
                scheme: Scheme::Https,
                host: "logs.example.com".into(),
                port: 6514,
            }),
            ..World::default()
        }
    }

    fn get(host: &str, target: &str) -> Observation {
        Observation::Request {
            scheme: Scheme::Https,
            request: Request {
                method: "GET".into(),
                target: target.into(),
                host: host.into(),
                body: Vec::new(),
            },
            status: 200,
        }
    }

    fn status<'a>(c: &'a [Component], name: &str) -> &'a Status {
        &c.iter().find(|c| c.name == name).unwrap().status
    }

    fn ddns_update(host: &str, password: &str) -> Observation {
        let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
        get(
            DDNS_HOST,
            &format!(
                "/update?host={host}&domain=example.com&ip=10.0.2.15&password={}",
                enc(password)
            ),
        )
    }

    #[test]
    fn ddns_checks_records_and_password_byte_exact() {
        let w = world();
        let mut ev = Evidence::default();
        ev.add(ddns_update("node1", PASS));
        assert!(
            matches!(status(&evaluate(&w, "aa", &ev), "ddns"), Pass(t) if t.contains("no primary"))
        );
        let mut wrong = Evidence::default();
        wrong.add(ddns_update("node1", "p \"q\" $x #h \\b e"));
        assert!(
            matches!(status(&evaluate(&w, "aa", &wrong), "ddns"), Fail(t) if t.contains("password"))
        );
        let mut apex = Evidence::default();
        apex.add(ddns_update("%40", PASS));
        assert!(
            matches!(status(&evaluate(&w, "aa", &apex), "ddns"), Fail(t) if t.contains("apex"))
        );
        // An agent never claims primary.
        let mut primary = Evidence::default();
        primary.add(ddns_update("node1", PASS));
        primary.add(ddns_update("primary", PASS));
        assert!(matches!(
            status(&evaluate(&w, "aa", &primary), "ddns"),
            Fail(_)
        ));
        // Nothing secret in any line.
        for ev in [&ev, &wrong, &apex, &primary] {
            for c in evaluate(&w, "aa", ev) {
                assert!(!format!("{:?}", c.status).contains("#h"), "{c:?}");
            }
        }
    }

    #[test]
    fn ignition_by_url_needs_the_exact_fetch() {
        let w = World {
            ignition_url: Some(RawUrl::parse("https://cfg.example.com/n/node.ign?x=1").unwrap()),
            sshkey: Some("ssh-ed25519 AAAA k".into()),
            ..World::default()
        };
        let mut ev = Evidence::default();
        ev.add(Observation::Report(
            "ignition-result {}\ncore-key present\n".into(),
        ));
        assert!(matches!(
            status(&evaluate(&w, "aa", &ev), "ignition"),
            Pending(_)
        ));
        ev.add(get("cfg.example.com", "/n/node.ign"));
        assert!(matches!(
            status(&evaluate(&w, "aa", &ev), "ignition"),
            Pending(_)
        ));
        ev.add(get("cfg.example.com", "/n/node.ign?x=1"));
        assert!(matches!(
            status(&evaluate(&w, "aa", &ev), "ignition"),
            Pass(t) if t.contains("config fetched from https://cfg.example.com/n/node.ign?x=1 (HTTPS")
                && t.ends_with("applied; core's SSH key installed")
        ));
    }

    #[test]
    fn heartbeat_wants_the_exact_target() {
        let w = world();
        let mut ev = Evidence::default();
        ev.add(get("hb.example.com", "/p/a/b?t=1&u=%C3%A9"));
        assert!(matches!(
            status(&evaluate(&w, "aa", &ev), "heartbeat"),
            Fail(_)
        ));
        let mut ok = Evidence::default();
        ok.add(get("hb.example.com", "/p/a%2Fb?t=1&u=%C3%A9"));
        assert!(matches!(
            status(&evaluate(&w, "aa", &ok), "heartbeat"),
            Pass(_)
        ));
    }

    #[test]
    fn k3s_role_values_and_refusal() {
        let w = world();
        let token = sha256_hex(b"tok en");
        let snapshot =
            "system running\nk3s-binary aa\nunit k3s.service active running success 0\nfailed \n";
        let mut ev = Evidence::default();
        ev.add(get("github.com", "/k/k3s"));
        ev.add(Observation::Report(snapshot.into()));
        ev.add(Observation::Standin(format!(
            "role agent\nargs agent\nenv K3S_TOKEN {token}\n"
        )));
        assert!(
            matches!(status(&evaluate(&w, "aa", &ev), "k3s"), Pass(t) if t.contains("started as agent"))
        );
        let mut server = Evidence::default();
        server.add(get("github.com", "/k/k3s"));
        server.add(Observation::Report(snapshot.into()));
        server.add(Observation::Standin(format!(
            "role server\nenv K3S_TOKEN {token}\n"
        )));
        assert!(matches!(
            status(&evaluate(&w, "aa", &server), "k3s"),
            Fail(_)
        ));
        // The stick pins "aa", the harness serves "bb": refused, never run.
        let mut refused = Evidence::default();
        refused.add(get("github.com", "/k/k3s"));
        refused.add(Observation::Report(
            "system running\nk3s-binary none\nk3s-install-log k3s v1: the k3s binary from x has sha256 bb, but the stick pins aa\nfailed k3s-install.service\n".into(),
        ));
        let c = evaluate(&w, "bb", &refused);
        assert!(matches!(status(&c, "k3s"), Pass(t) if t.starts_with("refused")));
        assert!(matches!(status(&c, "units"), Pass(_)));
        refused.add(Observation::Standin("role agent\n".into()));
        assert!(
            matches!(status(&evaluate(&w, "bb", &refused), "k3s"), Fail(t) if t.contains("EXECUTED"))
        );
    }
}
