//! Writing sticks from a test and looking into them: what `clone`, `update`
//! and the cluster tests share. mtools (from scripts/setup) reads and
//! tampers with images; a missing tool fails the test.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The ESP starts 1 MiB into an image (mtools' `@@` offset).
pub const ESP_OFFSET: u64 = 1 << 20;
/// The default layout's secrets volume follows a 256 MiB ESP.
pub const SECRETS_OFFSET: u64 = 257 << 20;

/// The stock iPXE EFI binary that scripts/setup fetched.
pub fn ipxe_amd64() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps/ipxe/ipxe-amd64.efi")
}

/// mkstick in `dir` with an empty environment and a fixed time, so that
/// the same inputs make the same image.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    super::bin::mkstick()
        .env_clear()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Stdout and stderr of a run that must have succeeded.
pub fn ok(out: Output) -> String {
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mkstick failed:\n{text}");
    text
}

/// Replaces the boot script on `img`'s ESP with an iPXE shell, as someone
/// with the stick in hand could: the stick no longer matches its manifest.
/// Returns the tampered image's bytes.
pub fn tamper_boot_script(dir: &Path, img: &Path) -> Vec<u8> {
    let evil = dir.join("evil.ipxe");
    std::fs::write(&evil, "#!ipxe\nshell\n").unwrap();
    let mcopy = Command::new("mcopy")
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-o", "-i"])
        .arg(format!("{}@@{ESP_OFFSET}", img.display()))
        .arg(&evil)
        .arg("::/autoexec.ipxe")
        .status()
        .expect("mcopy (mtools) missing: run scripts/setup");
    assert!(mcopy.success(), "mcopy into {}", img.display());
    std::fs::read(img).unwrap()
}

/// The file `path` from the FAT volume `offset` bytes into `img`, or None
/// when mtools finds no such file.
pub fn fat_file(img: &Path, offset: u64, path: &str) -> Option<Vec<u8>> {
    let out = Command::new("mtype")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(format!("{}@@{offset}", img.display()))
        .arg(format!("::/{}", path.trim_start_matches('/')))
        .output()
        .expect("mtype (mtools) missing: run scripts/setup");
    out.status.success().then_some(out.stdout)
}

/// The text file `path` from the FAT volume `offset` bytes into `img`.
pub fn mtype(img: &Path, offset: u64, path: &str) -> String {
    let bytes = fat_file(img, offset, path)
        .unwrap_or_else(|| panic!("mtype {path} from {}: no such file", img.display()));
    String::from_utf8(bytes).unwrap()
}
