//! `Deserialize` only where the generated server reads a type.
//!
//! typify derives both `Deserialize` and `Serialize` on every type. A server reads only its
//! request bodies and parameters, and a derived `Deserialize` is most of what `cargo check`
//! spends on a large spec's types (on Plaid's 1,478 types, 23 s of 31; `Serialize` 6 s). So
//! the stubs keep `Deserialize` on the types reachable from what they read, and `Serialize`
//! on every type (a server also stores, logs or echoes what it read).

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::punctuated::Punctuated;

use crate::error::GenError;

/// Which derives the stubs' types, requests and responses carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Derives {
    /// `Deserialize` where the server reads a type, `Serialize` on all; requests and
    /// responses derive nothing (the router needs nothing of them): the leanest code to
    /// compile.
    #[default]
    AsUsed,
    /// `Deserialize` on every type too, for a server that also reads its own responses (a
    /// dashboard calling its own API, tests decoding responses into the types); requests and
    /// responses `Debug` and `Clone` (but a request holding an unread body, which is not
    /// `Clone`).
    All,
}

/// `types` (typify's output) with `Deserialize` derived only on the types reachable from
/// `read`: the type expressions the operations deserialize (`types::Pet`, `Vec<types::Pet>`).
pub fn trim(types: TokenStream, read_roots: &[TokenStream]) -> Result<TokenStream, GenError> {
    let mut file: syn::File = syn::parse2(types).map_err(|e| GenError::Upstream {
        generator: "typify",
        message: format!("generated types do not parse: {e}"),
    })?;
    let names: BTreeSet<String> = file.items.iter().filter_map(type_name).collect();

    // Which types each type's definition mentions, and which a hand-written `Deserialize`
    // needs.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut read = BTreeSet::new();
    for item in &file.items {
        if let Some(name) = type_name(item) {
            let mut mentioned = mentions(item.to_token_stream(), &names);
            mentioned.remove(&name);
            edges.insert(name, mentioned);
        } else if let syn::Item::Impl(imp) = item
            && let Some((path, _)) = &imp.trait_
            && path
                .segments
                .last()
                .is_some_and(|s| s.ident == "Deserialize")
        {
            read.extend(mentions(imp.to_token_stream(), &names));
        }
    }
    for root in read_roots {
        read.extend(mentions(root.clone(), &names));
    }
    let read = closure(read, &edges);

    for item in &mut file.items {
        let Some(name) = type_name(item) else {
            continue;
        };
        if read.contains(&name) {
            continue;
        }
        let attrs = match item {
            syn::Item::Struct(s) => &mut s.attrs,
            syn::Item::Enum(e) => &mut e.attrs,
            _ => continue,
        };
        drop_deserialize(attrs);
    }
    Ok(file.into_token_stream())
}

/// Takes `Deserialize` out of an item's `#[derive(...)]` attributes.
pub(crate) fn drop_deserialize(attrs: &mut [syn::Attribute]) {
    for attr in attrs.iter_mut() {
        if !attr.path().is_ident("derive") {
            continue;
        }
        let Ok(paths) =
            attr.parse_args_with(Punctuated::<syn::Path, syn::Token![,]>::parse_terminated)
        else {
            continue;
        };
        let kept = paths
            .into_iter()
            .filter(|p| p.segments.last().is_none_or(|s| s.ident != "Deserialize"));
        *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
    }
}

/// The name of a struct, enum or alias item (an alias reads what it stands for).
pub(crate) fn type_name(item: &syn::Item) -> Option<String> {
    match item {
        syn::Item::Struct(s) => Some(s.ident.to_string()),
        syn::Item::Enum(e) => Some(e.ident.to_string()),
        syn::Item::Type(t) => Some(t.ident.to_string()),
        _ => None,
    }
}

/// The identifiers in `tokens` that name one of `names`.
pub(crate) fn mentions(tokens: TokenStream, names: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![tokens];
    while let Some(tokens) = stack.pop() {
        for token in tokens {
            match token {
                TokenTree::Ident(ident) => {
                    let ident = ident.to_string();
                    if names.contains(&ident) {
                        out.insert(ident);
                    }
                }
                TokenTree::Group(group) => stack.push(group.stream()),
                _ => {}
            }
        }
    }
    out
}

/// Everything reachable from `start` along `edges`.
fn closure(
    start: BTreeSet<String>,
    edges: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = start.into_iter().collect();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(next) = edges.get(&name) {
            todo.extend(next.iter().filter(|n| !seen.contains(*n)).cloned());
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use quote::quote;

    fn derives(code: &str, name: &str) -> String {
        let file: syn::File = syn::parse_str(code).unwrap();
        let item = file
            .items
            .iter()
            .find(|i| super::type_name(i).as_deref() == Some(name))
            .unwrap();
        let attrs = match item {
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Enum(e) => &e.attrs,
            _ => unreachable!(),
        };
        attrs
            .iter()
            .filter(|a| a.path().is_ident("derive"))
            .map(|a| quote!(#a).to_string())
            .collect()
    }

    #[test]
    fn only_what_is_read_and_what_it_holds_derive_deserialize() {
        let types = quote! {
            #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
            pub struct Order { pub lines: Vec<Line>, pub status: Status }
            #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
            pub struct Line { pub sku: String }
            #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
            pub enum Status { Open, Paid }
            #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)]
            pub struct Receipt { pub total: i64, pub note: Note }
            #[derive(::serde::Serialize, Clone, Debug)]
            pub struct Note(String);
            impl<'de> ::serde::Deserialize<'de> for Note {
                fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    Ok(Note(Code::default().0))
                }
            }
            #[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug, Default)]
            pub struct Code(String);
        };
        let trimmed = super::trim(types, &[quote!(Vec<types::Order>)])
            .unwrap()
            .to_string();
        for read in ["Order", "Line", "Status", "Code"] {
            assert!(
                derives(&trimmed, read).contains(":: serde :: Deserialize"),
                "{read}: {}",
                derives(&trimmed, read)
            );
        }
        let receipt = derives(&trimmed, "Receipt");
        assert!(!receipt.contains("Deserialize"), "{receipt}");
        assert!(receipt.contains(":: serde :: Serialize"), "{receipt}");
        // The hand-written `Deserialize` of a type nobody reads still compiles: what it
        // uses keeps its derive.
        assert!(trimmed.contains("impl < 'de > :: serde :: Deserialize < 'de > for Note"));
    }
}
