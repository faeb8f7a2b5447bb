//! The `dreamgen` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "dreamgen",
    about = "Generates Dream API's code from its OpenAPI document"
)]
struct Cli {
    /// The workspace root.
    #[arg(long, default_value = ".", global = true)]
    root: PathBuf,
    /// Fail (exit 1) when any part of the given spec had to be left out, instead of
    /// generating the rest and listing what was left out on stderr.
    #[arg(long, global = true)]
    strict: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Regenerate every checked-in file from the spec.
    Generate,
    /// Fail with a diff when any checked-in generated file differs from the spec's output.
    Check,
    /// Print the Rust client generated from any OpenAPI 3.0 or 3.1 document.
    RustClient { spec: PathBuf },
    /// Print the axum server stubs generated from any OpenAPI 3.0 or 3.1 document.
    Axum {
        spec: PathBuf,
        /// Derive `Deserialize` on every type (by default only on the types the server
        /// reads; all are `Serialize`), and `Debug` and `Clone` on requests and responses (by
        /// default they derive nothing: the router needs neither, and on the largest
        /// documents they are a quarter of `cargo check`).
        #[arg(long)]
        all_derives: bool,
        /// How operations are grouped into traits: `one` (every operation in `Api`),
        /// `tag` (a trait per tag, each extending `Api`), or `auto` (one trait up to 1,000
        /// operations, a trait per tag above).
        #[arg(long, default_value = "auto", value_parser = ["auto", "one", "tag"])]
        traits: String,
        /// Write a crate into this directory instead of printing one module: its
        /// `Cargo.toml` and `src/lib.rs`, or, when the operations are split into traits, a
        /// workspace whose crates `cargo` checks in parallel (the types, the operations in
        /// groups of whole traits, and a top crate re-exporting them with the `router`).
        /// The package is named after the directory.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// With `--out`, the most operations one crate of the workspace holds (a trait
        /// larger than that is a crate of its own).
        #[arg(long, default_value_t = dreamgen::crates::OPS_PER_CRATE, value_name = "N")]
        ops_per_crate: usize,
    },
    /// Print the TypeScript client generated from any OpenAPI 3.0 or 3.1 document.
    Typescript { spec: PathBuf },
    /// Print the HTML API reference generated from any OpenAPI 3.0 or 3.1 document.
    Docs { spec: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dreamgen: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, dreamgen::GenError> {
    match cli.command {
        Command::Generate => {
            for output in dreamgen::outputs(&cli.root)? {
                let path = cli.root.join(&output.path);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        dreamgen::GenError::Parse(format!("{}: {e}", parent.display()))
                    })?;
                }
                std::fs::write(&path, &output.content)
                    .map_err(|e| dreamgen::GenError::Parse(format!("{}: {e}", path.display())))?;
                println!("wrote {}", output.path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            let outputs = dreamgen::outputs(&cli.root)?;
            let problems = dreamgen::check(&cli.root, &outputs);
            if problems.is_empty() {
                println!(
                    "dreamgen check: {} generated files match the spec",
                    outputs.len()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                for p in &problems {
                    println!("{p}");
                }
                eprintln!(
                    "dreamgen check: {} generated file(s) differ from the spec; run `cargo run -p dreamgen -- generate`",
                    problems.len()
                );
                Ok(ExitCode::FAILURE)
            }
        }
        Command::RustClient { spec } => target(&spec, cli.strict, |spec| {
            dreamgen::rust_client::generate_lenient(spec, "the given spec")
        }),
        Command::Docs { spec } => target(&spec, cli.strict, |spec| {
            dreamgen::docs::generate(spec).map(|code| (code, Vec::new()))
        }),
        Command::Typescript { spec } => target(&spec, cli.strict, |spec| {
            dreamgen::typescript::generate_lenient(spec, "the given spec")
        }),
        Command::Axum {
            spec,
            all_derives,
            traits,
            out,
            ops_per_crate,
        } => {
            let options = dreamgen::axum_stubs::Options {
                derives: if all_derives {
                    dreamgen::derives::Derives::All
                } else {
                    dreamgen::derives::Derives::AsUsed
                },
                traits: match traits.as_str() {
                    "one" => dreamgen::traits::Traits::One,
                    "tag" => dreamgen::traits::Traits::PerTag,
                    _ => dreamgen::traits::Traits::Auto,
                },
            };
            match out {
                None => target(&spec, cli.strict, |spec| {
                    dreamgen::axum_stubs::generate_lenient(spec, "the given spec", options)
                }),
                Some(dir) => crates(&spec, &dir, cli.strict, options, ops_per_crate),
            }
        }
    }
}

/// Reads `path` and writes its axum stubs as a crate (or a workspace) into `dir`, replacing
/// the crates an earlier run generated there.
fn crates(
    path: &std::path::Path,
    dir: &std::path::Path,
    strict: bool,
    options: dreamgen::axum_stubs::Options,
    ops_per_crate: usize,
) -> Result<ExitCode, dreamgen::GenError> {
    let io = |what: &std::path::Path, e: std::io::Error| {
        dreamgen::GenError::Parse(format!("{}: {e}", what.display()))
    };
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    let loaded = dreamgen::load::load(&text)?;
    let absolute = std::path::absolute(dir).map_err(|e| io(dir, e))?;
    let name = dreamgen::crates::package_name(
        &absolute
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let (files, also) = dreamgen::crates::generate(
        &loaded.spec,
        "the given spec",
        options,
        &name,
        ops_per_crate,
    )?;
    if !report_left_out(&loaded.skipped, &also, strict) {
        return Ok(ExitCode::FAILURE);
    }
    // Crates an earlier run wrote that this one does not (fewer groups, or one crate now).
    let crates_dir = dir.join("crates");
    if let Ok(entries) = std::fs::read_dir(&crates_dir) {
        for entry in entries.flatten() {
            let lib = entry.path().join("src/lib.rs");
            let generated = std::fs::read_to_string(&lib)
                .is_ok_and(|t| t.starts_with("// Generated by dreamgen"));
            let kept = files
                .iter()
                .any(|f| dir.join(&f.path).starts_with(entry.path()));
            if generated && !kept {
                std::fs::remove_dir_all(entry.path()).map_err(|e| io(&entry.path(), e))?;
            }
        }
    }
    let mut crates = 0;
    for file in &files {
        let target = dir.join(&file.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::write(&target, &file.content).map_err(|e| io(&target, e))?;
        crates += usize::from(file.path.ends_with("Cargo.toml"));
    }
    println!(
        "dreamgen: wrote the crate `{name}` to {} ({} crate(s), {} files)",
        dir.display(),
        crates,
        files.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads `path`, generates one target from it and prints it; what had to be left out (from
/// the document, or by this target) goes to stderr, one line each with its JSON pointer
/// (under `--strict`, it fails the run).
fn target(
    path: &std::path::Path,
    strict: bool,
    generate: impl FnOnce(
        &openapiv3::OpenAPI,
    ) -> Result<(String, Vec<dreamgen::load::Skip>), dreamgen::GenError>,
) -> Result<ExitCode, dreamgen::GenError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| dreamgen::GenError::Parse(format!("{}: {e}", path.display())))?;
    let loaded = dreamgen::load::load(&text)?;
    let (code, also) = generate(&loaded.spec)?;
    if !report_left_out(&loaded.skipped, &also, strict) {
        return Ok(ExitCode::FAILURE);
    }
    print!("{code}");
    Ok(ExitCode::SUCCESS)
}

/// Lists on stderr what was left out (from the document, then by the target); under
/// `--strict`, says the run fails and returns false.
fn report_left_out(
    skipped: &[dreamgen::load::Skip],
    also: &[dreamgen::load::Skip],
    strict: bool,
) -> bool {
    let left_out: Vec<_> = skipped.iter().chain(also).collect();
    for skip in &left_out {
        eprintln!("dreamgen: left out {skip}");
    }
    if strict && !left_out.is_empty() {
        eprintln!(
            "dreamgen: {} part(s) of the spec cannot be generated (--strict)",
            left_out.len()
        );
        return false;
    }
    true
}
