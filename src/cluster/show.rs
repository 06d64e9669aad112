//! `mkstick cluster show`: the inventory with the names (never the values)
//! of the secrets each node's stick gets.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use super::inventory::{Datastore, Inventory, Role};
use super::stick::{TLS_DIR, node_stick};
use super::store::Store;

/// Renders the cluster; without a store, says how to make one.
pub(crate) fn render(inv: &Inventory, store: Option<&Store>, store_dir: &Path) -> Result<String> {
    let mut out = String::new();
    let datastore = match inv.datastore {
        Datastore::Embedded => "embedded (etcd)",
        Datastore::External => "external (K3S_DATASTORE_ENDPOINT)",
    };
    let _ = writeln!(out, "cluster {} (domain {})", inv.cluster, inv.domain);
    let _ = writeln!(
        out,
        "k3s {}, datastore {datastore}",
        inv.k3s_version
            .as_ref()
            .map_or_else(|| "(the writer's default)".to_string(), ToString::to_string)
    );
    match store {
        Some(_) => {
            let _ = writeln!(out, "secrets store {}", store_dir.display());
        }
        None => {
            let _ = writeln!(
                out,
                "secrets store {} does not exist yet: run `mkstick cluster init`",
                store_dir.display()
            );
        }
    }
    let first = inv.first_server().name.clone();
    for node in &inv.nodes {
        let mut role = node.role.as_str().to_string();
        if node.name == first && node.role == Role::Server {
            role.push_str(if inv.datastore == Datastore::Embedded {
                ", starts the cluster"
            } else {
                ", agents join it"
            });
        }
        let arch = node.arch.map_or("amd64", |a| match a {
            crate::model::flatcar::ArchChoice::Amd64 => "amd64",
            crate::model::flatcar::ArchChoice::Arm64 => "arm64",
            crate::model::flatcar::ArchChoice::All => "amd64+arm64",
        });
        let _ = writeln!(out, "\n{} ({role}) {} {arch}", node.name, inv.fqdn(node));
        if let Some(ign) = &node.ignition {
            let _ = writeln!(out, "  ignition {}", ign.display());
        }
        let Some(store) = store else { continue };
        let stick = node_stick(inv, store, &node.name)?;
        let mut tls = 0;
        for name in stick.secret_names() {
            if name.starts_with(TLS_DIR) {
                tls += 1;
            } else {
                let _ = writeln!(out, "  {name}");
            }
        }
        if tls > 0 {
            let _ = writeln!(out, "  {TLS_DIR}/: {tls} CA files (certificates and keys)");
        }
        for c in &stick.secrets.disabled {
            let _ = writeln!(out, "  {}: empty ({} off)", c.file, c.name);
        }
    }
    Ok(out)
}
