//! `mkstick /dev/...` on real loop devices: the block-device path end to end,
//! including the refusals (see `support::loopdev` for the prerequisites).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::loopdev::Loop;

/// A loop device (with partition scanning) over a fresh sparse file of
/// `mib` MiB; the device is detached before the file goes.
fn sparse_loop(mib: u64) -> Option<(Loop, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("disk.img");
    std::fs::File::create(&file)
        .unwrap()
        .set_len(mib << 20)
        .unwrap();
    Some((Loop::attach(&file, false)?, dir))
}

fn mkstick(dir: &Path, target: &str, extra: &[&str]) -> Output {
    let ipxe = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".test-deps/ipxe/ipxe-amd64.efi");
    std::fs::write(dir.join("node.ign"), r#"{"ignition":{"version":"3.3.0"}}"#).unwrap();
    support::bin::mkstick()
        .env_clear()
        .env("K3S_TOKEN", "loop-test-token")
        .arg(target)
        .arg("--ipxe-efi")
        .arg(ipxe)
        .arg("--ignition")
        .arg(dir.join("node.ign"))
        .args(["--flatcar-version", "4593.2.5", "--yes"])
        // k3s is on (K3S_TOKEN): its release pinned by hand, so no network.
        .args(support::k3s_pin::args())
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn writes_a_loop_device_and_refuses_unsafe_ones() {
    let Some((lo, _file)) = sparse_loop(300) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();

    // A loop device is not removable: refused without --force, nothing written.
    let out = mkstick(tmp.path(), &lo.dev, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a removable disk"),
        "{}",
        stderr(&out)
    );

    let out = mkstick(tmp.path(), &lo.dev, &["--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("verified by reading it back"),
        "{}",
        stderr(&out)
    );
    let v = Command::new("sgdisk")
        .arg("-v")
        .arg(&lo.dev)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).contains("No problems found"));

    // Both volumes pass fsck. (Read through offsets: this machine's kernel has
    // no GPT partition support, so it cannot show /dev/loopNp1.)
    let disk = std::fs::read(&lo.dev).unwrap();
    for (start, mib) in [(1usize, 256usize), (257, 16)] {
        let part = tmp.path().join("part.img");
        std::fs::write(&part, &disk[start << 20..(start + mib) << 20]).unwrap();
        let fsck = Command::new("fsck.vfat")
            .arg("-n")
            .arg(&part)
            .output()
            .unwrap();
        assert!(
            fsck.status.success(),
            "{}",
            String::from_utf8_lossy(&fsck.stdout)
        );
    }
    let out = support::bin::mkstick()
        .arg("inspect")
        .arg(&lo.dev)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("k3s_env              K3S_TOKEN"));
}

#[test]
fn a_mounted_device_is_refused_and_left_alone() {
    let Some((lo, _file)) = sparse_loop(300) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // ext4: this machine's kernel has no vfat driver to mount with.
    let mkfs = Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(&lo.dev)
        .output()
        .unwrap();
    assert!(mkfs.status.success());
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    mount(&lo.dev, &mnt);
    std::fs::write(mnt.join("precious.txt"), b"keep me").unwrap();
    let out = mkstick(tmp.path(), &lo.dev, &["--force"]);
    let busy = stderr(&out);
    assert!(Command::new("umount").arg(&mnt).status().unwrap().success());
    assert_eq!(out.status.code(), Some(1), "{busy}");
    assert!(busy.contains("is mounted"), "{busy}");
    mount(&lo.dev, &mnt);
    assert_eq!(std::fs::read(mnt.join("precious.txt")).unwrap(), b"keep me");
    Command::new("umount").arg(&mnt).status().unwrap();
}

#[test]
fn a_too_small_device_is_refused_before_opening_it() {
    let Some((lo, _file)) = sparse_loop(64) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = mkstick(tmp.path(), &lo.dev, &["--force"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the device holds 64 MiB but the stick needs 274 MiB"),
        "{}",
        stderr(&out)
    );
}

fn mount(dev: &str, dir: &Path) {
    let status = Command::new("mount").arg(dev).arg(dir).status().unwrap();
    assert!(status.success(), "mount {dev} {}", dir.display());
}
