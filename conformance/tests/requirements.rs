//! The golden list, the cases and the spec stay in step: every MUST requirement has a case,
//! every case cites known requirements of its own profile, and every operation of the spec is
//! covered by a proven requirement or excluded with a reason.

use dream_conformance::requirements::{Requirements, coverage_problems};
use dream_conformance::spec::Spec;

#[test]
fn requirements_cases_and_spec_agree() {
    let requirements = Requirements::load().expect("requirements.yaml parses");
    let spec = Spec::load().expect("the spec parses");
    let problems = coverage_problems(&requirements, &dream_conformance::cases::all(), &spec);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn requirements_name_the_spec_version_they_appeared_in() {
    let requirements = Requirements::load().unwrap();
    let spec = Spec::load().unwrap();
    let version = |v: &str| -> Vec<u64> {
        v.split('.')
            .map(|n| n.parse().expect("numeric version"))
            .collect()
    };
    for r in &requirements.requirements {
        assert!(
            version(&r.since) <= version(&spec.version),
            "{} appeared in {}, after the spec's {}",
            r.id,
            r.since,
            spec.version
        );
    }
}

/// The check itself can fail: a case citing an unknown id, a MUST without a case and an
/// operation nobody covers are each reported.
#[test]
fn the_coverage_check_reports_each_kind_of_gap() {
    let mut requirements = Requirements::load().unwrap();
    let spec = Spec::load().unwrap();
    let mut orphan = requirements.requirements[0].clone();
    orphan.id = "ORPHAN-001".into();
    orphan.operations = vec![];
    requirements.requirements.push(orphan);
    let cases: Vec<_> = dream_conformance::cases::all()
        .into_iter()
        .filter(|c| !c.requirements.contains(&"PLAT-001"))
        .chain([dream_conformance::case!(
            "made.up",
            Core,
            ["NOPE-404"],
            "cites nothing real",
            noop
        )])
        .collect();
    let problems = coverage_problems(&requirements, &cases, &spec);
    assert!(
        problems.contains(&"case made.up cites unknown requirement NOPE-404".to_string()),
        "{problems:?}"
    );
    assert!(
        problems.contains(&"MUST requirement ORPHAN-001 has no case".to_string()),
        "{problems:?}"
    );
    assert!(
        problems.contains(&"MUST requirement PLAT-001 has no case".to_string()),
        "{problems:?}"
    );
    assert!(
        problems.contains(
            &"operation healthCheck is neither covered by a proven requirement nor excluded"
                .to_string()
        ),
        "{problems:?}"
    );
}

async fn noop(_ctx: dream_conformance::harness::Ctx) -> dream_conformance::harness::CaseResult {
    Ok(())
}
