//! Loop devices for the block-device tests. They need root and loop support;
//! CI has both, so there (CI set) a missing prerequisite fails the test
//! instead of skipping it.
#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

/// A loop device over a file; detached on drop.
pub struct Loop {
    pub dev: String,
}

impl Loop {
    /// Attaches `file` (read-only if asked), or `None` where loop devices
    /// cannot be used (not root, no loop support) outside CI.
    pub fn attach(file: &Path, read_only: bool) -> Option<Loop> {
        let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        if !is_root || !Path::new("/dev/loop-control").exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the loop-device tests as root"
            );
            eprintln!("skipping: loop-device tests need root and /dev/loop-control");
            return None;
        }
        let flag = if read_only { "-r" } else { "-P" };
        let out = Command::new("losetup")
            .args([flag, "-f", "--show"])
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Loop {
            dev: String::from_utf8(out.stdout).unwrap().trim().to_string(),
        })
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}
