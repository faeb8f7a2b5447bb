//! The single-file HTML report: a summary, then every case with its requirements, message and
//! request/response transcripts (secrets redacted), and a curl line for each exchange of a case
//! that did not pass. No scripts, no external assets.

use std::fmt::Write as _;

use super::{Report, Status};

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#222}\
h1{font-size:1.4rem}table{border-collapse:collapse}td,th{padding:.2rem .6rem;text-align:left}\
.pass{color:#176f2c}.fail,.error{color:#b3261e}.skip{color:#8a6d00}\
details{border:1px solid #ddd;border-radius:4px;margin:.4rem 0;padding:.3rem .6rem}\
summary{cursor:pointer}pre{background:#f6f6f6;padding:.5rem;overflow-x:auto;white-space:pre-wrap}\
.violation{color:#b3261e}code{background:#f0f0f0;padding:0 .2rem}";

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let counts = report.counts();
    let verdict = if report.passed() {
        "Conforms"
    } else {
        "Does not conform"
    };
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Dream API conformance: {}</title><style>{STYLE}</style></head><body>\
         <h1>Dream API conformance — {verdict}</h1>",
        escape(&report.backend)
    );
    let _ = write!(
        out,
        "<table><tr><th>Backend</th><td>{}</td></tr><tr><th>Spec version</th><td>{}</td></tr>\
         <tr><th>Suite version</th><td>{}</td></tr><tr><th>Seed</th><td><code>{}</code></td></tr>\
         <tr><th>Run</th><td>{} at {}, {:.1} s</td></tr><tr><th>Certified run</th><td>{}</td></tr>\
         <tr><th>Result</th><td>{} passed, {} failed, {} skipped, {} errors of {}</td></tr></table>",
        escape(&report.backend),
        escape(&report.spec_version),
        escape(&report.suite_version),
        report.seed,
        escape(&report.run_id),
        escape(&report.started_at),
        report.duration_ms as f64 / 1000.0,
        if report.certified {
            "yes (no skips allowed)"
        } else {
            "no"
        },
        counts.pass,
        counts.fail,
        counts.skip,
        counts.error,
        counts.total()
    );
    out.push_str("<h2>By profile</h2><table><tr><th>Profile</th><th>Cases</th><th>Pass</th><th>Fail</th><th>Skip</th><th>Error</th></tr>");
    for (profile, c) in report.counts_by_profile() {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            profile.name(),
            c.total(),
            c.pass,
            c.fail,
            c.skip,
            c.error
        );
    }
    out.push_str("</table><h2>Cases</h2>");
    for case in &report.cases {
        let class = case.status.label().to_lowercase();
        let open = if case.status == Status::Pass {
            ""
        } else {
            " open"
        };
        let _ = write!(
            out,
            "<details{open}><summary><b class=\"{class}\">{}</b> <code>{}</code> — {} \
             <small>({}; {}; {} ms)</small></summary>",
            case.status.label(),
            escape(&case.id),
            escape(&case.title),
            case.profile.name(),
            escape(&case.requirements.join(", ")),
            case.duration_ms
        );
        if let Some(message) = &case.message {
            let _ = write!(
                out,
                "<pre class=\"{class}\">{}</pre>",
                escape(&report.redact(message))
            );
        }
        for (n, x) in case.exchanges.iter().enumerate() {
            let _ = write!(
                out,
                "<details><summary>#{} {} {} → {} <small>{}{} ms</small></summary>",
                n + 1,
                escape(&x.method),
                escape(&report.redact(&x.url)),
                x.status,
                x.operation
                    .as_deref()
                    .map(|o| format!("{o}, "))
                    .unwrap_or_default(),
                x.elapsed_ms
            );
            for v in &x.violations {
                let _ = write!(
                    out,
                    "<p class=\"violation\">{}</p>",
                    escape(&report.redact(v))
                );
            }
            let mut request = format!("{} {}\n", x.method, x.url);
            for (name, value) in &x.request_headers {
                let _ = writeln!(request, "{name}: {value}");
            }
            if !x.request_body.is_empty() {
                let _ = write!(request, "\n{}", x.request_body);
            }
            let mut response = format!("HTTP {}\n", x.status);
            for (name, value) in &x.response_headers {
                let _ = writeln!(response, "{name}: {value}");
            }
            if !x.response_body.is_empty() {
                let _ = write!(response, "\n{}", pretty(&x.response_body));
            }
            let _ = write!(
                out,
                "<pre>{}</pre><pre>{}</pre>",
                escape(&report.redact(&request)),
                escape(&report.redact(&response))
            );
            if case.status != Status::Pass {
                let _ = write!(
                    out,
                    "<p>Reproduce:</p><pre>{}</pre>",
                    escape(&report.curl(x))
                );
            }
            out.push_str("</details>");
        }
        out.push_str("</details>");
    }
    out.push_str("</body></html>\n");
    out
}

fn pretty(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(value) if body.len() < 20_000 => {
            serde_json::to_string_pretty(&value).unwrap_or_else(|_| body.to_owned())
        }
        _ => body.chars().take(20_000).collect(),
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
