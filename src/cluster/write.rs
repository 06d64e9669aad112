//! A cluster node's stick through the ordinary writer: the node's host name,
//! architecture and Ignition file go into the write arguments, its secrets
//! volume into the plan as a preset.

use anyhow::{Result, bail, ensure};

use super::Cluster;
use super::stick::NodeStick;
use crate::cli::WriteArgs;
use crate::secrets::SecretsVolume;

/// The write arguments and secrets of node `name`, from the shared `base`.
pub(crate) fn node_write(
    cluster: &Cluster,
    base: &WriteArgs,
    name: &str,
) -> Result<(WriteArgs, SecretsVolume, NodeStick)> {
    let stick = cluster.stick(name)?;
    let mut args = base.clone();
    args.cluster = None;
    args.node.clear();
    args.cluster_store = None;
    args.hostname = Some(stick.hostname.clone());
    if let Some(arch) = stick.arch {
        args.arch = arch;
    }
    if let Some(ign) = &stick.ignition {
        ensure!(
            base.ignition.is_none() && base.ignition_url.is_none(),
            "node {name} has its own Ignition file ({}) in the inventory; drop --ignition/--ignition-url, or the node's `ignition:`",
            ign.display()
        );
        args.ignition = Some(ign.clone());
    }
    Ok((args, stick.secrets.clone(), stick))
}

/// For `mkstick --cluster INVENTORY --node NAME`: the node's write arguments
/// and secrets, or None for an ordinary write.
pub(crate) fn from_write_args(args: &WriteArgs) -> Result<Option<(WriteArgs, SecretsVolume)>> {
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
    super::run::print_warnings(&cluster.inventory);
    if let Some(h) = &args.hostname
        && cluster.inventory.fqdn(cluster.inventory.node(name)?) != *h
    {
        eprintln!(
            "mkstick: warning: --hostname / NODE_HOSTNAME is ignored with --cluster: the inventory names node {name}"
        );
    }
    let (args, preset, _) = node_write(&cluster, args, name)?;
    Ok(Some((args, preset)))
}
