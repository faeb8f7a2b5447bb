//! The layering ARCHITECTURE.md promises, checked on the source itself: layers call downwards
//! only, the HTTP layer and the dashboard never name the store, and no hand-written file
//! grows past what one reader can hold.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "generated") {
                sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn files_under(folder: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    sources(&root.join(folder), &mut paths);
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable source");
            (p.strip_prefix(&root).unwrap().display().to_string(), text)
        })
        .collect()
}

/// `(file, line)` of every line in `folder` that names one of `paths`.
fn naming(folder: &str, paths: &[&str]) -> Vec<String> {
    files_under(folder)
        .iter()
        .flat_map(|(file, text)| {
            text.lines()
                .enumerate()
                .filter(|(_, line)| paths.iter().any(|p| line.contains(p)))
                .map(move |(n, line)| format!("{file}:{}: {}", n + 1, line.trim()))
        })
        .collect()
}

#[test]
fn the_http_layer_and_the_dashboard_reach_data_only_through_the_app() {
    for folder in ["http", "dashboard"] {
        let found = naming(folder, &["store::", "sqlx::"]);
        assert!(
            found.is_empty(),
            "{folder}/ names the store:\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn lower_layers_never_import_upper_ones() {
    let rules: [(&str, &[&str]); 4] = [
        (
            "domain",
            &[
                "crate::store",
                "crate::app",
                "crate::http",
                "crate::serve",
                "crate::dashboard",
            ],
        ),
        (
            "store",
            &[
                "crate::app",
                "crate::http",
                "crate::serve",
                "crate::dashboard",
            ],
        ),
        ("app", &["crate::http", "crate::serve", "crate::dashboard"]),
        ("http", &["crate::serve", "crate::dashboard"]),
    ];
    for (folder, upper) in rules {
        let found = naming(folder, upper);
        assert!(
            found.is_empty(),
            "{folder}/ imports a layer above it:\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn no_hand_written_source_file_is_over_600_lines() {
    let long: Vec<String> = files_under("")
        .into_iter()
        .filter(|(_, text)| text.lines().count() > 600)
        .map(|(file, text)| format!("{file}: {} lines", text.lines().count()))
        .collect();
    assert!(
        long.is_empty(),
        "split these by resource:\n{}",
        long.join("\n")
    );
}
