//! The smoke-test payload: a Debian kernel and a busybox initramfs, built by
//! `qemu/build-payload` (carried inside the binary, so an installed mkstick
//! needs no source tree) and cached between runs.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::cached::Recipe;

const RECIPE: Recipe = Recipe {
    what: "test payload",
    scripts: &[
        ("build-payload", include_str!("../../qemu/build-payload")),
        ("init", include_str!("../../qemu/init")),
    ],
    args: |work| vec!["--init".into(), work.join("init")],
    needs: "",
};

pub(super) struct Payload {
    pub dir: PathBuf,
    pub kernel: Vec<u8>,
    pub base_initrd: Vec<u8>,
}

impl Payload {
    /// The payload in `dir` (made by `qemu/build-payload --cache DIR`), or
    /// the cached one, built first when missing or out of date.
    pub(super) fn load(dir: Option<&Path>) -> Result<Self> {
        let (dir, [kernel, base_initrd]) = RECIPE.load(dir, ["vmlinuz", "base.cpio.gz"])?;
        Ok(Self {
            dir,
            kernel,
            base_initrd,
        })
    }
}
