//! A tiny Flatcar "CDN" on disk, signed by a throwaway key, in the real layout.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha512};

use super::keys::TestKey;

pub const VERSION: &str = "4593.2.5";
pub const KERNEL: &str = "flatcar_production_pxe.vmlinuz";
pub const INITRD: &str = "flatcar_production_pxe_image.cpio.gz";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub key: TestKey,
    pub kernel: Vec<u8>,
    pub initrd: Vec<u8>,
}

impl Fixture {
    /// stable/amd64-usr/4593.2.5 with a 300 KB kernel and a 3 MB initrd.
    /// As on the real CDN, the kernel's signature exists only under
    /// `flatcar_production_image.vmlinuz.sig`, and only the initrd has DIGESTS.
    pub fn new(seed: u64) -> Self {
        Self::with_sizes(seed, 300_000, 3_000_000)
    }

    pub fn with_sizes(seed: u64, kernel_len: usize, initrd_len: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut key = TestKey::generate(seed, 1000);
        let kernel = random_bytes(seed + 100, kernel_len);
        let initrd = random_bytes(seed + 200, initrd_len);
        let release = dir.path().join("cdn/stable/amd64-usr").join(VERSION);
        fs::create_dir_all(&release).unwrap();
        fs::write(release.join(KERNEL), &kernel).unwrap();
        fs::write(
            release.join("flatcar_production_image.vmlinuz.sig"),
            key.sign(&kernel),
        )
        .unwrap();
        fs::write(release.join(INITRD), &initrd).unwrap();
        fs::write(release.join(format!("{INITRD}.sig")), key.sign(&initrd)).unwrap();
        fs::write(
            release.join(format!("{INITRD}.DIGESTS")),
            digests(INITRD, &initrd),
        )
        .unwrap();
        let version_txt = format!(
            "FLATCAR_BUILD=4593\nFLATCAR_BRANCH=2\nFLATCAR_PATCH=5\nFLATCAR_VERSION={VERSION}\n"
        );
        fs::write(release.join("version.txt"), &version_txt).unwrap();
        fs::write(
            release.join("version.txt.sig"),
            key.sign(version_txt.as_bytes()),
        )
        .unwrap();
        std::os::unix::fs::symlink(VERSION, dir.path().join("cdn/stable/amd64-usr/current"))
            .unwrap();
        fs::write(dir.path().join("key.asc"), key.armored_public()).unwrap();
        Self {
            dir,
            key,
            kernel,
            initrd,
        }
    }

    /// Served root (pass `Server::start(fixture.cdn())`).
    pub fn cdn(&self) -> PathBuf {
        self.dir.path().join("cdn")
    }

    /// Where the files of the fixture release are served from.
    pub fn release(&self) -> PathBuf {
        self.cdn().join("stable/amd64-usr").join(VERSION)
    }

    /// An empty directory to mirror into.
    pub fn mirror(&self) -> PathBuf {
        let m = self.dir.path().join("mirror");
        fs::create_dir_all(&m).unwrap();
        m
    }

    pub fn mirrored(&self, file: &str) -> PathBuf {
        self.mirror()
            .join("stable/amd64-usr")
            .join(VERSION)
            .join(file)
    }

    pub fn keyring(&self) -> PathBuf {
        self.dir.path().join("key.asc")
    }

    pub fn fingerprint(&self) -> String {
        self.key.fingerprint_hex()
    }

    /// URL path of a release file on the server.
    pub fn url_path(file: &str) -> String {
        format!("/stable/amd64-usr/{VERSION}/{file}")
    }
}

pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

/// A Flatcar-style DIGESTS file (MD5/SHA1 sections are decoys).
pub fn digests(name: &str, data: &[u8]) -> String {
    format!(
        "# MD5 HASH\n{}  {name}\n# SHA1 HASH\n{}  {name}\n# SHA512 HASH\n{}  {name}\n",
        "0".repeat(32),
        "1".repeat(40),
        hex::encode(Sha512::digest(data))
    )
}

pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
