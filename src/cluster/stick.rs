//! One node's stick, as a pure function of the inventory and the secrets
//! store: its host name, and every file of its secrets volume.
//!
//! Servers get the CA files (`k3s-tls/`, installed into k3s's `server/tls/`
//! by the node config before k3s first starts); agents get only the secure
//! token, which lets them check the server's CA before they send anything.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};

use super::inventory::{Datastore, Inventory, Role};
use super::store::{DATASTORE_KEY, NODE_KEYS, SHARED_KEYS, Store};
use crate::model::flatcar::ArchChoice;
use crate::secrets::{Input, Inputs, Origin, Secret, SecretsVolume};

/// The secrets volume's directory of CA files (server sticks only).
pub(crate) const TLS_DIR: &str = "k3s-tls";
/// k3s's own config file for settings that have no K3S_* variable
/// (`node-label`, `node-taint`), named by `K3S_CONFIG_FILE`.
pub(crate) const K3S_CONFIG: &str = "k3s_config.yaml";
/// Where the shipped node config mounts the secrets volume (ignition/ignition.yml).
const NODE_SECRETS_MOUNT: &str = "/mnt/secrets";
/// k3s's supervisor and API port, which joining nodes dial.
const K3S_PORT: u16 = 6443;

/// Everything that differs between the sticks of one cluster.
#[derive(Debug)]
pub(crate) struct NodeStick {
    pub(crate) name: String,
    pub(crate) role: Role,
    /// NAME.DOMAIN, or the inventory's override.
    pub(crate) hostname: String,
    pub(crate) arch: Option<ArchChoice>,
    pub(crate) ignition: Option<PathBuf>,
    /// The env files (k3s_env, logexport_env, heartbeat_env, …), and as
    /// `extra` the CA files and the k3s config file.
    pub(crate) secrets: SecretsVolume,
}

impl NodeStick {
    /// What the node gets, by name only: `k3s_env: K3S_TOKEN, …`, file paths.
    pub(crate) fn secret_names(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .secrets
            .enabled
            .iter()
            .map(|e| {
                let keys: Vec<&str> = e.values.iter().map(|(k, _)| k.as_str()).collect();
                format!("{}: {}", e.component.file, keys.join(", "))
            })
            .collect();
        out.extend(self.secrets.extra.iter().map(|(p, _)| p.clone()));
        out
    }
}

/// Warnings about the cluster as a whole, to be shown once per command.
pub(crate) fn cluster_warnings(inv: &Inventory) -> Vec<String> {
    let mut out = Vec::new();
    if inv.datastore == Datastore::Embedded && inv.servers().count() == 1 {
        out.push(format!(
            "cluster {} has one server with an embedded datastore: a diskless server keeps the cluster's state in RAM and loses it at every reboot; use `k3s.datastore: external` or three servers",
            inv.cluster
        ));
    }
    out
}

/// The stick of node `name`.
pub(crate) fn node_stick(inv: &Inventory, store: &Store, name: &str) -> Result<NodeStick> {
    let node = inv.node(name)?;
    let first = inv.first_server();
    let embedded = inv.datastore == Datastore::Embedded;
    let managed = |key: &str, value: String| Input {
        key: key.to_string(),
        value: Secret::new(value),
        origin: Origin::Flag(format!("--cluster (node {name})")),
    };
    let mut flags = vec![
        managed("K3S_TOKEN", store.token()?.expose().to_string()),
        managed("K3S_ROLE", node.role.as_str().to_string()),
    ];
    let is_first = node.name == first.name;
    let joins = match node.role {
        Role::Agent => true,
        // With an external datastore every server reads the cluster from it.
        Role::Server => embedded && !is_first,
    };
    if joins {
        flags.push(managed(
            "K3S_URL",
            format!("https://{}:{K3S_PORT}", inv.fqdn(first)),
        ));
    }
    if node.role == Role::Server && embedded && is_first {
        flags.push(managed("K3S_CLUSTER_INIT", "true".into()));
    }
    let mut extra = Vec::new();
    if let Some(config) = k3s_config(&node.labels, &node.taints) {
        flags.push(managed(
            "K3S_CONFIG_FILE",
            format!("{NODE_SECRETS_MOUNT}/{K3S_CONFIG}"),
        ));
        extra.push((K3S_CONFIG.to_string(), Secret::new(config)));
    }
    let inventory_origin =
        |what: &str| Origin::Flag(format!("--cluster ({what} of the inventory)"));
    let env = inv
        .env
        .iter()
        .map(|s| Input {
            key: s.key.clone(),
            value: Secret::new(s.value.clone()),
            origin: inventory_origin("k3s.env"),
        })
        .collect();
    let mut file: Vec<Input> = node
        .env
        .iter()
        .map(|s| Input {
            key: s.key.clone(),
            value: Secret::new(s.value.clone()),
            origin: inventory_origin(&format!("env of node {name}")),
        })
        .collect();
    file.extend(shared_inputs(inv, store, node.role)?);
    file.extend(node_inputs(store, name)?);
    let secrets = SecretsVolume::from_inputs(&Inputs { flags, file, env }).with_context(|| {
        format!(
            "the secrets of node {name} (from {} and the inventory)",
            store.dir.display()
        )
    })?;
    if node.role == Role::Server {
        for (kind, ca) in &store.cas {
            let stem = kind.stem();
            extra.push((
                format!("{TLS_DIR}/{stem}.crt"),
                Secret::new(ca.cert_pem.clone()),
            ));
            extra.push((format!("{TLS_DIR}/{stem}.key"), ca.key_pem.clone()));
        }
    }
    Ok(NodeStick {
        name: node.name.clone(),
        role: node.role,
        hostname: inv.fqdn(node),
        arch: node.arch,
        ignition: node.ignition.clone(),
        secrets: SecretsVolume { extra, ..secrets },
    })
}

/// The store's shared secrets this node gets; the datastore endpoint (it holds
/// a password) only on servers.
fn shared_inputs(inv: &Inventory, store: &Store, role: Role) -> Result<Vec<Input>> {
    let external = inv.datastore == Datastore::External;
    let mut out = Vec::new();
    for i in &store.shared {
        if SHARED_KEYS.contains(&i.key.as_str()) {
            out.push(i.clone());
        } else if i.key == DATASTORE_KEY && external {
            if role == Role::Server {
                out.push(i.clone());
            }
        } else {
            bail!(
                "{} (at {}) is not a shared secret of this cluster; the slots are {}{}",
                i.key,
                i.origin,
                SHARED_KEYS.join(", "),
                if external {
                    ", K3S_DATASTORE_ENDPOINT"
                } else {
                    ""
                }
            );
        }
    }
    if external && role == Role::Server && !out.iter().any(|i| i.key == DATASTORE_KEY) {
        bail!(
            "the cluster's datastore is external but {}/shared.env has no K3S_DATASTORE_ENDPOINT; fill in its slot (e.g. postgres://user:password@host:5432/k3s)",
            store.dir.display()
        );
    }
    Ok(out)
}

fn node_inputs(store: &Store, name: &str) -> Result<Vec<Input>> {
    let inputs = store.node_inputs(name);
    if let Some(i) = inputs.iter().find(|i| !NODE_KEYS.contains(&i.key.as_str())) {
        bail!(
            "{} (at {}) is not a per-node secret; a node's file holds {}",
            i.key,
            i.origin,
            NODE_KEYS.join(", ")
        );
    }
    Ok(inputs.to_vec())
}

/// k3s's config file with the node's labels and taints, or None without any.
/// The inventory allows only `[A-Za-z0-9._/=:-]` in both, so no quoting issue.
fn k3s_config(labels: &[String], taints: &[String]) -> Option<String> {
    if labels.is_empty() && taints.is_empty() {
        return None;
    }
    let mut out = String::from("# Written by mkstick from the cluster inventory.\n");
    for (key, items) in [("node-label", labels), ("node-taint", taints)] {
        if !items.is_empty() {
            out.push_str(key);
            out.push_str(":\n");
            for i in items {
                out.push_str(&format!("  - \"{i}\"\n"));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sha2::{Digest, Sha256};

    use super::*;
    use crate::cluster::inventory::parse;
    use crate::cluster::store::init;
    use crate::secrets::{Input, Origin};

    const INV: &str = "\
cluster: lab
domain: example.com
nodes:
  - {name: n1, role: server}
  - name: n2
    role: agent
    labels: [zone=a]
    taints: [\"gpu=true:NoSchedule\"]
    env: {K3S_NODE_IP: 10.0.0.2}
  - {name: n3, role: agent, hostname: n3.other.org}
";

    fn setup(text: &str, inputs: &[Input]) -> (Inventory, Store, tempfile::TempDir) {
        let inv = parse(text, "lab.yml", Path::new(".")).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lab.secrets");
        init(&dir, &inv, inputs, 1_700_000_000).unwrap();
        let store = Store::load(&dir, &inv).unwrap();
        (inv, store, tmp)
    }

    impl NodeStick {
        /// Every file of the secrets volume, by path (directories by `/`).
        fn files(&self) -> Vec<(String, Vec<u8>)> {
            let mut out: Vec<(String, Vec<u8>)> = self
                .secrets
                .files()
                .into_iter()
                .map(|(p, b)| (p.to_string(), b))
                .collect();
            out.extend(
                self.secrets
                    .extra
                    .iter()
                    .map(|(p, s)| (p.clone(), s.expose().as_bytes().to_vec())),
            );
            out
        }
    }

    fn env_file(stick: &NodeStick) -> String {
        let files = stick.files();
        let k3s = files.iter().find(|(p, _)| p == "k3s_env").unwrap();
        String::from_utf8(k3s.1.clone()).unwrap()
    }

    fn get(stick: &NodeStick, key: &str) -> Option<String> {
        stick.secrets.get(key).map(|s| s.expose().to_string())
    }

    #[test]
    fn token_hash_is_the_server_ca_on_the_server_stick() {
        let (inv, store, _t) = setup(INV, &[]);
        let server = node_stick(&inv, &store, "n1").unwrap();
        let files = server.files();
        let ca = &files
            .iter()
            .find(|(p, _)| p == "k3s-tls/server-ca.crt")
            .unwrap()
            .1;
        let hash = hex::encode(Sha256::digest(ca));
        for n in ["n1", "n2", "n3"] {
            let stick = node_stick(&inv, &store, n).unwrap();
            let token = get(&stick, "K3S_TOKEN").unwrap();
            assert!(token.starts_with(&format!("K10{hash}::server:")), "{n}");
        }
    }

    #[test]
    fn agents_join_the_first_server_and_carry_no_key() {
        let (inv, store, _t) = setup(INV, &[]);
        let server = node_stick(&inv, &store, "n1").unwrap();
        assert_eq!(get(&server, "K3S_ROLE").as_deref(), Some("server"));
        assert_eq!(get(&server, "K3S_CLUSTER_INIT").as_deref(), Some("true"));
        assert_eq!(get(&server, "K3S_URL"), None);
        let keys: Vec<String> = server
            .files()
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| p.ends_with(".key"))
            .collect();
        assert_eq!(keys.len(), 5, "{keys:?}");
        for n in ["n2", "n3"] {
            let agent = node_stick(&inv, &store, n).unwrap();
            assert_eq!(get(&agent, "K3S_ROLE").as_deref(), Some("agent"));
            assert_eq!(
                get(&agent, "K3S_URL").as_deref(),
                Some("https://n1.example.com:6443")
            );
            assert_eq!(get(&agent, "K3S_CLUSTER_INIT"), None);
            for (path, bytes) in agent.files() {
                assert!(!path.starts_with(TLS_DIR), "{path}");
                assert!(
                    !String::from_utf8_lossy(&bytes).contains("PRIVATE KEY"),
                    "{path}"
                );
            }
        }
        let n3 = node_stick(&inv, &store, "n3").unwrap();
        assert_eq!(n3.hostname, "n3.other.org");
        assert_eq!(
            node_stick(&inv, &store, "n1").unwrap().hostname,
            "n1.example.com"
        );
    }

    #[test]
    fn labels_taints_and_settings_reach_k3s() {
        let (inv, store, _t) = setup(INV, &[]);
        let n2 = node_stick(&inv, &store, "n2").unwrap();
        assert_eq!(get(&n2, "K3S_NODE_IP").as_deref(), Some("10.0.0.2"));
        assert_eq!(
            get(&n2, "K3S_CONFIG_FILE").as_deref(),
            Some("/mnt/secrets/k3s_config.yaml")
        );
        let files = n2.files();
        let config = &files.iter().find(|(p, _)| p == K3S_CONFIG).unwrap().1;
        assert_eq!(
            String::from_utf8_lossy(config),
            "# Written by mkstick from the cluster inventory.\nnode-label:\n  - \"zone=a\"\nnode-taint:\n  - \"gpu=true:NoSchedule\"\n"
        );
        assert!(
            node_stick(&inv, &store, "n3")
                .unwrap()
                .files()
                .iter()
                .all(|(p, _)| p != K3S_CONFIG)
        );
    }

    #[test]
    fn deterministic_and_secret_names_only() {
        let hb = Input {
            key: "HEARTBEAT_URL_N2".into(),
            value: Secret::new("https://hc.example.com/secret-n2"),
            origin: Origin::Environment,
        };
        let (inv, store, _t) = setup(INV, &[hb]);
        let a = node_stick(&inv, &store, "n2").unwrap();
        let b = node_stick(&inv, &store, "n2").unwrap();
        assert_eq!(a.files(), b.files());
        assert_eq!(
            get(&a, "HEARTBEAT_URL").as_deref(),
            Some("https://hc.example.com/secret-n2")
        );
        assert_eq!(
            get(&node_stick(&inv, &store, "n3").unwrap(), "HEARTBEAT_URL"),
            None
        );
        let names = a.secret_names().join("\n");
        assert!(names.contains("k3s_env: K3S_TOKEN"), "{names}");
        assert!(names.contains("heartbeat_env: HEARTBEAT_URL"), "{names}");
        assert!(
            !names.contains("secret-n2") && !names.contains("K10"),
            "{names}"
        );
        assert!(!format!("{a:?}").contains("secret-n2"));
        assert!(env_file(&a).contains("K3S_URL=\"https://n1.example.com:6443\""));
    }

    #[test]
    fn ha_and_external_datastores() {
        let ha = "cluster: lab\ndomain: example.com\nnodes:\n  - {name: a, role: server}\n  - {name: b, role: server, init: true}\n  - {name: c, role: server}\n";
        let (inv, store, _t) = setup(ha, &[]);
        assert!(cluster_warnings(&inv).is_empty());
        let b = node_stick(&inv, &store, "b").unwrap();
        assert_eq!(get(&b, "K3S_CLUSTER_INIT").as_deref(), Some("true"));
        let a = node_stick(&inv, &store, "a").unwrap();
        assert_eq!(
            get(&a, "K3S_URL").as_deref(),
            Some("https://b.example.com:6443")
        );
        assert_eq!(get(&a, "K3S_CLUSTER_INIT"), None);
        assert!(
            a.files()
                .iter()
                .any(|(p, _)| p == "k3s-tls/etcd/peer-ca.key")
        );

        let ext = "cluster: lab\ndomain: example.com\nk3s: {datastore: external}\nnodes:\n  - {name: a, role: server}\n  - {name: w, role: agent}\n";
        let inv = parse(ext, "lab.yml", Path::new(".")).unwrap();
        assert!(cluster_warnings(&inv).is_empty());
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        init(&dir, &inv, &[], 1).unwrap();
        let store = Store::load(&dir, &inv).unwrap();
        let msg = format!("{:#}", node_stick(&inv, &store, "a").unwrap_err());
        assert!(msg.contains("no K3S_DATASTORE_ENDPOINT"), "{msg}");
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("shared.env"))
            .and_then(|mut f| {
                std::io::Write::write_all(
                    &mut f,
                    b"K3S_DATASTORE_ENDPOINT=\"postgres://u:pw@db:5432/k3s\"\n",
                )
            })
            .unwrap();
        let store = Store::load(&dir, &inv).unwrap();
        let a = node_stick(&inv, &store, "a").unwrap();
        assert_eq!(get(&a, "K3S_CLUSTER_INIT"), None);
        assert_eq!(get(&a, "K3S_URL"), None);
        assert!(get(&a, "K3S_DATASTORE_ENDPOINT").is_some());
        assert!(!a.files().iter().any(|(p, _)| p.contains("etcd")));
        let w = node_stick(&inv, &store, "w").unwrap();
        assert_eq!(
            get(&w, "K3S_DATASTORE_ENDPOINT"),
            None,
            "agents never get the datastore password"
        );
    }

    #[test]
    fn a_lone_embedded_server_is_warned_about() {
        let inv = parse(INV, "lab.yml", Path::new(".")).unwrap();
        let w = cluster_warnings(&inv);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("loses it at every reboot"), "{}", w[0]);
    }
}
