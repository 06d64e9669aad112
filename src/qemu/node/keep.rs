//! `--keep`: after the verdict the VM keeps running with the guest's SSH
//! port forwarded to 127.0.0.1, for poking at the node by hand, until
//! Ctrl-C (or the guest powers off).

use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;

use super::Seen;
use crate::qemu::Event;
use crate::resolve::read::{InputKind, read_text};

/// How the user logs in: the forwarded port and the private key of the
/// stick's `sshkey=`, when it can be found.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Login {
    pub(super) port: u16,
    pub(super) key: Key,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Key {
    /// The private half of the stick's key.
    Private(PathBuf),
    /// The stick's public key; its private half is not beside `--ssh-key`
    /// or in ~/.ssh.
    Unknown(String),
    /// The stick has no `sshkey=`: core has no key to log in with.
    None,
}

impl Login {
    /// `stick_key`: the stick's `sshkey=`; `candidates`: public key files
    /// whose private halves (the name without `.pub`) may match it.
    pub(super) fn find(port: u16, stick_key: Option<&str>, candidates: &[PathBuf]) -> Self {
        let key = match stick_key {
            None => Key::None,
            Some(stick_key) => candidates
                .iter()
                .find_map(|pub_path| private_half(pub_path, stick_key))
                .map_or_else(|| Key::Unknown(stick_key.to_string()), Key::Private),
        };
        Self { port, key }
    }

    /// The lines to print: the exact ssh command first.
    pub(super) fn lines(&self) -> Vec<String> {
        let port = self.port;
        let mut lines = vec![match &self.key {
            Key::Private(path) => format!(
                "ssh -p {port} -i {} core@127.0.0.1",
                shell_word(&path.display().to_string())
            ),
            Key::Unknown(_) | Key::None => format!("ssh -p {port} core@127.0.0.1"),
        }];
        match &self.key {
            Key::Private(_) => {}
            Key::Unknown(key) => lines.push(format!(
                "(with the private key of the stick's sshkey= {}: not found beside --ssh-key or in ~/.ssh)",
                key_id(key)
            )),
            Key::None => lines.push(
                "(the stick has no sshkey=, so core has no key: SSH logins will be refused)".into(),
            ),
        }
        lines.push(
            "(the test OS makes a new host key every boot: -o StrictHostKeyChecking=no \
             -o UserKnownHostsFile=/dev/null keeps it out of known_hosts)"
                .into(),
        );
        lines
    }
}

/// Public key files to try: `--ssh-key` first, then ~/.ssh/*.pub.
pub(super) fn candidates(given: Option<&Path>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = given.map(Path::to_path_buf).into_iter().collect();
    if let Some(home) = std::env::var_os("HOME")
        && let Ok(entries) = std::fs::read_dir(Path::new(&home).join(".ssh"))
    {
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pub"))
            .collect();
        found.sort();
        out.extend(found);
    }
    out
}

/// The private key beside `pub_path` when `pub_path` holds `stick_key`
/// (type and base64 compared; the comment may differ).
fn private_half(pub_path: &Path, stick_key: &str) -> Option<PathBuf> {
    let text = read_text(pub_path, InputKind::SshKey).ok()?;
    let matches = text.lines().any(|l| key_id(l) == key_id(stick_key));
    let private = pub_path.with_extension("");
    (matches && pub_path.extension().is_some_and(|x| x == "pub") && private.is_file())
        .then_some(private)
}

/// An OpenSSH public key's type and base64, without its comment.
fn key_id(key: &str) -> String {
    key.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// `word` as one shell word.
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%,=".contains(&b))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Waits until Ctrl-C or until QEMU exits by itself; returns what ended it.
pub(super) fn hold(seen: &Receiver<Seen>) -> &'static str {
    loop {
        match seen.recv() {
            Ok(Seen::Vm(Event::Interrupted)) => return "Ctrl-C",
            Ok(Seen::Vm(Event::ConsoleClosed)) | Err(_) => return "QEMU exited",
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFiL443Rcw6L5x8OEqmIuXtJQ/Mieo/3xSx0lxX3ckwk";

    #[test]
    fn finds_the_private_half_of_the_sticks_key() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("other.pub");
        std::fs::write(&other, "ssh-ed25519 AAAAother me@host\n").unwrap();
        std::fs::write(dir.path().join("other"), "private").unwrap();
        let mine = dir.path().join("my key.pub");
        std::fs::write(&mine, format!("{KEY} ci@host\n")).unwrap();
        let candidates = [other.clone(), mine];
        // The public half alone is not enough.
        let login = Login::find(2200, Some(&format!("{KEY} stick")), &candidates);
        assert_eq!(login.key, Key::Unknown(format!("{KEY} stick")));
        assert_eq!(login.lines()[0], "ssh -p 2200 core@127.0.0.1");
        let private = dir.path().join("my key");
        std::fs::write(&private, "private").unwrap();
        let login = Login::find(2200, Some(KEY), &candidates);
        assert_eq!(login.key, Key::Private(private.clone()));
        assert_eq!(
            login.lines()[0],
            format!("ssh -p 2200 -i '{}' core@127.0.0.1", private.display())
        );
        assert_eq!(Login::find(1, None, &candidates).key, Key::None);
        assert_eq!(
            Login::find(1, Some(KEY), &[other]).key,
            Key::Unknown(KEY.into())
        );
    }

    #[test]
    fn shell_words() {
        assert_eq!(
            shell_word("/home/a/.ssh/id_ed25519"),
            "/home/a/.ssh/id_ed25519"
        );
        assert_eq!(shell_word("/tmp/it's"), r"'/tmp/it'\''s'");
    }
}
