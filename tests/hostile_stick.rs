//! Inputs that would make a stick that cannot boot (bad boot-script values,
//! wrong iPXE binaries), and sticks that are corrupt or hostile when read back
//! (crafted by writing a good image and patching its bytes).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mkstick");
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx1V0dkPrvV5YpQmHqFmE3FWb0S4T0bQ0m5R0u0nJ4E";

fn deps(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".test-deps/ipxe")
        .join(name)
}

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("node.ign"),
            r#"{"ignition":{"version":"3.3.0"}}"#,
        )
        .unwrap();
        Case { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.path(name), bytes).unwrap();
    }

    fn mkstick(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .env_clear()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .unwrap()
    }

    /// A write with the standard inputs and `extra` (later flags win).
    fn run(&self, extra: &[&str]) -> Output {
        let ipxe = deps("ipxe-amd64.efi");
        let mut args = vec![
            "--ipxe-efi",
            ipxe.to_str().unwrap(),
            "--ignition",
            "node.ign",
            "--flatcar-version",
            "4593.2.5",
            "--image",
            "stick.img",
            "--yes",
        ];
        args.extend_from_slice(extra);
        self.mkstick(&args)
    }
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

fn fails_with(c: &Case, extra: &[&str], want: &str) {
    let out = c.run(extra);
    let t = text(&out);
    // 1 for mkstick's own checks, 2 for those of the argument parser.
    assert!(matches!(out.status.code(), Some(1 | 2)), "{extra:?}: {t}");
    assert!(t.contains(want), "{extra:?}: want {want:?} in:\n{t}");
    assert!(!c.path("stick.img").exists(), "{extra:?} wrote an image");
}

#[test]
fn boot_script_values_are_checked() {
    let c = Case::new();
    let long_comment = "x".repeat(2000);
    c.write("long.pub", format!("{KEY} {long_comment}\n").as_bytes());
    c.write("esc.pub", format!("{KEY} me\u{1b}[2Jx\n").as_bytes());
    let cases: &[(&[&str], &str)] = &[
        (&["--console", ""], "--console is empty"),
        (&["--console", "   "], "--console is empty"),
        (&["--console", "console=ttyS0"], "not console=..."),
        (&["--console", "ttyS0;reboot"], "--console may hold only"),
        (&["--console", "ttyS0|x"], "--console may hold only"),
        (&["--console", "tty`id`"], "--console may hold only"),
        (&["--console", "ttyS0\u{1}"], "control character"),
        (&["--console", "tty\u{1b}[2J"], "control character"),
        (
            &["--base-url", "https://mirror.example/flatcar?x=1"],
            "has a query or fragment",
        ),
        (
            &["--base-url", "https://mirror.example/flatcar#top"],
            "has a query or fragment",
        ),
        (
            &["--base-url", "https://mirror.example/\u{7f}x"],
            "control character",
        ),
        (
            &["--flatcar-version", "4593.2"],
            "the form is MAJOR.MINOR.PATCH",
        ),
        (
            &["--flatcar-version", "4593.2.5.1"],
            "the form is MAJOR.MINOR.PATCH",
        ),
        (&["--flatcar-version", "4593.02.5"], "without leading zeros"),
        (
            &["--flatcar-version", "4593.2.5\u{1}"],
            "the form is MAJOR.MINOR.PATCH",
        ),
        (
            &["--ssh-key", "long.pub"],
            "the kernel command line would be 2",
        ),
        (&["--ssh-key", "esc.pub"], "control character"),
    ];
    for (extra, want) in cases {
        fails_with(&c, extra, want);
    }
    // Values at the edge still work: the longest command line that fits.
    let out = c.run(&["--console", "ttyS0,115200n8 tty0", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn ipxe_binaries_must_be_efi_applications_of_their_arch() {
    let c = Case::new();
    let amd64 = std::fs::read(deps("ipxe-amd64.efi")).unwrap();
    let arm64 = deps("ipxe-arm64.efi");
    let pe = u32::from_le_bytes(amd64[0x3c..0x40].try_into().unwrap()) as usize;
    let patched = |at: usize, v: &[u8]| {
        let mut b = amd64.clone();
        b[at..at + v.len()].copy_from_slice(v);
        b
    };
    c.write("arm-as-amd.efi", &std::fs::read(&arm64).unwrap());
    c.write("i386.efi", &patched(pe + 4, &0x014cu16.to_le_bytes()));
    c.write("driver.efi", &patched(pe + 24 + 68, &11u16.to_le_bytes()));
    c.write("pe32.efi", &patched(pe + 24, &0x10bu16.to_le_bytes()));
    c.write("nosig.efi", &patched(pe, b"XX\0\0"));
    c.write("cut.efi", &amd64[..pe + 10]);
    let ipxe_cases = [
        (
            "arm-as-amd.efi",
            "is built for AArch64, but the amd64 boot file needs x86-64",
        ),
        ("i386.efi", "is built for 32-bit x86"),
        ("driver.efi", "is not an EFI application (PE subsystem 11"),
        ("pe32.efi", "is not PE32+"),
        ("nosig.efi", "no PE signature"),
        ("cut.efi", "truncated COFF header"),
    ];
    for (file, want) in ipxe_cases {
        fails_with(&c, &["--ipxe-efi", file], want);
    }
    let amd_path = deps("ipxe-amd64.efi");
    fails_with(
        &c,
        &[
            "--arch",
            "all",
            "--ipxe-efi-arm64",
            amd_path.to_str().unwrap(),
        ],
        "is built for x86-64, but the arm64 boot file needs AArch64",
    );
    let out = c.run(&[
        "--arch",
        "all",
        "--ipxe-efi-arm64",
        arm64.to_str().unwrap(),
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", text(&out));
}
