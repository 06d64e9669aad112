//! The `mkstick cluster` commands (init, show; build in `cluster_build`),
//! and the `--cluster INVENTORY --node NAME` write: a node's host name,
//! architecture and Ignition file go into its request, its secrets volume in
//! as a preset.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail, ensure};

use crate::cli::cluster::{ClusterCommand, InitArgs, StoreArgs};
use crate::cli::write::WriteArgs;
use crate::cluster::inventory::{Datastore, Inventory};
use crate::cluster::stick::NodeStick;
use crate::cluster::store::{self, DATASTORE_KEY, NODE_KEYS, SHARED_KEYS, Store};
use crate::cluster::{Cluster, show, stick};
use crate::resolve::Request;
use crate::secrets::{Input, Origin, Secret, envfile};

pub fn run(command: &ClusterCommand) -> Result<ExitCode> {
    match command {
        ClusterCommand::Init(a) => init(a),
        ClusterCommand::Show(a) => show(a),
        ClusterCommand::Build(a) => super::cluster_build::run(a),
    }
    .map(|()| ExitCode::SUCCESS)
}

/// The store directory: `--store`, else beside the inventory.
fn store_dir(args: &StoreArgs) -> PathBuf {
    args.store
        .clone()
        .unwrap_or_else(|| store::default_dir(&args.inventory))
}

fn init(args: &InitArgs) -> Result<()> {
    let inv = Inventory::load(&args.store.inventory)?;
    let dir = store_dir(&args.store);
    let mut inputs = env_inputs(&inv, std::env::vars());
    if let Some(path) = &args.secrets {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --secrets file {}", path.display()))?;
        inputs.extend(envfile::parse(&path.display().to_string(), &text)?);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let report = store::init(&dir, &inv, &inputs, now)
        .with_context(|| format!("making the secrets store {}", dir.display()))?;
    print_warnings(&inv);
    if report.created.is_empty() && report.filled.is_empty() {
        println!(
            "secrets store {} is complete for cluster {}: nothing changed",
            dir.display(),
            inv.cluster
        );
    } else {
        println!("secrets store {}:", dir.display());
        for c in &report.created {
            println!("  created {c}");
        }
        for f in &report.filled {
            println!("  set     {f}");
        }
    }
    if !report.empty.is_empty() {
        println!(
            "empty slots (fill them in the files, or pass them to `cluster init` again; a component with no value stays off):"
        );
        for e in &report.empty {
            println!("  {e}");
        }
    }
    Ok(())
}

fn show(args: &StoreArgs) -> Result<()> {
    let inv = Inventory::load(&args.inventory)?;
    let dir = store_dir(args);
    let store = if dir.exists() {
        Some(Store::load(&dir, &inv)?)
    } else {
        None
    };
    print_warnings(&inv);
    print!("{}", show::render(&inv, store.as_ref(), &dir)?);
    Ok(())
}

/// Prints the cluster-wide warnings (once per command).
pub(crate) fn print_warnings(inv: &Inventory) {
    for w in stick::cluster_warnings(inv) {
        eprintln!("mkstick: warning: {w}");
    }
}

/// The environment's values for the store's slots of this inventory only: a
/// stray variable of another cluster is not an error.
fn env_inputs(inv: &Inventory, vars: impl IntoIterator<Item = (String, String)>) -> Vec<Input> {
    let wanted = |k: &str| {
        SHARED_KEYS.contains(&k)
            || (k == DATASTORE_KEY && inv.datastore == Datastore::External)
            || NODE_KEYS.iter().any(|key| {
                inv.nodes
                    .iter()
                    .any(|n| store::node_input_key(key, &n.name) == k)
            })
    };
    vars.into_iter()
        .filter(|(k, _)| wanted(k))
        .map(|(key, value)| Input {
            key,
            value: Secret::new(value),
            origin: Origin::Environment,
        })
        .collect()
}

/// The request of node `name`'s stick, from the options shared by all nodes.
pub(crate) fn node_request(
    cluster: &Cluster,
    base: &WriteArgs,
    name: &str,
) -> Result<(Request, NodeStick)> {
    let stick = cluster.stick(name)?;
    let mut args = base.clone();
    args.cluster = None;
    args.node.clear();
    args.cluster_store = None;
    args.hostname = Some(stick.hostname.clone());
    if let Some(arch) = stick.arch {
        args.arch = arch;
    }
    // The inventory names the cluster's k3s release: every node runs the same.
    if let Some(version) = &cluster.inventory.k3s_version {
        args.k3s_version = version.clone();
    }
    if let Some(ign) = &stick.ignition {
        ensure!(
            base.ignition.is_none() && base.ignition_url.is_none(),
            "node {name} has its own Ignition file ({}) in the inventory; drop --ignition/--ignition-url, or the node's `ignition:`",
            ign.display()
        );
        args.ignition = Some(ign.clone());
    }
    let mut request = super::write::request(&args);
    request.preset_secrets = Some(stick.secrets.clone());
    Ok((request, stick))
}

/// For `mkstick --cluster INVENTORY --node NAME`: the node's request, or
/// None for an ordinary write.
pub(crate) fn write_request(args: &WriteArgs) -> Result<Option<Request>> {
    let Some(inventory) = &args.cluster else {
        if !args.node.is_empty() || args.cluster_store.is_some() {
            bail!("--node and --store name a node of a cluster: add --cluster INVENTORY");
        }
        return Ok(None);
    };
    let name = match args.node.as_slice() {
        [one] => one,
        [] => bail!("--cluster needs --node NAME: the node whose stick to write"),
        _ => bail!(
            "--cluster writes one stick: give one --node (`mkstick cluster build` makes them all)"
        ),
    };
    let cluster = Cluster::load(inventory, args.cluster_store.as_deref())?;
    print_warnings(&cluster.inventory);
    if let Some(h) = &args.hostname
        && cluster.inventory.fqdn(cluster.inventory.node(name)?) != *h
    {
        eprintln!(
            "mkstick: warning: --hostname / NODE_HOSTNAME is ignored with --cluster: the inventory names node {name}"
        );
    }
    let (request, _) = node_request(&cluster, args, name)?;
    Ok(Some(request))
}
