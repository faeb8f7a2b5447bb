//! Snapshot tests of the generators over fixture specs: the Dream spec and real specs from
//! the `@readme/oas-examples` package. What a spec holds that cannot be generated is left out
//! and listed with its pointer (snapshotted as `…_left_out`); a generator that fails must
//! produce an error naming what and where, never a panic; that error is snapshotted too.

use std::path::Path;

fn fixture(name: &str) -> dreamgen::load::Loaded {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    dreamgen::load::load(&text).expect("fixture loads")
}

fn left_out(loaded: &dreamgen::load::Loaded) -> String {
    loaded
        .skipped
        .iter()
        .map(|skip| format!("{skip}\n"))
        .collect()
}

/// The generated code, after a comment line for each part the target left out.
fn outcome(result: Result<(String, Vec<dreamgen::load::Skip>), dreamgen::GenError>) -> String {
    match result {
        Ok((code, skipped)) => {
            let mut out: String = skipped
                .iter()
                .map(|s| format!("// left out {s}\n"))
                .collect();
            out.push_str(&code);
            out
        }
        Err(e) => format!("error: {e}\n"),
    }
}

macro_rules! fixture_snapshots {
    ($($test:ident => $file:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                let loaded = fixture($file);
                let spec = loaded.spec.clone();
                insta::assert_snapshot!(
                    concat!(stringify!($test), "_left_out"),
                    left_out(&loaded)
                );
                insta::assert_snapshot!(
                    concat!(stringify!($test), "_axum"),
                    outcome(dreamgen::axum_stubs::generate_lenient(&spec, $file, Default::default()))
                );
                insta::assert_snapshot!(
                    concat!(stringify!($test), "_rust_client"),
                    outcome(dreamgen::rust_client::generate_lenient(&spec, $file))
                );
                insta::assert_snapshot!(
                    concat!(stringify!($test), "_typescript"),
                    outcome(dreamgen::typescript::generate_lenient(&spec, $file))
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
    raw_body => "raw-body.yaml",
    bodies => "bodies.yaml",
    names => "names.yaml",
    shared_types => "shared-types.yaml",
}

/// The stubs' options with a trait per tag.
fn by_tag() -> dreamgen::axum_stubs::Options {
    dreamgen::axum_stubs::Options {
        traits: dreamgen::traits::Traits::PerTag,
        ..Default::default()
    }
}

/// Grouped by tag (as the stubs of a document of more than 1,000 operations are), each
/// group is a trait extending `Api`, and the router needs them all. In the default grouping
/// this small document's operations stay in `Api`.
#[test]
fn tags_stubs_group_operations_by_tag() {
    let loaded = fixture("tags.yaml");
    insta::assert_snapshot!(
        "tags_axum",
        outcome(dreamgen::axum_stubs::generate_lenient(
            &loaded.spec,
            "tags.yaml",
            by_tag()
        ))
    );
    let (one, _) =
        dreamgen::axum_stubs::generate_lenient(&loaded.spec, "tags.yaml", Default::default())
            .expect("generates");
    assert!(one.contains("pub fn router<A: Api>("));
    assert!(!one.contains("UsersUserApi"));
}

/// With `--out`, a document whose operations are split into traits is a workspace: a types
/// crate, an `api` crate (the `Api` trait, the support code, the validators), crates of
/// whole groups with the types only they use (here at most two operations each, so that one
/// path is routed by two crates), and a top crate re-exporting them with the `router`. The snapshot
/// is compiled with each crate as a module, and served (`generated_code_compiles.rs`).
#[test]
fn tags_stubs_as_a_workspace_of_crates() {
    let loaded = fixture("tags.yaml");
    let (files, skipped) =
        dreamgen::crates::generate(&loaded.spec, "tags.yaml", by_tag(), "tags", 2)
            .expect("generates");
    assert!(skipped.is_empty(), "{skipped:?}");
    let paths: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
    assert_eq!(
        paths,
        [
            "Cargo.toml",
            "crates/tags-api/Cargo.toml",
            "crates/tags-api/src/lib.rs",
            "crates/tags-ops-01/Cargo.toml",
            "crates/tags-ops-01/src/lib.rs",
            "crates/tags-ops-02/Cargo.toml",
            "crates/tags-ops-02/src/lib.rs",
            "crates/tags-ops-03/Cargo.toml",
            "crates/tags-ops-03/src/lib.rs",
            "crates/tags-ops-04/Cargo.toml",
            "crates/tags-ops-04/src/lib.rs",
            "crates/tags-types/Cargo.toml",
            "crates/tags-types/src/lib.rs",
            "src/lib.rs",
        ]
    );
    let text: String = files
        .iter()
        .map(|f| format!("// ---- file: {} ----\n{}", f.path.display(), f.content))
        .collect();
    insta::assert_snapshot!("tags_crates", text);

    // Not split (up to 1,000 operations by default), it is one crate whose `src/lib.rs` is
    // the module the stubs print.
    let (files, _) =
        dreamgen::crates::generate(&loaded.spec, "tags.yaml", Default::default(), "tags", 2)
            .expect("generates");
    let (module, _) =
        dreamgen::axum_stubs::generate_lenient(&loaded.spec, "tags.yaml", Default::default())
            .expect("generates");
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].path.display().to_string(), "Cargo.toml");
    assert!(files[0].content.contains("name = \"tags\""));
    assert_eq!(files[1].content, module);
}

/// More paths than one router function adds: the router calls a function per 64 paths, each
/// bound by the traits of its own operations (compiled with the other snapshots).
#[test]
fn many_paths_stubs_route_in_functions_of_64_paths() {
    let loaded = fixture("many-paths.yaml");
    let code = outcome(dreamgen::axum_stubs::generate_lenient(
        &loaded.spec,
        "many-paths.yaml",
        by_tag(),
    ));
    assert!(code.contains("fn routes_0<A: Api + AlphaApi>("), "{code}");
    assert!(code.contains("fn routes_1<A: Api + GammaApi + BetaApi>("));
    insta::assert_snapshot!("many_paths_axum", code);
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
fn documents_other_than_openapi_3_are_refused_with_a_pointer() {
    let err = dreamgen::parse_spec("swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported at /openapi: a Swagger 2.0 document; convert it to OpenAPI 3 first"
    );
    let spec = dreamgen::parse_spec("openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n")
        .expect("3.1 is read");
    assert!(spec.paths.paths.is_empty());
}

/// Every TypeScript module the generator produces, for the Dream spec and each fixture it can
/// handle, type-checks under `tsc --strict` (plus `exactOptionalPropertyTypes` and
/// `noUncheckedIndexedAccess`). Needs the workspace's npm dependencies (`npm ci`).
#[test]
fn typescript_outputs_type_check_under_strict() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tsc = root.join("node_modules/.bin/tsc");
    assert!(
        tsc.exists(),
        "{} is missing: run `npm ci` at the workspace root",
        tsc.display()
    );
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("typescript-fixtures");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = vec![root.join("clients/typescript/src/generated/api.ts")];
    for name in [
        "petstore-expanded.yaml",
        "discriminators.yaml",
        "polymorphism.yaml",
        "schema-enums.yaml",
        "parameters-style.yaml",
        "raw-body.yaml",
        "bodies.yaml",
        "names.yaml",
    ] {
        if let Ok((code, _)) = dreamgen::typescript::generate_lenient(&fixture(name).spec, name) {
            let path = dir.join(name.replace(".yaml", ".ts"));
            std::fs::write(&path, code).unwrap();
            files.push(path);
        }
    }
    assert!(
        files.len() >= 4,
        "most fixtures generate TypeScript: {files:?}"
    );
    let output = std::process::Command::new(&tsc)
        .args([
            "--strict",
            "--exactOptionalPropertyTypes",
            "--noUncheckedIndexedAccess",
            "--noEmit",
            "--target",
            "ES2022",
            "--module",
            "ESNext",
            "--moduleResolution",
            "bundler",
            "--lib",
            "ES2022,DOM",
        ])
        .args(&files)
        .output()
        .expect("tsc runs");
    assert!(
        output.status.success(),
        "tsc --strict failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Generates the TypeScript client of a fixture (which must leave nothing out), bundles it
/// with esbuild and runs `script`, which imports it as `./api.mjs`, under Node; the JSON the
/// script prints. Needs the workspace's npm dependencies (`npm ci`).
fn run_typescript(name: &str, script: &str) -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name.trim_end_matches(".yaml"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let loaded = fixture(name);
    assert!(loaded.skipped.is_empty(), "{:?}", loaded.skipped);
    let (code, skipped) = dreamgen::typescript::generate_lenient(&loaded.spec, name).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    std::fs::write(dir.join("api.ts"), code).unwrap();
    let bundled = std::process::Command::new(root.join("node_modules/.bin/esbuild"))
        .arg(dir.join("api.ts"))
        .args(["--format=esm", "--log-level=error"])
        .arg(format!("--outfile={}", dir.join("api.mjs").display()))
        .status()
        .expect("esbuild runs (npm ci at the workspace root)");
    assert!(bundled.success());
    std::fs::write(dir.join("run.mjs"), script).unwrap();
    let output = std::process::Command::new("node")
        .arg(dir.join("run.mjs"))
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The TypeScript client sends each parameter in the style its spec declares, as OpenAPI's
/// style table spells it: the generated module, bundled by esbuild and run by Node against a
/// `fetch` that records the request. Needs the workspace's npm dependencies (`npm ci`).
#[test]
fn typescript_sends_parameters_in_their_declared_style() {
    let seen = run_typescript(
        "param-styles.yaml",
        r#"import * as api from "./api.mjs";
const seen = [];
const fetch = async (url, init) => {
  seen.push({ url: url.replace("http://x", ""), colors: init.headers["X-Colors"] ?? null });
  return new Response(null, { status: 204 });
};
const options = { baseUrl: "http://x", fetch };
await api.formQuery(options, {
  id: "a b",
  exploded: ["blue", "black"],
  flat: ["blue", "black"],
  space: ["blue", "black"],
  pipe: ["blue", "black"],
  deep: { R: 100, G: 200 },
  pairs: { R: 100, G: 200 },
  xColors: ["blue", "black"],
});
await api.pathStyles(options, { color: ["blue", "black"], shade: ["light", "dark"], rgb: { R: 100, G: 200 } });
console.log(JSON.stringify(seen));
"#,
    );
    assert_eq!(
        seen,
        serde_json::json!([
            {
                "url": "/form/a%20b?exploded=blue&exploded=black&flat=blue%2Cblack\
                        &space=blue+black&pipe=blue%7Cblack&deep%5BR%5D=100&deep%5BG%5D=200\
                        &pairs=R%2C100%2CG%2C200",
                "colors": "blue,black"
            },
            {
                "url": "/label/.blue.black/matrix/;shade=light;shade=dark/simple/R=100,G=200",
                "colors": null
            }
        ])
    );
}

/// The TypeScript client sends each body in its media type — a form with brackets, multipart
/// parts and files, bytes, text — and cookies and JSON-text parameters as `bodies.yaml`
/// declares them; a binary response arrives as a `Blob`. Needs `npm ci` at the workspace root.
#[test]
fn typescript_sends_bodies_in_their_media_type() {
    let got = run_typescript(
        "bodies.yaml",
        r#"import * as api from "./api.mjs";
const seen = [];
const fetch = async (url, init) => {
  const body = init.body;
  let sent = body ?? null;
  if (body instanceof URLSearchParams) sent = body.toString();
  else if (body instanceof FormData) {
    sent = [...body.entries()].map(([k, v]) => (v instanceof Blob ? `${k}=file:${v.name}:${v.type}:${v.size}` : `${k}=${v}`));
  } else if (body instanceof Blob) sent = `blob:${body.type}:${body.size}`;
  else if (body instanceof Uint8Array) sent = `bytes:${body.length}`;
  seen.push({ method: init.method, url: url.replace("http://x", ""), type: init.headers["content-type"] ?? null, cookie: init.headers["cookie"] ?? null, sent });
  if (url.endsWith("/blobs/b1") && init.method === "GET") {
    return new Response(new Uint8Array([0, 255]), { status: 200, headers: { "content-type": "application/octet-stream" } });
  }
  if (url.endsWith("/notes")) return new Response("ok", { status: 200, headers: { "content-type": "text/plain" } });
  return new Response(init.method === "POST" && url.endsWith("/files") ? "{}" : null, { status: url.endsWith("/files") ? 201 : url.endsWith("/customers") || url.includes("/session") ? 200 : 204, headers: { "content-type": "application/json" } });
};
const options = { baseUrl: "http://x", fetch };
await api.createCustomer(options, { body: { email: "a@b.co", balance: 12, metadata: { plan: "pro" }, expand: ["tax", "invoice"], tags: ["x", "y"], items: [{ price: "p_1", quantity: 2 }] } });
await api.searchByForm(options, { body: { q: "a b" } });
await api.uploadFile(options, { body: { purpose: "avatar", file: new File([new Uint8Array([1, 2, 3])], "a.png", { type: "image/png" }), attachments: [new Blob(["x"]), new Blob(["yz"])], options: { public: true } } });
await api.putBlob(options, { name: "b1", body: new Uint8Array([0, 1]) });
const blob = await api.getBlob(options, { name: "b1" });
await api.putAvatar(options, { body: new Blob([new Uint8Array(4)], { type: "image/png" }) });
await api.postAnything(options, { body: new Blob(["x"], { type: "application/pdf" }) });
await api.postAnything(options, { body: "text" });
const note = await api.postNote(options, { body: "hello" });
await api.postEvent(options, { body: { name: "e" } });
await api.getSession(options, { sessionId: "s 1", theme: "dark", filter: { status: "open", limit: 5 } });
console.log(JSON.stringify({ seen, blob: [blob.body instanceof Blob, blob.body.size], note: note.body }));
"#,
    );
    let form = "application/x-www-form-urlencoded";
    assert_eq!(
        got,
        serde_json::json!({
            "seen": [
                {"method": "POST", "url": "/customers", "type": form, "cookie": null,
                 "sent": "email=a%40b.co&balance=12&metadata%5Bplan%5D=pro&expand%5B0%5D=tax\
                          &expand%5B1%5D=invoice&tags=x&tags=y&items%5B0%5D%5Bprice%5D=p_1\
                          &items%5B0%5D%5Bquantity%5D=2"},
                {"method": "GET", "url": "/search", "type": form, "cookie": null, "sent": "q=a+b"},
                {"method": "POST", "url": "/files", "type": null, "cookie": null,
                 "sent": ["purpose=avatar", "file=file:a.png:image/png:3", "attachments=file:blob::1",
                          "attachments=file:blob::2", "options={\"public\":true}"]},
                {"method": "PUT", "url": "/blobs/b1", "type": "application/octet-stream", "cookie": null, "sent": "bytes:2"},
                {"method": "GET", "url": "/blobs/b1", "type": null, "cookie": null, "sent": null},
                {"method": "PUT", "url": "/avatar", "type": "image/png", "cookie": null, "sent": "blob:image/png:4"},
                {"method": "POST", "url": "/anything", "type": "application/pdf", "cookie": null, "sent": "blob:application/pdf:1"},
                {"method": "POST", "url": "/anything", "type": "application/octet-stream", "cookie": null, "sent": "text"},
                {"method": "POST", "url": "/notes", "type": "text/plain", "cookie": null, "sent": "hello"},
                {"method": "POST", "url": "/events", "type": "application/json", "cookie": null, "sent": "{\"name\":\"e\"}"},
                {"method": "GET", "url": "/session?filter=%7B%22status%22%3A%22open%22%2C%22limit%22%3A5%7D",
                 "type": null, "cookie": "session_id=s%201; theme=dark", "sent": null}
            ],
            "blob": [true, 2],
            "note": "ok"
        })
    );
}
