//! `mkstick cluster build`: one image per node, planned first (a bad input
//! stops the build before anything is written), then built in parallel.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context as _, Result, bail, ensure};

use super::cluster::{node_request, print_warnings};
use crate::cli::cluster::BuildArgs;
use crate::cluster::Cluster;
use crate::cluster::inventory::Role;
use crate::cluster::stick::NodeStick;
use crate::image::Image;
use crate::k3s::VersionSpec;
use crate::model::component::ComponentId;
use crate::model::stick::MIB;
use crate::plan::Plan;
use crate::resolve::{self, Environment, Request};
use crate::target::image_file::{self, Destination};

/// One node's planned image.
struct Job {
    node: String,
    role: Role,
    path: PathBuf,
    plan: Plan,
}

pub(crate) fn run(args: &BuildArgs) -> Result<()> {
    let w = &args.write;
    ensure!(
        w.device.is_none() && w.image.is_none() && w.cluster.is_none(),
        "`cluster build` writes NODE.img files into --out; to write one node's stick to a device use `mkstick --cluster INVENTORY --node NAME DEVICE`"
    );
    let cluster = Cluster::load(&args.inventory, w.cluster_store.as_deref())?;
    let inv = &cluster.inventory;
    print_warnings(inv);
    let names: Vec<String> = if w.node.is_empty() {
        inv.nodes.iter().map(|n| n.name.clone()).collect()
    } else {
        for n in &w.node {
            inv.node(n)?;
        }
        w.node.clone()
    };
    let env = Environment::current(None);
    let mut jobs = Vec::new();
    // Plan warnings by text, with the nodes they concern: said once.
    let mut warnings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut nodes = names
        .iter()
        .map(|name| node_request(&cluster, w, name))
        .collect::<Result<Vec<_>>>()?;
    one_k3s_release(&mut nodes)?;
    for (name, (request, stick)) in names.iter().zip(nodes) {
        let plan = resolve::resolve(&request, &env)
            .and_then(|spec| Plan::build(&spec))
            .with_context(|| format!("planning the stick of node {name}"))?;
        for warning in &plan.warnings {
            warnings
                .entry(warning.clone())
                .or_default()
                .push(name.clone());
        }
        jobs.push(Job {
            node: stick.name,
            role: stick.role,
            path: args.out.join(format!("{name}.img")),
            plan,
        });
    }
    for (warning, nodes) in &warnings {
        if nodes.len() == names.len() {
            eprintln!("mkstick: warning: {warning}");
        } else {
            eprintln!("mkstick: warning ({}): {warning}", nodes.join(", "));
        }
    }
    if !w.dry_run {
        let mut existing = Vec::new();
        for j in &jobs {
            if image_file::destination(&j.path)? == Destination::Existing {
                existing.push(j.path.display().to_string());
            }
        }
        ensure!(
            existing.is_empty() || w.yes,
            "{} already exist{}; pass --yes to replace {}",
            existing.join(", "),
            if existing.len() == 1 { "s" } else { "" },
            if existing.len() == 1 { "it" } else { "them" }
        );
        std::fs::create_dir_all(&args.out)
            .with_context(|| format!("creating the output directory {}", args.out.display()))?;
        build_all(&jobs, args.jobs)?;
    }
    print!("{}", summary(&jobs, w.dry_run));
    Ok(())
}

/// A k3s channel (`stable`) resolved to its tag once for the whole
/// cluster: every node pins that release, even if the channel moves while
/// the sticks are planned. A tag (or a hand pin) is left as it is.
fn one_k3s_release(nodes: &mut [(Request, NodeStick)]) -> Result<()> {
    let runs_k3s = |r: &Request| {
        r.preset_secrets
            .as_ref()
            .is_some_and(|s| s.is_enabled(ComponentId::K3s))
    };
    // Every node's request names the same release (the inventory's or --k3s-version).
    let Some(req) = nodes.iter().map(|(r, _)| r).find(|r| runs_k3s(r)) else {
        return Ok(());
    };
    if !matches!(req.k3s.version, VersionSpec::Channel(_)) || req.k3s.sha256.is_some() {
        return Ok(());
    }
    let tag = resolve::k3s::resolve_tag(&req.k3s)
        .with_context(|| format!("resolving the cluster's k3s channel {}", req.k3s.version))?;
    for (r, _) in nodes {
        r.k3s.version = VersionSpec::Tag(tag.clone());
    }
    Ok(())
}

/// Builds and writes every image, a few at a time, reporting each as it ends.
fn build_all(jobs: &[Job], workers: Option<NonZeroUsize>) -> Result<()> {
    let workers = workers
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get)
        .min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let result = Image::build(&job.plan)
                        .and_then(|image| image_file::write(&job.path, &job.plan, &image));
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    match result {
                        Ok(_) => eprintln!(
                            "mkstick: [{n}/{}] {}: wrote {}, verified",
                            jobs.len(),
                            job.node,
                            job.path.display()
                        ),
                        Err(e) => {
                            eprintln!("mkstick: [{n}/{}] {}: failed", jobs.len(), job.node);
                            failures
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .push(format!("{}: {e:#}", job.node));
                        }
                    }
                }
            });
        }
    });
    let failures = failures
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !failures.is_empty() {
        bail!(
            "{} image(s) failed:\n  - {}",
            failures.len(),
            failures.join("\n  - ")
        );
    }
    Ok(())
}

/// The table of what was built: node, role, image, size.
fn summary(jobs: &[Job], dry_run: bool) -> String {
    let width = |f: &dyn Fn(&Job) -> usize, title: &str| {
        jobs.iter().map(f).max().unwrap_or(0).max(title.len())
    };
    let wn = width(&|j| j.node.len(), "NODE");
    let wi = width(&|j| j.path.display().to_string().len(), "IMAGE");
    let mut out = format!("{:<wn$}  {:<6}  {:<wi$}  SIZE\n", "NODE", "ROLE", "IMAGE");
    for j in jobs {
        let _ = writeln!(
            out,
            "{:<wn$}  {:<6}  {:<wi$}  {} MiB{}",
            j.node,
            j.role.as_str(),
            j.path.display().to_string(),
            j.plan.layout.disk_bytes / MIB,
            if dry_run {
                " (dry run: not written)"
            } else {
                ""
            }
        );
    }
    out
}
