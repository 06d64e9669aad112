//! Property tests (proptest): `mkstick ignite` never panics, whatever the
//! input, every diagnostic points inside the source, and inline contents
//! survive the data-URL encoding byte for byte.
//!
//! More cases: `PROPTEST_CASES=20000 cargo test --release --test ignite_fuzz`.

use std::io::Read as _;
use std::path::PathBuf;

use mkstick::ignite::{Options, dataurl, transpile_str};
use proptest::prelude::*;

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ignite"
    ))
}

fn opts() -> Options {
    Options {
        files_dir: Some(fixtures().join("files")),
        ..Options::default()
    }
}

/// All fixture inputs, as seeds for mutation.
fn seeds() -> Vec<String> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "yml").then(|| {
                (
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, s)| s).collect()
}

/// Runs the transpiler and checks the invariants of its answer.
fn check(source: &str) {
    match transpile_str(source, "f.yml", &opts()) {
        Ok(out) => {
            serde_json::from_str::<serde_json::Value>(&out.json).expect("output is JSON");
        }
        Err(e) => {
            let text = e.to_string();
            assert!(
                e.errors + e.warnings > 0 || text.contains("error"),
                "rejection without a finding: {text}"
            );
            let lines = source.lines().count().max(1) as u32;
            for at in text
                .lines()
                .filter_map(|l| l.trim_start().strip_prefix("--> f.yml:"))
            {
                let line: u32 = at.split(':').next().unwrap().parse().unwrap();
                assert!(
                    line >= 1 && line <= lines + 1,
                    "position {at} outside a {lines}-line source"
                );
            }
        }
    }
}

const TOKENS: &[&str] = &[
    ":", "- ", "'", "\"", "\t", "{", "}", "[", "]", "&a ", "*a", "<<: *a", "0o7", "0x1ff", "\n  ",
    "\n", "#", "|", ">-", "!!str ", "~", "null", "true", "1e3", "..", "---\n", "? ", ",", "%",
    "\u{feff}", "é", "\\",
];

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, usize),
    DuplicateLine(usize),
    Indent(usize, bool),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(a, t)| Edit::Insert(a, t)),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<bool>()).prop_map(|(l, more)| Edit::Indent(l, more)),
    ]
}

fn apply(src: &str, edits: &[Edit]) -> String {
    let mut s = src.to_string();
    let at = |s: &str, i: usize| -> usize {
        if s.is_empty() {
            return 0;
        }
        let mut i = i % (s.len() + 1);
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    for e in edits {
        match *e {
            Edit::Delete(a, n) => {
                let start = at(&s, a);
                let end = at(&s, start + n);
                if end > start {
                    s.replace_range(start..end, "");
                }
            }
            Edit::Insert(a, t) => {
                let i = at(&s, a);
                s.insert_str(i, TOKENS[t]);
            }
            Edit::DuplicateLine(l) | Edit::Indent(l, _) => {
                let mut lines: Vec<String> = s.lines().map(str::to_string).collect();
                if lines.is_empty() {
                    continue;
                }
                let k = l % lines.len();
                match *e {
                    Edit::DuplicateLine(_) => lines.insert(k, lines[k].clone()),
                    Edit::Indent(_, true) => lines[k].insert(0, ' '),
                    _ => {
                        if lines[k].starts_with(' ') {
                            lines[k].remove(0);
                        }
                    }
                }
                s = lines.join("\n") + "\n";
            }
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,400}") {
        check(&src);
    }

    #[test]
    fn mutated_fixtures_never_panic(seed in any::<prop::sample::Index>(), edits in prop::collection::vec(edit(), 1..6)) {
        let seeds = seeds();
        let src = apply(seeds[seed.index(seeds.len())].as_str(), &edits);
        check(&src);
    }

    #[test]
    fn inline_contents_round_trip(text in "\\PC{0,300}", repeat in 1usize..20) {
        let body = text.repeat(repeat);
        // A YAML double-quoted scalar carries any text with these escapes.
        let quoted: String = body.chars().flat_map(|c| match c {
            '"' => "\\\"".chars().collect::<Vec<_>>(),
            '\\' => "\\\\".chars().collect(),
            c if c.is_control() => format!("\\u{:04x}", c as u32).chars().collect(),
            c => vec![c],
        }).collect();
        let yaml = format!("variant: flatcar\nversion: 1.1.0\nstorage:\n  files:\n    - path: /f\n      mode: 0644\n      contents:\n        inline: \"{quoted}\"\n");
        let out = transpile_str(&yaml, "f.yml", &Options { strict: false, ..opts() })
            .unwrap_or_else(|e| panic!("{e}"));
        let json: serde_json::Value = serde_json::from_str(&out.json).unwrap();
        let c = &json["storage"]["files"][0]["contents"];
        let mut data = dataurl::decode(c["source"].as_str().unwrap()).unwrap();
        if c["compression"] == "gzip" {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&data[..]).read_to_end(&mut plain).unwrap();
            data = plain;
        }
        prop_assert_eq!(String::from_utf8(data).unwrap(), body);
    }
}
