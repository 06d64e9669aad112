//! The write command: inputs → Plan → Image → target → verify.

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::cli::WriteArgs;
use crate::image::Image;
use crate::plan::{Environment, MIB, Plan};
use crate::target::{blockdev, image_file};

pub fn run(args: &WriteArgs) -> Result<ExitCode> {
    // A cluster node: its arguments and secrets come from the inventory.
    let (cluster_args, preset) = match crate::cluster::write::from_write_args(args)? {
        Some((a, p)) => (Some(a), Some(p)),
        None => (None, None),
    };
    let args = cluster_args.as_ref().unwrap_or(args);
    // A device's size bounds the plan; nothing is opened for writing yet.
    let device = match (&args.device, &args.image) {
        (Some(dev), _) => {
            let sys = blockdev::System::live();
            let info = blockdev::DiskInfo::probe(&sys, blockdev::devnum_of(dev)?)?;
            let problems = info.problems(&sys, args.force);
            if !problems.is_empty() {
                bail!(
                    "refusing to write {}:\n  - {}",
                    dev.display(),
                    problems.join("\n  - ")
                );
            }
            Some(info)
        }
        (None, Some(_)) => None,
        (None, None) => {
            bail!("say where to write: a DEVICE (sudo mkstick /dev/sdX) or --image FILE")
        }
    };
    let plan = Plan::build_with(
        args,
        &Environment::current(device.as_ref().map(|d| d.size_bytes)),
        preset,
    )?;
    for w in &plan.warnings {
        eprintln!("mkstick: warning: {w}");
    }
    if args.dry_run {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            print!("{}", describe(&plan));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let image = Image::build(&plan)?;
    let written = match (&args.device, &args.image, &device) {
        (Some(dev), _, Some(info)) => blockdev::write(dev, info, &plan, &image, args.yes)?,
        (_, Some(path), _) => image_file::write(path, &plan, &image, args.yes)?.bytes_written,
        _ => unreachable!("checked above"),
    };
    let target = args
        .device
        .as_ref()
        .or(args.image.as_ref())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    eprintln!(
        "mkstick: wrote {target}: {} MiB stick, {} KiB of data, verified by reading it back",
        plan.layout.disk_bytes / MIB,
        written / 1024
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
    for (p, v) in [(&l.esp, &plan.esp), (&l.secrets, &plan.secrets)] {
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
            s += &format!(
                "      /{:<24} {:>9} B  sha256 {}\n",
                f.path,
                f.size,
                &f.sha256[..16]
            );
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
