//! Which trait of the axum stubs declares each operation.
//!
//! A small document's operations are the methods of one `Api` trait. A large one's are
//! grouped by tag, one trait per tag (`UsersApi: Api`), because the compiler's cost of one
//! trait grows with the square of its methods returning `impl Future`: Microsoft Graph's
//! 11,422 operations in one trait took 908 s of well-formedness checking alone.

use std::collections::BTreeMap;

use heck::ToUpperCamelCase;

use crate::model::Operation;

/// How the stubs' operations are grouped into traits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Traits {
    /// One `Api` trait for a document of up to [`SPLIT_ABOVE`] operations, one trait per tag
    /// above that.
    #[default]
    Auto,
    /// Every operation in `Api`.
    One,
    /// One trait per tag, whatever the document's size.
    PerTag,
}

/// The trait every operation is in when they are not split, and that each group extends.
pub const BASE: &str = "Api";

/// The most operations [`Traits::Auto`] puts in one trait.
pub const SPLIT_ABOVE: usize = 1_000;

/// One trait of operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The trait's name: `Api`, or the tag's (`UsersUserApi` for `users.user`).
    pub name: String,
    /// What groups the operations: the tag, or `/` and the path's first segment for
    /// operations without one (`/users`). Empty for the one `Api` trait.
    pub key: String,
}

/// Each operation's group, in the order of `operations`. An operation goes with its first
/// tag; an untagged one with the others under the first segment of its path. Keys that make
/// the same name (`users.user`, `users-user`) get numbers in the order they first appear.
pub fn assign(operations: &[Operation], traits: Traits) -> Vec<Group> {
    let split = match traits {
        Traits::Auto => operations.len() > SPLIT_ABOVE,
        Traits::One => false,
        Traits::PerTag => true,
    };
    if !split {
        let one = Group {
            name: BASE.into(),
            key: String::new(),
        };
        return vec![one; operations.len()];
    }
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut taken: Vec<String> = Vec::new();
    operations
        .iter()
        .map(|op| {
            let key = op.tags.first().cloned().unwrap_or_else(|| {
                let segment = op.path.split('/').find(|s| !s.is_empty()).unwrap_or("");
                format!("/{segment}")
            });
            let name = names
                .entry(key.clone())
                .or_insert_with(|| {
                    // ASCII letters and digits only: not every character heck keeps may
                    // continue a Rust identifier (`²`).
                    let mut stem = key.to_upper_camel_case();
                    stem.retain(|c| c.is_ascii_alphanumeric());
                    if key == "/" {
                        stem = "Root".into();
                    } else if !stem.starts_with(|c: char| c.is_ascii_alphabetic()) {
                        stem = format!("Tag{stem}");
                    }
                    let mut name = format!("{stem}Api");
                    let mut n = 2;
                    while taken.contains(&name) {
                        name = format!("{stem}{n}Api");
                        n += 1;
                    }
                    taken.push(name.clone());
                    name
                })
                .clone();
            Group { name, key }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(path: &str, tags: &[&str]) -> Operation {
        Operation {
            id: format!("op{path}"),
            method: "get".into(),
            path: path.into(),
            pointer: String::new(),
            summary: None,
            description: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            security: Vec::new(),
            params: Vec::new(),
            body: None,
            responses: Vec::new(),
        }
    }

    fn names(groups: &[Group]) -> Vec<&str> {
        groups.iter().map(|g| g.name.as_str()).collect()
    }

    #[test]
    fn auto_keeps_one_trait_up_to_the_limit_and_splits_above_it() {
        let mut ops: Vec<_> = (0..SPLIT_ABOVE).map(|_| op("/users", &["users"])).collect();
        assert!(assign(&ops, Traits::Auto).iter().all(|g| g.name == BASE));
        ops.push(op("/groups", &[]));
        let groups = assign(&ops, Traits::Auto);
        assert_eq!(groups[0].name, "UsersApi");
        assert_eq!(groups[SPLIT_ABOVE].name, "GroupsApi");
        assert_eq!(groups[SPLIT_ABOVE].key, "/groups");
        assert!(assign(&ops, Traits::One).iter().all(|g| g.name == BASE));
    }

    #[test]
    fn names_are_told_apart_in_the_order_keys_appear() {
        let ops = [
            op("/a", &["users.user", "admin"]),
            op("/b", &["users-user"]),
            op("/users/{id}", &[]),
            op("/users", &["users"]),
            op("/", &[]),
            op("/x", &["2fa"]),
            op("/y", &["users.user"]),
            op("/z", &["x²"]),
            op("/w", &["中文"]),
        ];
        assert_eq!(
            names(&assign(&ops, Traits::PerTag)),
            [
                "UsersUserApi",
                "UsersUser2Api",
                "UsersApi",
                "Users2Api",
                "RootApi",
                "Tag2faApi",
                "UsersUserApi",
                "XApi",
                "TagApi"
            ]
        );
    }
}
