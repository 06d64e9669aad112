//! Benchmark: build the default stick image with mkstick vs. the same layout and
//! files made with shell tools (truncate + sgdisk + mkfs.vfat + mmd/mcopy), in
//! one run, and print ratios. Also peak memory and bytes written vs. allocated.
//!
//!   cargo bench --bench stick
//!
//! Not a timed test: the machine is shared, so only same-run ratios mean much.

#[path = "support/peak_rss.rs"]
mod peak_rss;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 7;

fn main() {
    let bin = env!("CARGO_BIN_EXE_mkstick");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ipxe = root.join(".test-deps/ipxe/ipxe-amd64.efi");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("node.ign"), r#"{"ignition":{"version":"3.3.0"}}"#).unwrap();
    std::fs::write(
        d.join("secrets.env"),
        "K3S_TOKEN=bench\nLOGEXPORT_HOST=logs.example.com\nLOGEXPORT_PORT=1234\n",
    )
    .unwrap();

    let mkstick = |out: &Path| {
        let mut cmd = Command::new(bin);
        cmd.current_dir(d)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .arg("--image")
            .arg(out)
            .args([
                "--yes",
                "--ignition",
                "node.ign",
                "--secrets",
                "secrets.env",
                "--flatcar-version",
                "4593.2.5",
                // k3s is on: its release pinned by hand, so no network.
                "--k3s-version",
                "v1.31.4+k3s1",
                "--k3s-sha256",
                "86bd33ebf64e01aaafb7dab419436ac025d04abd933bbbb124ddb25c30b59dd7",
            ])
            .arg("--ipxe-efi")
            .arg(&ipxe);
        cmd
    };

    // The files mkstick wrote, extracted once, so the shell pipeline copies the same bytes.
    let reference = d.join("reference.img");
    run(&mut mkstick(&reference));
    let files = extract(&reference, d);

    let mut shell = Vec::new();
    let mut ours = Vec::new();
    for i in 0..RUNS {
        let img = d.join(format!("shell{i}.img"));
        let t = Instant::now();
        shell_pipeline(&img, &files);
        shell.push(t.elapsed());

        let img = d.join(format!("mkstick{i}.img"));
        let t = Instant::now();
        let (rss_kib, stderr) = run(&mut mkstick(&img));
        ours.push(t.elapsed());
        if i == 0 {
            let allocated = std::fs::metadata(&img).unwrap().blocks() * 512;
            let written = parse_written(&stderr);
            println!("peak memory (VmHWM): {rss_kib} KiB (target < 32768 KiB)");
            println!(
                "bytes written: {written} vs allocated {allocated}: {:.3}x (target <= 1.1x)",
                written as f64 / allocated as f64
            );
        }
    }
    let (s, o) = (median(&mut shell), median(&mut ours));
    println!(
        "shell pipeline (truncate+sgdisk+mkfs.vfat+mtools): median {:.1} ms over {RUNS}",
        ms(s)
    );
    println!(
        "mkstick --image (incl. read-back and fsync):       median {:.1} ms over {RUNS}",
        ms(o)
    );
    println!(
        "speed-up: {:.1}x (target >= 20x; mkstick target < 50 ms)",
        ms(s) / ms(o)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs a command, returns (peak RSS in KiB, stderr).
fn run(cmd: &mut Command) -> (u64, String) {
    let dir = tempfile::tempdir().unwrap();
    let err_path = dir.path().join("stderr");
    let (status, kib) = peak_rss::run(
        cmd.stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_path).unwrap()),
    );
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(status.success(), "{cmd:?}: {stderr}");
    (kib, stderr)
}

fn parse_written(stderr: &str) -> u64 {
    stderr
        .split(", ")
        .find_map(|p| {
            p.strip_suffix(" KiB of data")
                .and_then(|n| n.parse::<u64>().ok())
        })
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}

/// (volume offset, path on volume, host copy) for every file of the reference image.
fn extract(img: &Path, d: &Path) -> Vec<(&'static str, String, PathBuf)> {
    let mut out = Vec::new();
    for (offset, path) in [
        ("1M", "EFI/BOOT/BOOTX64.EFI"),
        ("1M", "autoexec.ipxe"),
        ("1M", "mkstick/oem.cpio"),
        ("1M", "mkstick/manifest.json"),
        ("257M", "k3s_env"),
        ("257M", "logexport_env"),
        ("257M", "heartbeat_env"),
        ("257M", "namecheap_ddns_env"),
        ("257M", "k3s_release"),
    ] {
        let host = d.join(path.replace('/', "_"));
        mtool(
            "mcopy",
            &[
                "-o",
                "-i",
                &format!("{}@@{offset}", img.display()),
                &format!("::/{path}"),
                host.to_str().unwrap(),
            ],
        );
        out.push((offset, path.to_string(), host));
    }
    out
}

fn mtool(name: &str, args: &[&str]) {
    let st = Command::new(name)
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(args)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

/// The seed-style pipeline, as boot-chain.md measured it (no root).
fn shell_pipeline(img: &Path, files: &[(&str, String, PathBuf)]) {
    let i = img.to_str().unwrap();
    let sh = |prog: &str, args: &[&str]| {
        let st = Command::new(prog).args(args).output().unwrap();
        assert!(
            st.status.success(),
            "{prog} {args:?}: {}",
            String::from_utf8_lossy(&st.stderr)
        );
    };
    sh("truncate", &["-s", "274M", i]);
    sh(
        "sgdisk",
        &[
            "-n",
            "1:2048:+256M",
            "-t",
            "1:ef00",
            "-c",
            "1:esp",
            "-n",
            "2:0:+16M",
            "-t",
            "2:8300",
            "-c",
            "2:secrets",
            i,
        ],
    );
    sh(
        "mkfs.vfat",
        &[
            "-F", "32", "-s", "4", "-n", "MKSTICK", "--offset", "2048", "-h", "2048", i, "262144",
        ],
    );
    sh(
        "mkfs.vfat",
        &[
            "-F", "16", "-n", "SECRETS", "--offset", "526336", "-h", "526336", i, "16384",
        ],
    );
    for dir in ["EFI", "EFI/BOOT", "mkstick"] {
        mtool("mmd", &["-i", &format!("{i}@@1M"), &format!("::/{dir}")]);
    }
    for (offset, path, host) in files {
        mtool(
            "mcopy",
            &[
                "-i",
                &format!("{i}@@{offset}"),
                host.to_str().unwrap(),
                &format!("::/{path}"),
            ],
        );
    }
}
