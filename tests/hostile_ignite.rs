//! `mkstick ignite` against hostile inputs (it runs as root): YAML bombs,
//! symlinks out of the files directory, device nodes, FIFOs, sockets, huge
//! files, and outputs that are not regular files. Everything is made in a
//! temp dir (device nodes with `mknod`), never the machine's real devices.

mod support;

use std::io::Write as _;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn mkstick() -> Command {
    support::bin::mkstick()
}

/// Waits for a child with a deadline: a hang is a failure, not a stuck suite.
fn finish(mut child: Child, what: &str) -> Output {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: mkstick did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run(args: &[&std::ffi::OsStr], dir: &Path, what: &str) -> Output {
    let child = mkstick()
        .arg("ignite")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mkstick");
    finish(child, what)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A failure with exit code 1, no output, no panic, and `needles` in stderr.
fn assert_refused(out: &Output, needles: &[&str], what: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{what}: {err}");
    assert!(out.stdout.is_empty(), "{what}: wrote output");
    assert!(!err.contains("panicked"), "{what}: {err}");
    for n in needles {
        assert!(err.contains(n), "{what}: no {n:?} in:\n{err}");
    }
}

fn mknod(path: &Path, kind: &str, major: u32, minor: u32) {
    let status = Command::new("mknod")
        .arg(path)
        .args([kind, &major.to_string(), &minor.to_string()])
        .status()
        .expect("run mknod (coreutils)");
    assert!(status.success(), "mknod {} failed", path.display());
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo (coreutils)");
    assert!(status.success(), "mkfifo {} failed", path.display());
}

const HEAD: &str = "variant: flatcar\nversion: 1.1.0\n";

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

#[test]
fn billion_laughs_fails_fast_at_its_position() {
    // The classic 9-level bomb, 622 bytes: 10^9 strings if expanded.
    let mut y = String::from(
        "variant: flatcar\nversion: 1.0.0\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (i, c) in "bcdefghi".chars().enumerate() {
        let prev = (b'a' + i as u8) as char;
        let refs = vec![format!("*{prev}"); 9].join(",");
        y.push_str(&format!("{c}: &{c} [{refs}]\n"));
    }
    assert!(y.len() < 700, "{}", y.len());
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("bomb.yml"), &y);
    let t = Instant::now();
    let out = run(&["bomb.yml".as_ref()], dir.path(), "billion laughs");
    assert_refused(&out, &["excessive aliasing", "bomb.yml:"], "billion laughs");
    // The error names a line:col on one of the alias lines.
    let err = stderr(&out);
    let line: u32 = err
        .split("bomb.yml:")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    assert!((5..=11).contains(&line), "{err}");
    // Not a timing assertion (benches do those): a bound that only a blown-up
    // expansion could pass, far above the ~10 ms it takes.
    assert!(t.elapsed() < Duration::from_secs(15));
}

#[test]
fn ordinary_aliases_still_work() {
    let y = format!(
        "{HEAD}storage:\n  files:\n    - path: /etc/a\n      mode: &m 0644\n      contents: &c\n        inline: same\n    - path: /etc/b\n      mode: *m\n      contents: *c\n"
    );
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("c.yml"), &y);
    let out = run(&["c.yml".as_ref()], dir.path(), "aliases");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn many_findings_are_cut_to_the_first_hundred() {
    let mut y = String::from(HEAD);
    for i in 0..5000 {
        y.push_str(&format!("unknown_{i}: x\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("keys.yml"), &y);
    let out = run(&["keys.yml".as_ref()], dir.path(), "5000 unknown keys");
    assert_refused(&out, &["4900 more findings not shown"], "5000 unknown keys");
    assert_eq!(stderr(&out).matches("unknown key").count(), 100);
}

/// A files directory with a secret beside it, and ways to reach it.
struct FilesDir {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl FilesDir {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        std::fs::create_dir(root.join("files")).unwrap();
        std::fs::create_dir(root.join("outside")).unwrap();
        write(
            &root.join("outside/shadow"),
            "root:$6$secret-hash:19000::::::\n",
        );
        write(&root.join("files/ok.txt"), "fine\n");
        symlink("../outside/shadow", root.join("files/shadow-link")).unwrap();
        symlink(root.join("outside"), root.join("files/outdir")).unwrap();
        symlink("ok.txt", root.join("files/inside-link")).unwrap();
        Self { _tmp: tmp, root }
    }

    fn ignite(&self, yaml: &str, what: &str) -> Output {
        write(&self.root.join("c.yml"), yaml);
        run(
            &["-d".as_ref(), "files".as_ref(), "c.yml".as_ref()],
            &self.root,
            what,
        )
    }
}

fn file_local(rel: &str) -> String {
    format!(
        "{HEAD}storage:\n  files:\n    - path: /etc/x\n      mode: 0600\n      contents:\n        local: {rel}\n"
    )
}

#[test]
fn files_dir_symlinks_may_not_lead_outside() {
    let fx = FilesDir::new();
    let cases = [
        (file_local("shadow-link"), "local: symlink to a file outside"),
        (file_local("outdir/shadow"), "local: through a symlinked directory"),
        (
            format!(
                "{HEAD}systemd:\n  units:\n    - name: a.service\n      contents_local: shadow-link\n"
            ),
            "contents_local",
        ),
        (
            format!(
                "{HEAD}passwd:\n  users:\n    - name: core\n      ssh_authorized_keys_local: [shadow-link]\n"
            ),
            "ssh_authorized_keys_local",
        ),
        (
            format!("{HEAD}storage:\n  trees:\n    - local: outdir\n"),
            "trees root symlinked outside",
        ),
        (
            "storage:\n  files:\n    - path: /etc/x\n      mode: 0600\n      contents:\n        local: shadow-link\n".to_string(),
            "CLC local",
        ),
    ];
    for (yaml, what) in &cases {
        let out = fx.ignite(yaml, what);
        assert_refused(&out, &["outside the files directory", "c.yml:"], what);
        let err = stderr(&out);
        assert!(err.contains("outside"), "{what}: names the target: {err}");
        assert!(!err.contains("secret-hash"), "{what}: leaked: {err}");
    }
    // A symlink that stays inside is fine.
    let out = fx.ignite(&file_local("inside-link"), "inside link");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn files_dir_refuses_devices_fifos_and_huge_files() {
    let fx = FilesDir::new();
    let files = fx.root.join("files");
    mknod(&files.join("chardev"), "c", 1, 3);
    mknod(&files.join("blockdev"), "b", 7, 200);
    mkfifo(&files.join("fifo"));
    std::fs::File::create(files.join("huge"))
        .unwrap()
        .set_len(65 << 20)
        .unwrap();
    for (rel, needle) in [
        ("chardev", "a character device"),
        ("blockdev", "a block device"),
        ("fifo", "a FIFO"),
        ("huge", "limit of 64 MiB"),
    ] {
        let out = fx.ignite(&file_local(rel), rel);
        assert_refused(&out, &[needle, rel, "c.yml:8:16"], rel);
    }
    // A tree holding a FIFO: refused and named, not read.
    std::fs::create_dir(files.join("tree")).unwrap();
    write(&files.join("tree/a"), "a\n");
    mkfifo(&files.join("tree/pipe"));
    let out = fx.ignite(
        &format!("{HEAD}storage:\n  trees:\n    - local: tree\n"),
        "tree with a FIFO",
    );
    assert_refused(&out, &["tree/pipe is a FIFO"], "tree with a FIFO");
}

#[test]
fn the_config_must_be_a_bounded_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    mknod(&d.join("sdx"), "b", 7, 201);
    mknod(&d.join("tty"), "c", 5, 0);
    mkfifo(&d.join("fifo"));
    std::fs::File::create(d.join("huge.yml"))
        .unwrap()
        .set_len(65 << 20)
        .unwrap();
    for (name, needle) in [
        ("sdx", "is a block device, not a regular file"),
        ("tty", "is a character device"),
        ("fifo", "is a FIFO (named pipe)"),
        (".", "is a directory"),
        ("huge.yml", "larger than the limit of 64 MiB"),
    ] {
        let out = run(&[name.as_ref()], d, name);
        assert_refused(&out, &[needle, "reading the config"], name);
    }
    // stdin is bounded too.
    let mut child = mkstick()
        .args(["ignite", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let chunk = vec![b'#'; 1 << 20];
        for _ in 0..80 {
            if stdin.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let out = finish(child, "huge stdin");
    feeder.join().unwrap();
    assert_refused(&out, &["stdin", "limit of 64 MiB"], "huge stdin");
}

#[test]
fn output_is_written_only_to_a_regular_file_or_a_new_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        &d.join("c.yml"),
        &format!(
            "{HEAD}storage:\n  files:\n    - path: /etc/hostname\n      mode: 0644\n      contents:\n        inline: n1\n"
        ),
    );
    mknod(&d.join("null"), "c", 1, 3);
    mknod(&d.join("disk"), "b", 7, 202);
    mkfifo(&d.join("fifo"));
    let _sock = std::os::unix::net::UnixListener::bind(d.join("sock")).unwrap();
    std::fs::create_dir(d.join("dir")).unwrap();
    write(&d.join("victim"), "keep me\n");
    symlink("victim", d.join("link")).unwrap();
    symlink("null", d.join("link-to-dev")).unwrap();
    symlink("nowhere", d.join("dangling")).unwrap();
    for (name, needle) in [
        ("null", "a character device"),
        ("disk", "a block device"),
        ("fifo", "a FIFO"),
        ("sock", "a socket"),
        ("dir", "a directory"),
        ("link", "a symbolic link (to victim)"),
        ("link-to-dev", "a symbolic link (to null)"),
        ("dangling", "a symbolic link (to nowhere)"),
    ] {
        let before = std::fs::symlink_metadata(d.join(name)).unwrap();
        let out = run(&["c.yml".as_ref(), "-o".as_ref(), name.as_ref()], d, name);
        assert_refused(&out, &["refusing to write the output", name, needle], name);
        let after = std::fs::symlink_metadata(d.join(name)).unwrap();
        assert_eq!(before.file_type(), after.file_type(), "{name} replaced");
    }
    assert!(
        std::fs::symlink_metadata(d.join("null"))
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert_eq!(
        std::fs::read_to_string(d.join("victim")).unwrap(),
        "keep me\n"
    );
    assert!(
        !d.join("nowhere").exists(),
        "wrote through a dangling symlink"
    );
    // Nothing left behind by the refusals.
    let temps = std::fs::read_dir(d)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".mkstick")
        })
        .count();
    assert_eq!(temps, 0);

    // New files are 0600; an existing file keeps its (narrower or wider) mode.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let out = run(
        &["c.yml".as_ref(), "-o".as_ref(), "new.ign".as_ref()],
        d,
        "new",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&d.join("new.ign")), 0o600);
    std::fs::set_permissions(d.join("victim"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = run(
        &["c.yml".as_ref(), "-o".as_ref(), "victim".as_ref()],
        d,
        "existing",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&d.join("victim")), 0o640);
    assert!(
        std::fs::read_to_string(d.join("victim"))
            .unwrap()
            .contains("3.4.0")
    );
}

#[test]
fn a_full_or_closed_stdout_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        &d.join("c.yml"),
        &format!(
            "{HEAD}storage:\n  files:\n    - path: /etc/hostname\n      mode: 0644\n      contents:\n        inline: n1\n"
        ),
    );
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let child = mkstick()
        .args(["ignite", "c.yml"])
        .current_dir(d)
        .stdout(full)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = finish(child, ">/dev/full");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("writing the Ignition JSON to stdout"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // A closed pipe (the reader went away).
    let child = mkstick()
        .args(["ignite", "c.yml"])
        .current_dir(d)
        .stdout(support::stdio::closed_pipe())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = finish(child, "closed stdout");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // Diagnostics to a full stderr: still exit 1, no panic (the abort
    // signal of a panic would show as no exit code).
    write(
        &d.join("bad.yml"),
        &format!("{HEAD}storage:\n  files:\n    - path: etc/x\n"),
    );
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let child = mkstick()
        .args(["ignite", "bad.yml"])
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(full)
        .spawn()
        .unwrap();
    let out = finish(child, "2>/dev/full");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}
