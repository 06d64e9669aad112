//! `mkstick clone`: read a stick back (partition table, both FAT volumes,
//! manifest), check it against its own manifest, and write the same plan
//! again: same GUIDs, volume ids, labels, file order and timestamps, so an
//! image of the same size comes out byte-identical.

use std::os::unix::fs::FileTypeExt as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail, ensure};

use super::inspect::describe_mismatches;
use super::prompt::{self, Consent};
use crate::cli::clone::CloneArgs;
use crate::image::Image;
use crate::model::fat::{DosTime, FatKind};
use crate::model::flatcar::{Arch, ArchChoice, Channel};
use crate::model::stick::{ESP_NAME, MIB, PartKind, SECRETS_NAME, boot_path};
use crate::plan::bootscript::{BootSettings, IgnitionSource};
use crate::plan::manifest::Manifest;
use crate::plan::{
    ComponentStatus, DiskLayout, IpxeSource, PartitionSpec, Plan, PlannedFile, VolumePlan,
};
use crate::readback::{self, PartitionEntry, Stick};
use crate::target::blockdev::{self, DiskPolicy};
use crate::target::image_file::{self, Destination};

/// The most a stick's volumes may hold in memory (an offline ESP is ~500 MB).
const MAX_VOLUME_BYTES: u64 = 2 << 30;

pub fn run(args: &CloneArgs) -> Result<ExitCode> {
    let plan = read_plan(&args.source, args.force)?;
    let image = Image::build(&plan).context("laying out the copy")?;
    let consent = if args.yes {
        Consent::Given
    } else {
        Consent::Ask
    };
    let written = write_target(&args.destination, &plan, &image, consent)?;
    eprintln!(
        "mkstick: cloned {} to {}: {} KiB of data, verified by reading it back",
        args.source.display(),
        args.destination.display(),
        written / 1024
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `image` to `dest` as the writer does: a removable device after
/// its checks and the question, or an image file via a temporary file and a
/// rename. Returns the bytes of data written (read back and verified).
pub(crate) fn write_target(
    dest: &Path,
    plan: &Plan,
    image: &Image,
    consent: Consent,
) -> Result<u64> {
    let is_device = std::fs::metadata(dest).is_ok_and(|m| m.file_type().is_block_device());
    if is_device {
        let sys = blockdev::System::live();
        let info = blockdev::DiskInfo::probe(&sys, blockdev::devnum_of(dest)?)?;
        let problems = info.problems(&sys, DiskPolicy::RemovableOnly);
        if !problems.is_empty() {
            bail!(
                "refusing to write {}:\n  - {}",
                dest.display(),
                problems.join("\n  - ")
            );
        }
        ensure!(
            info.size_bytes >= plan.layout.disk_bytes,
            "{} holds {} MiB, the stick needs {} MiB",
            dest.display(),
            info.size_bytes / MIB,
            plan.layout.disk_bytes.div_ceil(MIB)
        );
        eprintln!("mkstick: about to erase {}", info.describe());
        prompt::confirm(
            consent,
            &format!("Everything on /dev/{} will be lost.", info.name),
            &info.name,
        )?;
        blockdev::write(dest, &info, plan, image)?;
    } else {
        if image_file::destination(dest)? == Destination::Existing {
            prompt::confirm(
                consent,
                &format!("{} exists. Overwrite it?", dest.display()),
                "y",
            )?;
        }
        image_file::write(dest, plan, image)?;
    }
    Ok(image.data_bytes())
}

/// The plan that wrote `src`, rebuilt from what is on it. A stick that does
/// not match its own manifest is refused unless `force`.
pub(crate) fn read_plan(src: &Path, force: bool) -> Result<Plan> {
    let stick = Stick::open(src)?;
    let esp_part = stick.partition(ESP_NAME)?.clone();
    let sec_part = stick.partition(SECRETS_NAME)?.clone();
    let disk_bytes = {
        let mut f = std::fs::File::open(src)
            .with_context(|| format!("opening {} read-only", src.display()))?;
        std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0))?
    };
    let disk_guid = {
        let mut f = std::fs::File::open(src)?;
        readback::disk_guid(&mut f, disk_bytes).with_context(|| src.display().to_string())?
    };
    let esp_fs = stick
        .fat(&esp_part)
        .context("mounting the EFI System Partition")?;
    let manifest = readback::manifest(&esp_fs)?.with_context(|| {
        format!(
            "{} has no /mkstick/manifest.json: only a stick written by mkstick can be cloned",
            src.display()
        )
    })?;
    let mut problems = describe_mismatches(
        "/",
        readback::check_files(
            &esp_fs,
            manifest
                .esp_files
                .iter()
                .map(|f| (f.path.as_str(), &f.sha256)),
        ),
    );
    let esp = volume(&esp_fs, &manifest)?;
    drop(esp_fs);
    let sec_fs = stick
        .fat(&sec_part)
        .context("mounting the secrets volume")?;
    problems.extend(super::inspect::secrets_mismatches(&sec_fs, &manifest)?);
    let secrets = volume(&sec_fs, &manifest)?;
    if !problems.is_empty() {
        let list = problems.join("\n  - ");
        ensure!(
            force,
            "{} does not match its own manifest:\n  - {list}\ncopy it anyway with --force",
            src.display()
        );
        eprintln!(
            "mkstick: warning: copying {} although it differs from its manifest:\n  - {list}",
            src.display()
        );
    }
    Ok(Plan {
        layout: DiskLayout {
            disk_bytes,
            disk_guid,
            esp: partition(&esp_part, PartKind::Esp),
            secrets: partition(&sec_part, PartKind::Secrets),
        },
        boot: boot(&manifest)?,
        components: components(&manifest),
        ipxe: ipxe(&esp.files),
        k3s: manifest.k3s.clone(),
        esp,
        secrets,
        source_date_epoch: manifest.source_date_epoch,
        warnings: Vec::new(),
    })
}

fn partition(p: &PartitionEntry, kind: PartKind) -> PartitionSpec {
    PartitionSpec {
        name: p.name.clone(),
        kind,
        start_bytes: p.start_bytes,
        size_bytes: p.size_bytes,
        guid: p.guid,
    }
}

/// A volume as the writer planned it: label, kind, id, files in order, time.
fn volume<T: fatfs::ReadWriteSeek>(fs: &fatfs::FileSystem<T>, m: &Manifest) -> Result<VolumePlan> {
    let kind = match fs.fat_type() {
        fatfs::FatType::Fat32 => FatKind::Fat32,
        fatfs::FatType::Fat16 => FatKind::Fat16,
        fatfs::FatType::Fat12 => bail!("a FAT12 volume: mkstick never writes one"),
    };
    let files = readback::read_tree(fs, MAX_VOLUME_BYTES)?
        .into_iter()
        .map(|(path, bytes)| PlannedFile::new(&path, bytes))
        .collect();
    Ok(VolumePlan {
        label: fs.volume_label().trim_end().to_string(),
        kind,
        volume_id: fs.volume_id(),
        files,
        time: m
            .source_date_epoch
            .map_or(DosTime::EPOCH, DosTime::from_unix),
    })
}

/// The boot settings the manifest records (shown by `--dry-run`-like output
/// only; the boot script itself is copied as a file).
fn boot(m: &Manifest) -> Result<BootSettings> {
    use clap::ValueEnum as _;
    let f = &m.flatcar;
    Ok(BootSettings {
        channel: Channel::from_str(&f.channel, false)
            .map_err(|e| anyhow::anyhow!("the manifest's channel {:?}: {e}", f.channel))?,
        version: f
            .version
            .parse()
            .context("the manifest's Flatcar version")?,
        arch: ArchChoice::from_str(&f.arch, false)
            .map_err(|e| anyhow::anyhow!("the manifest's arch {:?}: {e}", f.arch))?,
        base_url: f
            .base_url
            .parse()
            .context("the manifest's Flatcar base URL")?,
        kernel_args: m.kernel_args.clone(),
        ignition: match m.ignition.strip_prefix("embedded sha256:") {
            Some(sha) => IgnitionSource::Embedded(sha.to_string()),
            None => IgnitionSource::Url(
                m.ignition
                    .trim_start_matches("url ")
                    .parse()
                    .context("the manifest's Ignition URL")?,
            ),
        },
        offline_dir: f.offline_dir.clone(),
    })
}

fn components(m: &Manifest) -> Vec<ComponentStatus> {
    crate::secrets::schema::schema()
        .components
        .iter()
        .map(|c| {
            let keys = m
                .secrets_files
                .iter()
                .find(|f| f.path == c.file)
                .map(|f| f.keys.clone())
                .unwrap_or_default();
            ComponentStatus {
                name: c.name.clone(),
                file: c.file.clone(),
                enabled: !keys.is_empty(),
                keys,
            }
        })
        .collect()
}

fn ipxe(files: &[PlannedFile]) -> Vec<IpxeSource> {
    [Arch::Amd64, Arch::Arm64]
        .into_iter()
        .filter(|a| files.iter().any(|f| f.path == boot_path(*a)))
        .map(|arch| IpxeSource {
            arch,
            path: boot_path(arch).into(),
            from: "the source stick".into(),
        })
        .collect()
}
