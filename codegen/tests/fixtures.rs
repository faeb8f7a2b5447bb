//! Snapshot tests of both generators over fixture specs: the Dream spec and real specs from
//! the `@readme/oas-examples` package. A spec a generator cannot handle must produce an error
//! naming what and where, never a panic; that error is snapshotted too.

use std::path::Path;

fn fixture(name: &str) -> openapiv3::OpenAPI {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    dreamgen::parse_spec(&text).expect("fixture parses")
}

fn outcome(result: Result<String, dreamgen::GenError>) -> String {
    match result {
        Ok(code) => code,
        Err(e) => format!("error: {e}\n"),
    }
}

macro_rules! fixture_snapshots {
    ($($test:ident => $file:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                let spec = fixture($file);
                insta::assert_snapshot!(
                    concat!(stringify!($test), "_axum"),
                    outcome(dreamgen::axum_stubs::generate(&spec, $file))
                );
                insta::assert_snapshot!(
                    concat!(stringify!($test), "_rust_client"),
                    outcome(dreamgen::rust_client::generate(&spec, $file))
                );
            }
        )*
    };
}

fixture_snapshots! {
    petstore_expanded => "petstore-expanded.yaml",
    discriminators => "discriminators.yaml",
    polymorphism => "polymorphism.yaml",
    schema_enums => "schema-enums.yaml",
    parameters_style => "parameters-style.yaml",
}

/// The Dream spec's outputs are the checked-in files; this proves they are reproduced byte
/// for byte (the same check `dreamgen check` runs).
#[test]
fn dream_spec_output_matches_the_checked_in_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let outputs = dreamgen::outputs(&root).expect("the Dream spec generates");
    let problems = dreamgen::check(&root, &outputs);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn specs_other_than_openapi_3_0_are_refused_with_a_pointer() {
    let err = dreamgen::parse_spec("openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported at /openapi: OpenAPI version \"3.1.0\"; only 3.0.x is supported"
    );
}
