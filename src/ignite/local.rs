//! Files embedded from `-d/--files-dir` (`local:`, `contents_local`,
//! `ssh_authorized_keys_local`, `trees`): confined to that directory with
//! symlinks followed, regular files only, each read bounded.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use super::input::{self, MAX_LOCAL_FILE_BYTES, MAX_LOCAL_TOTAL_BYTES, ReadError};

/// Why a local path was refused.
#[derive(Debug)]
pub enum LocalError {
    /// No `-d/--files-dir` was given.
    NoFilesDir,
    /// The files directory itself cannot be used.
    BadFilesDir { dir: PathBuf, why: String },
    /// `..` leads out of the directory (Butane's check, by the path's text).
    Traverses { dir: PathBuf },
    /// The path resolves (through a symlink) to a place outside the directory.
    Escapes {
        rel: String,
        real: PathBuf,
        dir: PathBuf,
    },
    /// The path cannot be resolved (missing, permission).
    Resolve { path: PathBuf, err: std::io::Error },
    /// The file cannot be read (not regular, too large, I/O).
    Read { path: PathBuf, err: ReadError },
    /// All embedded files together pass [`MAX_LOCAL_TOTAL_BYTES`].
    Budget { path: PathBuf },
}

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalError::NoFilesDir => f.write_str(
                "local file paths are relative to a files directory that must be specified with -d/--files-dir",
            ),
            LocalError::BadFilesDir { dir, why } => {
                write!(f, "cannot use the files directory {}: {why}", dir.display())
            }
            LocalError::Traverses { .. } => {
                f.write_str("local file path traverses outside the files directory")
            }
            LocalError::Escapes { rel, real, dir } => write!(
                f,
                "local path {rel} resolves to {}, outside the files directory {}",
                real.display(),
                dir.display()
            ),
            LocalError::Resolve { path, err } => {
                write!(f, "cannot read local file {}: {err}", path.display())
            }
            LocalError::Read { path, err } => {
                write!(f, "cannot embed local file {}: {err}", path.display())
            }
            LocalError::Budget { path } => write!(
                f,
                "cannot embed local file {}: the embedded files together pass the limit of {}",
                path.display(),
                input::size(MAX_LOCAL_TOTAL_BYTES)
            ),
        }
    }
}

impl LocalError {
    /// What to do about it.
    pub fn help(&self) -> String {
        match self {
            LocalError::NoFilesDir => {
                "run again with `-d DIR` naming the directory that holds the file".into()
            }
            LocalError::BadFilesDir { .. } => "give an existing directory to -d/--files-dir".into(),
            LocalError::Traverses { dir } | LocalError::Escapes { dir, .. } => format!(
                "move the file into {} and name it relative to that directory (symlinks may only point inside it)",
                dir.display()
            ),
            LocalError::Resolve { .. } => {
                "local paths are relative to the -d/--files-dir directory".into()
            }
            LocalError::Read {
                err: ReadError::TooLarge { .. },
                ..
            }
            | LocalError::Budget { .. } => {
                "serve large files from a URL (`source:` / `remote:`) instead of embedding them"
                    .into()
            }
            LocalError::Read { .. } => {
                "embed only regular files; devices, FIFOs and sockets cannot go into a config"
                    .into()
            }
        }
    }
}

/// The files directory of one run and what has been read from it.
#[derive(Debug)]
pub struct LocalFiles<'a> {
    dir: Option<&'a Path>,
    /// The directory with symlinks resolved, once known.
    root: Option<PathBuf>,
    used: u64,
}

impl<'a> LocalFiles<'a> {
    pub fn new(dir: Option<&'a Path>) -> Self {
        Self {
            dir,
            root: None,
            used: 0,
        }
    }

    pub fn dir(&self) -> Option<&'a Path> {
        self.dir
    }

    fn root(&mut self) -> Result<(&'a Path, PathBuf), LocalError> {
        let dir = self.dir.ok_or(LocalError::NoFilesDir)?;
        if let Some(root) = &self.root {
            return Ok((dir, root.clone()));
        }
        let bad = |why: String| LocalError::BadFilesDir {
            dir: dir.to_path_buf(),
            why,
        };
        let root = dir.canonicalize().map_err(|e| bad(e.to_string()))?;
        if !root.is_dir() {
            return Err(bad("it is not a directory".into()));
        }
        self.root = Some(root.clone());
        Ok((dir, root))
    }

    /// Resolves `rel` inside the files directory, symlinks followed; the
    /// result is where the data really is, and inside the directory.
    pub fn resolve(&mut self, rel: &str) -> Result<PathBuf, LocalError> {
        let (dir, root) = self.root()?;
        // Go's filepath.Join, as Butane uses it: a leading `/` is still
        // relative to the directory.
        let rel = rel.trim_start_matches('/');
        // Butane's own check first, by the text of the path.
        if !lexically_inside(Path::new(rel)) {
            return Err(LocalError::Traverses {
                dir: dir.to_path_buf(),
            });
        }
        let shown = dir.join(rel);
        let real = root
            .join(rel)
            .canonicalize()
            .map_err(|err| LocalError::Resolve {
                path: shown.clone(),
                err,
            })?;
        if !real.starts_with(&root) {
            return Err(LocalError::Escapes {
                rel: shown.display().to_string(),
                real,
                dir: dir.to_path_buf(),
            });
        }
        Ok(real)
    }

    /// Reads the regular file `rel` names, within the per-file and total caps.
    pub fn read(&mut self, rel: &str) -> Result<Vec<u8>, LocalError> {
        let real = self.resolve(rel)?;
        let data =
            input::read_regular(&real, MAX_LOCAL_FILE_BYTES).map_err(|err| LocalError::Read {
                path: real.clone(),
                err,
            })?;
        self.used += data.len() as u64;
        if self.used > MAX_LOCAL_TOTAL_BYTES {
            return Err(LocalError::Budget { path: real });
        }
        Ok(data)
    }
}

/// Whether a relative path stays inside its base by its text alone
/// (`a/../b` does, `../a` does not).
fn lexically_inside(p: &Path) -> bool {
    let mut depth = 0usize;
    for c in p.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            Component::RootDir | Component::Prefix(_) => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_check() {
        assert!(lexically_inside(Path::new("a/b")));
        assert!(lexically_inside(Path::new("./a/../b")));
        assert!(!lexically_inside(Path::new("../a")));
        assert!(!lexically_inside(Path::new("a/../../b")));
    }

    #[test]
    fn symlinks_out_of_the_directory_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("files");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(tmp.path().join("secret"), "s").unwrap();
        std::fs::write(dir.join("ok"), "fine").unwrap();
        std::os::unix::fs::symlink("../secret", dir.join("out")).unwrap();
        std::os::unix::fs::symlink("ok", dir.join("in")).unwrap();
        let mut files = LocalFiles::new(Some(&dir));
        assert_eq!(files.read("in").unwrap(), b"fine");
        let e = files.read("out").unwrap_err();
        assert!(matches!(e, LocalError::Escapes { .. }), "{e}");
        assert!(e.to_string().contains("secret"), "{e}");
        let e = files.read("../secret").unwrap_err();
        assert!(matches!(e, LocalError::Traverses { .. }), "{e}");
        // As in Butane (Go's filepath.Join), `/ok` is `ok` in the directory.
        assert_eq!(files.read("/ok").unwrap(), b"fine");
        assert!(matches!(
            LocalFiles::new(None).read("ok"),
            Err(LocalError::NoFilesDir)
        ));
    }
}
