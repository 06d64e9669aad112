//! Inputs that would make a stick that cannot boot (bad boot-script values,
//! wrong iPXE binaries), and sticks that are corrupt or hostile when read back
//! (crafted by writing a good image and patching its bytes).

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

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
        support::bin::mkstick()
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

/// A good image to patch, written once per test.
fn good_image(c: &Case) -> Vec<u8> {
    let out = c.run(&[]);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::read(c.path("stick.img")).unwrap()
}

/// `mkstick inspect` on `bytes`: its exit code and output, within 60 s.
fn inspect(c: &Case, name: &str, bytes: &[u8]) -> (Option<i32>, String) {
    let path = c.path(name);
    std::fs::write(&path, bytes).unwrap();
    let mut child = support::bin::mkstick()
        .arg("inspect")
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed().as_secs() > 60 {
            child.kill().unwrap();
            panic!("{name}: inspect hangs");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), text(&out))
}

fn le16(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}

fn le32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

#[test]
fn corrupt_partition_tables_are_errors_not_panics_or_matches() {
    let c = Case::new();
    let good = good_image(&c);
    let (code, t) = inspect(&c, "good.img", &good);
    assert_eq!(code, Some(0), "{t}");
    let patch = |at: usize, v: &[u8]| {
        let mut b = good.clone();
        b[at..at + v.len()].copy_from_slice(v);
        b
    };
    let last = good.len() - 512;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "entry-size-0",
            patch(512 + 84, &0u32.to_le_bytes()),
            "entries of 0 bytes",
        ),
        (
            "entry-size-huge",
            patch(512 + 84, &0xffff_fff0u32.to_le_bytes()),
            "entries of 4294967280 bytes",
        ),
        (
            "entries-huge",
            patch(512 + 80, &u32::MAX.to_le_bytes()),
            "claims 4294967295 entries",
        ),
        (
            "header-size",
            patch(512 + 12, &0u32.to_le_bytes()),
            "claims a size of 0",
        ),
        ("no-primary", patch(512, &[0u8; 8]), "no primary GPT header"),
        (
            "no-backup",
            patch(last, &[0u8; 512]),
            "no backup GPT header",
        ),
        (
            "truncated",
            good[..good.len() - (1 << 20)].to_vec(),
            "describes a disk larger than the device",
        ),
        (
            "backup-elsewhere",
            patch(512 + 32, &5u64.to_le_bytes()),
            "the backup GPT header should be at",
        ),
    ];
    for (name, bytes, want) in cases {
        let (code, t) = inspect(&c, name, &bytes);
        assert_eq!(code, Some(1), "{name}: {t}");
        assert!(t.contains(want), "{name}: want {want:?} in:\n{t}");
        assert!(!t.contains("panicked"), "{name}: {t}");
        assert!(!t.contains("matches its manifest"), "{name}: {t}");
    }
}

#[test]
fn looping_fat_chains_end_with_an_error() {
    let c = Case::new();
    let mut img = good_image(&c);
    // The ESP's FAT32 boot sector, at 1 MiB.
    let esp = 1 << 20;
    let b = img[esp..esp + 512].to_vec();
    let (spc, reserved, fats) = (b[13] as usize, le16(&b, 14), b[16] as usize);
    let (fat_sectors, root) = (le32(&b, 36), le32(&b, 44));
    let fat = esp + reserved * 512;
    let data = fat + fats * fat_sectors * 512;
    let root_at = data + (root - 2) * spc * 512;
    // The root directory's chain points back at itself in every FAT copy...
    for i in 0..fats {
        let at = fat + i * fat_sectors * 512 + 4 * root;
        img[at..at + 4].copy_from_slice(&(root as u32).to_le_bytes());
    }
    // ...and its free entries read as deleted ones, so a lookup never ends.
    for e in (root_at..root_at + spc * 512).step_by(32) {
        if img[e] == 0 {
            img[e] = 0xe5;
        }
    }
    // Hide the boot script's entry: its lookup walks the whole chain.
    let name = b"AUTOEX~1IPX";
    let entry = img[root_at..root_at + spc * 512]
        .windows(11)
        .position(|w| w == name)
        .expect("the root holds autoexec.ipxe");
    img[root_at + entry] = 0xe5;
    let (code, t) = inspect(&c, "loop.img", &img);
    assert_ne!(code, Some(0), "{t}");
    assert!(!t.contains("panicked"), "{t}");
    assert!(!t.contains("The stick matches its manifest"), "{t}");
}

#[test]
fn control_characters_from_a_stick_are_escaped() {
    let c = Case::new();
    let mut img = good_image(&c);
    // Overwrite part of the boot script's comment line with a terminal escape.
    let at = img
        .windows(7)
        .position(|w| w == b"#!ipxe\n")
        .expect("the boot script is on the ESP");
    img[at + 7..at + 11].copy_from_slice(b"#\x1b[J");
    let (_, t) = inspect(&c, "esc.img", &img);
    assert!(!t.contains('\u{1b}'), "{t:?}");
    assert!(t.contains("\\u{1b}[J"), "{t}");
}
