//! The test OS standing in for Flatcar: built by `qemu/build-testos` from
//! Debian packages (the scripts are carried inside the binary, so an
//! installed mkstick needs no source tree) and cached between runs.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::qemu::cached::Recipe;

const RECIPE: Recipe = Recipe {
    what: "test OS",
    scripts: &[
        ("build-testos", include_str!("../../../qemu/build-testos")),
        ("testos-init", include_str!("../../../qemu/testos-init")),
        ("testos-report", include_str!("../../../qemu/testos-report")),
    ],
    args: |_| Vec::new(),
    needs: " (it needs mmdebstrap: sudo scripts/setup)",
};

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
        let (dir, [kernel, initrd]) = RECIPE.load(dir, ["vmlinuz", "testos.cpio.zst"])?;
        Ok(Self {
            dir,
            kernel,
            initrd,
        })
    }
}
