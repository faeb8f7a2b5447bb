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
        /// Derive both `Deserialize` and `Serialize` on every type (by default a type the
        /// server only reads is not `Serialize`, one it only writes is not `Deserialize`).
        #[arg(long)]
        all_derives: bool,
        /// How operations are grouped into traits: `one` (every operation in `Api`),
        /// `tag` (a trait per tag, each extending `Api`), or `auto` (one trait up to 1,000
        /// operations, a trait per tag above).
        #[arg(long, default_value = "auto", value_parser = ["auto", "one", "tag"])]
        traits: String,
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
        } => target(&spec, cli.strict, |spec| {
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
            dreamgen::axum_stubs::generate_lenient(spec, "the given spec", options)
        }),
    }
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
    let left_out: Vec<_> = loaded.skipped.iter().chain(&also).collect();
    for skip in &left_out {
        eprintln!("dreamgen: left out {skip}");
    }
    if strict && !left_out.is_empty() {
        eprintln!(
            "dreamgen: {} part(s) of the spec cannot be generated (--strict)",
            left_out.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    print!("{code}");
    Ok(ExitCode::SUCCESS)
}
