//! `mkstick inspect`: read a stick or image back without writing to it.

use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::inspect::InspectArgs;
use crate::model::Sha256Digest;
use crate::model::stick::{AUTOEXEC_PATH, ESP_NAME, SECRETS_DIGESTS_PATH, SECRETS_NAME};
use crate::plan::manifest::{Manifest, parse_secrets_digests};
use crate::readback::{self, FileState, Stick};

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
        super::print(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        super::print(&render(&report))?;
    }
    Ok(if report.mismatches.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn inspect(path: &std::path::Path) -> Result<Report> {
    let stick = Stick::open(path)?;
    let esp = stick.partition(ESP_NAME)?;
    let sec = stick.partition(SECRETS_NAME)?;

    let mut mismatches = Vec::new();
    let esp_fs = stick
        .fat(esp)
        .context("mounting the EFI System Partition")?;
    // An unreadable script is shown as absent; the manifest check reports it.
    let script = readback::read_file(&esp_fs, AUTOEXEC_PATH)
        .ok()
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let manifest = readback::manifest(&esp_fs)?;
    match &manifest {
        Some(m) => mismatches.extend(describe_mismatches(
            "/",
            readback::check_files(
                &esp_fs,
                m.esp_files.iter().map(|f| (f.path.as_str(), &f.sha256)),
            ),
        )),
        None => mismatches.push("no /mkstick/manifest.json".into()),
    }
    drop(esp_fs);

    let sec_fs = stick.fat(sec).context("mounting the secrets volume")?;
    let mut secrets = Vec::new();
    for entry in sec_fs.root_dir().iter().flatten() {
        if entry.is_dir()
            || entry.file_name().starts_with('.')
            || entry.file_name() == SECRETS_DIGESTS_PATH
        {
            continue;
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry.to_file(), &mut text).ok();
        secrets.push((entry.file_name(), crate::secrets::envfile::keys(&text)));
    }
    if let Some(m) = &manifest {
        mismatches.extend(secrets_mismatches(&sec_fs, m)?);
    }
    Ok(Report {
        partitions: stick
            .partitions
            .iter()
            .map(|p| Partition {
                name: p.name.clone(),
                guid: p.guid.to_string(),
                start_bytes: p.start_bytes,
                size_bytes: p.size_bytes,
            })
            .collect(),
        script,
        manifest,
        secrets,
        mismatches,
    })
}

/// What on the secrets volume differs from what was written: checked against
/// the volume's own digest file (hashes never leave it), or against the
/// manifest's hashes on sticks written before that file existed.
pub(crate) fn secrets_mismatches<T: fatfs::ReadWriteSeek>(
    sec_fs: &fatfs::FileSystem<T>,
    m: &Manifest,
) -> Result<Vec<String>> {
    let mut mismatches = Vec::new();
    // The secrets' hashes are on their own volume (the manifest names the
    // files); a manifest from before that move still carries them.
    let digests = readback::read_file(sec_fs, SECRETS_DIGESTS_PATH)?
        .map(|b| parse_secrets_digests(&b, 1024))
        .transpose()?;
    let old: Vec<(String, Sha256Digest)> = m
        .secrets_files
        .iter()
        .filter_map(|f| Some((f.path.clone(), f.sha256?)))
        .collect();
    let listed = match (&digests, old.is_empty()) {
        (Some(d), _) => d,
        (None, false) => &old,
        (None, true) => {
            mismatches.push(format!(
                "secrets/{SECRETS_DIGESTS_PATH} is missing: the secrets cannot be checked"
            ));
            &old
        }
    };
    mismatches.extend(describe_mismatches(
        "secrets/",
        readback::check_files(sec_fs, listed.iter().map(|(p, d)| (p.as_str(), d))),
    ));
    for f in &m.secrets_files {
        if f.path != SECRETS_DIGESTS_PATH && !listed.iter().any(|(p, _)| *p == f.path) {
            mismatches.push(format!(
                "secrets/{} is in the manifest but has no recorded hash",
                f.path
            ));
        }
    }

    Ok(mismatches)
}

/// What differs from the manifest, one line per file (also `clone`'s refusal).
pub(crate) fn describe_mismatches(prefix: &str, states: Vec<(&str, FileState)>) -> Vec<String> {
    states
        .into_iter()
        .filter_map(|(path, state)| match state {
            FileState::Matches => None,
            FileState::Changed => Some(format!("{prefix}{path} changed since it was written")),
            FileState::Missing => Some(format!("{prefix}{path} is missing")),
        })
        .collect()
}

pub fn render(r: &Report) -> String {
    // Everything below comes from the stick: control characters are escaped
    // so a hostile stick cannot drive the terminal.
    let p = readback::printable;
    let mut s = String::from("Partitions:\n");
    for part in &r.partitions {
        s += &format!(
            "  {:<8} {:>6} MiB at {:>4} MiB  GUID {}\n",
            p(&part.name),
            part.size_bytes >> 20,
            part.start_bytes >> 20,
            part.guid
        );
    }
    if let Some(m) = &r.manifest {
        s += &format!(
            "Written by mkstick {}: Flatcar {} {} ({}) from {}\nIgnition: {}\n",
            p(&m.mkstick_version),
            p(&m.flatcar.channel),
            p(&m.flatcar.version),
            p(&m.flatcar.arch),
            p(&m.flatcar.base_url),
            p(&m.ignition)
        );
        if let Some(k3s) = &m.k3s {
            s += &super::write::k3s_lines(k3s);
        }
    }
    s += "Secrets volume (key names only):\n";
    for (file, keys) in &r.secrets {
        let keys = if keys.is_empty() {
            "(empty: component off)".to_string()
        } else {
            p(&keys.join(", "))
        };
        s += &format!("  {:<20} {keys}\n", p(file));
    }
    if let Some(script) = &r.script {
        s += "Boot script (/autoexec.ipxe):\n";
        for line in script.lines() {
            s += &format!("  | {}\n", p(line));
        }
    }
    if r.mismatches.is_empty() {
        s += "The stick matches its manifest.\n";
    } else {
        s += "The stick does NOT match its manifest:\n";
        for m in &r.mismatches {
            s += &format!("  - {}\n", p(m));
        }
    }
    s
}
