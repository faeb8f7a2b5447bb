//! What a run found, and its renderings: the stdout table (here), JUnit XML (`junit`), JSON and
//! the single-file HTML report (`html`). Secrets never leave in a report: secret keys, user
//! tokens and the operator token are replaced by placeholders the reader fills in.

pub mod html;
pub mod junit;

use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::harness::Profile;
use crate::proxy::Exchange;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
    Error,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
            Status::Error => "ERROR",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseReport {
    pub id: String,
    pub title: String,
    pub profile: Profile,
    pub requirements: Vec<String>,
    pub status: Status,
    pub message: Option<String>,
    pub duration_ms: u64,
    /// Every request the case made, in order.
    pub exchanges: Vec<Exchange>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub suite_version: String,
    pub spec_version: String,
    pub backend: String,
    pub seed: u64,
    pub run_id: String,
    pub profiles: Vec<Profile>,
    pub certified: bool,
    pub started_at: String,
    pub duration_ms: u64,
    pub cases: Vec<CaseReport>,
    /// What became of the projects the run created.
    pub cleanup: Cleanup,
    /// Values to redact besides the recognisable key and token shapes.
    #[serde(skip)]
    pub secrets: Vec<String>,
}

/// The projects a run created and then deleted, and those it could not delete (with why).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Cleanup {
    pub deleted: usize,
    pub left: Vec<String>,
}

/// Counts of each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub error: usize,
}

impl Counts {
    fn add(&mut self, status: Status) {
        match status {
            Status::Pass => self.pass += 1,
            Status::Fail => self.fail += 1,
            Status::Skip => self.skip += 1,
            Status::Error => self.error += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.pass + self.fail + self.skip + self.error
    }
}

impl Report {
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for case in &self.cases {
            counts.add(case.status);
        }
        counts
    }

    pub fn counts_by_profile(&self) -> Vec<(Profile, Counts)> {
        let mut out: Vec<(Profile, Counts)> = Vec::new();
        for case in &self.cases {
            match out.iter_mut().find(|(p, _)| *p == case.profile) {
                Some((_, counts)) => counts.add(case.status),
                None => {
                    let mut counts = Counts::default();
                    counts.add(case.status);
                    out.push((case.profile, counts));
                }
            }
        }
        out
    }

    /// Whether the run passes: no failure or error, and under `--certified` no skip either.
    pub fn passed(&self) -> bool {
        let counts = self.counts();
        counts.fail == 0 && counts.error == 0 && (!self.certified || counts.skip == 0)
    }

    /// The readable table printed on stdout.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let width = self.cases.iter().map(|c| c.id.len()).max().unwrap_or(0);
        for case in &self.cases {
            let _ = writeln!(
                out,
                "{:<5}  {:<9}  {:<width$}  {:>6} ms  {}",
                case.status.label(),
                case.profile.name(),
                case.id,
                case.duration_ms,
                case.requirements.join(",")
            );
            if let Some(message) = &case.message
                && case.status != Status::Pass
            {
                for line in self.redact(message).lines() {
                    let _ = writeln!(out, "       {line}");
                }
            }
        }
        let _ = writeln!(out);
        for (profile, counts) in self.counts_by_profile() {
            let _ = writeln!(
                out,
                "{:<9}  {} cases: {} passed, {} failed, {} skipped, {} errors",
                profile.name(),
                counts.total(),
                counts.pass,
                counts.fail,
                counts.skip,
                counts.error
            );
        }
        if self.cleanup.deleted > 0 || !self.cleanup.left.is_empty() {
            let _ = writeln!(
                out,
                "cleanup    deleted {} project(s) the run created{}",
                self.cleanup.deleted,
                if self.cleanup.left.is_empty() {
                    String::new()
                } else {
                    format!("; could not delete {}:", self.cleanup.left.len())
                }
            );
            for left in &self.cleanup.left {
                let _ = writeln!(out, "           {}", self.redact(left));
            }
        }
        let counts = self.counts();
        let _ = writeln!(
            out,
            "{}: {} of {} cases passed in {:.1} s against {} (spec {}, suite {}, seed {}{})",
            if self.passed() {
                "CONFORMS"
            } else {
                "DOES NOT CONFORM"
            },
            counts.pass,
            counts.total(),
            self.duration_ms as f64 / 1000.0,
            self.backend,
            self.spec_version,
            self.suite_version,
            self.seed,
            if self.certified {
                ", certified run: no skips allowed"
            } else {
                ""
            }
        );
        out
    }

    /// The JSON report: every case, with the exchanges of those that did not pass.
    pub fn json(&self) -> String {
        let mut copy = self.clone();
        for case in &mut copy.cases {
            if case.status == Status::Pass {
                case.exchanges.clear();
            }
        }
        self.redact(&serde_json::to_string_pretty(&copy).expect("report serializes"))
    }

    /// Replaces secret keys, JWTs and the run's own secrets with placeholders.
    pub fn redact(&self, text: &str) -> String {
        static SECRET_KEY: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"sk_(test|live)_[A-Za-z0-9_\-]+").expect("regex"));
        // Whatever shape a backend gives a secret key, a `secretKey` field is one.
        static SECRET_FIELD: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r#""secretKey"\s*:\s*"[^"]*""#).expect("regex"));
        static JWT: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*").expect("regex")
        });
        let mut out = SECRET_FIELD
            .replace_all(text, r#""secretKey": "$$SECRET_KEY""#)
            .into_owned();
        out = SECRET_KEY.replace_all(&out, "$$SECRET_KEY").into_owned();
        out = JWT.replace_all(&out, "$$USER_JWT").into_owned();
        for secret in &self.secrets {
            if !secret.is_empty() {
                out = out.replace(secret.as_str(), "$OPERATOR_TOKEN");
            }
        }
        out
    }

    /// A curl command that repeats the exchange, secrets as shell variables.
    pub fn curl(&self, exchange: &Exchange) -> String {
        let mut line = format!(
            "curl -i -X {} {}",
            exchange.method,
            shell_quote(&exchange.url)
        );
        for (name, value) in &exchange.request_headers {
            if matches!(
                name.as_str(),
                "accept"
                    | "accept-encoding"
                    | "user-agent"
                    | "host"
                    | "content-length"
                    | "connection"
                    | "transfer-encoding"
            ) {
                continue;
            }
            let header = self.redact(&format!("{name}: {value}"));
            // Double quotes, so the placeholders expand.
            let _ = write!(line, " -H \"{}\"", header.replace('"', "\\\""));
        }
        if !exchange.request_body.is_empty() {
            let _ = write!(
                line,
                " --data-raw {}",
                shell_quote(&self.redact(&exchange.request_body))
            );
        }
        line
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            suite_version: "0.1.0".into(),
            spec_version: "0.1.0".into(),
            backend: "http://127.0.0.1:8787".into(),
            seed: 7,
            run_id: "abc".into(),
            profiles: vec![Profile::Core],
            certified: true,
            started_at: "2026-11-28T00:00:00Z".into(),
            duration_ms: 10,
            cases: vec![],
            cleanup: Default::default(),
            secrets: vec!["op_secret_123".into()],
        }
    }

    #[test]
    fn secrets_are_redacted_and_publishable_keys_kept() {
        let text = "Bearer sk_test_AbC123 pk_test_Xyz eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln op_secret_123";
        assert_eq!(
            report().redact(text),
            "Bearer $SECRET_KEY pk_test_Xyz $USER_JWT $OPERATOR_TOKEN"
        );
    }

    #[test]
    fn secret_key_fields_are_redacted_whatever_their_shape() {
        assert_eq!(
            report().redact(r#"{"secretKey": "sk_test_ab-cd", "other": "x", "secretKey":"odd"}"#),
            r#"{"secretKey": "$SECRET_KEY", "other": "x", "secretKey": "$SECRET_KEY"}"#
        );
    }

    #[test]
    fn curl_lines_repeat_the_request_without_secrets() {
        let exchange = Exchange {
            method: "POST".into(),
            url: "http://127.0.0.1:8787/v1/usage/track".into(),
            request_headers: vec![
                ("authorization".into(), "Bearer eyJa.eyJb.c".into()),
                ("x-publishable-key".into(), "pk_test_1".into()),
            ],
            request_body: r#"{"amount":1}"#.into(),
            status: 429,
            response_headers: vec![],
            response_body: String::new(),
            operation: Some("trackUsage".into()),
            violations: vec![],
            transport_error: None,
            elapsed_ms: 1,
        };
        assert_eq!(
            report().curl(&exchange),
            r#"curl -i -X POST 'http://127.0.0.1:8787/v1/usage/track' -H "authorization: Bearer $USER_JWT" -H "x-publishable-key: pk_test_1" --data-raw '{"amount":1}'"#
        );
    }

    #[test]
    fn a_skip_fails_a_certified_run_only() {
        let mut r = report();
        r.cases.push(CaseReport {
            id: "x".into(),
            title: "x".into(),
            profile: Profile::Core,
            requirements: vec![],
            status: Status::Skip,
            message: None,
            duration_ms: 0,
            exchanges: vec![],
        });
        assert!(!r.passed());
        r.certified = false;
        assert!(r.passed());
    }
}
