//! The write command: request → spec → Plan → Image → target → read-back.

use std::process::ExitCode;

use anyhow::{Result, bail};

use super::prompt::{self, Consent};
use crate::cli::write::WriteArgs;
use crate::image::Image;
use crate::model::stick::MIB;
use crate::plan::Plan;
use crate::plan::manifest::K3sEntry;
use crate::resolve::{
    self, Environment, IgnitionRequest, IpxeRequest, K3sRequest, OfflineRequest, Request,
    SecretFlags,
};
use crate::target::blockdev::{self, DiskPolicy};
use crate::target::image_file::{self, Destination};

/// The stick the options describe, without where it goes.
pub fn request(args: &WriteArgs) -> Request {
    let ignition = match (&args.ignition_url, &args.ignition) {
        (Some(url), _) => IgnitionRequest::Url(url.clone()),
        (None, Some(path)) => IgnitionRequest::File(path.clone()),
        (None, None) => IgnitionRequest::BuiltIn,
    };
    Request {
        channel: args.channel,
        flatcar_version: args.flatcar_version.clone(),
        arch: args.arch,
        base_url: args.base_url.clone(),
        console: args.console.clone(),
        ignition,
        ssh_key: args.ssh_key.clone(),
        hostname: args.hostname.clone(),
        preset_secrets: None,
        secrets: SecretFlags {
            file: args.secrets.clone(),
            k3s: args.k3s.clone(),
            logexport_host: args.logexport_host.clone(),
            logexport_port: args.logexport_port.clone(),
            heartbeat_url: args.heartbeat_url.clone(),
            namecheap_ddns_pass: args.namecheap_ddns_pass.clone(),
            namecheap_ddns_interface: args.namecheap_ddns_interface.clone(),
        },
        offline: args.offline.then(|| OfflineRequest {
            mirror: args.mirror.clone(),
            keyring: args.keyring.clone(),
        }),
        k3s: K3sRequest {
            version: args.k3s_version.clone(),
            sha256: args.k3s_sha256,
            base_url: args.k3s_base_url.clone(),
            channel_url: args.k3s_channel_url.clone(),
            airgap: args.k3s_airgap,
        },
        ipxe: IpxeRequest {
            amd64: args.ipxe_efi.clone(),
            arm64: args.ipxe_efi_arm64.clone(),
            download: args.ipxe_url.clone().zip(args.ipxe_sha256),
        },
        esp_size: args.esp_size,
        secrets_size: args.secrets_size,
    }
}

/// Prints the plan's warnings, as every command that builds a stick does.
pub fn warn(prefix: &str, plan: &Plan) {
    for w in &plan.warnings {
        eprintln!("{prefix}: warning: {w}");
    }
}

pub fn run(args: &WriteArgs) -> Result<ExitCode> {
    let consent = if args.yes {
        Consent::Given
    } else {
        Consent::Ask
    };
    let disks = if args.force {
        DiskPolicy::AllowInternal
    } else {
        DiskPolicy::RemovableOnly
    };
    // A device's size bounds the plan; nothing is opened for writing yet.
    let device = match (&args.device, &args.image) {
        (Some(dev), _) => {
            let sys = blockdev::System::live();
            let info = blockdev::DiskInfo::probe(&sys, blockdev::devnum_of(dev)?)?;
            let problems = info.problems(&sys, disks);
            if !problems.is_empty() {
                bail!(
                    "refusing to write {}:\n  - {}",
                    dev.display(),
                    problems.join("\n  - ")
                );
            }
            Some(info)
        }
        (None, Some(path)) => {
            // Before anything is built: --image /dev/null must fail at once.
            image_file::destination(path)?;
            None
        }
        (None, None) => {
            bail!("say where to write: a DEVICE (sudo mkstick /dev/sdX) or --image FILE")
        }
    };
    let env = Environment::current(device.as_ref().map(|d| d.size_bytes));
    // A cluster node: its settings and secrets come from the inventory.
    let request = match super::cluster::write_request(args)? {
        Some(node) => node,
        None => request(args),
    };
    let plan = Plan::build(&resolve::resolve(&request, &env)?)?;
    warn("mkstick", &plan);
    if args.dry_run {
        if args.json {
            super::print(&(serde_json::to_string_pretty(&plan)? + "\n"))?;
        } else {
            super::print(&describe(&plan))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let image = Image::build(&plan)?;
    let target = match (&args.device, &args.image, &device) {
        (Some(dev), _, Some(info)) => {
            eprintln!("mkstick: about to erase {}", info.describe());
            prompt::confirm(
                consent,
                &format!("Everything on /dev/{} will be lost.", info.name),
                &info.name,
            )?;
            // Ctrl-C or SIGTERM: `commands::run` says so and exits 130.
            blockdev::write(dev, info, &plan, &image)?;
            dev
        }
        (_, Some(path), _) => {
            if image_file::destination(path)? == Destination::Existing {
                prompt::confirm(
                    consent,
                    &format!("{} exists. Overwrite it?", path.display()),
                    "y",
                )?;
            }
            image_file::write(path, &plan, &image)?;
            path
        }
        _ => unreachable!("checked above"),
    };
    eprintln!(
        "mkstick: wrote {}: {} MiB stick, {} KiB of data, verified by reading it back",
        target.display(),
        plan.layout.disk_bytes / MIB,
        image.data_bytes() / 1024
    );
    Ok(ExitCode::SUCCESS)
}

/// The human-readable plan for --dry-run. Secret values never appear: the plan
/// holds them only inside file contents, which are shown as sizes and hashes.
pub fn describe(plan: &Plan) -> String {
    let l = &plan.layout;
    let mut s = format!(
        "Stick: {} MiB, GPT (disk GUID {})\n",
        l.disk_bytes / MIB,
        l.disk_guid
    );
    // Secrets files are shown without hashes: a hash would confirm a guess.
    for (p, v, hashes) in [
        (&l.esp, &plan.esp, true),
        (&l.secrets, &plan.secrets, false),
    ] {
        s += &format!(
            "  {:<8} {:>5} MiB at {:>4} MiB  {} label {}  GUID {}\n",
            p.name,
            p.size_bytes / MIB,
            p.start_bytes / MIB,
            v.kind.as_str(),
            v.label,
            p.guid
        );
        for f in &v.files {
            let sha = if hashes {
                f.sha256.to_string()[..16].to_string()
            } else {
                "on the secrets volume only".to_string()
            };
            s += &format!("      /{:<24} {:>9} B  sha256 {sha}\n", f.path, f.size);
        }
    }
    let b = &plan.boot;
    s += &format!(
        "Flatcar: {} {} ({}) from {}\nKernel arguments: {}\n",
        b.channel.as_str(),
        b.version,
        b.arch.as_str(),
        b.base_url,
        b.kernel_args.join(" ")
    );
    if let Some(k3s) = &plan.k3s {
        s += &k3s_lines(k3s);
    }
    s += "Components:\n";
    for c in &plan.components {
        let state = if c.enabled {
            format!("on  ({})", c.keys.join(", "))
        } else {
            "off".into()
        };
        s += &format!("  {:<15} {state}\n", c.name);
    }
    for i in &plan.ipxe {
        s += &format!("iPXE: {} → /{}\n", i.from, i.path);
    }
    s
}

/// The pinned k3s release, for --dry-run and `inspect`.
pub fn k3s_lines(k3s: &K3sEntry) -> String {
    let mut s = format!("k3s: {} (pinned by SHA-256)\n", k3s.version);
    for b in &k3s.binaries {
        s += &format!("  {:<6} {}\n         sha256 {}\n", b.arch, b.url, b.sha256);
        for path in [&b.file, &b.airgap_file].into_iter().flatten() {
            s += &format!("         on the stick: /{path}\n");
        }
    }
    s
}
