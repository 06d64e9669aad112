//! Hostile targets and inputs for the writer, which runs as root: device
//! nodes (made with mknod in a temp dir, never the machine's own), FIFOs,
//! sockets, symlinks, huge sparse files, loop devices, real signals to a real
//! child, and a full or closed stdout/stderr.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use support::loopdev::Loop;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx1V0dkPrvV5YpQmHqFmE3FWb0S4T0bQ0m5R0u0nJ4E me@laptop\n";

fn ipxe() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps/ipxe/ipxe-amd64.efi")
}

/// A temp dir with the standard inputs (node.ign, key.pub, secrets.env).
fn case() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(
        d.path().join("node.ign"),
        r#"{"ignition":{"version":"3.3.0"}}"#,
    )
    .unwrap();
    fs::write(d.path().join("key.pub"), KEY).unwrap();
    fs::write(d.path().join("secrets.env"), "K3S_TOKEN=hostile-token\n").unwrap();
    d
}

/// mkstick with the standard inputs; `args` come last and may override them.
fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = support::bin::mkstick();
    cmd.env_clear()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .current_dir(dir)
        .arg("--ipxe-efi")
        .arg(ipxe())
        .args(["--flatcar-version", "4593.2.5"])
        .args(["--secrets", "secrets.env", "--ssh-key", "key.pub"])
        .args(["--ignition", "node.ign"])
        .args(support::k3s_pin::args())
        .args(args);
    cmd
}

/// Runs `cmd` to its end; a hang (a FIFO read, a disk read into memory) is
/// killed after a minute and fails the test.
fn run(cmd: &mut Command) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("{cmd:?} hung for a minute");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (child.wait_with_output().unwrap(), start.elapsed())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A failure with exit status 1 (not a panic's 101, not clap's 2).
fn fails(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn mknod(path: &Path, kind: &str, major: u32, minor: u32) {
    let st = Command::new("mknod")
        .arg(path)
        .args([kind, &major.to_string(), &minor.to_string()])
        .status()
        .expect("mknod (coreutils)");
    assert!(
        st.success(),
        "mknod {} (the tests run as root)",
        path.display()
    );
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(st.success());
}

/// Names in `dir` that look like a temporary image.
fn parts(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part"))
        .collect()
}

#[test]
fn image_refuses_every_target_but_a_regular_or_new_file() {
    let d = case();
    let p = |n: &str| d.path().join(n);
    mknod(&p("null"), "c", 1, 3);
    // Major 7 is loop; minor 250 is never opened (and no such device exists here).
    mknod(&p("disk"), "b", 7, 250);
    mkfifo(&p("fifo"));
    let _sock = std::os::unix::net::UnixListener::bind(p("sock")).unwrap();
    fs::create_dir(p("dir")).unwrap();
    fs::write(p("victim"), "not an image").unwrap();
    std::os::unix::fs::symlink(p("victim"), p("link")).unwrap();
    std::os::unix::fs::symlink(p("nowhere"), p("dangling")).unwrap();

    for (name, want) in [
        ("null", "is a character device"),
        ("disk", "drop --image"),
        ("fifo", "is a FIFO"),
        ("sock", "is a socket"),
        ("dir", "is a directory"),
        ("link", "is a symbolic link"),
        ("dangling", "is a symbolic link"),
    ] {
        let before = fs::symlink_metadata(p(name)).unwrap().file_type();
        let (out, _) = run(&mut command(d.path(), &["--image", name, "--yes"]));
        let err = fails(&out);
        assert!(err.contains(want), "--image {name}: {err}");
        let after = fs::symlink_metadata(p(name)).unwrap().file_type();
        assert_eq!(before, after, "--image {name} replaced the {name}");
    }
    assert_eq!(fs::read_to_string(p("victim")).unwrap(), "not an image");
    assert!(!p("nowhere").exists(), "wrote through a dangling link");
    assert!(parts(d.path()).is_empty(), "{:?}", parts(d.path()));

    // Device mode: a character device is not an image to make either.
    let (out, _) = run(&mut command(d.path(), &["null", "--yes"]));
    let err = fails(&out);
    assert!(err.contains("is a character device"), "{err}");
    assert!(
        !err.contains("--image"),
        "suggests --image for a device: {err}"
    );
    let (out, _) = run(&mut command(d.path(), &["victim", "--yes"]));
    assert!(fails(&out).contains("--image"));
}

#[test]
fn images_are_created_0600_and_never_widened() {
    let d = case();
    let mode = |n: &str| fs::metadata(d.path().join(n)).unwrap().permissions().mode() & 0o7777;
    // umask 0 would make a 0666 file of a plain create.
    let out = Command::new("sh")
        .args(["-c", "umask 000; exec \"$@\"", "sh"])
        .arg(support::bin::path())
        .env_clear()
        .current_dir(d.path())
        .arg("--ipxe-efi")
        .arg(ipxe())
        .args(["--flatcar-version", "4593.2.5", "--secrets", "secrets.env"])
        .args(support::k3s_pin::args())
        .args(["--ignition", "node.ign", "--image", "new.img", "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode("new.img"), 0o600);

    for (before, after) in [(0o644, 0o600), (0o400, 0o400), (0o640, 0o600)] {
        let f = d.path().join("old.img");
        fs::write(&f, "old").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(before)).unwrap();
        let (out, _) = run(&mut command(d.path(), &["--image", "old.img", "--yes"]));
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(mode("old.img"), after, "from {before:o}");
        fs::remove_file(&f).unwrap();
    }
}

/// Starts writing `target` with a 24 MiB Ignition config (so the write takes
/// a while) and returns once its temporary file exists, or `None` if the
/// child finished first.
fn start_slow_write(dir: &Path, target: &str) -> Option<Child> {
    let big = format!(
        r#"{{"ignition":{{"version":"3.3.0"}},"padding":"{}"}}"#,
        "x".repeat(24 << 20)
    );
    fs::write(dir.join("big.ign"), big).unwrap();
    let mut child = command(dir, &["--ignition", "big.ign", "--image", target, "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if !parts(dir).is_empty() {
            return Some(child);
        }
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn signal(child: &Child, sig: &str) {
    let st = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

fn wait(child: Child) -> (ExitStatus, String) {
    let out = child.wait_with_output().unwrap();
    (out.status, stderr(&out))
}

#[test]
fn sigterm_and_ctrl_c_remove_the_part_file_and_leave_the_target() {
    for sig in ["-TERM", "-INT"] {
        let d = case();
        fs::write(d.path().join("stick.img"), "the old image").unwrap();
        let mut caught = false;
        for _ in 0..5 {
            let Some(child) = start_slow_write(d.path(), "stick.img") else {
                // Finished before the signal: restore and try again.
                fs::write(d.path().join("stick.img"), "the old image").unwrap();
                continue;
            };
            signal(&child, sig);
            let (status, err) = wait(child);
            if status.success() {
                fs::write(d.path().join("stick.img"), "the old image").unwrap();
                continue;
            }
            assert_eq!(status.code(), Some(130), "{sig}: {err}");
            assert!(err.contains("interrupted; removed"), "{sig}: {err}");
            caught = true;
            break;
        }
        assert!(caught, "{sig}: never caught a write in progress");
        assert!(parts(d.path()).is_empty(), "{sig}: {:?}", parts(d.path()));
        assert_eq!(
            fs::read_to_string(d.path().join("stick.img")).unwrap(),
            "the old image"
        );
    }
}

#[test]
fn a_later_run_removes_what_sigkill_left() {
    let d = case();
    let mut left = Vec::new();
    for _ in 0..5 {
        if let Some(child) = start_slow_write(d.path(), "stick.img") {
            signal(&child, "-KILL");
            wait(child);
            left = parts(d.path());
            if !left.is_empty() {
                break;
            }
        }
        let _ = fs::remove_file(d.path().join("stick.img"));
    }
    assert_eq!(left.len(), 1, "SIGKILL left no temp file to clean up");
    // Someone else's file of a similar name is not ours to remove.
    fs::write(d.path().join(".stick.img.other.part"), "theirs").unwrap();
    let (out, _) = run(&mut command(d.path(), &["--image", "stick.img", "--yes"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("/{}, left by", left[0])) && err.contains("interrupted mkstick run"),
        "{err}"
    );
    assert_eq!(parts(d.path()), vec![".stick.img.other.part".to_string()]);
}

#[test]
fn inputs_are_bounded_by_kind_and_never_block() {
    let d = case();
    let p = |n: &str| d.path().join(n);
    mknod(&p("zero"), "c", 1, 5);
    mkfifo(&p("fifo"));
    // Past each cap, sparse: huge to read, nothing on disk.
    for (name, len) in [
        ("huge.ign", 65 << 20),
        ("huge.pub", 65 << 10),
        ("huge.env", 2 << 20),
        ("huge.efi", 17 << 20),
    ] {
        fs::File::create(p(name)).unwrap().set_len(len).unwrap();
    }
    let mut worst = Duration::ZERO;
    for (flag, path, want) in [
        ("--ignition", "zero", "reading Ignition config (--ignition)"),
        (
            "--ignition",
            "fifo",
            "a FIFO (named pipe), not a regular file",
        ),
        ("--ignition", "huge.ign", "larger than the limit of 64 MiB"),
        (
            "--ssh-key",
            "zero",
            "a character device, not a regular file",
        ),
        ("--ssh-key", "fifo", "SSH public key"),
        (
            "--ssh-key",
            "huge.pub",
            "larger than the limit of 65536 bytes",
        ),
        ("--secrets", "zero", "--secrets file"),
        ("--secrets", "fifo", "a FIFO"),
        ("--secrets", "huge.env", "larger than the limit of 1 MiB"),
        ("--ipxe-efi", "zero", "iPXE binary"),
        ("--ipxe-efi", "fifo", "a FIFO"),
        ("--ipxe-efi", "huge.efi", "larger than the limit of 16 MiB"),
    ] {
        let (out, took) = run(&mut command(
            d.path(),
            &[flag, path, "--image", "s.img", "--yes"],
        ));
        let err = fails(&out);
        assert!(err.contains(want), "{flag} {path}: {err}");
        assert!(err.contains(path), "{flag} {path}: names the input: {err}");
        worst = worst.max(took);
    }
    eprintln!("worst case of the hostile inputs: {worst:?}");
    assert!(!p("s.img").exists());
}

#[test]
fn ignition_from_a_disk_is_refused_without_reading_it() {
    let d = case();
    let disk = d.path().join("disk.img");
    fs::File::create(&disk).unwrap().set_len(512 << 20).unwrap();
    let Some(lo) = Loop::attach(&disk, true) else {
        return;
    };
    let (out, _) = run(&mut command(
        d.path(),
        &["--ignition", &lo.dev, "--image", "s.img", "--yes"],
    ));
    let err = fails(&out);
    assert!(err.contains("a block device, not a regular file"), "{err}");
}

#[test]
fn a_read_only_device_says_nothing_was_written() {
    let d = case();
    let disk = d.path().join("disk.img");
    fs::File::create(&disk).unwrap().set_len(300 << 20).unwrap();
    let Some(lo) = Loop::attach(&disk, true) else {
        return;
    };
    let (out, _) = run(&mut command(d.path(), &[&lo.dev, "--force", "--yes"]));
    let err = fails(&out);
    assert!(
        err.contains("read-only") && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!err.contains("do not boot"), "{err}");
}

#[test]
fn ign_path_given_a_file_says_use_ignition() {
    let d = case();
    // Not `command()`: its --ignition would conflict with IGN_PATH.
    let mut cmd2 = support::bin::mkstick();
    cmd2.env_clear()
        .env("IGN_PATH", d.path().join("node.ign"))
        .current_dir(d.path())
        .arg("--ipxe-efi")
        .arg(ipxe())
        .args(["--flatcar-version", "4593.2.5", "--image", "s.img", "--yes"]);
    let (out, _) = run(&mut cmd2);
    // Refused by the argument parser (status 2), as --ignition-url is.
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("IGN_PATH") && err.contains("use --ignition FILE"),
        "{err}"
    );
}

/// Every command that prints, with stdout to /dev/full and to a closed pipe:
/// an error exit (status 1), never a panic, never success.
#[test]
fn a_full_or_closed_stdout_is_an_error_not_a_panic() {
    let d = case();
    let (out, _) = run(&mut command(d.path(), &["--image", "s.img", "--yes"]));
    assert!(out.status.success(), "{}", stderr(&out));
    fs::write(d.path().join("c.yml"), "variant: flatcar\nversion: 1.0.0\n").unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["secrets-schema"],
        vec!["secrets-schema", "--markdown"],
        vec!["inspect", "s.img"],
        vec!["inspect", "--json", "s.img"],
        vec!["ignite", "c.yml"],
        vec!["--help"],
        vec!["--version"],
    ];
    let dry = |json: bool| {
        let mut c = command(d.path(), &["--image", "x.img", "--dry-run"]);
        if json {
            c.arg("--json");
        }
        c
    };
    let mut all: Vec<(String, Command)> = commands
        .iter()
        .map(|args| {
            let mut c = support::bin::mkstick();
            c.env_clear().current_dir(d.path()).args(args);
            (args.join(" "), c)
        })
        .collect();
    all.push(("--dry-run".into(), dry(false)));
    all.push(("--dry-run --json".into(), dry(true)));
    for (name, mut cmd) in all {
        let full = cmd
            .stdin(Stdio::null())
            .stdout(fs::File::create("/dev/full").unwrap())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = stderr(&full);
        assert_eq!(full.status.code(), Some(1), "{name} >/dev/full: {err}");
        assert!(!err.contains("panicked"), "{name} >/dev/full: {err}");

        let out = cmd
            .stdout(support::stdio::closed_pipe())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name} | (closed): {err}");
        assert!(!err.contains("panicked"), "{name} | (closed): {err}");
    }
    // stderr full too: the write that prints warnings and the result.
    let out = command(d.path(), &["--image", "y.img", "--yes"])
        .stdout(fs::File::create("/dev/full").unwrap())
        .stderr(fs::File::create("/dev/full").unwrap())
        .status()
        .unwrap();
    assert_eq!(out.code(), Some(1), "2>/dev/full");
}

/// A tmpfs mounted for one test; unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount (util-linux)");
        assert!(st.success(), "mount tmpfs (the tests run as root)");
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_an_error_naming_the_file() {
    let d = case();
    let full = d.path().join("full");
    fs::create_dir(&full).unwrap();
    let _mnt = Tmpfs::mount(&full, "2m");
    let big = format!(
        r#"{{"ignition":{{"version":"3.3.0"}},"padding":"{}"}}"#,
        "x".repeat(4 << 20)
    );
    fs::write(d.path().join("big.ign"), big).unwrap();
    let (out, _) = run(&mut command(
        d.path(),
        &[
            "--ignition",
            "big.ign",
            "--image",
            "full/stick.img",
            "--yes",
        ],
    ));
    let err = fails(&out);
    assert!(
        err.contains("writing the image to full/.stick.img.mkstick-")
            && err.contains("No space left on device"),
        "{err}"
    );
    assert!(parts(&full).is_empty() && !full.join("stick.img").exists());
}
