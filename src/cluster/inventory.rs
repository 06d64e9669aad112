//! The cluster inventory: a YAML file, safe to commit (no secret values),
//! read with ignite's span-keeping YAML layer so that every problem names
//! file:line:col and shows the source line.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::ignite::diag::{Diagnostic, Diagnostics, render_all};
use crate::ignite::yaml::{self, Entry, Node as Yaml, Span, Value};
use crate::model::flatcar::ArchChoice;
use crate::secrets::format::check_hostname;

/// What a node runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
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

/// Where the servers keep the cluster state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Datastore {
    /// etcd inside k3s: the first server starts it with `--cluster-init`.
    Embedded,
    /// `K3S_DATASTORE_ENDPOINT`, kept in the secrets store.
    External,
}

/// One `KEY=value` k3s setting from the inventory (never a secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Setting {
    pub(crate) key: String,
    pub(crate) value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NodeSpec {
    pub(crate) name: String,
    pub(crate) role: Role,
    /// Marked `init: true`: the server the others join.
    pub(crate) init: bool,
    /// A full host name instead of NAME.DOMAIN.
    pub(crate) hostname: Option<String>,
    pub(crate) arch: Option<ArchChoice>,
    /// Per-node Ignition file, resolved against the inventory's directory.
    pub(crate) ignition: Option<PathBuf>,
    /// `key=value` (k3s `--node-label`).
    pub(crate) labels: Vec<String>,
    /// `key=value:Effect` or `key:Effect` (k3s `--node-taint`).
    pub(crate) taints: Vec<String>,
    pub(crate) env: Vec<Setting>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Inventory {
    pub(crate) cluster: String,
    pub(crate) domain: String,
    /// A k3s tag or channel, as the writer's `--k3s-version` takes it.
    pub(crate) k3s_version: Option<crate::k3s::VersionSpec>,
    pub(crate) datastore: Datastore,
    /// Settings for every node.
    pub(crate) env: Vec<Setting>,
    pub(crate) nodes: Vec<NodeSpec>,
}

impl Inventory {
    /// Reads and checks an inventory file; all problems are reported at once.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let text = read_bounded(path)
            .with_context(|| format!("reading the cluster inventory {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        parse(&text, &path.display().to_string(), base)
    }

    pub(crate) fn node(&self, name: &str) -> Result<&NodeSpec> {
        match self.nodes.iter().find(|n| n.name == name) {
            Some(n) => Ok(n),
            None => {
                let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
                bail!(
                    "cluster {} has no node {name:?}; its nodes are: {}",
                    self.cluster,
                    names.join(", ")
                )
            }
        }
    }

    /// The server the others join: the one marked `init: true`, else the first.
    pub(crate) fn first_server(&self) -> &NodeSpec {
        self.nodes
            .iter()
            .find(|n| n.init)
            .or_else(|| self.nodes.iter().find(|n| n.role == Role::Server))
            .expect("parse() rejects an inventory without a server")
    }

    pub(crate) fn fqdn(&self, node: &NodeSpec) -> String {
        node.hostname
            .clone()
            .unwrap_or_else(|| format!("{}.{}", node.name, self.domain))
    }

    pub(crate) fn servers(&self) -> impl Iterator<Item = &NodeSpec> {
        self.nodes.iter().filter(|n| n.role == Role::Server)
    }
}

/// An inventory is a few KiB; a bigger "inventory" is a mistake or an attack.
const MAX_INVENTORY: u64 = 1 << 20;

/// Reads a regular file of at most [`MAX_INVENTORY`] bytes (a FIFO or a
/// device would block or never end).
fn read_bounded(path: &Path) -> Result<String> {
    use std::io::Read as _;
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        bail!("not a regular file");
    }
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_INVENTORY + 1)
        .read_to_string(&mut text)
        .context("expected UTF-8 text")?;
    if text.len() as u64 > MAX_INVENTORY {
        bail!("larger than 1 MiB: not an inventory");
    }
    Ok(text)
}

const TOP_KEYS: &[&str] = &["cluster", "domain", "k3s", "nodes"];
const K3S_KEYS: &[&str] = &["version", "datastore", "env"];
const NODE_KEYS: &[&str] = &[
    "name", "role", "init", "hostname", "arch", "ignition", "labels", "taints", "env",
];

/// k3s settings mkstick writes itself (from the roles and the secrets store):
/// the inventory may not set them.
const MANAGED: &[(&str, &str)] = &[
    ("K3S_TOKEN", "the secrets store holds the token"),
    ("K3S_AGENT_TOKEN", "tokens belong in the secrets store"),
    ("K3S_URL", "mkstick points nodes at the first server"),
    ("K3S_ROLE", "set `role:` on the node"),
    (
        "K3S_CLUSTER_INIT",
        "mark the first server with `init: true`",
    ),
    (
        "K3S_DATASTORE_ENDPOINT",
        "it holds a password: put it in the secrets store (`k3s.datastore: external`)",
    ),
    (
        "K3S_CONFIG_FILE",
        "mkstick writes the node's labels and taints there",
    ),
];

/// Parses inventory text; `base` resolves relative Ignition paths.
pub(crate) fn parse(text: &str, file: &str, base: &Path) -> Result<Inventory> {
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(d) => {
            let mut diags = Diagnostics::default();
            diags.push(d);
            bail!("{}", report(&diags, file, text));
        }
    };
    let mut r = Reader {
        diags: Diagnostics::default(),
    };
    let inv = r.inventory(&root, base);
    if r.diags.has_errors() {
        r.diags.sort();
        bail!("{}", report(&r.diags, file, text));
    }
    Ok(inv.expect("no errors means a complete inventory"))
}

/// "the cluster inventory F has N problems:" and each one rendered rustc-style.
fn report(diags: &Diagnostics, file: &str, text: &str) -> String {
    let n = diags.items().len();
    format!(
        "the cluster inventory {file} has {n} problem{}:\n{}",
        if n == 1 { "" } else { "s" },
        render_all(diags, file, text).trim_end()
    )
}

struct Reader {
    diags: Diagnostics,
}

impl Reader {
    fn error(&mut self, msg: impl Into<String>, span: Span) {
        self.diags.error(msg, span);
    }

    fn help(&mut self, msg: impl Into<String>, span: Span, help: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(msg, Some(span)).with_help(help));
    }

    /// The entries of a mapping, with unknown keys reported (and "did you mean").
    fn map<'a>(&mut self, node: &'a Yaml, what: &str, known: &[&str]) -> &'a [Entry] {
        let Value::Map(entries) = &node.value else {
            self.error(
                format!("{what} must be a mapping, found {}", node.kind()),
                node.span,
            );
            return &[];
        };
        for e in entries {
            if !known.contains(&e.key.as_str()) {
                let best = known
                    .iter()
                    .map(|k| (strsim::jaro_winkler(&e.key, k), *k))
                    .filter(|(s, _)| *s > 0.8)
                    .max_by(|a, b| a.0.total_cmp(&b.0));
                let help = match best {
                    Some((_, k)) => format!("did you mean `{k}`?"),
                    None => format!("{what} takes: {}", known.join(", ")),
                };
                self.help(
                    format!("unknown key `{}` in {what}", e.key),
                    e.key_span,
                    help,
                );
            }
        }
        entries
    }

    fn string(&mut self, node: &Yaml, what: &str) -> Option<String> {
        match &node.value {
            Value::Scalar(s) if !s.is_null() => Some(s.text.clone()),
            _ => {
                self.error(
                    format!("{what} must be a string, found {}", node.kind()),
                    node.span,
                );
                None
            }
        }
    }

    fn strings(&mut self, node: &Yaml, what: &str) -> Vec<(String, Span)> {
        let Value::Seq(items) = &node.value else {
            self.error(
                format!("{what} must be a list, found {}", node.kind()),
                node.span,
            );
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|i| self.string(i, what).map(|s| (s, i.span)))
            .collect()
    }

    fn inventory(&mut self, root: &Yaml, base: &Path) -> Option<Inventory> {
        if root.is_null() {
            self.error(
                "the inventory is empty: it needs `cluster`, `domain` and `nodes`",
                root.span,
            );
            return None;
        }
        let entries = self.map(root, "the inventory", TOP_KEYS);
        let get = |k: &str| entries.iter().find(|e| e.key == k);
        let cluster = match get("cluster") {
            Some(e) => self.dns_label(&e.value, "`cluster`"),
            None => {
                self.error("the inventory needs `cluster: NAME`", root.span);
                None
            }
        };
        let domain = match get("domain") {
            Some(e) => self.host(&e.value, "`domain`"),
            None => {
                self.help(
                    "the inventory needs `domain:`",
                    root.span,
                    "node host names are NAME.DOMAIN, e.g. `domain: example.com`",
                );
                None
            }
        };
        let (k3s_version, datastore, env) = match get("k3s") {
            Some(e) => self.k3s(&e.value),
            None => (None, Datastore::Embedded, Vec::new()),
        };
        let nodes = match get("nodes") {
            Some(e) => self.nodes(&e.value, base),
            None => {
                self.error("the inventory needs `nodes:`, a list of nodes", root.span);
                Vec::new()
            }
        };
        Some(Inventory {
            cluster: cluster?,
            domain: domain?,
            k3s_version,
            datastore,
            env,
            nodes,
        })
    }

    fn k3s(&mut self, node: &Yaml) -> (Option<crate::k3s::VersionSpec>, Datastore, Vec<Setting>) {
        let entries = self.map(node, "`k3s`", K3S_KEYS);
        let mut version = None;
        let mut datastore = Datastore::Embedded;
        let mut env = Vec::new();
        for e in entries {
            match e.key.as_str() {
                "version" => {
                    let text = self.string(&e.value, "`k3s.version`");
                    version = text.and_then(|t| match t.parse() {
                        Ok(v) => Some(v),
                        Err(why) => {
                            self.help(
                                format!("`k3s.version`: {why:#}"),
                                e.value.span,
                                "a k3s tag such as v1.31.4+k3s1, or a channel: stable, latest, v1.31",
                            );
                            None
                        }
                    });
                }
                "datastore" => match self.string(&e.value, "`k3s.datastore`").as_deref() {
                    Some("embedded") => datastore = Datastore::Embedded,
                    Some("external") => datastore = Datastore::External,
                    Some(other) => self.help(
                        format!("unknown datastore `{other}`"),
                        e.value.span,
                        "`embedded` (etcd in k3s) or `external` (K3S_DATASTORE_ENDPOINT in the secrets store)",
                    ),
                    None => {}
                },
                "env" => env = self.env(&e.value, "`k3s.env`"),
                _ => {}
            }
        }
        (version, datastore, env)
    }

    fn env(&mut self, node: &Yaml, what: &str) -> Vec<Setting> {
        let Value::Map(entries) = &node.value else {
            self.error(
                format!(
                    "{what} must be a mapping of K3S_* settings, found {}",
                    node.kind()
                ),
                node.span,
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in entries {
            let key = e.key.as_str();
            let valid = key.strip_prefix("K3S_").is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            });
            if !valid {
                self.help(
                    format!("`{key}` is not a k3s setting"),
                    e.key_span,
                    "k3s reads environment variables named K3S_* (upper case), e.g. K3S_KUBECONFIG_MODE",
                );
                continue;
            }
            if let Some((_, why)) = MANAGED.iter().find(|(k, _)| *k == key) {
                self.help(format!("mkstick sets `{key}` itself"), e.key_span, *why);
                continue;
            }
            let Value::Scalar(s) = &e.value.value else {
                self.error(
                    format!("`{key}` must be a string, found {}", e.value.kind()),
                    e.value.span,
                );
                continue;
            };
            if s.text.contains(['\n', '\r', '\0']) {
                self.error(format!("`{key}` must be one line"), e.value.span);
                continue;
            }
            out.push(Setting {
                key: key.to_string(),
                value: s.text.clone(),
            });
        }
        out
    }

    fn nodes(&mut self, node: &Yaml, base: &Path) -> Vec<NodeSpec> {
        let Value::Seq(items) = &node.value else {
            self.error(
                format!("`nodes` must be a list of nodes, found {}", node.kind()),
                node.span,
            );
            return Vec::new();
        };
        let mut out: Vec<NodeSpec> = Vec::new();
        let mut seen: Vec<(String, Span)> = Vec::new();
        let mut init: Option<Span> = None;
        for item in items {
            let Some((spec, name_span, init_span)) = self.node(item, base) else {
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == spec.name) {
                self.help(
                    format!("duplicate node name `{}`", spec.name),
                    name_span,
                    format!(
                        "it is first used on line {}; node names must be unique",
                        first.start.line
                    ),
                );
                continue;
            }
            if let Some(span) = init_span {
                if spec.role != Role::Server {
                    self.error(
                        "`init: true` marks the first server; this node is an agent",
                        span,
                    );
                } else if let Some(first) = init {
                    self.help(
                        "only one server can start the cluster (`init: true`)",
                        span,
                        format!("line {} already has `init: true`", first.start.line),
                    );
                } else {
                    init = Some(span);
                }
            }
            seen.push((spec.name.clone(), name_span));
            out.push(spec);
        }
        if !items.is_empty()
            && !self.diags.has_errors()
            && !out.iter().any(|n| n.role == Role::Server)
        {
            self.help(
                "the cluster has no server",
                node.span,
                "give at least one node `role: server`",
            );
        }
        if items.is_empty() {
            self.error("`nodes` is empty: list at least one server", node.span);
        }
        out
    }

    fn node(&mut self, item: &Yaml, base: &Path) -> Option<(NodeSpec, Span, Option<Span>)> {
        let entries = self.map(item, "a node", NODE_KEYS);
        if entries.is_empty() {
            return None;
        }
        let get = |k: &str| entries.iter().find(|e| e.key == k);
        let Some(name_entry) = get("name") else {
            self.error("this node has no `name:`", item.span);
            return None;
        };
        let name = self.dns_label(&name_entry.value, "a node name");
        let role = match get("role") {
            None => {
                self.help(
                    "this node has no `role:`",
                    item.span,
                    "`role: server` or `role: agent`",
                );
                None
            }
            Some(e) => match self.string(&e.value, "`role`").as_deref() {
                Some("server") => Some(Role::Server),
                Some("agent") => Some(Role::Agent),
                Some(other) => {
                    let hint = ["server", "agent"]
                        .iter()
                        .find(|r| strsim::jaro_winkler(other, r) > 0.8)
                        .map_or("a role is `server` or `agent`".to_string(), |r| {
                            format!("did you mean `{r}`?")
                        });
                    self.help(format!("unknown role `{other}`"), e.value.span, hint);
                    None
                }
                None => None,
            },
        };
        let mut init_span = None;
        if let Some(e) = get("init") {
            match &e.value.value {
                Value::Scalar(s) if s.as_bool().is_some() => {
                    if s.as_bool() == Some(true) {
                        init_span = Some(e.value.span);
                    }
                }
                _ => self.error(
                    format!("`init` must be true or false, found {}", e.value.kind()),
                    e.value.span,
                ),
            }
        }
        let hostname = get("hostname").and_then(|e| self.host(&e.value, "`hostname`"));
        let arch = get("arch").and_then(|e| match self.string(&e.value, "`arch`").as_deref() {
            Some("amd64") => Some(ArchChoice::Amd64),
            Some("arm64") => Some(ArchChoice::Arm64),
            Some("all") => Some(ArchChoice::All),
            Some(other) => {
                self.help(
                    format!("unknown architecture `{other}`"),
                    e.value.span,
                    "`amd64`, `arm64` or `all`",
                );
                None
            }
            None => None,
        });
        let ignition = get("ignition")
            .and_then(|e| self.string(&e.value, "`ignition`"))
            .map(|p| base.join(p));
        let labels = get("labels").map_or_else(Vec::new, |e| self.labels(&e.value));
        let taints = get("taints").map_or_else(Vec::new, |e| self.taints(&e.value));
        let env = get("env").map_or_else(Vec::new, |e| self.env(&e.value, "`env`"));
        Some((
            NodeSpec {
                name: name?,
                role: role?,
                init: init_span.is_some(),
                hostname,
                arch,
                ignition,
                labels,
                taints,
                env,
            },
            name_entry.value.span,
            init_span,
        ))
    }

    /// Labels as a list of `key=value` or a mapping `key: value`.
    fn labels(&mut self, node: &Yaml) -> Vec<String> {
        let pairs: Vec<(String, Span)> = match &node.value {
            Value::Map(entries) => entries
                .iter()
                .filter_map(|e| {
                    self.string(&e.value, "a label value")
                        .map(|v| (format!("{}={v}", e.key), e.key_span))
                })
                .collect(),
            _ => self.strings(node, "`labels`"),
        };
        let mut out = Vec::new();
        for (label, span) in pairs {
            match label.split_once('=') {
                Some((k, v)) if label_key_ok(k) && label_value_ok(v) => out.push(label),
                _ => self.help(
                    format!("`{label}` is not a node label"),
                    span,
                    "a label is key=value: a key such as `zone` or `example.com/zone`, a value of up to 63 letters, digits, `-`, `_` or `.`",
                ),
            }
        }
        out
    }

    fn taints(&mut self, node: &Yaml) -> Vec<String> {
        let mut out = Vec::new();
        for (taint, span) in self.strings(node, "`taints`") {
            let ok = taint.rsplit_once(':').is_some_and(|(kv, effect)| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                label_key_ok(k)
                    && label_value_ok(v)
                    && ["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect)
            });
            if ok {
                out.push(taint);
            } else {
                self.help(
                    format!("`{taint}` is not a node taint"),
                    span,
                    "a taint is key=value:Effect or key:Effect, Effect one of NoSchedule, PreferNoSchedule, NoExecute",
                );
            }
        }
        out
    }

    fn dns_label(&mut self, node: &Yaml, what: &str) -> Option<String> {
        let s = self.string(node, what)?;
        let ok = (1..=63).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Some(s)
        } else {
            self.help(
                format!("{what} `{s}` is not a DNS label"),
                node.span,
                "use 1 to 63 lower-case letters, digits and inner hyphens (it becomes part of a host name)",
            );
            None
        }
    }

    fn host(&mut self, node: &Yaml, what: &str) -> Option<String> {
        let s = self.string(node, what)?;
        match check_hostname(&s) {
            Ok(()) if s.contains('.') => Some(s.trim_end_matches('.').to_string()),
            Ok(()) => {
                self.help(
                    format!("{what} `{s}` is a single label"),
                    node.span,
                    "write a domain with at least one dot, e.g. example.com",
                );
                None
            }
            Err(e) => {
                self.error(format!("{what} `{s}` {e}"), node.span);
                None
            }
        }
    }
}

/// Kubernetes label keys: an optional DNS prefix and `/`, then a name.
fn label_key_ok(key: &str) -> bool {
    let (prefix, name) = key.rsplit_once('/').unwrap_or(("", key));
    let prefix_ok = prefix.is_empty() || check_hostname(prefix).is_ok();
    prefix_ok && !name.is_empty() && label_value_ok(name)
}

fn label_value_ok(v: &str) -> bool {
    v.len() <= 63
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && v.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
        && v.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
cluster: lab
domain: example.com
k3s:
  version: v1.31.4+k3s1
  datastore: embedded
  env:
    K3S_KUBECONFIG_MODE: \"644\"
nodes:
  - name: n1
    role: server
  - name: n2
    role: agent
    arch: arm64
    hostname: edge.other.org
    labels: {zone: a}
    taints: [\"gpu=true:NoSchedule\"]
    ignition: n2.yml
  - name: n3
    role: server
    init: true
";

    fn err(text: &str) -> String {
        format!("{:#}", parse(text, "c.yml", Path::new("/inv")).unwrap_err())
    }

    #[test]
    fn reads_every_field() {
        let inv = parse(GOOD, "c.yml", Path::new("/inv")).unwrap();
        assert_eq!(inv.cluster, "lab");
        assert_eq!(inv.datastore, Datastore::Embedded);
        assert_eq!(
            inv.k3s_version.as_ref().map(ToString::to_string).as_deref(),
            Some("v1.31.4+k3s1")
        );
        assert_eq!(inv.env[0].key, "K3S_KUBECONFIG_MODE");
        let n2 = inv.node("n2").unwrap();
        assert_eq!(n2.role, Role::Agent);
        assert_eq!(n2.arch, Some(ArchChoice::Arm64));
        assert_eq!(n2.labels, ["zone=a"]);
        assert_eq!(n2.taints, ["gpu=true:NoSchedule"]);
        assert_eq!(n2.ignition.as_deref(), Some(Path::new("/inv/n2.yml")));
        assert_eq!(inv.fqdn(n2), "edge.other.org");
        assert_eq!(inv.fqdn(inv.node("n1").unwrap()), "n1.example.com");
        // The marked server wins over the first one.
        assert_eq!(inv.first_server().name, "n3");
        assert!(inv.node("n9").is_err());
    }

    #[test]
    fn unknown_role_with_position_and_source_line() {
        let e = err("cluster: lab\ndomain: example.com\nnodes:\n  - name: n1\n    role: sever\n");
        assert!(e.contains("unknown role `sever`"), "{e}");
        assert!(e.contains("c.yml:5:11"), "{e}");
        assert!(e.contains("5 |     role: sever"), "{e}");
        assert!(e.contains("did you mean `server`?"), "{e}");
    }

    #[test]
    fn unknown_key_suggests_the_known_one() {
        let e = err(
            "cluster: lab\ndomain: example.com\nnodes:\n  - name: n1\n    role: server\n    lables: [a=b]\n",
        );
        assert!(e.contains("unknown key `lables` in a node"), "{e}");
        assert!(e.contains("c.yml:6:5"), "{e}");
        assert!(e.contains("did you mean `labels`?"), "{e}");
    }

    #[test]
    fn duplicates_no_server_and_bad_yaml() {
        let e = err(
            "cluster: lab\ndomain: example.com\nnodes:\n  - {name: a, role: server}\n  - {name: a, role: agent}\n",
        );
        assert!(e.contains("duplicate node name `a`"), "{e}");
        assert!(e.contains("c.yml:5:"), "{e}");
        let e = err("cluster: lab\ndomain: example.com\nnodes:\n  - {name: a, role: agent}\n");
        assert!(e.contains("the cluster has no server"), "{e}");
        assert!(e.contains("c.yml:4:"), "{e}");
        let e = err("cluster: lab\ndomain: 'example.com\nnodes: []\n");
        assert!(e.contains("invalid YAML"), "{e}");
        assert!(e.contains("c.yml:2:9"), "{e}");
    }

    #[test]
    fn secrets_and_managed_settings_are_refused() {
        let e = err(
            "cluster: lab\ndomain: example.com\nk3s:\n  env:\n    K3S_TOKEN: x\n    K3S_DATASTORE_ENDPOINT: y\n    FOO: z\nnodes:\n  - {name: a, role: server}\n",
        );
        assert!(e.contains("mkstick sets `K3S_TOKEN` itself"), "{e}");
        assert!(e.contains("secrets store"), "{e}");
        assert!(e.contains("`FOO` is not a k3s setting"), "{e}");
        assert!(e.contains("c.yml has 3 problems:"), "{e}");
    }

    #[test]
    fn load_refuses_what_is_not_a_small_file() {
        let msg = format!("{:#}", Inventory::load(Path::new("/dev/zero")).unwrap_err());
        assert!(msg.contains("not a regular file"), "{msg}");
        let tmp = tempfile::tempdir().unwrap();
        let big = tmp.path().join("big.yml");
        std::fs::write(&big, vec![b'#'; (MAX_INVENTORY + 1) as usize]).unwrap();
        let msg = format!("{:#}", Inventory::load(&big).unwrap_err());
        assert!(msg.contains("larger than 1 MiB"), "{msg}");
        let good = tmp.path().join("lab.yml");
        std::fs::write(&good, GOOD).unwrap();
        let inv = Inventory::load(&good).unwrap();
        assert_eq!(
            inv.node("n2").unwrap().ignition.as_deref(),
            Some(tmp.path().join("n2.yml").as_path())
        );
    }

    #[test]
    fn init_must_be_one_server() {
        let e = err(
            "cluster: lab\ndomain: example.com\nnodes:\n  - {name: a, role: server, init: true}\n  - {name: b, role: server, init: true}\n  - {name: c, role: agent, init: true}\n",
        );
        assert!(e.contains("only one server can start the cluster"), "{e}");
        assert!(e.contains("this node is an agent"), "{e}");
    }

    #[test]
    fn labels_taints_and_names_are_checked() {
        let e = err(
            "cluster: Lab\ndomain: example.com\nnodes:\n  - name: a\n    role: server\n    labels: [\"no value\"]\n    taints: [\"k=v:Sometimes\"]\n",
        );
        assert!(e.contains("`cluster` `Lab` is not a DNS label"), "{e}");
        assert!(e.contains("`no value` is not a node label"), "{e}");
        assert!(e.contains("`k=v:Sometimes` is not a node taint"), "{e}");
    }
}
