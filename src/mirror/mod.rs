//! Verified Flatcar releases: `mkstick mirror` and the offline stick.
//!
//! [`ensure`] downloads a release into `DIR/<channel>/<arch>-usr/<version>/`
//! (the CDN's own layout, so any static HTTP server can serve `DIR` as a
//! mirror), checking every file against its detached OpenPGP signature from
//! a subkey of the pinned Flatcar key and against the SHA-512 of its
//! `.DIGESTS` file where there is one. The signatures stay beside the files:
//! [`Release::open`] (and [`ensure`], for what is already there) checks them
//! again on every use. `mkstick-verified.json` records what was verified, for
//! people and as a cache; it is never trusted.

pub mod args;
mod digests;
mod ephemeral;
pub mod k3s;
pub mod keyring;
pub mod layout;
mod local;
pub mod manifest;
mod rollback;
mod signature;
#[cfg(feature = "test-keys")]
mod test_hook;
mod verify;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use pgp::crypto::hash::HashAlgorithm;

use crate::fetch::inspect::{Feed, Inspect, Sha256Hasher, Sha512Hasher, Worker};
use crate::fetch::{Fetcher, Progress, RetryPolicy, Sha256Digest, Sha512Digest};

pub use args::{MirrorArgs, run};
pub use ephemeral::EphemeralSigner;
pub use keyring::{FLATCAR_FINGERPRINT, FLATCAR_KEY_URL, Fingerprint, Keyring};
pub use layout::{Arch, Channel, DEFAULT_BASE_URL, ReleaseId, Version, VersionSpec};

use layout::{INITRD, KERNEL, VERSION_TXT};
use manifest::{FileRecord, Manifest};
pub use rollback::SignatureDates;
use signature::Detached;

/// Where the verified signing key is cached, relative to the mirror root.
const KEY_CACHE: &str = ".mkstick/image-signing-key.asc";
/// Upper bounds for the small files (signatures, DIGESTS, version.txt, key).
const SMALL_LIMIT: u64 = 1024 * 1024;
/// The most a PXE kernel may have (Flatcar's are about 60 MB: the kernel
/// embeds its first-stage initramfs).
pub const KERNEL_LIMIT: u64 = 512 * 1024 * 1024;
/// The most a PXE initrd may have (Flatcar's `/usr` image is about 375 MB).
pub const INITRD_LIMIT: u64 = 2 * 1024 * 1024 * 1024;

/// The size bound of a release file: Flatcar signs no sizes, so these are
/// documented caps well above today's files.
fn limit_for(name: &str) -> u64 {
    match name {
        KERNEL => KERNEL_LIMIT,
        INITRD => INITRD_LIMIT,
        _ => SMALL_LIMIT,
    }
}

/// A mirrored release whose kernel and initrd were verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub channel: Channel,
    pub arch: Arch,
    pub version: Version,
    /// `DIR/<channel>/<arch>-usr/<version>`
    pub dir: PathBuf,
    /// `flatcar_production_pxe.vmlinuz`
    pub kernel: VerifiedFile,
    /// `flatcar_production_pxe_image.cpio.gz`
    pub initrd: VerifiedFile,
    /// When their signatures were made: checked against the version and
    /// each other.
    pub signed: SignatureDates,
}

/// One file of a release, as checked on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedFile {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: Sha256Digest,
}

/// The verified release for an offline stick: from `dir` when it is there
/// and its signatures verify (no network), else downloaded and verified
/// into `dir`, saying why.
pub fn verified_release(
    dir: &Path,
    channel: Channel,
    arch: Arch,
    version: &VersionSpec,
    opts: &MirrorOptions,
) -> Result<Release> {
    let release = match Release::open(dir, channel, arch, version, opts) {
        Ok(release) => release,
        Err(why) => {
            opts.progress.println(&format!(
                "mkstick: {why:#}; downloading the release into {}",
                dir.display()
            ));
            ensure(dir, channel, arch, version, opts)?
        }
    };
    #[cfg(feature = "test-keys")]
    test_hook::pause_after_verify()?;
    Ok(release)
}

impl Release {
    /// Opens a release mirrored earlier and verifies its kernel and initrd
    /// again against their signatures, with the key from `opts.keyring` or
    /// the mirror's cached copy (checked against the pin). No network.
    /// `current` is resolved through the mirror's own `current` link.
    pub fn open(
        dir: &Path,
        channel: Channel,
        arch: Arch,
        version: &VersionSpec,
        opts: &MirrorOptions,
    ) -> Result<Release> {
        let version = match version {
            VersionSpec::Exact(v) => v.clone(),
            VersionSpec::Current => local_current(dir, channel, arch)?,
        };
        let id = ReleaseId {
            channel,
            arch,
            version,
        };
        let release_dir = id.dir(dir);
        let hint = remirror_hint(dir, &id);
        let manifest = Manifest::load(&release_dir)
            .with_context(|| format!("{hint} to rebuild it"))?
            .with_context(|| {
                format!(
                    "{} holds no verified release (no {}); {hint} first",
                    release_dir.display(),
                    manifest::FILE_NAME,
                )
            })?;
        ensure!(
            manifest.channel == channel && manifest.arch == arch && manifest.version == id.version,
            "{} describes {}/{}/{}, not {id}; {hint}",
            Manifest::path(&release_dir).display(),
            manifest.channel,
            manifest.arch.board(),
            manifest.version
        );
        let keyring = load_keyring(dir, opts, None)?;
        let check = |name: &str| -> Result<(VerifiedFile, Option<u32>)> {
            let (file, record) =
                verify::release_file(&release_dir, name, &id.version, &keyring, limit_for(name))
                    .with_context(|| format!("{hint} to replace it"))?
                    .with_context(|| {
                        format!("{} is missing; {hint}", release_dir.join(name).display())
                    })?;
            Ok((file, record.signed_at))
        };
        let (kernel, kernel_at) = check(KERNEL)?;
        let (initrd, initrd_at) = check(INITRD)?;
        let signed = SignatureDates::of_pair((&kernel.path, kernel_at), (&initrd.path, initrd_at))
            .with_context(|| format!("{hint} to replace them"))?;
        Ok(Release {
            kernel,
            initrd,
            signed,
            channel,
            arch,
            version: id.version.clone(),
            dir: release_dir,
        })
    }
}

/// The command that repairs the mirror copy of `id`.
fn remirror_hint(dir: &Path, id: &ReleaseId) -> String {
    format!(
        "run `mkstick mirror {} --channel {} --arch {} --version {}`",
        dir.display(),
        id.channel,
        id.arch,
        id.version
    )
}

/// How [`ensure`] reaches and trusts Flatcar.
pub struct MirrorOptions {
    /// Mirror root URL with the CDN layout (default: Flatcar's CDN).
    pub base_url: String,
    /// The signing key from a file instead of [`MirrorOptions::key_url`].
    pub keyring: Option<PathBuf>,
    /// Where to fetch the signing key when neither a file nor a cached copy exists.
    pub key_url: String,
    /// The primary key fingerprint to trust.
    pub fingerprint: Fingerprint,
    pub progress: Progress,
    pub retry: RetryPolicy,
}

impl MirrorOptions {
    /// Flatcar's CDN and key, the pinned fingerprint (see [`Fingerprint::pinned`]),
    /// progress bars on stderr.
    pub fn new() -> Result<Self> {
        Ok(Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            keyring: None,
            key_url: FLATCAR_KEY_URL.to_owned(),
            fingerprint: Fingerprint::pinned()?,
            progress: Progress::stderr(),
            retry: RetryPolicy::default(),
        })
    }
}

/// Makes sure `dir` holds a verified copy of the release, downloading only
/// what is missing or does not verify, and returns it. Files already there
/// are verified again against their signatures, whatever the bookkeeping
/// file says.
///
/// `current` is resolved with the server's `version.txt`, and the mirror's
/// `current` link then points at that version.
pub fn ensure(
    dir: &Path,
    channel: Channel,
    arch: Arch,
    version: &VersionSpec,
    opts: &MirrorOptions,
) -> Result<Release> {
    crate::fetch::check_http_url(&opts.base_url, "--base-url")?;
    let fetcher = Fetcher::with_retry_policy(opts.progress.clone(), opts.retry)?;
    let resolved = match version {
        VersionSpec::Exact(v) => v.clone(),
        VersionSpec::Current => resolve_current(&fetcher, &opts.base_url, channel, arch)?,
    };
    let id = ReleaseId {
        channel,
        arch,
        version: resolved,
    };
    let release_dir = id.dir(dir);
    fs::create_dir_all(&release_dir)
        .with_context(|| format!("creating {}", release_dir.display()))?;
    let mut manifest = match Manifest::load(&release_dir) {
        Ok(Some(m)) if m.channel == channel && m.arch == arch && m.version == id.version => m,
        Ok(_) => Manifest::new(channel, arch, id.version.clone()),
        Err(e) => {
            opts.progress.println(&format!(
                "mkstick: {e:#}; rebuilding it from the verified files"
            ));
            Manifest::new(channel, arch, id.version.clone())
        }
    };
    let keyring = load_keyring(dir, opts, Some(&fetcher))?;
    let session = Session {
        fetcher: &fetcher,
        opts,
        id: &id,
        release_dir: &release_dir,
        keyring: &keyring,
    };
    let mut fetched = 0;
    let mut files = Vec::new();
    for name in [KERNEL, INITRD, VERSION_TXT] {
        let on_disk = if name == VERSION_TXT {
            verify::version_txt(&release_dir, &id.version, &keyring)
                .map(|r| r.map(|record| (release_dir.join(name), record)))
        } else {
            verify::release_file(&release_dir, name, &id.version, &keyring, limit_for(name))
                .map(|r| r.map(|(file, record)| (file.path, record)))
        };
        let record = match on_disk {
            Ok(Some((_, record))) => record,
            Ok(None) => {
                fetched += 1;
                session.fetch(name)?
            }
            Err(why) => {
                opts.progress
                    .println(&format!("mkstick: {why:#}; downloading it again"));
                fetched += 1;
                session.fetch(name)?
            }
        };
        files.push((
            VerifiedFile {
                path: release_dir.join(name),
                size: record.size,
                sha256: record.sha256,
            },
            record.signed_at,
        ));
        manifest.files.insert(name.to_owned(), record);
        manifest.save(&release_dir)?;
    }
    opts.progress.finish();
    if *version == VersionSpec::Current {
        point_current_at(dir, &id)?;
    }
    let [(kernel, kernel_at), (initrd, initrd_at), _] =
        <[(VerifiedFile, Option<u32>); 3]>::try_from(files)
            .unwrap_or_else(|_| unreachable!("one record per file"));
    let signed = SignatureDates::of_mirrored_pair((&kernel, kernel_at), (&initrd, initrd_at))?;
    let release = Release {
        kernel,
        initrd,
        signed,
        channel,
        arch,
        version: id.version.clone(),
        dir: release_dir.clone(),
    };
    let dates = signed.describe(&id.version);
    opts.progress.println(&if fetched == 0 {
        format!("{id}: already mirrored and verified, nothing downloaded; {dates}")
    } else {
        format!(
            "{id}: mirrored and verified in {}; {dates}",
            release_dir.display()
        )
    });
    Ok(release)
}

/// The state of one [`ensure`] run: what to fetch and the key to check it with.
struct Session<'a> {
    fetcher: &'a Fetcher,
    opts: &'a MirrorOptions,
    id: &'a ReleaseId,
    release_dir: &'a Path,
    keyring: &'a Keyring,
}

impl Session<'_> {
    fn url(&self, file: &str) -> String {
        self.id.url(&self.opts.base_url, file)
    }

    /// Downloads and verifies one file of the release.
    fn fetch(&self, name: &str) -> Result<FileRecord> {
        if name == VERSION_TXT {
            return self.fetch_version_txt();
        }
        let started = Instant::now();
        let (sig_name, sig_bytes) = self.signature_for(name)?;
        let sig = Detached::parse(&sig_bytes, &self.url(&sig_name))?;
        let digests_name = format!("{name}.DIGESTS");
        let digests_text = self
            .fetcher
            .get_optional(&self.url(&digests_name), SMALL_LIMIT)?;
        let sha512 = match &digests_text {
            Some(text) => digests::sha512_for(
                &String::from_utf8_lossy(text),
                name,
                &self.url(&digests_name),
            )?,
            None => None,
        };
        let url = self.url(name);
        let release_dir = self.release_dir;
        let keyring = self.keyring;
        let signer = keyring
            .signer_for(sig.signature())
            .with_context(|| format!("refusing {url}: its signature {sig_name} is not trusted"))?;
        // Before downloading: a rolled-back release fails at once.
        let signed_at = verify::signed_at(&sig)?;
        rollback::check_date(
            &self.id.version,
            rollback::SignedAt {
                file: &url,
                at: signed_at,
            },
        )?;

        // One pass: SHA-256 for the record, the signature's own hash (which is
        // the SHA-512 for DIGESTS when the signature uses SHA-512), and a
        // separate SHA-512 only when the signature uses another hash.
        let sha256 = Worker::spawn(Sha256Hasher::default());
        let signed = Worker::spawn(sig.hasher()?);
        let sha512_worker = (sha512.is_some() && sig.hash_alg() != HashAlgorithm::Sha512)
            .then(|| Worker::spawn(Sha512Hasher::default()));
        let mut feeds: Vec<&dyn Feed> = vec![&sha256, &signed];
        if let Some(w) = &sha512_worker {
            feeds.push(w);
        }
        let dest = release_dir.join(name);
        let part = self
            .fetcher
            .download(&url, &dest, limit_for(name), &feeds)?;
        let sha256 = sha256.finish()?;
        let signed = signed.finish()?;
        let actual512 = match sha512_worker {
            Some(w) => Some(w.finish()?),
            None => Sha512Digest::from_slice(&signed.digest),
        };
        let size = part.len();
        if let Err(e) = sig.verify(&signer, signed) {
            part.discard()?;
            bail!("{url}: OpenPGP signature check failed: {e:#}; the download was deleted");
        }
        if let Some(expected) = sha512
            && actual512 != Some(expected)
        {
            part.discard()?;
            bail!(
                "{url}: SHA-512 does not match {digests_name} (expected {expected}); \
                 the download was deleted"
            );
        }
        part.commit()?;
        write_beside(release_dir, &sig_name, &sig_bytes)?;
        if let Some(text) = &digests_text {
            write_beside(release_dir, &digests_name, text)?;
        }
        let secs = started.elapsed().as_secs_f64();
        self.opts.progress.println(&format!(
            "verified {name}: {size} bytes in {secs:.1} s ({:.0} MB/s), signed {} by subkey {}{}",
            size as f64 / secs.max(1e-6) / 1e6,
            keyring::date(signed_at),
            signer.fingerprint,
            if sha512.is_some() {
                ", SHA-512 matches DIGESTS"
            } else {
                ""
            }
        ));
        Ok(FileRecord {
            size,
            sha256,
            sha512,
            signature: Some(sig_name),
            signed_by: Some(signer.fingerprint.to_string()),
            signed_at: Some(signed_at),
        })
    }

    /// The `.sig` of `name`; the kernel's may exist only under its generic name.
    fn signature_for(&self, name: &str) -> Result<(String, Vec<u8>)> {
        let candidates = verify::signature_candidates(name);
        for candidate in &candidates {
            if let Some(bytes) = self
                .fetcher
                .get_optional(&self.url(candidate), SMALL_LIMIT)?
            {
                return Ok((candidate.clone(), bytes));
            }
        }
        let tried: Vec<String> = candidates.iter().map(|c| self.url(c)).collect();
        bail!(
            "no signature for {} (tried {}); refusing an unsigned file",
            self.url(name),
            tried.join(", ")
        )
    }

    /// `version.txt`: checked by its signature when the release has one, and
    /// in any case required to name the version of its directory.
    fn fetch_version_txt(&self) -> Result<FileRecord> {
        let url = self.url(VERSION_TXT);
        let text = self.fetcher.get(&url, SMALL_LIMIT)?;
        let named = layout::parse_version_txt(&String::from_utf8_lossy(&text), &url)?;
        ensure!(
            named == self.id.version,
            "{url} names version {named}, not {}",
            self.id.version
        );
        let sig_name = format!("{VERSION_TXT}.sig");
        let sig_bytes = self
            .fetcher
            .get_optional(&self.url(&sig_name), SMALL_LIMIT)?;
        let mut record = FileRecord {
            size: text.len() as u64,
            sha256: Sha256Digest::of(&text),
            sha512: None,
            signature: None,
            signed_by: None,
            signed_at: None,
        };
        if let Some(sig_bytes) = sig_bytes {
            let sig = Detached::parse(&sig_bytes, &self.url(&sig_name))?;
            let keyring = self.keyring;
            let signer = keyring.signer_for(sig.signature())?;
            let mut hasher = sig.hasher()?;
            hasher.update(&text);
            sig.verify(&signer, hasher.finish())
                .with_context(|| format!("{url}: OpenPGP signature check failed"))?;
            record.signature = Some(sig_name.clone());
            record.signed_by = Some(signer.fingerprint.to_string());
            record.signed_at = sig.signature().created().map(|t| t.as_secs());
            write_beside(self.release_dir, &sig_name, &sig_bytes)?;
        }
        write_beside(self.release_dir, VERSION_TXT, &text)?;
        Ok(record)
    }
}

/// Loads the signing key: `--keyring FILE`, else the cached copy, else (with
/// a fetcher) the published URL. Whatever the source, the fingerprint must
/// match the pin; a key from a file or URL is then cached in the mirror.
fn load_keyring(root: &Path, opts: &MirrorOptions, fetcher: Option<&Fetcher>) -> Result<Keyring> {
    let cache = root.join(KEY_CACHE);
    let (bytes, source) = if let Some(file) = &opts.keyring {
        let bytes = local::read_bounded(file, SMALL_LIMIT)
            .with_context(|| format!("reading --keyring {}", file.display()))?
            .with_context(|| format!("--keyring {} does not exist", file.display()))?;
        (bytes, file.display().to_string())
    } else if let Some(bytes) = local::read_bounded(&cache, SMALL_LIMIT)? {
        let keyring = Keyring::parse(&bytes, &opts.fingerprint, &cache.display().to_string())
            .with_context(|| {
                format!(
                    "the cached key is not trusted; delete {} or pass --keyring",
                    cache.display()
                )
            })?;
        return Ok(keyring);
    } else if let Some(fetcher) = fetcher {
        (
            fetcher.get(&opts.key_url, SMALL_LIMIT)?,
            opts.key_url.clone(),
        )
    } else {
        bail!(
            "no signing key to verify the mirror with: {} is missing; pass --keyring FILE",
            cache.display()
        );
    };
    let keyring = Keyring::parse(&bytes, &opts.fingerprint, &source)?;
    if let Some(parent) = cache.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    local::replace_file(&cache, &bytes)?;
    Ok(keyring)
}

/// Asks the server which version `current` is.
fn resolve_current(fetcher: &Fetcher, base: &str, channel: Channel, arch: Arch) -> Result<Version> {
    let url = format!(
        "{}/{VERSION_TXT}",
        layout::board_url(base, channel, arch, "current")
    );
    let text = fetcher.get(&url, SMALL_LIMIT).with_context(|| {
        format!("resolving `current` for {channel}/{arch}; check --channel, --arch and --base-url")
    })?;
    layout::parse_version_txt(&String::from_utf8_lossy(&text), &url)
}

/// The version the mirror's own `current` link names.
fn local_current(dir: &Path, channel: Channel, arch: Arch) -> Result<Version> {
    let path = layout::board_dir(dir, channel, arch)
        .join("current")
        .join(VERSION_TXT);
    let text = local::read_bounded(&path, SMALL_LIMIT)
        .transpose()
        .unwrap_or_else(|| Err(anyhow::anyhow!("{} does not exist", path.display())))
        .with_context(|| {
            format!(
                "reading {} to resolve `current` offline; mirror with `--version current` first \
                 or name a version",
                path.display()
            )
        })?;
    layout::parse_version_txt(&String::from_utf8_lossy(&text), &path.display().to_string())
}

/// Points `<board>/current` at the version just mirrored (a relative symlink,
/// replaced atomically), so the mirror answers `current` like the CDN.
fn point_current_at(dir: &Path, id: &ReleaseId) -> Result<()> {
    let board = layout::board_dir(dir, id.channel, id.arch);
    let link = board.join("current");
    if link.exists() && !link.is_symlink() {
        bail!(
            "{} exists and is not a link; remove it so it can point at {}",
            link.display(),
            id.version
        );
    }
    let tmp = board.join(".current.tmp");
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(id.version.as_str(), &tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    fs::rename(&tmp, &link).with_context(|| format!("updating {}", link.display()))
}

fn write_beside(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    local::replace_file(&dir.join(name), bytes)
}
