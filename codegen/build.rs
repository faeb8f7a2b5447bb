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
}

/// Writes the snapshots whose names end in `suffix` as modules into `OUT_DIR/file`, each
/// under the attribute `attr`.
fn modules(dir: &Path, suffix: &str, file: &str, attr: &str) {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/snapshots exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.to_string_lossy().ends_with(suffix))
        .collect();
    names.sort();
    let mut out = String::new();
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
        let module = stem.trim_start_matches("fixtures__");
        writeln!(out, "{attr}\npub mod {module} {{\n{body}\n}}").unwrap();
    }
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&out_dir).join(file), out).unwrap();
}
