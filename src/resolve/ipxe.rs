//! Finding a stock iPXE EFI binary that can run `autoexec.ipxe`.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::model::flatcar::Arch;
use crate::model::pe;
use crate::plan::spec::IpxeBinary;

/// Distribution install paths: Debian/Ubuntu, Fedora, Arch.
fn distro_paths(arch: Arch) -> &'static [&'static str] {
    match arch {
        Arch::Amd64 => &[
            "/usr/lib/ipxe/ipxe-amd64.efi",
            "/usr/lib/ipxe/ipxe.efi",
            "/usr/share/ipxe/ipxe-x86_64.efi",
            "/usr/share/ipxe/x86_64/ipxe.efi",
        ],
        Arch::Arm64 => &[
            "/usr/lib/ipxe/ipxe-arm64.efi",
            "/usr/share/ipxe/arm64-efi/ipxe.efi",
            "/usr/share/ipxe/arm64/ipxe.efi",
        ],
    }
}

/// The fix, per distribution. Debian 12 has no newer ipxe in any suite of its
/// own, but Debian 13's package is `Architecture: all` with no dependencies,
/// so it installs on Debian 12 as it is.
const HOW_TO_GET: &str = "install a current iPXE: Debian 13+ / Ubuntu 24.04+ `sudo apt install ipxe` \
     (/usr/lib/ipxe/ipxe-amd64.efi); Debian 12's ipxe (1.0.0+git-20190125) is too old, so \
     download Debian 13's ipxe_1.21.1+git2025…_all.deb (it has no dependencies) and \
     `sudo dpkg -i` it; Fedora `sudo dnf install ipxe-bootimgs-x86` (ipxe-bootimgs-aarch64 \
     for arm64); Arch `sudo pacman -S ipxe`; or pass --ipxe-efi FILE (the ipxe.efi of an \
     iPXE v2.0.0+ release) or --ipxe-url URL --ipxe-sha256 HEX";

/// Loads `explicit` if given, else the first distribution binary that exists.
pub(crate) fn resolve(arch: Arch, explicit: Option<&Path>) -> Result<IpxeBinary> {
    if let Some(path) = explicit {
        return load(arch, path);
    }
    let mut rejected = Vec::new();
    for candidate in distro_paths(arch) {
        let path = Path::new(candidate);
        if path.exists() {
            match load(arch, path) {
                Ok(bin) => return Ok(bin),
                Err(e) => rejected.push(format!("{e:#}")),
            }
        }
    }
    if rejected.is_empty() {
        return Err(not_found(arch));
    }
    bail!("{}", rejected.join("\n"))
}

/// No binary for `arch` anywhere: name the flag that gives one.
fn not_found(arch: Arch) -> anyhow::Error {
    let flag = match arch {
        Arch::Amd64 => "--ipxe-efi FILE (or --ipxe-url URL --ipxe-sha256 HEX)",
        Arch::Arm64 => "--ipxe-efi-arm64 FILE",
    };
    anyhow::anyhow!(
        "no iPXE EFI binary for {} found (looked in {}): pass {flag}; {HOW_TO_GET}",
        arch.as_str(),
        distro_paths(arch).join(", ")
    )
}

/// Reads and checks one binary.
pub(crate) fn load(arch: Arch, path: &Path) -> Result<IpxeBinary> {
    let bytes = super::read::read(path, super::read::InputKind::IpxeBinary)?;
    check(arch, &bytes).with_context(|| format!("iPXE binary {}", path.display()))?;
    Ok(IpxeBinary {
        arch,
        source: path.to_path_buf(),
        bytes: bytes.into(),
    })
}

/// A well-formed EFI application for `arch` that knows to look for
/// `autoexec.ipxe` (iPXE builds since 2021 and v2.0.0; Debian 12's 2019
/// package does not, and would sit at a dead end).
pub(crate) fn check(arch: Arch, bytes: &[u8]) -> Result<()> {
    pe::check_efi_application(arch, bytes).map_err(|e| anyhow::anyhow!("{e}; {HOW_TO_GET}"))?;
    let needle = b"autoexec.ipxe";
    let utf16: Vec<u8> = needle.iter().flat_map(|&b| [b, 0]).collect();
    let has = |n: &[u8]| bytes.windows(n.len()).any(|w| w == n);
    if !has(needle) && !has(&utf16) {
        bail!(
            "is too old to run autoexec.ipxe from the stick (it would never load the boot script); {HOW_TO_GET}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_pe_and_old_builds() {
        assert!(check(Arch::Amd64, b"ELF...").is_err());
        let old = [pe::tests::minimal(Arch::Amd64, 10), b"autoboot".to_vec()].concat();
        let err = format!("{:#}", check(Arch::Amd64, &old).unwrap_err());
        assert!(err.contains("too old"), "{err}");
        // Debian 12 users are told the package that works there.
        assert!(
            err.contains("Debian 13's ipxe") && err.contains("dpkg -i"),
            "{err}"
        );
        let new = [
            pe::tests::minimal(Arch::Amd64, 10),
            b"file:autoexec.ipxe".to_vec(),
        ]
        .concat();
        check(Arch::Amd64, &new).unwrap();
        let err = check(Arch::Arm64, &new).unwrap_err();
        assert!(format!("{err:#}").contains("x86-64"), "{err:#}");
    }

    #[test]
    fn missing_binary_names_its_flag() {
        let arm = format!("{:#}", not_found(Arch::Arm64));
        assert!(arm.contains("pass --ipxe-efi-arm64 FILE"), "{arm}");
        assert!(format!("{:#}", not_found(Arch::Amd64)).contains("pass --ipxe-efi FILE"));
    }

    #[test]
    fn accepts_debian_13_ipxe() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.test-deps/ipxe/ipxe-amd64.efi"
        ));
        load(Arch::Amd64, path).expect("run scripts/setup to fetch Debian 13's iPXE");
        let arm = path.with_file_name("ipxe-arm64.efi");
        load(Arch::Arm64, &arm).expect("run scripts/setup to fetch Debian 13's iPXE");
        assert!(load(Arch::Arm64, path).is_err());
    }
}
