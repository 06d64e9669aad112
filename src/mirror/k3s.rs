//! k3s releases in the mirror, beside Flatcar's: `mkstick mirror DIR --k3s`.
//!
//! Layout, like GitHub's release downloads so a static HTTP server serving
//! `DIR` answers `--k3s-base-url http://HOST/k3s` (it decodes `%2B` to `+`):
//!
//! ```text
//! DIR/k3s/<tag>/sha256sum-<arch>.txt
//! DIR/k3s/<tag>/k3s                 (amd64)   k3s-arm64   (arm64)
//! DIR/k3s/<tag>/k3s-airgap-images-<arch>.tar.zst          (--k3s-airgap)
//! ```
//!
//! k3s publishes no signatures: the checksum file, read once over TLS and
//! kept, is the record each file is checked against, when downloaded (a
//! mismatch is deleted) and again on every later run or offline use.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure as require};
use sha2::Digest as _;
use url::Url;

use super::{Arch, VerifiedFile, local};
use crate::fetch::Sha256Digest;
use crate::fetch::inspect::{Sha256Hasher, Worker};
use crate::fetch::{Fetcher, PINNED_DOWNLOAD_LIMIT, Progress, RetryPolicy};
use crate::k3s::release::{airgap_asset, binary_asset, sums_asset};
use crate::k3s::{K3sPin, K3sSource, PinnedBinary, Tag, VersionSpec, channel, pin, sums};

/// The k3s part of a mirror directory.
const K3S_DIR: &str = "k3s";

/// How [`ensure`] reaches k3s's releases.
pub struct K3sMirrorOptions {
    /// `<base>/<tag>/<asset>`, GitHub's release downloads by default.
    pub base_url: Url,
    /// k3s's channel server, to resolve a channel to a tag.
    pub channel_url: Url,
    /// Also the airgap images tarball of each architecture.
    pub airgap: bool,
    pub progress: Progress,
    pub retry: RetryPolicy,
}

/// A mirrored k3s release whose files were checked against its checksums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K3sRelease {
    pub tag: Tag,
    /// `DIR/k3s/<tag>`
    pub dir: PathBuf,
    pub binaries: Vec<K3sFiles>,
}

/// The files of one architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K3sFiles {
    pub arch: Arch,
    pub binary: VerifiedFile,
    pub airgap: Option<VerifiedFile>,
}

impl K3sRelease {
    pub fn files(&self, arch: Arch) -> Option<&K3sFiles> {
        self.binaries.iter().find(|b| b.arch == arch)
    }
}

/// `DIR/k3s/<tag>`.
pub fn tag_dir(root: &Path, tag: &Tag) -> PathBuf {
    root.join(K3S_DIR).join(tag.as_str())
}

/// Makes sure `dir` holds the release's checksum files and the asked files,
/// each matching its checksum, downloading only what is missing or damaged.
pub fn ensure(
    dir: &Path,
    version: &VersionSpec,
    arches: &[Arch],
    opts: &K3sMirrorOptions,
) -> Result<K3sRelease> {
    let fetcher = Fetcher::with_retry_policy(opts.progress.clone(), opts.retry)?;
    let tag = match version {
        VersionSpec::Tag(tag) => tag.clone(),
        VersionSpec::Channel(c) => channel::resolve(&fetcher, &opts.channel_url, c)?,
    };
    let release_dir = tag_dir(dir, &tag);
    let mut binaries = Vec::new();
    let mut fetched = 0;
    for &arch in arches {
        let mut assets = vec![binary_asset(arch).to_owned()];
        if opts.airgap {
            assets.push(airgap_asset(arch));
        }
        let sums_path = release_dir.join(sums_asset(arch));
        let sums_text = match local_sums(&sums_path, &assets) {
            Some(text) => text,
            None => {
                let text = pin::read_sums(&fetcher, &opts.base_url, &tag, arch)?;
                // Created only now: a release that does not exist leaves nothing.
                fs::create_dir_all(&release_dir)
                    .with_context(|| format!("creating {}", release_dir.display()))?;
                local::replace_file(&sums_path, text.as_bytes())?;
                fetched += 1;
                text
            }
        };
        let source = sums_path.display().to_string();
        let mut files = Vec::new();
        for asset in &assets {
            let expected = sums::sha256_for(&sums_text, asset, &source)
                .with_context(|| format!("mirroring k3s {tag}; check --k3s and --k3s-base-url"))?;
            let path = release_dir.join(asset);
            if let Ok(file) = check(&path, &expected, &source) {
                files.push(file);
                continue;
            }
            remove_if_present(&path)?;
            let url = pin::asset_url(&opts.base_url, &tag, asset)?;
            let hasher = Worker::spawn(Sha256Hasher::default());
            let part = fetcher.download(url.as_str(), &path, PINNED_DOWNLOAD_LIMIT, &[&hasher])?;
            let actual = hasher.finish()?;
            if actual != expected {
                part.discard()?;
                bail!(
                    "{url}: SHA-256 {actual} does not match {expected}, listed for {asset} in \
                     {source}; the download was deleted. The release or the mirror at \
                     --k3s-base-url serves a different file"
                );
            }
            let size = part.len();
            let path = part.commit()?;
            fetched += 1;
            files.push(VerifiedFile {
                path,
                size,
                sha256: actual,
            });
        }
        let mut files = files.into_iter();
        binaries.push(K3sFiles {
            arch,
            binary: files.next().context("the binary was just checked")?,
            airgap: files.next(),
        });
    }
    opts.progress.finish();
    opts.progress.println(&if fetched == 0 {
        format!("k3s {tag}: already mirrored and verified, nothing downloaded")
    } else {
        format!(
            "k3s {tag}: mirrored and verified in {}",
            release_dir.display()
        )
    });
    Ok(K3sRelease {
        tag,
        dir: release_dir,
        binaries,
    })
}

/// Re-checks a release mirrored earlier against its kept checksum files,
/// with no network.
pub fn open(dir: &Path, tag: &Tag, arches: &[Arch], airgap: bool) -> Result<K3sRelease> {
    let release_dir = tag_dir(dir, tag);
    let mut binaries = Vec::new();
    for &arch in arches {
        let sums_path = release_dir.join(sums_asset(arch));
        let text = read_sums(&sums_path)?.with_context(|| {
            format!(
                "{} is missing; run `mkstick mirror {} --k3s {tag}` first",
                sums_path.display(),
                dir.display()
            )
        })?;
        let source = sums_path.display().to_string();
        let one = |asset: &str| -> Result<VerifiedFile> {
            let expected = sums::sha256_for(&text, asset, &source)?;
            check(&release_dir.join(asset), &expected, &source)
                .context("run `mkstick mirror --k3s` again")
        };
        binaries.push(K3sFiles {
            arch,
            binary: one(binary_asset(arch))?,
            airgap: airgap.then(|| one(&airgap_asset(arch))).transpose()?,
        });
    }
    Ok(K3sRelease {
        tag: tag.clone(),
        dir: release_dir,
        binaries,
    })
}

/// The pin of a stick that carries k3s (`--offline`): the release in the
/// mirror `dir`, re-checked there or mirrored first when missing or damaged.
/// A hand pin (`--k3s-sha256`) must name the mirrored binary.
pub fn pin_from_mirror(
    dir: &Path,
    source: &K3sSource,
    arches: &[Arch],
    airgap: bool,
    progress: Progress,
    retry: RetryPolicy,
) -> Result<(K3sPin, K3sRelease)> {
    let fetcher = Fetcher::with_retry_policy(progress.clone(), retry)?;
    let tag = pin::resolve_tag(source, &fetcher)?;
    let release = match open(dir, &tag, arches, airgap) {
        Ok(release) => release,
        Err(_) => {
            let opts = K3sMirrorOptions {
                base_url: source.base_url.clone(),
                channel_url: source.channel_url.clone(),
                airgap,
                progress,
                retry,
            };
            ensure(dir, &VersionSpec::Tag(tag.clone()), arches, &opts).with_context(|| {
                format!("getting k3s {tag} for --offline into {}", dir.display())
            })?
        }
    };
    let mut binaries = Vec::new();
    for &arch in arches {
        let files = release
            .files(arch)
            .with_context(|| format!("k3s {tag} for {arch} is missing from the mirror"))?;
        if let Some(hand) = source.sha256 {
            require!(
                arches.len() == 1,
                "--k3s-sha256 pins one binary, but the stick serves {} architectures",
                arches.len()
            );
            require!(
                hand == files.binary.sha256,
                "--k3s-sha256 {hand} does not match k3s {tag} for {arch} in the mirror ({}: \
                 {}, as its release's checksum file lists); check the hash or the tag",
                files.binary.path.display(),
                files.binary.sha256
            );
        }
        binaries.push(PinnedBinary {
            arch,
            url: pin::asset_url(&source.base_url, &tag, binary_asset(arch))?,
            sha256: files.binary.sha256,
        });
    }
    Ok((
        K3sPin {
            version: tag,
            binaries,
        },
        release,
    ))
}

/// The kept checksum file, if it lists every asset wanted.
fn local_sums(path: &Path, assets: &[String]) -> Option<String> {
    let text = read_sums(path).ok()??;
    let source = path.display().to_string();
    assets
        .iter()
        .all(|a| sums::sha256_for(&text, a, &source).is_ok())
        .then_some(text)
}

/// A kept checksum file, bounded; `Ok(None)` when there is none.
fn read_sums(path: &Path) -> Result<Option<String>> {
    let Some(bytes) = local::read_bounded(path, pin::SUMS_LIMIT)? else {
        return Ok(None);
    };
    String::from_utf8(bytes)
        .map(Some)
        .with_context(|| format!("{} is not text", path.display()))
}

/// A regular file on disk whose SHA-256 is `expected` (never a FIFO or a
/// device: the mirror directory may be hostile).
fn check(path: &Path, expected: &Sha256Digest, source: &str) -> Result<VerifiedFile> {
    let (mut file, size) =
        local::open_regular(path)?.with_context(|| format!("{} is missing", path.display()))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let sha256 = Sha256Digest::from(hasher);
    if sha256 != *expected {
        bail!(
            "{} has SHA-256 {sha256}, but {source} lists {expected}",
            path.display()
        );
    }
    Ok(VerifiedFile {
        path: path.to_owned(),
        size,
        sha256,
    })
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing the damaged {}", path.display()))
        }
        _ => Ok(()),
    }
}
