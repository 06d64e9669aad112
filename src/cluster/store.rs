//! The cluster's secrets store: a 0700 directory of 0600 files that
//! `mkstick cluster init` creates next to the inventory and never overwrites.
//!
//! ```text
//! lab.secrets/
//!   token                 the k3s token's secret part (256 bits, hex)
//!   tls/server-ca.crt …   the cluster CAs, as k3s lays them out in server/tls/
//!   shared.env            LOGEXPORT_*, NAMECHEAP_DDNS_*, K3S_DATASTORE_ENDPOINT
//!   nodes/NAME.env        HEARTBEAT_URL of that node
//! ```
//! Unset slots are `# KEY=` comment lines, for the user to fill in.

use std::fs::{self, DirBuilder, File};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};

use super::inventory::{Datastore, Inventory};
use super::pki::{self, Ca, CaKind};
use crate::secrets::schema::schema;
use crate::secrets::{Input, Secret, envfile};

/// Secrets every node of the cluster shares (file `shared.env`).
pub(crate) const SHARED_KEYS: &[&str] = &[
    "LOGEXPORT_HOST",
    "LOGEXPORT_PORT",
    "NAMECHEAP_DDNS_PASS",
    "NAMECHEAP_DDNS_INTERFACE",
];
/// Only with `datastore: external`.
pub(crate) const DATASTORE_KEY: &str = "K3S_DATASTORE_ENDPOINT";
/// Secrets of one node (file `nodes/NAME.env`). In an input file or the
/// environment they carry the node's name: `HEARTBEAT_URL_N1` for node `n1`.
pub(crate) const NODE_KEYS: &[&str] = &["HEARTBEAT_URL"];

const TOKEN: &str = "token";
const SHARED: &str = "shared.env";
/// Store files are tiny; anything bigger is not ours.
const MAX_FILE: u64 = 1 << 20;

/// The store's default place: `lab.yml` → `lab.secrets/` beside it.
pub(crate) fn default_dir(inventory: &Path) -> PathBuf {
    let stem = inventory
        .file_stem()
        .map_or_else(|| "cluster".into(), |s| s.to_string_lossy().into_owned());
    inventory.with_file_name(format!("{stem}.secrets"))
}

/// The input name of a node's secret: `HEARTBEAT_URL` of `edge-1` → `HEARTBEAT_URL_EDGE_1`.
pub(crate) fn node_input_key(key: &str, node: &str) -> String {
    format!("{key}_{}", node.to_ascii_uppercase().replace('-', "_"))
}

/// What `init` did, for the user (names only, never values).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct InitReport {
    pub(crate) created: Vec<String>,
    pub(crate) filled: Vec<String>,
    pub(crate) empty: Vec<String>,
}

/// The loaded store: everything a stick of this cluster can need.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) dir: PathBuf,
    pub(crate) token_secret: Secret,
    pub(crate) cas: Vec<(CaKind, Ca)>,
    pub(crate) shared: Vec<Input>,
    pub(crate) nodes: Vec<(String, Vec<Input>)>,
}

impl Store {
    pub(crate) fn ca(&self, kind: CaKind) -> Option<&Ca> {
        self.cas.iter().find(|(k, _)| *k == kind).map(|(_, c)| c)
    }

    /// The secure join token, computed as k3s computes it.
    pub(crate) fn token(&self) -> Result<Secret> {
        let ca = self
            .ca(CaKind::Server)
            .context("the secrets store has no server CA")?;
        Ok(pki::secure_token(
            ca.cert_pem.as_bytes(),
            &self.token_secret,
        ))
    }

    pub(crate) fn node_inputs(&self, node: &str) -> &[Input] {
        self.nodes
            .iter()
            .find(|(n, _)| n == node)
            .map_or(&[], |(_, i)| i.as_slice())
    }

    /// Reads the store for `inv`; every file the inventory needs must exist.
    pub(crate) fn load(dir: &Path, inv: &Inventory) -> Result<Self> {
        check_dir(dir, true)?;
        let hint = || {
            format!(
                "run `mkstick cluster init` to create what is missing in {}",
                dir.display()
            )
        };
        let token_secret = Secret::new(
            read(&dir.join(TOKEN))
                .with_context(hint)?
                .trim_end()
                .to_string(),
        );
        ensure!(
            token_secret.expose().len() >= 32,
            "{}: the token is shorter than 32 characters; remove the file and run `mkstick cluster init` (all sticks must then be rebuilt)",
            dir.join(TOKEN).display()
        );
        let mut cas = Vec::new();
        for &kind in CaKind::for_cluster(inv.datastore == Datastore::Embedded) {
            let cert = read(&ca_path(dir, kind, "crt")).with_context(hint)?;
            let key = read(&ca_path(dir, kind, "key")).with_context(hint)?;
            cas.push((
                kind,
                Ca {
                    cert_pem: cert,
                    key_pem: Secret::new(key),
                },
            ));
        }
        let shared = read_env(&dir.join(SHARED)).with_context(hint)?;
        let mut nodes = Vec::new();
        for n in &inv.nodes {
            let path = node_path(dir, &n.name);
            nodes.push((n.name.clone(), read_env(&path).with_context(hint)?));
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            token_secret,
            cas,
            shared,
            nodes,
        })
    }
}

/// Creates the store, or adds what is missing to it (a new node's slots, a
/// slot value now given by `inputs`). Never replaces an existing file or value.
pub(crate) fn init(
    dir: &Path,
    inv: &Inventory,
    inputs: &[Input],
    now_unix: u64,
) -> Result<InitReport> {
    let mut report = InitReport::default();
    check_inputs(inv, inputs)?;
    if !dir.exists() {
        mkdir(dir)?;
    }
    check_dir(dir, true)?;
    let token = dir.join(TOKEN);
    if !token.exists() {
        let secret = pki::generate_token_secret()?;
        create(&token, format!("{}\n", secret.expose()).as_bytes())?;
        report.created.push(TOKEN.into());
    }
    for &kind in CaKind::for_cluster(inv.datastore == Datastore::Embedded) {
        let (crt, key) = (ca_path(dir, kind, "crt"), ca_path(dir, kind, "key"));
        match (crt.exists(), key.exists()) {
            (true, true) => continue,
            (false, false) => {}
            _ => bail!(
                "{} has only half of the {} CA (certificate and key belong together); restore the missing file from a backup, or remove the other one to generate a new CA (server sticks must then be rebuilt)",
                dir.display(),
                kind.stem()
            ),
        }
        if let Some(parent) = crt.parent().filter(|p| !p.exists()) {
            mkdir(parent)?;
        }
        let ca = pki::generate_ca(kind, now_unix)?;
        // Key first: a certificate without its key is useless to k3s.
        create(&key, ca.key_pem.expose().as_bytes())?;
        create(&crt, ca.cert_pem.as_bytes())?;
        report.created.push(format!("tls/{}.crt+key", kind.stem()));
    }
    let mut shared_keys: Vec<&str> = SHARED_KEYS.to_vec();
    if inv.datastore == Datastore::External {
        shared_keys.push(DATASTORE_KEY);
    }
    let given = |key: &str| inputs.iter().rev().find(|i| i.key == key);
    fill_env(
        &dir.join(SHARED),
        SHARED,
        &format!(
            "# Secrets every node of cluster {} gets. Fill in a slot by removing its `# `.\n",
            inv.cluster
        ),
        &shared_keys,
        |k| given(k),
        &mut report,
    )?;
    let nodes_dir = dir.join("nodes");
    if !nodes_dir.exists() {
        mkdir(&nodes_dir)?;
    }
    for n in &inv.nodes {
        let name = format!("nodes/{}.env", n.name);
        fill_env(
            &node_path(dir, &n.name),
            &name,
            &format!("# Secrets of node {} only.\n", n.name),
            NODE_KEYS,
            |k| given(&node_input_key(k, &n.name)),
            &mut report,
        )?;
    }
    Ok(report)
}

/// Inputs must be keys the store has a slot for, with valid values.
fn check_inputs(inv: &Inventory, inputs: &[Input]) -> Result<()> {
    let mut problems = Vec::new();
    for i in inputs {
        let node_key = NODE_KEYS.iter().find_map(|k| {
            inv.nodes
                .iter()
                .any(|n| node_input_key(k, &n.name) == i.key)
                .then_some(*k)
        });
        let key = match node_key {
            Some(k) => k,
            None if SHARED_KEYS.contains(&i.key.as_str()) => i.key.as_str(),
            None if i.key == DATASTORE_KEY && inv.datastore == Datastore::External => DATASTORE_KEY,
            None => {
                problems.push(format!(
                    "{} (from {}) has no slot in the secrets store: shared keys are {}{}, per-node keys {} (e.g. {})",
                    i.key,
                    i.origin,
                    SHARED_KEYS.join(", "),
                    if inv.datastore == Datastore::External { ", K3S_DATASTORE_ENDPOINT" } else { "" },
                    NODE_KEYS.join(", "),
                    node_input_key(NODE_KEYS[0], inv.nodes.first().map_or("n1", |n| n.name.as_str())),
                ));
                continue;
            }
        };
        if let Err(e) = format_of(key).check(i.value.expose()) {
            problems.push(format!("{} (from {}) {e:#}", i.key, i.origin));
        }
    }
    if !problems.is_empty() {
        bail!("invalid secrets:\n  - {}", problems.join("\n  - "));
    }
    Ok(())
}

fn format_of(key: &str) -> crate::secrets::format::Format {
    schema()
        .components
        .iter()
        .find_map(|c| c.key(key))
        .map_or(crate::secrets::format::Format::Text, |k| k.format)
}

/// Creates an env file with a slot per key, or appends the values now given
/// for slots still unset. Set values are never touched.
fn fill_env<'a>(
    path: &Path,
    name: &str,
    header: &str,
    keys: &[&str],
    given: impl Fn(&str) -> Option<&'a Input>,
    report: &mut InitReport,
) -> Result<()> {
    let existing = if path.exists() {
        Some(read_env(path)?)
    } else {
        None
    };
    let mut text = String::new();
    for key in keys {
        let set = existing
            .as_ref()
            .is_some_and(|e| e.iter().any(|i| i.key == *key));
        if set {
            continue;
        }
        match given(key) {
            Some(input) => {
                text.push_str(&envfile::render(&[(key.to_string(), input.value.clone())]));
                report
                    .filled
                    .push(format!("{name}: {key} (from {})", input.origin));
            }
            None => {
                if existing.is_none() {
                    text.push_str(&format!("# {key}=\n"));
                }
                report.empty.push(format!("{name}: {key}"));
            }
        }
    }
    match existing {
        None => {
            create(path, format!("{header}{text}").as_bytes())?;
            report.created.push(name.to_string());
        }
        Some(_) if !text.is_empty() => append(path, text.as_bytes())?,
        Some(_) => {}
    }
    Ok(())
}

fn ca_path(dir: &Path, kind: CaKind, ext: &str) -> PathBuf {
    dir.join("tls").join(format!("{}.{ext}", kind.stem()))
}

fn node_path(dir: &Path, node: &str) -> PathBuf {
    dir.join("nodes").join(format!("{node}.env"))
}

fn mkdir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the secrets store directory {}", dir.display()))
}

/// The store (or a directory in it) must be a real directory of ours that no
/// one else can read: it holds the cluster's keys.
fn check_dir(dir: &Path, top: bool) -> Result<()> {
    let meta = fs::symlink_metadata(dir)
        .with_context(|| format!("reading the secrets store {}", dir.display()))?;
    ensure!(
        meta.is_dir(),
        "the secrets store {} is not a directory (a symbolic link is refused too)",
        dir.display()
    );
    ensure!(
        meta.mode() & 0o077 == 0,
        "the secrets store {} can be read by others (mode {:o}); run `chmod 700 {}`",
        dir.display(),
        meta.mode() & 0o777,
        dir.display()
    );
    // Root may read a user's store (to write a device); no one else may.
    let uid = own_uid();
    ensure!(
        meta.uid() == uid || uid == 0,
        "the secrets store {} belongs to another user (uid {}); use your own store",
        dir.display(),
        meta.uid()
    );
    if top {
        for sub in ["tls", "tls/etcd", "nodes"] {
            let p = dir.join(sub);
            if fs::symlink_metadata(&p).is_ok() {
                check_dir(&p, false)?;
            }
        }
    }
    Ok(())
}

/// The effective uid, without unsafe code: /proc/self belongs to it.
fn own_uid() -> u32 {
    fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid())
}

/// A new 0600 file; refuses to replace anything (or follow a link) at `path`.
fn create(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} in the secrets store", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

fn append(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("opening {} to add a value", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Reads a store file: no links, owner-only mode, bounded size.
fn read(path: &Path) -> Result<String> {
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let meta = f.metadata()?;
    ensure!(meta.is_file(), "{} is not a regular file", path.display());
    ensure!(
        meta.mode() & 0o077 == 0,
        "{} can be read by others (mode {:o}); run `chmod 600 {}`",
        path.display(),
        meta.mode() & 0o777,
        path.display()
    );
    let mut text = String::new();
    File::take(f, MAX_FILE)
        .read_to_string(&mut text)
        .with_context(|| format!("reading {} (expected UTF-8 text)", path.display()))?;
    ensure!(
        (text.len() as u64) < MAX_FILE,
        "{} is larger than 1 MiB: not a secrets store file",
        path.display()
    );
    Ok(text)
}

fn read_env(path: &Path) -> Result<Vec<Input>> {
    let text = read(path)?;
    envfile::parse(&path.display().to_string(), &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::inventory::parse;
    use crate::secrets::Origin;

    fn inv(extra: &str) -> Inventory {
        parse(
            &format!("cluster: lab\ndomain: example.com\nnodes:\n  - {{name: n1, role: server}}\n  - {{name: n2, role: agent}}\n{extra}"),
            "lab.yml",
            Path::new("."),
        )
        .unwrap()
    }

    fn input(key: &str, value: &str) -> Input {
        Input {
            key: key.into(),
            value: Secret::new(value),
            origin: Origin::Environment,
        }
    }

    fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
        let mut out = Vec::new();
        for e in walk(dir) {
            let meta = fs::symlink_metadata(&e).unwrap();
            let bytes = if meta.is_file() {
                fs::read(&e).unwrap()
            } else {
                Vec::new()
            };
            out.push((
                e.strip_prefix(dir).unwrap().display().to_string(),
                bytes,
                meta.mode() & 0o7777,
            ));
        }
        out.sort();
        out
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
        out
    }

    #[test]
    fn init_creates_private_files_and_a_second_run_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lab.secrets");
        let inv = inv("");
        let r = init(
            &dir,
            &inv,
            &[input("LOGEXPORT_HOST", "logs.example.com")],
            1_700_000_000,
        )
        .unwrap();
        assert!(r.created.contains(&"token".to_string()), "{r:?}");
        assert!(
            r.created.contains(&"tls/etcd/peer-ca.crt+key".to_string()),
            "{r:?}"
        );
        assert_eq!(
            r.filled,
            ["shared.env: LOGEXPORT_HOST (from the environment)"]
        );
        let first = snapshot(&dir);
        for (path, _, mode) in &first {
            let is_dir = dir.join(path).is_dir();
            assert_eq!(*mode, if is_dir { 0o700 } else { 0o600 }, "{path}");
        }
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        let again = init(&dir, &inv, &[], 1_800_000_000).unwrap();
        assert!(
            again.created.is_empty() && again.filled.is_empty(),
            "{again:?}"
        );
        assert_eq!(snapshot(&dir), first);
        let store = Store::load(&dir, &inv).unwrap();
        assert_eq!(store.cas.len(), 5);
        assert_eq!(store.shared[0].key, "LOGEXPORT_HOST");
    }

    #[test]
    fn a_new_node_and_a_new_value_are_added_nothing_else_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        init(
            &dir,
            &inv(""),
            &[input("LOGEXPORT_HOST", "a.example.com")],
            1_700_000_000,
        )
        .unwrap();
        let before = snapshot(&dir);
        let bigger = inv("  - {name: n3, role: agent}\n");
        let r = init(
            &dir,
            &bigger,
            &[
                input("LOGEXPORT_HOST", "other.example.com"),
                input("LOGEXPORT_PORT", "6514"),
                input("HEARTBEAT_URL_N3", "https://hc.example.com/n3"),
            ],
            1_700_000_000,
        )
        .unwrap();
        assert_eq!(r.created, ["nodes/n3.env"]);
        assert_eq!(
            r.filled,
            [
                "shared.env: LOGEXPORT_PORT (from the environment)",
                "nodes/n3.env: HEARTBEAT_URL (from the environment)"
            ]
        );
        let after = snapshot(&dir);
        for (path, bytes, _) in &before {
            let now = &after.iter().find(|a| &a.0 == path).unwrap().1;
            if path == "shared.env" {
                assert!(
                    now.starts_with(bytes),
                    "values are appended, never rewritten"
                );
            } else {
                assert_eq!(now, bytes, "{path}");
            }
        }
        let store = Store::load(&dir, &bigger).unwrap();
        let host: Vec<&str> = store
            .shared
            .iter()
            .filter(|i| i.key == "LOGEXPORT_HOST")
            .map(|i| i.value.expose())
            .collect();
        assert_eq!(host, ["a.example.com"], "an existing value is kept");
        assert_eq!(store.node_inputs("n3")[0].key, "HEARTBEAT_URL");
    }

    #[test]
    fn bad_inputs_and_open_stores_are_refused_without_values() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        let err = init(
            &dir,
            &inv(""),
            &[
                input("LOGEXPORT_PORT", "99999"),
                input("K3S_TOKEN", "hunter2"),
            ],
            1,
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("LOGEXPORT_PORT (from the environment)"),
            "{msg}"
        );
        assert!(
            msg.contains("K3S_TOKEN (from the environment) has no slot"),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(!dir.exists(), "nothing is created when an input is bad");
        init(&dir, &inv(""), &[], 1).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let msg = format!("{:#}", Store::load(&dir, &inv("")).unwrap_err());
        assert!(msg.contains("chmod 700"), "{msg}");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        fs::remove_file(dir.join("tls/client-ca.key")).unwrap();
        let msg = format!("{:#}", init(&dir, &inv(""), &[], 1).unwrap_err());
        assert!(msg.contains("only half of the client-ca CA"), "{msg}");
    }

    #[test]
    fn default_dir_is_beside_the_inventory() {
        assert_eq!(
            default_dir(Path::new("/x/lab.yml")),
            Path::new("/x/lab.secrets")
        );
        assert_eq!(
            node_input_key("HEARTBEAT_URL", "edge-1"),
            "HEARTBEAT_URL_EDGE_1"
        );
    }
}
