//! UEFI firmware (OVMF for amd64, AAVMF for arm64): find a CODE/VARS pair
//! and give each run its own copy of VARS (boot entries persist in it).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::model::flatcar::Arch;

/// Known install locations, as (code, vars) pairs, most common first. Only
/// non-Secure-Boot builds: the stock iPXE binary is unsigned.
const AMD64: &[(&str, &str)] = &[
    // Debian, Ubuntu
    (
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.fd",
    ),
    (
        "/usr/share/OVMF/OVMF_CODE.fd",
        "/usr/share/OVMF/OVMF_VARS.fd",
    ),
    // Fedora
    (
        "/usr/share/edk2/ovmf/OVMF_CODE.fd",
        "/usr/share/edk2/ovmf/OVMF_VARS.fd",
    ),
    // Arch
    (
        "/usr/share/edk2/x64/OVMF_CODE.4m.fd",
        "/usr/share/edk2/x64/OVMF_VARS.4m.fd",
    ),
    (
        "/usr/share/edk2-ovmf/x64/OVMF_CODE.fd",
        "/usr/share/edk2-ovmf/x64/OVMF_VARS.fd",
    ),
    // QEMU's own build
    (
        "/usr/share/qemu/edk2-x86_64-code.fd",
        "/usr/share/qemu/edk2-i386-vars.fd",
    ),
];
const ARM64: &[(&str, &str)] = &[
    // Debian, Ubuntu
    (
        "/usr/share/AAVMF/AAVMF_CODE.fd",
        "/usr/share/AAVMF/AAVMF_VARS.fd",
    ),
    // Fedora
    (
        "/usr/share/edk2/aarch64/QEMU_EFI-pflash.raw",
        "/usr/share/edk2/aarch64/vars-template-pflash.raw",
    ),
    // Arch
    (
        "/usr/share/edk2/aarch64/QEMU_CODE.fd",
        "/usr/share/edk2/aarch64/QEMU_VARS.fd",
    ),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Firmware {
    pub code: PathBuf,
    /// Template only: never handed to QEMU (see [`Firmware::private_vars`]).
    pub vars: PathBuf,
}

impl Firmware {
    /// `code`/`vars` as given (`--firmware`, `--firmware-vars`), else the
    /// first installed pair for `arch`.
    pub(crate) fn find(arch: Arch, code: Option<&Path>, vars: Option<&Path>) -> Result<Self> {
        let known = match arch {
            Arch::Amd64 => AMD64,
            Arch::Arm64 => ARM64,
        };
        let pairs: Vec<(PathBuf, PathBuf)> =
            known.iter().map(|(c, v)| (c.into(), v.into())).collect();
        find_in(&pairs, code, vars, arch)
    }

    /// A fresh copy of the VARS template in a private directory, removed
    /// when the returned value is dropped.
    pub(crate) fn private_vars(&self) -> Result<PrivateVars> {
        let dir = tempfile::Builder::new()
            .prefix("mkstick-vars-")
            .tempdir()
            .context("creating a temporary directory")?;
        let path = dir.path().join("VARS.fd");
        std::fs::copy(&self.vars, &path)
            .with_context(|| format!("copying the firmware variables {}", self.vars.display()))?;
        Ok(PrivateVars { _dir: dir, path })
    }
}

pub(crate) struct PrivateVars {
    _dir: TempDir,
    pub path: PathBuf,
}

fn find_in(
    pairs: &[(PathBuf, PathBuf)],
    code: Option<&Path>,
    vars: Option<&Path>,
    arch: Arch,
) -> Result<Firmware> {
    if let Some(code) = code {
        if !code.is_file() {
            bail!("firmware {} does not exist", code.display());
        }
        let vars = match vars {
            Some(vars) => vars.to_path_buf(),
            None => pairs
                .iter()
                .find(|(c, _)| c == code)
                .map(|(_, v)| v.clone())
                .or_else(|| sibling_vars(code))
                .with_context(|| {
                    format!(
                        "no variables file found beside {}: pass --firmware-vars",
                        code.display()
                    )
                })?,
        };
        if !vars.is_file() {
            bail!("firmware variables {} do not exist", vars.display());
        }
        return Ok(Firmware {
            code: code.to_path_buf(),
            vars,
        });
    }
    pairs
        .iter()
        .find(|(c, v)| c.is_file() && v.is_file())
        .map(|(code, vars)| Firmware { code: code.clone(), vars: vars.clone() })
        .with_context(|| {
            let (package, tried) = match arch {
                Arch::Amd64 => ("ovmf (Debian/Ubuntu), edk2-ovmf (Fedora, Arch)", pairs),
                Arch::Arm64 => ("qemu-efi-aarch64 (Debian/Ubuntu), edk2-aarch64 (Fedora, Arch)", pairs),
            };
            let tried: Vec<String> = tried.iter().map(|(c, _)| c.display().to_string()).collect();
            format!(
                "no UEFI firmware for {arch} found (tried {}); install {package} or pass --firmware",
                tried.join(", ")
            )
        })
}

/// `X_CODE_Y.fd` → `X_VARS_Y.fd` (also `.code.`/`-code.` spellings) when that file exists.
fn sibling_vars(code: &Path) -> Option<PathBuf> {
    let name = code.file_name()?.to_str()?;
    [("CODE", "VARS"), ("code", "vars")]
        .iter()
        .find_map(|(from, to)| {
            let vars = code.with_file_name(name.replacen(from, to, 1));
            (vars != code && vars.is_file()).then_some(vars)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, name).unwrap();
        path
    }

    #[test]
    fn picks_the_first_installed_pair() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let pairs = vec![
            (d.join("A_CODE.fd"), d.join("A_VARS.fd")), // not installed
            (touch(d, "B_CODE.fd"), d.join("B_VARS.fd")), // half installed
            (touch(d, "C_CODE.fd"), touch(d, "C_VARS.fd")),
        ];
        let fw = find_in(&pairs, None, None, Arch::Amd64).unwrap();
        assert_eq!(fw.code, d.join("C_CODE.fd"));
        assert_eq!(fw.vars, d.join("C_VARS.fd"));
    }

    #[test]
    fn explicit_code_finds_its_vars() {
        let dir = tempfile::tempdir().unwrap();
        let code = touch(dir.path(), "OVMF_CODE_4M.fd");
        let vars = touch(dir.path(), "OVMF_VARS_4M.fd");
        assert_eq!(
            find_in(&[], Some(&code), None, Arch::Amd64).unwrap().vars,
            vars
        );
        let other = touch(dir.path(), "mine.fd");
        assert_eq!(
            find_in(&[], Some(&code), Some(&other), Arch::Amd64)
                .unwrap()
                .vars,
            other
        );
        let lonely = touch(dir.path(), "edk2-x86_64-secure.fd");
        let err = find_in(&[], Some(&lonely), None, Arch::Amd64).unwrap_err();
        assert!(format!("{err:#}").contains("--firmware-vars"), "{err:#}");
    }

    #[test]
    fn nothing_installed_says_what_to_install() {
        let err = find_in(
            &[("/nonexistent/C".into(), "/nonexistent/V".into())],
            None,
            None,
            Arch::Amd64,
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("install ovmf") && msg.contains("/nonexistent/C"),
            "{msg}"
        );
    }

    #[test]
    fn private_vars_is_a_fresh_copy() {
        let dir = tempfile::tempdir().unwrap();
        let fw = Firmware {
            code: touch(dir.path(), "CODE.fd"),
            vars: touch(dir.path(), "VARS.fd"),
        };
        let a = fw.private_vars().unwrap();
        let b = fw.private_vars().unwrap();
        assert_ne!(a.path, b.path);
        assert_eq!(std::fs::read(&a.path).unwrap(), b"VARS.fd");
        let path = a.path.clone();
        drop(a);
        assert!(!path.exists());
    }
}
