//! The golden list of requirements (`conformance/requirements.yaml`): what a backend MUST or
//! SHOULD do, which operations each requirement is about, and the spec version it appeared in.
//! `coverage_problems` is the check that keeps cases, requirements and the spec in step.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::harness::{Case, Profile};
use crate::spec::Spec;

pub const REQUIREMENTS_YAML: &str = include_str!("../requirements.yaml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Level {
    #[serde(rename = "MUST")]
    Must,
    #[serde(rename = "SHOULD")]
    Should,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub id: String,
    pub level: Level,
    pub profile: String,
    /// The spec version the requirement appeared in.
    pub since: String,
    /// The operation ids it covers; empty for requirements about every operation.
    #[serde(default)]
    pub operations: Vec<String>,
    pub text: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Excluded {
    pub operation: String,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    pub requirements: Vec<Requirement>,
    /// Operations deliberately not covered, each with its reason.
    #[serde(default)]
    pub excluded: Vec<Excluded>,
}

impl Requirements {
    pub fn load() -> anyhow::Result<Requirements> {
        Ok(serde_yaml::from_str(REQUIREMENTS_YAML)?)
    }

    pub fn get(&self, id: &str) -> Option<&Requirement> {
        self.requirements.iter().find(|r| r.id == id)
    }
}

/// Everything that is out of step between the requirements, the cases and the spec: a MUST
/// with no case, a case citing an unknown id or an id of another profile, a requirement naming
/// an operation the spec lacks, a duplicate id, and an operation neither covered nor excluded.
pub fn coverage_problems(requirements: &Requirements, cases: &[Case], spec: &Spec) -> Vec<String> {
    let mut problems = Vec::new();
    let spec_ops: BTreeSet<&str> = spec.operations().iter().map(|o| o.id.as_str()).collect();
    let mut seen = BTreeSet::new();
    for r in &requirements.requirements {
        if !seen.insert(r.id.as_str()) {
            problems.push(format!("requirement {} is listed twice", r.id));
        }
        if Profile::parse(&r.profile).is_none() {
            problems.push(format!(
                "requirement {} names unknown profile {}",
                r.id, r.profile
            ));
        }
        for op in &r.operations {
            if !spec_ops.contains(op.as_str()) {
                problems.push(format!("requirement {} names unknown operation {op}", r.id));
            }
        }
    }
    let mut case_ids = BTreeSet::new();
    for case in cases {
        if !case_ids.insert(case.id) {
            problems.push(format!("case {} is defined twice", case.id));
        }
        if case.requirements.is_empty() {
            problems.push(format!("case {} proves no requirement", case.id));
        }
        for id in case.requirements {
            match requirements.get(id) {
                None => problems.push(format!("case {} cites unknown requirement {id}", case.id)),
                Some(r) if r.profile != case.profile.name() => problems.push(format!(
                    "case {} ({}) cites {id} of profile {}",
                    case.id,
                    case.profile.name(),
                    r.profile
                )),
                Some(_) => {}
            }
        }
    }
    let proven: BTreeSet<&str> = cases
        .iter()
        .flat_map(|c| c.requirements.iter().copied())
        .collect();
    for r in &requirements.requirements {
        if r.level == Level::Must && !proven.contains(r.id.as_str()) {
            problems.push(format!("MUST requirement {} has no case", r.id));
        }
    }
    let covered: BTreeSet<&str> = requirements
        .requirements
        .iter()
        .filter(|r| proven.contains(r.id.as_str()))
        .flat_map(|r| r.operations.iter().map(String::as_str))
        .collect();
    let excluded: BTreeSet<&str> = requirements
        .excluded
        .iter()
        .map(|e| e.operation.as_str())
        .collect();
    for op in &spec_ops {
        if !covered.contains(op) && !excluded.contains(op) {
            problems.push(format!(
                "operation {op} is neither covered by a proven requirement nor excluded"
            ));
        }
    }
    for e in &requirements.excluded {
        if e.reason.trim().is_empty() {
            problems.push(format!(
                "excluded operation {} gives no reason",
                e.operation
            ));
        }
    }
    problems
}
