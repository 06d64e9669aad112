//! `mkstick inspect`: read a stick or image back without writing to it.

use std::fs::File;
use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::InspectArgs;
use crate::image::gpt;
use crate::manifest::Manifest;
use crate::plan::{ESP_NAME, SECRETS_NAME};
use crate::target::io::Slice;
use crate::verify::sha256_of;

#[derive(Debug, Serialize)]
pub struct Report {
    pub partitions: Vec<Partition>,
    pub script: Option<String>,
    pub manifest: Option<Manifest>,
    /// Secrets files and their key names (never values).
    pub secrets: Vec<(String, Vec<String>)>,
    /// Files whose contents differ from the manifest (empty: the stick matches).
    pub mismatches: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Partition {
    pub name: String,
    pub guid: String,
    pub start_bytes: u64,
    pub size_bytes: u64,
}

pub fn run(args: &InspectArgs) -> Result<ExitCode> {
    let report = inspect(&args.target)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(if report.mismatches.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn inspect(path: &std::path::Path) -> Result<Report> {
    let mut file =
        File::open(path).with_context(|| format!("opening {} read-only", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let len = if len == 0 { device_len(&file)? } else { len };
    let parts =
        gpt::read(Slice::new(&mut file, 0, len)).with_context(|| format!("{}", path.display()))?;
    let find = |name: &str| {
        parts
            .iter()
            .find(|p| p.0 == name)
            .with_context(|| format!("no partition named {name:?}: not a mkstick stick"))
    };
    let esp = find(ESP_NAME)?;
    let sec = find(SECRETS_NAME)?;

    let mut mismatches = Vec::new();
    let esp_fs =
        fatfs::FileSystem::new(Slice::new(&mut file, esp.2, esp.3), fatfs::FsOptions::new())
            .context("mounting the EFI System Partition")?;
    let read = |p: &str| -> Option<Vec<u8>> {
        let mut f = esp_fs.root_dir().open_file(p).ok()?;
        let mut v = Vec::new();
        f.read_to_end(&mut v).ok()?;
        Some(v)
    };
    let script = read("autoexec.ipxe").map(|b| String::from_utf8_lossy(&b).into_owned());
    let manifest = match read(crate::plan::MANIFEST_PATH) {
        Some(b) => Some(Manifest::parse(&b)?),
        None => {
            mismatches.push("no /mkstick/manifest.json".into());
            None
        }
    };
    if let Some(m) = &manifest {
        for f in &m.esp_files {
            match sha256_of(&esp_fs, &f.path) {
                Ok(h) if h == f.sha256 => {}
                Ok(_) => mismatches.push(format!("/{} changed since it was written", f.path)),
                Err(_) => mismatches.push(format!("/{} is missing", f.path)),
            }
        }
    }
    drop(esp_fs);

    let sec_fs =
        fatfs::FileSystem::new(Slice::new(&mut file, sec.2, sec.3), fatfs::FsOptions::new())
            .context("mounting the secrets volume")?;
    let mut secrets = Vec::new();
    for entry in sec_fs.root_dir().iter().flatten() {
        if entry.is_dir() || entry.file_name().starts_with('.') {
            continue;
        }
        let mut text = String::new();
        entry.to_file().read_to_string(&mut text).ok();
        let keys = text
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
            .collect();
        secrets.push((entry.file_name(), keys));
    }
    if let Some(m) = &manifest {
        for f in &m.secrets_files {
            match sha256_of(&sec_fs, &f.path) {
                Ok(h) if h == f.sha256 => {}
                Ok(_) => {
                    mismatches.push(format!("secrets/{} changed since it was written", f.path))
                }
                Err(_) => mismatches.push(format!("secrets/{} is missing", f.path)),
            }
        }
    }
    Ok(Report {
        partitions: parts
            .iter()
            .map(|p| Partition {
                name: p.0.clone(),
                guid: p.1.to_string(),
                start_bytes: p.2,
                size_bytes: p.3,
            })
            .collect(),
        script,
        manifest,
        secrets,
        mismatches,
    })
}

fn device_len(file: &File) -> Result<u64> {
    use std::io::{Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::End(0)).context("finding the device size")
}

pub fn render(r: &Report) -> String {
    let mut s = String::from("Partitions:\n");
    for p in &r.partitions {
        s += &format!(
            "  {:<8} {:>6} MiB at {:>4} MiB  GUID {}\n",
            p.name,
            p.size_bytes >> 20,
            p.start_bytes >> 20,
            p.guid
        );
    }
    if let Some(m) = &r.manifest {
        s += &format!(
            "Written by mkstick {}: Flatcar {} {} ({}) from {}\nIgnition: {}\n",
            m.mkstick_version,
            m.flatcar.channel,
            m.flatcar.version,
            m.flatcar.arch,
            m.flatcar.base_url,
            m.ignition
        );
    }
    s += "Secrets volume (key names only):\n";
    for (file, keys) in &r.secrets {
        let keys = if keys.is_empty() {
            "(empty: component off)".to_string()
        } else {
            keys.join(", ")
        };
        s += &format!("  {file:<20} {keys}\n");
    }
    if let Some(script) = &r.script {
        s += "Boot script (/autoexec.ipxe):\n";
        for line in script.lines() {
            s += &format!("  | {line}\n");
        }
    }
    if r.mismatches.is_empty() {
        s += "The stick matches its manifest.\n";
    } else {
        s += "The stick does NOT match its manifest:\n";
        for m in &r.mismatches {
            s += &format!("  - {m}\n");
        }
    }
    s
}
