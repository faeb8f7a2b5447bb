//! Turns every successful axum-stub and Rust-client snapshot in `tests/snapshots/` into a
//! module of one file in `OUT_DIR` each (`fixture_stubs.rs`, `fixture_clients.rs`), so that
//! `tests/generated_code_compiles.rs` compiles exactly the code the snapshots approve.
//! Snapshots that record an error are skipped.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new("tests/snapshots");
    println!("cargo::rerun-if-changed={}", dir.display());
    // The stubs bind no unused variable: rustc's unused-variable analysis costs time per
    // such binding in proportion to the whole crate, even where the lint is allowed.
    modules(
        dir,
        "_axum.snap",
        "fixture_stubs.rs",
        "#[deny(unused_variables)]",
    );
    modules(dir, "_rust_client.snap", "fixture_clients.rs", "");
    workspaces(
        dir,
        "_crates.snap",
        "fixture_crates.rs",
        "#[deny(unused_variables)]",
    );
}

/// The body of every snapshot in `dir` whose name ends in `suffix` and is not an error, with
/// its module name, in name order.
fn snapshots(dir: &Path, suffix: &str) -> Vec<(String, String)> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/snapshots exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.to_string_lossy().ends_with(suffix))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for path in names {
        let text = std::fs::read_to_string(&path).expect("readable snapshot");
        // An insta snapshot is a `---` delimited header followed by the body.
        let body = text
            .splitn(3, "---\n")
            .nth(2)
            .expect("insta snapshot header");
        if body.starts_with("error:") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_string_lossy();
        let module = stem.trim_start_matches("fixtures__").to_string();
        out.push((module, body.to_string()));
    }
    out
}

/// Writes the snapshots whose names end in `suffix` as modules into `OUT_DIR/file`, each
/// under the attribute `attr`.
fn modules(dir: &Path, suffix: &str, file: &str, attr: &str) {
    let mut out = String::new();
    for (module, body) in snapshots(dir, suffix) {
        writeln!(out, "{attr}\npub mod {module} {{\n{body}\n}}").unwrap();
    }
    write(file, out);
}

/// Writes each workspace snapshot (its files, each after a `// ---- file: PATH ----` line)
/// as one module: the top crate's `src/lib.rs` is the module's body, and each crate under
/// `crates/` a module inside it named after the crate; a path that starts at another crate
/// (`tags_api::Api`) starts at that module instead (`crate::tags_crates::tags_api::Api`).
fn workspaces(dir: &Path, suffix: &str, file: &str, attr: &str) {
    let mut out = String::new();
    for (module, body) in snapshots(dir, suffix) {
        let mut files: Vec<(&str, String)> = Vec::new();
        for line in body.lines() {
            if let Some(path) = line
                .strip_prefix("// ---- file: ")
                .and_then(|l| l.strip_suffix(" ----"))
            {
                files.push((path, String::new()));
            } else if let Some((_, text)) = files.last_mut() {
                text.push_str(line);
                text.push('\n');
            }
        }
        let crates: Vec<String> = files
            .iter()
            .filter_map(|(path, _)| {
                let name = path.strip_prefix("crates/")?.strip_suffix("/src/lib.rs")?;
                Some(name.replace('-', "_"))
            })
            .collect();
        let rooted = |text: &str| {
            let mut text = text.to_string();
            for name in &crates {
                text = root_paths(&text, name, &format!("crate::{module}::{name}"));
            }
            text
        };
        let top = files
            .iter()
            .find(|(path, _)| *path == "src/lib.rs")
            .map(|(_, text)| rooted(text))
            .expect("a workspace snapshot has src/lib.rs");
        writeln!(out, "{attr}\npub mod {module} {{\n{top}").unwrap();
        for (path, text) in &files {
            let Some(name) = path
                .strip_prefix("crates/")
                .and_then(|p| p.strip_suffix("/src/lib.rs"))
            else {
                continue;
            };
            let ident = name.replace('-', "_");
            writeln!(out, "pub mod {ident} {{\n{}\n}}", rooted(text)).unwrap();
        }
        writeln!(out, "}}").unwrap();
    }
    write(file, out);
}

/// `text` with every path that starts with the crate `name` (`name::…`, not `x::name::…` or
/// `other_name::…`) starting with `root` instead.
fn root_paths(text: &str, name: &str, root: &str) -> String {
    let pattern = format!("{name}::");
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(&pattern) {
        let before = rest[..at].chars().next_back();
        let starts_path = !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        out.push_str(&rest[..at]);
        if starts_path {
            out.push_str(root);
            out.push_str("::");
        } else {
            out.push_str(&pattern);
        }
        rest = &rest[at + pattern.len()..];
    }
    out.push_str(rest);
    out
}

fn write(file: &str, text: String) {
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&out_dir).join(file), text).unwrap();
}
