//! JUnit XML, one test suite per profile, for CI systems that chart test results.

use std::time::Duration;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::{Report, Status};

pub fn render(report: &Report) -> String {
    let mut junit = quick_junit::Report::new("dream-conformance");
    for (profile, _) in report.counts_by_profile() {
        let mut suite = TestSuite::new(profile.name());
        suite.add_property(("backend", report.backend.as_str()));
        suite.add_property(("seed", report.seed.to_string().as_str()));
        suite.add_property(("spec-version", report.spec_version.as_str()));
        for case in report.cases.iter().filter(|c| c.profile == profile) {
            let message = case.message.as_deref().map(|m| report.redact(m));
            let mut status = match case.status {
                Status::Pass => TestCaseStatus::success(),
                Status::Skip => TestCaseStatus::skipped(),
                Status::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
                Status::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
            };
            if let Some(message) = &message {
                status.set_message(message.lines().next().unwrap_or_default());
                status.set_description(message.as_str());
            }
            let mut test = TestCase::new(case.id.as_str(), status);
            test.set_classname(format!(
                "{}.{}",
                profile.name(),
                case.requirements.join("+")
            ));
            test.set_time(Duration::from_millis(case.duration_ms));
            suite.add_test_case(test);
        }
        junit.add_test_suite(suite);
    }
    junit.to_string().expect("JUnit serializes")
}
