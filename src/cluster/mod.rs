//! Clusters: one inventory (safe to commit) plus one secrets store (0600,
//! never printed) give every node's stick. `cluster init` makes the store,
//! `cluster show` lists what each node gets (names only), and each node's
//! secrets volume is a pure function of the two ([`stick::node_stick`]).
//! The commands live in `crate::commands::cluster`.

pub(crate) mod inventory;
pub(crate) mod pki;
pub(crate) mod show;
pub(crate) mod stick;
pub(crate) mod store;

use std::path::{Path, PathBuf};

use anyhow::Result;

use inventory::Inventory;
use stick::{NodeStick, node_stick};
use store::Store;

/// A loaded cluster: the inventory and its secrets store.
pub(crate) struct Cluster {
    pub(crate) inventory: Inventory,
    pub(crate) store: Store,
}

impl Cluster {
    pub(crate) fn load(inventory: &Path, store_dir: Option<&Path>) -> Result<Self> {
        let inv = Inventory::load(inventory)?;
        let dir: PathBuf =
            store_dir.map_or_else(|| store::default_dir(inventory), Path::to_path_buf);
        let store = Store::load(&dir, &inv)?;
        Ok(Cluster {
            inventory: inv,
            store,
        })
    }

    /// The stick of node `name`.
    pub(crate) fn stick(&self, name: &str) -> Result<NodeStick> {
        node_stick(&self.inventory, &self.store, name)
    }
}
