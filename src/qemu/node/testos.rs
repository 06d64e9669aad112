//! The test OS standing in for Flatcar: built by `qemu/build-testos` from
//! Debian packages (the scripts are carried inside the binary, so an
//! installed mkstick needs no source tree) and cached between runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

const SCRIPTS: [(&str, &str); 3] = [
    ("build-testos", include_str!("../../../qemu/build-testos")),
    ("testos-init", include_str!("../../../qemu/testos-init")),
    ("testos-report", include_str!("../../../qemu/testos-report")),
];

/// The k3s stand-in served at a stick's pinned release URL: NOT k3s.
pub(crate) const K3S_STANDIN: &str = include_str!("../../../qemu/k3s-standin");

pub(crate) struct TestOs {
    pub(crate) dir: PathBuf,
    pub(crate) kernel: Vec<u8>,
    pub(crate) initrd: Vec<u8>,
}

impl TestOs {
    /// The test OS in `dir` (made by `qemu/build-testos --cache DIR`), or
    /// the cached one, built first when missing or out of date.
    pub(crate) fn load(dir: Option<&Path>) -> Result<Self> {
        let dir = match dir {
            Some(dir) => dir.to_path_buf(),
            None => build()?,
        };
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).with_context(|| {
                format!(
                    "reading the test OS file {}: build it with qemu/build-testos --cache {}",
                    path.display(),
                    dir.display()
                )
            })
        };
        Ok(Self {
            kernel: read("vmlinuz")?,
            initrd: read("testos.cpio.zst")?,
            dir,
        })
    }
}

/// Runs the embedded build script; its last line of output is the cache dir.
fn build() -> Result<PathBuf> {
    let work = tempfile::Builder::new()
        .prefix("mkstick-testos-")
        .tempdir()
        .context("creating a temporary directory")?;
    for (name, text) in SCRIPTS {
        std::fs::write(work.path().join(name), text)
            .with_context(|| format!("writing the test OS's {name}"))?;
    }
    let output = Command::new("bash")
        .arg(work.path().join("build-testos"))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running the test OS build script with bash")?;
    if !output.status.success() {
        bail!(
            "building the test OS failed ({}); see the messages above (it needs mmdebstrap: \
             sudo scripts/setup)",
            output.status
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .last()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .context("the test OS build script did not name its output directory")
}
