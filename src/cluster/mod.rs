//! Clusters: one inventory (safe to commit) plus one secrets store (0600,
//! never printed) give every node's stick. `cluster init` makes the store,
//! `cluster show` lists what each node gets (names only), and each node's
//! secrets volume is a pure function of the two ([`stick::node_stick`]).

pub mod build;
pub mod cli;
pub mod inventory;
pub mod pki;
pub mod show;
pub mod stick;
pub mod store;
pub mod write;

pub use cli::{ClusterArgs, run};
