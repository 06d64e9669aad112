//! `mkstick ignite` speed, as ratios against baselines measured in the same run.
//!
//!   cargo bench --bench ignite
//!
//! 1. Whole process on a 2 KB everyday config vs. the process-start floor
//!    (`/bin/true`). Target: under 2 ms (ct: ~10.6 ms, butane: ~15.6 ms).
//! 2. Throughput on a generated 10,000-file config, whole process and
//!    in-process. Target: at least 50 MB/s of YAML. The YAML parse alone
//!    (granit-parser building our span tree) is timed too: it is the ceiling.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mkstick::ignite::{Options, transpile_str};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median wall time of `runs` runs of a command (after warm-up runs).
fn time_process(runs: usize, program: &str, args: &[&str]) -> Duration {
    let run = || {
        let t = Instant::now();
        let status = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("spawn");
        assert!(status.success(), "{program} {args:?} failed");
        t.elapsed()
    };
    for _ in 0..5 {
        run();
    }
    median((0..runs).map(|_| run()).collect())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The text of generated file `i`.
fn file_body(i: usize) -> String {
    format!("# generated file {i}\nkey_{i}=value-{i}\nother=setting with spaces and = signs\n")
}

/// A Butane config with `n` small inline files, a unit per 100 files.
fn large_config(n: usize) -> String {
    let mut s = String::from("variant: flatcar\nversion: 1.0.0\nstorage:\n  files:\n");
    for i in 0..n {
        s.push_str(&format!(
            "    - path: /etc/generated/dir{}/file{i}.conf\n      mode: 0644\n      contents:\n        inline: |\n",
            i % 100
        ));
        for line in file_body(i).lines() {
            s.push_str("          ");
            s.push_str(line);
            s.push('\n');
        }
    }
    s.push_str("systemd:\n  units:\n");
    for i in 0..n / 100 {
        s.push_str(&format!(
            "    - name: gen{i}.service\n      contents: |\n        [Service]\n        ExecStart=/bin/true {i}\n"
        ));
    }
    s
}

fn main() {
    let exe = env!("CARGO_BIN_EXE_mkstick");
    let small = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ignite-2k.yml");
    let small = small.to_str().expect("utf-8 path");
    let size = std::fs::metadata(small).map(|m| m.len()).unwrap_or(0);

    let floor = time_process(200, "/bin/true", &[]);
    let ignite = time_process(200, exe, &["ignite", small]);
    println!("whole process, {size}-byte config, median of 200 runs:");
    println!("  /bin/true (floor)   {:7.3} ms", ms(floor));
    println!(
        "  mkstick ignite      {:7.3} ms  = {:.2}x the floor, {:+.3} ms over it (target < 2 ms: {})",
        ms(ignite),
        ignite.as_secs_f64() / floor.as_secs_f64(),
        ms(ignite) - ms(floor),
        if ignite < Duration::from_millis(2) {
            "met"
        } else {
            "MISSED"
        }
    );

    let yaml = large_config(10_000);
    let mb = yaml.len() as f64 / 1e6;
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("large.yml");
    std::fs::write(&big, &yaml).expect("write large config");
    let big = big.to_str().expect("utf-8 path");
    let whole = time_process(7, exe, &["ignite", "--compact", big]);
    let opts = Options {
        pretty: false,
        ..Options::default()
    };
    let inproc = median(
        (0..7)
            .map(|_| {
                let t = Instant::now();
                let out =
                    transpile_str(&yaml, "large.yml", &opts).expect("large config transpiles");
                std::hint::black_box(out);
                t.elapsed()
            })
            .collect(),
    );
    // The YAML parser alone bounds what any transpile of this input can do.
    let parse_only = median(
        (0..7)
            .map(|_| {
                let t = Instant::now();
                let tree = mkstick::ignite::yaml::parse(&yaml).expect("large config parses");
                std::hint::black_box(tree);
                t.elapsed()
            })
            .collect(),
    );
    // Butane's data-URL rule compresses every file once to compare lengths;
    // this is that work alone, on the same 10,000 file bodies.
    let bodies: Vec<String> = (0..10_000).map(file_body).collect();
    let gzip_trials = median(
        (0..7)
            .map(|_| {
                let t = Instant::now();
                for b in &bodies {
                    std::hint::black_box(mkstick::ignite::dataurl::shortest(b.as_bytes(), None));
                }
                t.elapsed()
            })
            .collect(),
    );
    println!("10,000 files, {mb:.2} MB of YAML, median of 7 runs:");
    for (what, d) in [
        ("whole process", whole),
        ("in-process", inproc),
        ("YAML tree only", parse_only),
        ("data URLs only", gzip_trials),
    ] {
        let rate = mb / d.as_secs_f64();
        println!(
            "  {what:<14} {:8.1} ms  {rate:6.1} MB/s  ({:.1}x the 50 MB/s target)",
            ms(d),
            rate / 50.0
        );
    }
}
