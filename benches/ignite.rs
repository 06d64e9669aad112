//! `mkstick ignite` speed, as ratios against baselines measured in the same run.
//!
//!   cargo bench --bench ignite
//!
//! 1. Whole process on a 2 KB everyday config vs. the process-start floor
//!    (`/bin/true`). Target: under 2 ms (ct: ~10.6 ms, butane: ~15.6 ms).
//!    The transpile alone (in-process, warm) shows how little of it is the
//!    work itself.
//! 2. Throughput on a generated 10,000-file config, whole process and
//!    in-process. Target: at least 50 MB/s of YAML. The YAML parse alone
//!    (granit-parser building our span tree) is timed too: it is the ceiling.
//!    The floor (YAML tree + Butane's gzip rule on every file) is printed as
//!    a fraction of the whole process.
//! 3. Hostile inputs: a billion-laughs bomb, 200,000 keys in one
//!    mapping, 200,000 unknown keys, 40,000 files: whole-process time and
//!    the peak RSS of a process that transpiles them, each large case also
//!    at a tenth of its size so that the ratio shows it stays linear (~10x).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mkstick::ignite::{Options, transpile_file, transpile_str};

/// Set in a re-executed bench process: transpile this file, report.
const RSS_CASE: &str = "MKSTICK_BENCH_IGNITE_RSS_CASE";

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

/// Median wall time of a command that may fail (hostile inputs are refused).
fn time_process_any(runs: usize, program: &str, args: &[&str]) -> (Duration, bool) {
    let mut ok = true;
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let status = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("spawn");
        times.push(t.elapsed());
        ok = status.success();
    }
    (median(times), ok)
}

/// The peak resident set of this process (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib / 1024.0
}

/// In a re-executed process: transpile `case` (`PATH` or `PATH --no-strict`)
/// and print the peak RSS before and after.
fn rss_child(case: &str) {
    let (path, no_strict) = match case.strip_suffix(" --no-strict") {
        Some(p) => (p, true),
        None => (case, false),
    };
    let before = peak_rss_mib();
    let opts = Options {
        strict: !no_strict,
        pretty: false,
        ..Options::default()
    };
    let out = transpile_file(Path::new(path), &opts);
    std::hint::black_box(&out);
    println!("{before} {}", peak_rss_mib());
}

/// Peak RSS (MiB) of a fresh process transpiling `case`, and its start-up part.
fn peak_rss(case: &str) -> (f64, f64) {
    let out = Command::new(std::env::current_exe().expect("bench exe"))
        .env(RSS_CASE, case)
        .output()
        .expect("re-run the bench");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
    let before = it.next().unwrap_or(f64::NAN);
    (it.next().unwrap_or(f64::NAN), before)
}

/// A 9-level billion-laughs bomb (10^9 strings if expanded).
fn billion_laughs() -> String {
    let mut y = String::from(
        "variant: flatcar\nversion: 1.0.0\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (i, c) in "bcdefghi".chars().enumerate() {
        let prev = (b'a' + i as u8) as char;
        let refs = vec![format!("*{prev}"); 9].join(",");
        y.push_str(&format!("{c}: &{c} [{refs}]\n"));
    }
    y
}

/// `n` keys in one mapping under an unknown top-level key (one warning).
fn wide_mapping(n: usize) -> String {
    let mut s = String::from("variant: flatcar\nversion: 1.0.0\nx-data:\n");
    for i in 0..n {
        s.push_str(&format!("  key{i}: value{i}\n"));
    }
    s
}

/// `n` unknown top-level keys: `n` findings, fatal in strict mode.
fn unknown_keys(n: usize) -> String {
    let mut s = String::from("variant: flatcar\nversion: 1.0.0\n");
    for i in 0..n {
        s.push_str(&format!("unknown{i}: {i}\n"));
    }
    s
}

fn hostile(exe: &str, floor: Duration, dir: &Path) {
    let cases: [(&str, String, bool); 7] = [
        ("billion laughs, 9 levels", billion_laughs(), false),
        ("20,000 keys, one map", wide_mapping(20_000), true),
        ("200,000 keys, one map", wide_mapping(200_000), true),
        ("20,000 unknown keys", unknown_keys(20_000), false),
        ("200,000 unknown keys", unknown_keys(200_000), false),
        ("4,000 files", large_config(4_000), false),
        ("40,000 files", large_config(40_000), false),
    ];
    println!("hostile inputs, whole process (median of 5) and peak RSS of one transpile:");
    println!("  /bin/true (floor)                  {:8.2} ms", ms(floor));
    let mut prev = None;
    for (i, (what, yaml, no_strict)) in cases.iter().enumerate() {
        let path = dir.join(format!("hostile{i}.yml"));
        std::fs::write(&path, yaml).expect("write hostile case");
        let path = path.to_str().expect("utf-8 path");
        let mut args = vec!["ignite", "--compact", path];
        if *no_strict {
            args.push("--no-strict");
        }
        let (t, ok) = time_process_any(5, exe, &args);
        let case = if *no_strict {
            format!("{path} --no-strict")
        } else {
            path.to_string()
        };
        let (rss, base) = peak_rss(&case);
        let scale = match prev {
            Some(p) if what.starts_with("200,000") || what.starts_with("40,000") => {
                format!("  {:5.1}x the tenth-size case", t.as_secs_f64() / p)
            }
            _ => String::new(),
        };
        println!(
            "  {what:<24} {:>9} B {:8.2} ms {:7.1} MiB peak ({:.1} at start) {}{scale}",
            yaml.len(),
            ms(t),
            rss,
            base,
            if ok { "accepted" } else { "refused " },
        );
        prev = Some(t.as_secs_f64());
    }
}

/// Section 1: the 2 KB config, whole process and in-process; returns the
/// floor (`/bin/true`) for the hostile cases.
fn everyday_config(exe: &str) -> Duration {
    let small = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ignite-2k.yml");
    let small = small.to_str().expect("utf-8 path");
    let size = std::fs::metadata(small).map(|m| m.len()).unwrap_or(0);

    let floor = time_process(200, "/bin/true", &[]);
    let ignite = time_process(200, exe, &["ignite", small]);
    // The transpile alone, warm, in this process: the rest of the whole
    // process is loading, start-up and the first touch of code and memory.
    let small_yaml = std::fs::read_to_string(small).expect("read the 2 KB config");
    let small_inproc = median(
        (0..1000)
            .map(|_| {
                let t = Instant::now();
                let out = transpile_str(&small_yaml, "ignite-2k.yml", &Options::default())
                    .expect("the 2 KB config transpiles");
                std::hint::black_box(out);
                t.elapsed()
            })
            .collect(),
    );
    println!("whole process, {size}-byte config, median of 200 runs:");
    println!("  /bin/true (floor)   {:7.3} ms", ms(floor));
    println!(
        "  transpile only      {:7.3} ms  (in-process and warm, median of 1000)",
        ms(small_inproc)
    );
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
    floor
}

fn main() {
    if let Ok(case) = std::env::var(RSS_CASE) {
        rss_child(&case);
        return;
    }
    let exe = env!("CARGO_BIN_EXE_mkstick");
    let floor = everyday_config(exe);

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
    let floor_10k = parse_only + gzip_trials;
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
    println!(
        "  in-run floor (YAML tree + data URLs) = {:.2} of the whole process",
        floor_10k.as_secs_f64() / whole.as_secs_f64()
    );
    hostile(exe, floor, dir.path());
}
