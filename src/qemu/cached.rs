//! A boot artefact built by a bash script that mkstick carries inside its
//! binary (so an installed mkstick needs no source tree) and that the script
//! caches by content: the smoke payload and the node test OS.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// How to build one artefact.
pub(super) struct Recipe {
    /// What it is, for messages ("test payload").
    pub what: &'static str,
    /// `(file name, text)`: the script first, then the files it reads.
    pub scripts: &'static [(&'static str, &'static str)],
    /// Arguments after the script, given the directory the files are in.
    pub args: fn(&Path) -> Vec<PathBuf>,
    /// Said when the script fails (what it needs).
    pub needs: &'static str,
}

impl Recipe {
    /// The artefact's directory (`dir`, or the cache, built first when
    /// missing or out of date) and the contents of its `files`.
    pub(super) fn load<const N: usize>(
        &self,
        dir: Option<&Path>,
        files: [&str; N],
    ) -> Result<(PathBuf, [Vec<u8>; N])> {
        let dir = match dir {
            Some(dir) => dir.to_path_buf(),
            None => self.build()?,
        };
        let script = self.scripts[0].0;
        let mut out = Vec::with_capacity(N);
        for name in files {
            let path = dir.join(name);
            out.push(std::fs::read(&path).with_context(|| {
                format!(
                    "reading the {} file {}: build it with qemu/{script} --cache {}",
                    self.what,
                    path.display(),
                    dir.display()
                )
            })?);
        }
        let out = out
            .try_into()
            .unwrap_or_else(|_| unreachable!("one read per name"));
        Ok((dir, out))
    }

    /// Runs the embedded script; its last line of output is the cache dir.
    fn build(&self) -> Result<PathBuf> {
        let work = tempfile::Builder::new()
            .prefix("mkstick-build-")
            .tempdir()
            .context("creating a temporary directory")?;
        for (name, text) in self.scripts {
            std::fs::write(work.path().join(name), text)
                .with_context(|| format!("writing the {}'s {name}", self.what))?;
        }
        let output = Command::new("bash")
            .arg(work.path().join(self.scripts[0].0))
            .args((self.args)(work.path()))
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running the {} build script with bash", self.what))?;
        if !output.status.success() {
            bail!(
                "building the {} failed ({}); see the messages above{}",
                self.what,
                output.status,
                self.needs
            );
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        stdout
            .lines()
            .last()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(PathBuf::from)
            .with_context(|| {
                format!(
                    "the {} build script did not name its output directory",
                    self.what
                )
            })
    }
}
