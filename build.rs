//! Sets `MKSTICK_VERSION` for `--version`: the crate version, plus the git
//! revision when built from a checkout of this repository, so that a bug
//! report says exactly what ran. Without git, or outside a checkout (a crate
//! tarball, a .deb source tree), it is the plain crate version.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let full = match revision(&manifest_dir) {
        Some(rev) => format!("{version} ({rev})"),
        None => version,
    };
    println!("cargo:rustc-env=MKSTICK_VERSION={full}");
    println!("cargo:rerun-if-changed=build.rs");
}

/// The short commit id of HEAD, or None when this directory is not the top of
/// a git checkout (or git is missing). Registers the files whose change moves
/// HEAD, so that a new commit rebuilds the version and nothing else does.
fn revision(dir: &Path) -> Option<String> {
    // Only our own checkout: a crate unpacked inside some other repository
    // must not report that repository's commit.
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    let rev = git(dir, &["rev-parse", "--short=12", "HEAD"])?;
    // HEAD itself (a checkout or a detached commit), packed-refs (a ref moved
    // by `git pack-refs` or a fetch) and the branch HEAD points at (a commit).
    let head = dir.join(git(dir, &["rev-parse", "--git-path", "HEAD"])?);
    watch_if_exists(&head);
    watch_if_exists(&dir.join(git(dir, &["rev-parse", "--git-path", "packed-refs"])?));
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        let branch = dir.join(git(dir, &["rev-parse", "--git-path", &branch])?);
        // A packed branch has no file yet: its next commit creates one in
        // refs/heads/, so watch that directory instead (it holds only refs).
        if !watch_if_exists(&branch)
            && let Some(refs) = branch.parent()
        {
            watch_if_exists(refs);
        }
    }
    Some(rev)
}

/// Registers `path` with cargo if it exists: cargo reruns a script whose
/// watched file is missing on every build, defeating incremental builds.
fn watch_if_exists(path: &Path) -> bool {
    let exists = path.exists();
    if exists {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    exists
}

/// One git query in `dir`: trimmed stdout, or None on any failure.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
