//! What an operator meets first: `dream --version`, `dream serve --help` naming its
//! configuration, and `GET /` pointing at the dashboard, the docs and the spec.

use crate::harness::spawn_serve;

#[test]
fn dream_names_its_version() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dream"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("dream {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn serve_help_names_every_variable_the_readme_documents() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dream"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split("## Configuration")
        .nth(1)
        .expect("the README's Configuration section");
    let documented: Vec<&str> = section
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| l.split('|').nth(1))
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .collect();
    assert!(documented.len() > 20, "{documented:?}");
    for name in documented {
        assert!(
            help.contains(name),
            "`dream serve --help` does not name {name}:\n{help}"
        );
    }
}

#[tokio::test]
async fn the_root_points_to_the_dashboard_the_docs_and_the_spec() {
    let (mut child, base, _dir) = spawn_serve(&[]);
    let http = reqwest::Client::new();
    let json = http.get(format!("http://{base}/")).send().await.unwrap();
    assert_eq!(json.status(), 200);
    let body: serde_json::Value = json.json().await.unwrap();
    assert_eq!(body["dashboard"], "/dashboard");
    assert_eq!(body["docs"], "/docs");
    assert_eq!(body["openapi"], "/openapi.json");
    assert_eq!(body["health"], "/healthz");
    // Every link it gives answers.
    for link in ["/docs", "/openapi.json", "/healthz"] {
        let answer = http
            .get(format!("http://{base}{link}"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{link}");
    }
    let page = http
        .get(format!("http://{base}/"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let text = page.text().await.unwrap();
    for link in [
        "href=\"/dashboard\"",
        "href=\"/docs\"",
        "href=\"/openapi.json\"",
    ] {
        assert!(text.contains(link), "{link} in {text}");
    }
    child.kill().unwrap();
    let _ = child.wait();
}

#[tokio::test]
async fn a_key_in_the_wrong_place_is_named_as_such() {
    let (mut child, base, _dir) = spawn_serve(&[("DREAM_OPERATOR_TOKEN", "op_test")]);
    let base = format!("http://{base}");
    let http = reqwest::Client::new();
    let (pk, sk) = crate::harness::operator_project(&http, &base, "Keys").await;
    let refusal = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap();
        (
            status.as_u16(),
            body["code"].clone(),
            body["message"].as_str().unwrap_or("").to_string(),
        )
    };
    // The secret key where the publishable key goes.
    let (status, code, message) = refusal(
        http.get(format!("{base}/v1/products"))
            .header("x-publishable-key", &sk),
    )
    .await;
    assert_eq!((status, code.as_str()), (401, Some("invalid_api_key")));
    assert!(
        message.contains("secret key was sent as the publishable key"),
        "{message}"
    );
    // The publishable key where a secret key goes.
    let (status, code, message) =
        refusal(http.get(format!("{base}/v1/customers")).bearer_auth(&pk)).await;
    assert_eq!((status, code.as_str()), (401, Some("invalid_api_key")));
    assert!(
        message.contains("publishable key was sent as `Authorization: Bearer`"),
        "{message}"
    );
    // An unknown key of either kind says which kind it was read as.
    let (_, _, message) = refusal(
        http.get(format!("{base}/v1/customers"))
            .bearer_auth("sk_test_000000000000000000000000"),
    )
    .await;
    assert!(
        message.starts_with("The secret key is not valid"),
        "{message}"
    );
    let (_, _, message) = refusal(
        http.get(format!("{base}/v1/products"))
            .header("x-publishable-key", "pk_test_000000000000000000000000"),
    )
    .await;
    assert!(
        message.starts_with("The publishable key is not valid"),
        "{message}"
    );
    child.kill().unwrap();
    let _ = child.wait();
}
