//! The `mkstick cluster` commands: init, show, build.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};

use super::inventory::Inventory;
use super::store::{self, DATASTORE_KEY, NODE_KEYS, SHARED_KEYS, Store};
use super::{show, stick};
use crate::cli::cluster::{ClusterArgs, ClusterCommand, InitArgs, StoreArgs};
use crate::secrets::{Input, Origin, Secret, envfile};

pub fn run(args: &ClusterArgs) -> Result<ExitCode> {
    match &args.command {
        ClusterCommand::Init(a) => init(a),
        ClusterCommand::Show(a) => show(a),
        ClusterCommand::Build(a) => super::build::run(a),
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
            || (k == DATASTORE_KEY && inv.datastore == super::inventory::Datastore::External)
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
