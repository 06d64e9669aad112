//! The code shape of DESIGN.md, enforced: imports between top-level modules
//! go one way, and only `cli`, `commands` and `main` know the command line.
//!
//! Reads every `crate::…` path in non-test code under `src/` (and
//! `mkstick::…` in `main.rs`), grouped by top-level module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules allowed to name `cli`: the command line is theirs.
const CLI_USERS: [&str; 3] = ["cli", "commands", "main"];

type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// module → module it imports → files that do.
fn graph(src: &Path) -> Graph {
    let mut graph = Graph::new();
    for file in rust_files(src) {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let prefix = if module == "main" {
            "mkstick::"
        } else {
            "crate::"
        };
        for target in references(&non_test_code(&text), prefix) {
            if target != module {
                graph
                    .entry(module.clone())
                    .or_default()
                    .entry(target)
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    graph
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The file without comments and without its `#[cfg(test)]` items (unit
/// tests may reach anywhere; the shape is about the shipped code).
fn non_test_code(text: &str) -> String {
    let mut out = String::new();
    let mut skip_depth: Option<i64> = None;
    let mut depth = 0i64;
    let mut pending_cfg_test = false;
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let trimmed = code.trim();
        if skip_depth.is_none() && trimmed == "#[cfg(test)]" {
            pending_cfg_test = true;
            continue;
        }
        let opens = code.matches('{').count() as i64;
        let closes = code.matches('}').count() as i64;
        if pending_cfg_test {
            pending_cfg_test = false;
            if opens > closes {
                skip_depth = Some(depth);
                depth += opens - closes;
                continue;
            }
            // A one-line item (`#[cfg(test)] use …;`): skip just it.
            continue;
        }
        depth += opens - closes;
        if let Some(d) = skip_depth {
            if depth <= d {
                skip_depth = None;
            }
            continue;
        }
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// Top-level modules named after `prefix` (`crate::x`, `crate::{x, y::z}`).
fn references(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices(prefix) {
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names in the group: those at brace depth 0.
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && (c.is_ascii_alphabetic() || c == '_') => {
                        start = false;
                        out.insert(ident(&group[i..]));
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// Every rule the graph breaks, as sentences naming the files.
fn violations(graph: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    for (from, targets) in graph {
        for (to, files) in targets {
            if from < to
                && let Some(back) = graph.get(to).and_then(|t| t.get(from))
            {
                out.push(format!(
                    "two-way import: {from} → {to} ({}) and {to} → {from} ({}); move the shared \
                     part into `model` or the earlier stage",
                    join(files),
                    join(back)
                ));
            }
            if to == "cli" && !CLI_USERS.contains(&from.as_str()) {
                out.push(format!(
                    "{from} imports cli ({}): only {} may; take typed values (model, resolve) instead",
                    join(files),
                    CLI_USERS.join(", ")
                ));
            }
        }
    }
    out
}

fn join(files: &BTreeSet<String>) -> String {
    files.iter().cloned().collect::<Vec<_>>().join(", ")
}

#[test]
fn imports_between_top_level_modules_go_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    // The reader must see the crate, or the test proves nothing.
    assert!(
        graph
            .get("commands")
            .is_some_and(|t| t.contains_key("plan"))
    );
    assert!(graph.get("main").is_some_and(|t| t.contains_key("cli")));
    let problems = violations(&graph);
    assert!(problems.is_empty(), "\n  - {}", problems.join("\n  - "));
}

#[test]
fn the_checker_sees_what_it_must() {
    let code = non_test_code(
        "use crate::{model::x, plan::{a, b}};\n\
         // crate::comment\n\
         fn f() { crate::target::write(); }\n\
         #[cfg(test)]\n\
         mod tests {\n    use crate::cli::Cli;\n}\n\
         #[cfg(test)]\n\
         use crate::qemu;\n",
    );
    let found: Vec<String> = references(&code, "crate::").into_iter().collect();
    assert_eq!(found, ["model", "plan", "target"]);

    let mut g = Graph::new();
    let edge = |g: &mut Graph, a: &str, b: &str| {
        g.entry(a.into())
            .or_default()
            .entry(b.into())
            .or_default()
            .insert(format!("src/{a}.rs"));
    };
    edge(&mut g, "plan", "image");
    edge(&mut g, "image", "plan");
    edge(&mut g, "qemu", "cli");
    edge(&mut g, "commands", "cli");
    let v = violations(&g);
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v[0].starts_with("two-way import: image → plan"), "{v:?}");
    assert!(v[1].starts_with("qemu imports cli"), "{v:?}");
}
