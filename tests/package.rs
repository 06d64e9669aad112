//! Installing mkstick like any other tool: shell completions and man pages
//! checked by the real shells and `man`, `--version` naming the commit, and
//! the Debian package built by `scripts/package`, listed by `dpkg-deb`,
//! checked by `lintian`, and run from an unpacked copy. All the tools come
//! from `scripts/setup`.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs a command to completion; a missing tool is a failure that names the
/// fix.
fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| {
        panic!("{cmd:?}: {e} (scripts/setup installs the test tools)");
    })
}

/// Runs a command that must succeed; its stdout.
fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn mkstick(args: &[&str]) -> String {
    ok(support::bin::mkstick().args(args))
}

/// Every subcommand as its path (`["cluster", "build"]`), nested ones
/// included, from the "Commands" sections of `--help`.
fn subcommands() -> Vec<Vec<String>> {
    fn below(path: &[String]) -> Vec<Vec<String>> {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = mkstick(&args);
        let Some(section) = help.split("\nCommands:\n").nth(1) else {
            return Vec::new();
        };
        let names: Vec<String> = section
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|name| *name != "help")
            .map(str::to_owned)
            .collect();
        let mut all = Vec::new();
        for name in names {
            let mut sub = path.to_vec();
            sub.push(name);
            let nested = below(&sub);
            all.push(sub);
            all.extend(nested);
        }
        all
    }
    let names = below(&[]);
    assert!(names.len() >= 5, "too few subcommands: {names:?}");
    names
}

/// A subcommand's man page name without `.1`: `mkstick-cluster-build`.
fn page_name(path: &[String]) -> String {
    format!("mkstick-{}", path.join("-"))
}

/// The long options `--help` shows, e.g. `--image`.
fn long_options(help: &str) -> BTreeSet<String> {
    help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.len() > 2 && w.starts_with("--") && !w.starts_with("---"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn completion_scripts_parse_in_their_shells() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, check) in [
        ("bash", vec!["bash", "-n"]),
        ("zsh", vec!["zsh", "-n"]),
        ("fish", vec!["fish", "--no-execute"]),
    ] {
        let script = mkstick(&["completions", shell]);
        assert!(script.contains("mkstick"), "{shell}: {script}");
        let path = dir.path().join(format!("mkstick.{shell}"));
        std::fs::write(&path, &script).unwrap();
        let out = run(Command::new(check[0]).args(&check[1..]).arg(&path));
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{shell} rejects the completion script: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Elvish's `edit:` module exists only in its interactive editor: run the
    // script in a namespace that stands in for it, then ask the completer.
    let elvish = dir.path().join("mkstick.elv");
    std::fs::write(&elvish, mkstick(&["completions", "elvish"])).unwrap();
    let words = ok(Command::new("elvish").arg("-c").arg(format!(
        "var code = (slurp < '{}'); var c = (ns [&arg-completer=[&]]); \
         var e = (ns [&completion:=$c &complex-candidate~={{|text &display=''| put $text}}]); \
         var n = (ns [&edit:=$e]); eval &ns=$n &on-end={{|m| set n = $m }} $code; \
         $n[edit:][completion:][arg-completer][mkstick] mkstick ''",
        elvish.display()
    )));
    assert!(
        words.lines().any(|w| w.ends_with("inspect")),
        "elvish: {words}"
    );
    // PowerShell is not packaged for Debian: the script is at least produced.
    let ps = mkstick(&["completions", "powershell"]);
    assert!(ps.contains("Register-ArgumentCompleter"), "{ps}");
    // An unknown shell is refused with the list of known ones.
    let out = run(support::bin::mkstick().args(["completions", "tcsh"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values: bash"));
}

#[test]
fn bash_and_fish_complete_subcommands_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let bash = dir.path().join("mkstick.bash");
    std::fs::write(&bash, mkstick(&["completions", "bash"])).unwrap();
    let reply = |words: &str| {
        ok(Command::new("bash").arg("-c").arg(format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _mkstick mkstick \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            bash.display()
        )))
    };
    let words = reply("mkstick ins");
    assert!(words.lines().any(|w| w == "inspect"), "bash: {words}");
    let words = reply("mkstick qemu-test --sm");
    assert!(words.lines().any(|w| w == "--smoke"), "bash: {words}");

    let fish = dir.path().join("mkstick.fish");
    std::fs::write(&fish, mkstick(&["completions", "fish"])).unwrap();
    let words = ok(Command::new("fish")
        .arg("--no-config")
        .arg("-c")
        .arg(format!(
            "source {}; complete -C 'mkstick ign'",
            fish.display()
        )));
    assert!(
        words.lines().any(|w| w.starts_with("ignite")),
        "fish: {words}"
    );
}

#[test]
fn man_pages_cover_every_subcommand_and_option_and_render_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    mkstick(&["man", dir.path().to_str().unwrap()]);
    let paths = subcommands();
    let mut want: BTreeSet<String> = paths.iter().map(|p| page_name(p) + ".1").collect();
    want.insert("mkstick.1".into());
    let have: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(have, want, "one page for mkstick and each subcommand");

    // Without DIR: the top page on stdout, the same as the file.
    let stdout = mkstick(&["man"]);
    assert_eq!(
        stdout,
        std::fs::read_to_string(dir.path().join("mkstick.1")).unwrap()
    );

    for page in &want {
        let path = dir.path().join(page);
        let out = run(Command::new("man")
            .args(["--warnings", "-l"])
            .arg(&path)
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "")
            .env_remove("MANPAGER")
            .env("PAGER", "cat"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "man -l {page}: {stderr}"
        );
        let text = String::from_utf8(out.stdout).unwrap();
        // The page documents what --help documents.
        let name = page.trim_end_matches(".1");
        let help = match paths.iter().find(|p| page_name(p) == name) {
            Some(path) => {
                let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
                args.push("--help");
                mkstick(&args)
            }
            None => mkstick(&["--help"]),
        };
        let text_plain = text.replace(['\u{2010}', '\u{2212}'], "-");
        for option in long_options(&help) {
            assert!(
                text_plain.contains(&option),
                "{page} lacks {option}, which `--help` shows"
            );
        }
    }
}

#[test]
fn version_names_the_commit_of_a_checkout() {
    let version = mkstick(&["--version"]);
    let rev = Command::new("git")
        .args(["-C", ROOT, "rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_owned());
    let plain = format!("mkstick {}", env!("CARGO_PKG_VERSION"));
    match rev {
        Some(rev) => assert_eq!(version.trim(), format!("{plain} ({rev})")),
        None => assert_eq!(version.trim(), plain),
    }
}

/// The files the package must hold (besides directories).
const PACKAGE_FILES: &[&str] = &[
    "./usr/bin/mkstick",
    "./usr/share/doc/mkstick/README.md",
    "./usr/share/doc/mkstick/copyright",
    "./usr/share/doc/mkstick/changelog.gz",
    "./usr/share/bash-completion/completions/mkstick",
    "./usr/share/zsh/vendor-completions/_mkstick",
    "./usr/share/fish/vendor_completions.d/mkstick.fish",
];

/// Lintian warnings we keep, each for a reason (none so far).
const LINTIAN_KEPT: &[&str] = &[];

#[test]
fn debian_changelog_names_this_version() {
    // A version bump needs a changelog entry, or the package lies about it.
    let changelog = std::fs::read_to_string(Path::new(ROOT).join("debian/changelog")).unwrap();
    let top = changelog.lines().next().unwrap_or_default();
    assert!(
        top.starts_with(&format!("mkstick ({}) ", env!("CARGO_PKG_VERSION"))),
        "debian/changelog:1 is `{top}`: add an entry for {} at the top",
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn debian_package_builds_lints_and_runs() {
    let deb = PathBuf::from(
        ok(&mut Command::new(Path::new(ROOT).join("scripts/package")))
            .lines()
            .last()
            .expect("scripts/package prints the .deb path")
            .to_owned(),
    );
    let arch = ok(Command::new("dpkg").arg("--print-architecture"));
    assert_eq!(
        deb.file_name().unwrap().to_str().unwrap(),
        format!("mkstick_{}_{}.deb", env!("CARGO_PKG_VERSION"), arch.trim())
    );

    // Contents: the binary, docs, completions, and one man page per command.
    let listing = ok(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    let files: BTreeSet<&str> = listing
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().nth(5))
        .collect();
    for want in PACKAGE_FILES {
        assert!(files.contains(want), "{want} missing from:\n{listing}");
    }
    let mut pages = vec!["mkstick".to_owned()];
    pages.extend(subcommands().iter().map(|p| page_name(p)));
    for page in pages {
        let path = format!("./usr/share/man/man1/{page}.1.gz");
        assert!(files.contains(path.as_str()), "{path} missing:\n{listing}");
    }
    let binary = listing
        .lines()
        .find(|l| l.ends_with(" ./usr/bin/mkstick"))
        .unwrap();
    assert!(binary.starts_with("-rwxr-xr-x 0/0 "), "{binary}");

    // Control: dependencies computed from the binary, and the run-time helpers.
    let field = |name: &str| ok(Command::new("dpkg-deb").args(["-f"]).arg(&deb).arg(name));
    assert!(field("Depends").contains("libc6"), "{}", field("Depends"));
    assert!(field("Recommends").contains("ipxe"));
    let suggests = field("Suggests");
    assert!(suggests.contains("qemu-system-x86") && suggests.contains("ovmf"));

    // Lintian: no errors, and only the warnings listed above.
    let out = run(Command::new("lintian")
        .args(["--no-tag-display-limit", "--display-info"])
        .arg(&deb));
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    for line in report.lines() {
        let (kind, rest) = line.split_once(": ").unwrap_or(("", line));
        match kind {
            "E" => panic!("lintian error: {line}\n{report}"),
            "W" => {
                let tag = rest.split_whitespace().nth(1).unwrap_or_default();
                assert!(
                    LINTIAN_KEPT.contains(&tag),
                    "lintian warning not on the kept list: {line}\n{report}"
                );
            }
            _ => {}
        }
    }

    // The packaged binary runs from an unpacked copy and names its version.
    let unpacked = tempfile::tempdir().unwrap();
    ok(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(unpacked.path()));
    let version = ok(Command::new(unpacked.path().join("usr/bin/mkstick")).arg("--version"));
    assert!(
        version.starts_with(&format!("mkstick {}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
}
