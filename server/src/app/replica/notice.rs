//! The notices replicas send each other: which copy to drop.

use serde::{Deserialize, Serialize};

use crate::domain::Tenant;

/// Postgres refuses a notice payload of 8,000 bytes or more; notices are cut below that.
const MAX_NOTICE: usize = 7_000;

/// A copy to drop, here and on every other replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Forget {
    /// A tenant's settings.
    Settings(Tenant),
    /// One user's plan.
    Plan(Tenant, String),
    /// Every plan (a tier changed).
    Plans,
    /// These users' usage counters, changed through the replica `from`.
    Usage {
        from: String,
        users: Vec<(Tenant, String)>,
    },
    /// Every user's usage counters (the replica `from` lost track of which changed).
    AllUsage { from: String },
    /// Everything of a deleted project: its keys, settings, plans and counters.
    Project(String),
    /// Nothing: a heartbeat, proving the channel still carries notices.
    Nothing,
}

impl Forget {
    pub fn settings(tenant: &Tenant) -> Forget {
        Forget::Settings(tenant.clone())
    }

    pub fn plan(tenant: &Tenant, user_id: &str) -> Forget {
        Forget::Plan(tenant.clone(), user_id.to_string())
    }

    /// The notice sent to the other replicas (JSON: a user id may hold any character).
    pub fn notice(&self) -> String {
        serde_json::to_string(self).expect("plain data serializes")
    }

    /// Reads a notice; `None` for one this version does not know.
    pub fn from_notice(notice: &str) -> Option<Forget> {
        serde_json::from_str(notice).ok()
    }
}

/// The notices that these users' counters changed through replica `from`, one per line,
/// each small enough for Postgres (a user id is at most 255 bytes, so every user fits in one).
pub(super) fn usage_notices(from: &str, mut users: Vec<(Tenant, String)>) -> String {
    users.sort_by(|a, b| {
        (&a.0.project_id, a.0.mode.as_str(), &a.1).cmp(&(&b.0.project_id, b.0.mode.as_str(), &b.1))
    });
    users.dedup();
    let notice = |users| {
        Forget::Usage {
            from: from.to_string(),
            users,
        }
        .notice()
    };
    let mut lines: Vec<String> = Vec::new();
    let mut chunk: Vec<(Tenant, String)> = Vec::new();
    let mut size = from.len();
    for user in users {
        // Each entry costs its JSON plus a comma; JSON never holds a raw newline.
        let cost = serde_json::to_string(&user).expect("plain data").len() + 1;
        if size + cost > MAX_NOTICE && !chunk.is_empty() {
            lines.push(notice(std::mem::take(&mut chunk)));
            size = from.len();
        }
        size += cost;
        chunk.push(user);
    }
    if !chunk.is_empty() {
        lines.push(notice(chunk));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Mode;

    #[test]
    fn usage_notices_stay_under_the_payload_limit_and_name_every_user_once() {
        let tenant = Tenant {
            project_id: "proj_notices".into(),
            mode: Mode::Live,
        };
        // 300 users with long, escaped ids, each named twice.
        let users: Vec<(Tenant, String)> = (0..600)
            .map(|i| {
                (
                    tenant.clone(),
                    format!("user \"{}\"\n{}", i % 300, "é".repeat(100)),
                )
            })
            .collect();
        let notices = usage_notices("replica_a", users);
        let mut named = Vec::new();
        for line in notices.lines() {
            assert!(
                line.len() < 8_000,
                "{} bytes: Postgres refuses it",
                line.len()
            );
            match Forget::from_notice(line) {
                Some(Forget::Usage { from, users }) => {
                    assert_eq!(from, "replica_a");
                    named.extend(users);
                }
                other => panic!("not a usage notice: {other:?}"),
            }
        }
        assert!(notices.lines().count() > 1);
        assert_eq!(named.len(), 300);
        named.dedup();
        assert_eq!(named.len(), 300);
        assert!(named.iter().all(|(t, _)| *t == tenant));
    }
}
