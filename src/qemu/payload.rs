//! The smoke-test payload: a Debian kernel and a busybox initramfs, built by
//! `qemu/build-payload` (carried inside the binary, so an installed mkstick
//! needs no source tree) and cached between runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

const BUILD_SCRIPT: &str = include_str!("../../qemu/build-payload");
const INIT: &str = include_str!("../../qemu/init");

pub(super) struct Payload {
    pub dir: PathBuf,
    pub kernel: Vec<u8>,
    pub base_initrd: Vec<u8>,
}

impl Payload {
    /// The payload in `dir` (made by `qemu/build-payload --cache DIR`), or
    /// the cached one, built first when missing or out of date.
    pub(super) fn load(dir: Option<&Path>) -> Result<Self> {
        let dir = match dir {
            Some(dir) => dir.to_path_buf(),
            None => build()?,
        };
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).with_context(|| {
                format!(
                    "reading the test payload {}: build it with qemu/build-payload --cache {}",
                    path.display(),
                    dir.display()
                )
            })
        };
        Ok(Self {
            kernel: read("vmlinuz")?,
            base_initrd: read("base.cpio.gz")?,
            dir,
        })
    }
}

/// Runs the embedded build script; its last line of output is the cache dir.
fn build() -> Result<PathBuf> {
    let work = tempfile::Builder::new()
        .prefix("mkstick-payload-")
        .tempdir()
        .context("creating a temporary directory")?;
    let script = work.path().join("build-payload");
    let init = work.path().join("init");
    std::fs::write(&script, BUILD_SCRIPT).context("writing the payload build script")?;
    std::fs::write(&init, INIT).context("writing the payload /init")?;
    let output = Command::new("bash")
        .arg(&script)
        .arg("--init")
        .arg(&init)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running the payload build script with bash")?;
    if !output.status.success() {
        bail!(
            "building the test payload failed ({}); see the messages above",
            output.status
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = stdout
        .lines()
        .last()
        .map(str::trim)
        .filter(|l| !l.is_empty());
    dir.map(PathBuf::from)
        .context("the payload build script did not name its output directory")
}
