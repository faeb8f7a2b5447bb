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
