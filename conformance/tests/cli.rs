//! The binary's contract with CI: exit 2 for a configuration it cannot run with, before any
//! case runs, with a message saying what is wrong.

use std::process::Command;

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dream-conformance"));
    command.args(args);
    for key in [
        "DREAM_CONFORMANCE_BASE_URL",
        "DREAM_CONFORMANCE_OPERATOR_TOKEN",
        "DREAM_CONFORMANCE_CONFIG",
        "DREAM_CONFORMANCE_PROFILE",
    ] {
        command.env_remove(key);
    }
    command.envs(env.iter().copied());
    let output = command.output().expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Arguments, environment, and a phrase the error must contain.
type BadRun<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn bad_configuration_exits_2_with_a_reason() {
    let cases: [BadRun; 6] = [
        (
            &[
                "--base-url",
                "http://127.0.0.1:9",
                "--operator-token",
                "x",
                "--certified",
                "--case",
                "platform",
            ],
            &[],
            "drop --case",
        ),
        (&[], &[], "no backend"),
        (&["--base-url", "http://127.0.0.1:9"], &[], "operator token"),
        (
            &[
                "--base-url",
                "http://127.0.0.1:9",
                "--operator-token",
                "x",
                "--profile",
                "nope",
            ],
            &[],
            "unknown profile",
        ),
        (
            &["--operator-token", "x"],
            &[("DREAM_CONFORMANCE_BASE_URL", "http://127.0.0.1:9")],
            "does not answer",
        ),
        (
            &["--config", "/nonexistent/conformance.toml"],
            &[],
            "cannot read",
        ),
    ];
    for (args, env, reason) in cases {
        let (code, stderr) = run(args, env);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
    }
}

#[test]
fn the_file_is_read_and_the_environment_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("conformance.toml");
    std::fs::write(
        &file,
        "base-url = \"http://127.0.0.1:9\"\noperator-token = \"x\"\nprofiles = [\"usage\"]\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    // The file's backend does not answer.
    let (code, stderr) = run(&["--config", file], &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("http://127.0.0.1:9/healthz"), "{stderr}");
    // The environment's does not either, and it is the one tried.
    let (code, stderr) = run(
        &["--config", file],
        &[("DREAM_CONFORMANCE_BASE_URL", "http://127.0.0.1:10")],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("http://127.0.0.1:10/healthz"), "{stderr}");
    // Unknown keys are refused, not ignored.
    std::fs::write(dir.path().join("typo.toml"), "base_url = \"x\"\n").unwrap();
    let (code, stderr) = run(
        &["--config", dir.path().join("typo.toml").to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown field"), "{stderr}");
}

#[test]
fn list_prints_every_case_with_its_requirements() {
    let output = Command::new(env!("CARGO_BIN_EXE_dream-conformance"))
        .arg("--list")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), dream_conformance::cases::all().len());
    assert!(text.contains("usage.hard-limit-under-concurrency"));
    assert!(text.contains("USAGE-003"));
}
