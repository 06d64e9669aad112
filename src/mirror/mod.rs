//! Verified Flatcar releases: `mkstick mirror` and the offline stick.
//!
//! [`ensure`] downloads a release into `DIR/<channel>/<arch>-usr/<version>/`
//! (the CDN's own layout, so any static HTTP server can serve `DIR` as a
//! mirror), checking every file against its detached OpenPGP signature from
//! a subkey of the pinned Flatcar key and against the SHA-512 of its
//! `.DIGESTS` file where there is one. What was verified is recorded in
//! `mkstick-verified.json`; [`Release::open`] re-checks the files against it
//! with no network.

pub mod args;
mod digests;
pub mod k3s;
pub mod keyring;
pub mod layout;
pub mod manifest;
mod signature;

use std::cell::OnceCell;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use pgp::crypto::hash::HashAlgorithm;

use crate::fetch::inspect::{Feed, Inspect, Sha256Hasher, Sha512Hasher, Worker};
use crate::fetch::{Fetcher, Progress, RetryPolicy, Sha256Digest, Sha512Digest, sha256_file};

pub use args::{MirrorArgs, run};
pub use keyring::{FLATCAR_FINGERPRINT, FLATCAR_KEY_URL, Fingerprint, Keyring};
pub use layout::{Arch, Channel, DEFAULT_BASE_URL, ReleaseId, Version, VersionSpec};

use layout::{INITRD, KERNEL, KERNEL_SIG_FALLBACK, VERSION_TXT};
use manifest::{FileRecord, Manifest};
use signature::Detached;

/// Where the verified signing key is cached, relative to the mirror root.
const KEY_CACHE: &str = ".mkstick/image-signing-key.asc";
/// Upper bounds for the small files (signatures, DIGESTS, version.txt, key).
const SMALL_LIMIT: u64 = 1024 * 1024;

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
}

/// One file of a release, as checked on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedFile {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: Sha256Digest,
}

impl Release {
    /// Re-checks a release mirrored earlier: every file must still have the
    /// size and SHA-256 recorded when its signature was verified. No network.
    /// `current` is resolved through the mirror's own `current` link.
    pub fn open(
        dir: &Path,
        channel: Channel,
        arch: Arch,
        version: &VersionSpec,
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
        let manifest = Manifest::load(&release_dir)?.with_context(|| {
            format!(
                "{} holds no verified release (no {}); run `mkstick mirror {} --channel {channel} \
                 --arch {arch} --version {}` first",
                release_dir.display(),
                manifest::FILE_NAME,
                dir.display(),
                id.version
            )
        })?;
        ensure!(
            manifest.channel == channel && manifest.arch == arch && manifest.version == id.version,
            "{} describes {}/{}/{}, not {id}",
            Manifest::path(&release_dir).display(),
            manifest.channel,
            manifest.arch.board(),
            manifest.version
        );
        let check = |name: &str| -> Result<VerifiedFile> {
            let record = manifest.files.get(name).with_context(|| {
                format!("{name} of {id} was never verified; run `mkstick mirror` again")
            })?;
            recheck(&release_dir, name, record)
        };
        Ok(Release {
            kernel: check(KERNEL)?,
            initrd: check(INITRD)?,
            channel,
            arch,
            version: id.version.clone(),
            dir: release_dir,
        })
    }
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
/// what is missing or no longer matches, and returns it.
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
    let mut manifest = match Manifest::load(&release_dir)? {
        Some(m) if m.channel == channel && m.arch == arch && m.version == id.version => m,
        _ => Manifest::new(channel, arch, id.version.clone()),
    };
    let session = Session {
        fetcher: &fetcher,
        opts,
        root: dir,
        id: &id,
        release_dir: &release_dir,
        keyring: OnceCell::new(),
    };
    let mut fetched = 0;
    for name in [KERNEL, INITRD, VERSION_TXT] {
        if let Some(record) = manifest.files.get(name)
            && recheck(&release_dir, name, record).is_ok()
        {
            continue;
        }
        manifest.files.remove(name);
        let record = session.fetch(name)?;
        manifest.files.insert(name.to_owned(), record);
        manifest.save(&release_dir)?;
        fetched += 1;
    }
    opts.progress.finish();
    if *version == VersionSpec::Current {
        point_current_at(dir, &id)?;
    }
    let verified = |name: &str| -> Result<VerifiedFile> {
        let record = manifest
            .files
            .get(name)
            .with_context(|| format!("{name} missing from the manifest just written"))?;
        Ok(VerifiedFile {
            path: release_dir.join(name),
            size: record.size,
            sha256: record.sha256,
        })
    };
    let release = Release {
        kernel: verified(KERNEL)?,
        initrd: verified(INITRD)?,
        channel,
        arch,
        version: id.version.clone(),
        dir: release_dir.clone(),
    };
    opts.progress.println(&if fetched == 0 {
        format!("{id}: already mirrored and verified, nothing downloaded")
    } else {
        format!("{id}: mirrored and verified in {}", release_dir.display())
    });
    Ok(release)
}

/// The state of one [`ensure`] run: what to fetch and the key to check it with.
struct Session<'a> {
    fetcher: &'a Fetcher,
    opts: &'a MirrorOptions,
    root: &'a Path,
    id: &'a ReleaseId,
    release_dir: &'a Path,
    /// Loaded on first use: a complete mirror needs no key.
    keyring: OnceCell<Keyring>,
}

impl Session<'_> {
    fn url(&self, file: &str) -> String {
        self.id.url(&self.opts.base_url, file)
    }

    fn keyring(&self) -> Result<&Keyring> {
        if let Some(keyring) = self.keyring.get() {
            return Ok(keyring);
        }
        let keyring = load_keyring(self.root, self.opts, self.fetcher)?;
        Ok(self.keyring.get_or_init(|| keyring))
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
        let keyring = self.keyring()?;
        let signer = keyring
            .signer_for(sig.signature())
            .with_context(|| format!("refusing {url}: its signature {sig_name} is not trusted"))?;

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
        let part = self.fetcher.download(&url, &dest, &feeds)?;
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
            keyring::date(sig.signature().created().map(|t| t.as_secs()).unwrap_or(0)),
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
            signed_at: sig.signature().created().map(|t| t.as_secs()),
        })
    }

    /// The `.sig` of `name`; the kernel's may exist only under its generic name.
    fn signature_for(&self, name: &str) -> Result<(String, Vec<u8>)> {
        let mut candidates = vec![format!("{name}.sig")];
        if name == KERNEL {
            candidates.push(KERNEL_SIG_FALLBACK.to_owned());
        }
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
            let keyring = self.keyring()?;
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

/// Loads the signing key: `--keyring FILE`, else the cached copy, else the
/// published URL. Whatever the source, the fingerprint must match the pin;
/// a key from a file or URL is then cached in the mirror.
fn load_keyring(root: &Path, opts: &MirrorOptions, fetcher: &Fetcher) -> Result<Keyring> {
    let cache = root.join(KEY_CACHE);
    let (bytes, source) = if let Some(file) = &opts.keyring {
        let bytes =
            fs::read(file).with_context(|| format!("reading --keyring {}", file.display()))?;
        (bytes, file.display().to_string())
    } else if cache.is_file() {
        let bytes = fs::read(&cache).with_context(|| format!("reading {}", cache.display()))?;
        let keyring = Keyring::parse(&bytes, &opts.fingerprint, &cache.display().to_string())
            .with_context(|| {
                format!(
                    "the cached key is not trusted; delete {} or pass --keyring",
                    cache.display()
                )
            })?;
        return Ok(keyring);
    } else {
        (
            fetcher.get(&opts.key_url, SMALL_LIMIT)?,
            opts.key_url.clone(),
        )
    };
    let keyring = Keyring::parse(&bytes, &opts.fingerprint, &source)?;
    if let Some(parent) = cache.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    write_atomically(&cache, &bytes)?;
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
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} to resolve `current` offline; mirror with `--version current` first or \
             name a version",
            path.display()
        )
    })?;
    layout::parse_version_txt(&text, &path.display().to_string())
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

/// Checks a file against its manifest record (size first: cheap).
fn recheck(release_dir: &Path, name: &str, record: &FileRecord) -> Result<VerifiedFile> {
    let path = release_dir.join(name);
    let size = fs::metadata(&path)
        .with_context(|| format!("{} is missing; run `mkstick mirror` again", path.display()))?
        .len();
    ensure!(
        size == record.size,
        "{} has {size} bytes, but {} were verified; run `mkstick mirror` again",
        path.display(),
        record.size
    );
    let sha256 = sha256_file(&path)?;
    ensure!(
        sha256 == record.sha256,
        "{} changed since it was verified (SHA-256 {sha256}, verified {}); run `mkstick mirror` again",
        path.display(),
        record.sha256
    );
    Ok(VerifiedFile { path, size, sha256 })
}

fn write_beside(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    write_atomically(&dir.join(name), bytes)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}
