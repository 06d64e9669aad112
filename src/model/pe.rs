//! The headers of a PE/COFF image, enough to tell a UEFI application for a
//! given CPU from anything else (a Windows program, a 32-bit build, a truncated
//! download). Offsets per the Microsoft PE format specification.

use anyhow::{Result, bail, ensure};

use crate::model::flatcar::Arch;

const MACHINE_AMD64: u16 = 0x8664;
const MACHINE_ARM64: u16 = 0xaa64;
const PE32_PLUS: u16 = 0x20b;
const SUBSYSTEM_EFI_APPLICATION: u16 = 10;
const EXECUTABLE_IMAGE: u16 = 0x0002;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn machine_name(machine: u16) -> String {
    match machine {
        MACHINE_AMD64 => "x86-64".into(),
        MACHINE_ARM64 => "AArch64".into(),
        0x014c => "32-bit x86".into(),
        0x01c4 => "32-bit ARM".into(),
        0x5064 => "RISC-V 64".into(),
        m => format!("machine type {m:#06x}"),
    }
}

/// Checks that `bytes` is a PE32+ image of subsystem EFI application built for
/// `arch` (x86-64 for BOOTX64.EFI, AArch64 for BOOTAA64.EFI).
pub(crate) fn check_efi_application(arch: Arch, bytes: &[u8]) -> Result<()> {
    ensure!(
        bytes.starts_with(b"MZ"),
        "is not an EFI (PE) executable: it does not start with the MZ header"
    );
    let Some(pe) = u32_at(bytes, 0x3c).map(|o| o as usize) else {
        bail!("is not a well-formed PE executable: truncated DOS header");
    };
    ensure!(
        bytes.get(pe..pe.saturating_add(4)) == Some(b"PE\0\0"),
        "is not a well-formed PE executable: no PE signature where the DOS header points"
    );
    let coff = pe + 4;
    let (Some(machine), Some(characteristics), Some(opt_size)) = (
        u16_at(bytes, coff),
        u16_at(bytes, coff + 18),
        u16_at(bytes, coff + 16),
    ) else {
        bail!("is not a well-formed PE executable: truncated COFF header");
    };
    let want = match arch {
        Arch::Amd64 => MACHINE_AMD64,
        Arch::Arm64 => MACHINE_ARM64,
    };
    ensure!(
        machine == want,
        "is built for {}, but the {} boot file needs {}",
        machine_name(machine),
        arch.as_str(),
        machine_name(want)
    );
    ensure!(
        characteristics & EXECUTABLE_IMAGE != 0,
        "is not an executable image (an object file or a damaged build)"
    );
    let opt = coff + 20;
    // The subsystem field ends at byte 70 of the optional header.
    let (Some(magic), Some(subsystem)) = (u16_at(bytes, opt), u16_at(bytes, opt + 68)) else {
        bail!("is not a well-formed PE executable: truncated optional header");
    };
    ensure!(
        opt_size >= 70,
        "is not a well-formed PE executable: optional header too short"
    );
    ensure!(
        magic == PE32_PLUS,
        "is not PE32+ (optional header magic {magic:#06x}): a 64-bit EFI build is needed"
    );
    ensure!(
        subsystem == SUBSYSTEM_EFI_APPLICATION,
        "is not an EFI application (PE subsystem {subsystem}, expected {SUBSYSTEM_EFI_APPLICATION}): a Windows program or an EFI driver cannot boot the stick"
    );
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The smallest image the check accepts, with `pad` zero bytes after it.
    pub(crate) fn minimal(arch: Arch, pad: usize) -> Vec<u8> {
        let mut b = vec![0u8; 0x40 + 4 + 20 + 240 + pad];
        b[..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        b[0x40..0x44].copy_from_slice(b"PE\0\0");
        let machine = match arch {
            Arch::Amd64 => MACHINE_AMD64,
            Arch::Arm64 => MACHINE_ARM64,
        };
        b[0x44..0x46].copy_from_slice(&machine.to_le_bytes());
        b[0x54..0x56].copy_from_slice(&240u16.to_le_bytes());
        b[0x56..0x58].copy_from_slice(&0x0022u16.to_le_bytes());
        b[0x58..0x5a].copy_from_slice(&PE32_PLUS.to_le_bytes());
        b[0x58 + 68..0x58 + 70].copy_from_slice(&SUBSYSTEM_EFI_APPLICATION.to_le_bytes());
        b
    }

    #[test]
    fn accepts_a_minimal_efi_application_of_its_arch() {
        check_efi_application(Arch::Amd64, &minimal(Arch::Amd64, 0)).unwrap();
        check_efi_application(Arch::Arm64, &minimal(Arch::Arm64, 0)).unwrap();
    }

    #[test]
    fn rejects_every_malformation_with_a_reason() {
        let good = minimal(Arch::Amd64, 0);
        let patched = |at: usize, v: &[u8]| {
            let mut b = good.clone();
            b[at..at + v.len()].copy_from_slice(v);
            b
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"ELF".to_vec(), "MZ header"),
            (good[..0x30].to_vec(), "truncated DOS header"),
            (patched(0x3c, &u32::MAX.to_le_bytes()), "no PE signature"),
            (patched(0x40, b"NE\0\0"), "no PE signature"),
            (good[..0x46].to_vec(), "truncated COFF header"),
            (patched(0x44, &0x014cu16.to_le_bytes()), "32-bit x86"),
            (patched(0x44, &MACHINE_ARM64.to_le_bytes()), "AArch64"),
            (
                patched(0x56, &0u16.to_le_bytes()),
                "not an executable image",
            ),
            (good[..0x60].to_vec(), "truncated optional header"),
            (
                patched(0x54, &10u16.to_le_bytes()),
                "optional header too short",
            ),
            (patched(0x58, &0x10bu16.to_le_bytes()), "is not PE32+"),
            (patched(0x58 + 68, &3u16.to_le_bytes()), "subsystem 3"),
            (patched(0x58 + 68, &11u16.to_le_bytes()), "subsystem 11"),
        ];
        for (bytes, want) in cases {
            let err = format!(
                "{:#}",
                check_efi_application(Arch::Amd64, &bytes).unwrap_err()
            );
            assert!(err.contains(want), "want {want:?}: {err}");
        }
    }
}
