//! One Rust type for the schemas of one shape.
//!
//! typify names every inline schema after where it sits, so a spec that repeats a shape under
//! each operation (Microsoft Graph repeats one `{ number: … }` body 846 times) gets a type per
//! copy, each with its serde, `Debug` and `Clone` code. Here types whose definitions and
//! impls are the same (the same derives, attributes, fields, variants and constraints, up to
//! documentation and to the names of the types themselves) become aliases of the one with the
//! shortest name (`pub type DeclineBody = CancelBody;`): every name the stubs use stays, the
//! code is written once. Types that are the same only once their fields' types are known to
//! be are found too (the comparison repeats until nothing new is found). Tuple and unit
//! structs stay as they are: their names are also constructors, which an alias is not.

use std::collections::{HashMap, HashSet};

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, quote};

use crate::error::GenError;

/// `types` (typify's output) with each type that repeats an earlier one made its alias, and
/// the repeat's impls (the first's serve it) left out.
pub fn share(types: TokenStream) -> Result<TokenStream, GenError> {
    let file: syn::File = syn::parse2(types).map_err(|e| GenError::Upstream {
        generator: "typify",
        message: format!("generated types do not parse: {e}"),
    })?;
    let names: Vec<Option<String>> = file.items.iter().map(type_name).collect();
    let local: HashSet<&str> = names.iter().flatten().map(String::as_str).collect();
    // Each type's impls (typify writes a type's constraints and defaults in them): those
    // for it, and conversions from it into a type of another crate.
    let mut owned: HashMap<&str, Vec<&syn::ItemImpl>> = HashMap::new();
    for item in &file.items {
        if let syn::Item::Impl(imp) = item
            && let Some(owner) = owner(imp, &local)
        {
            owned.entry(owner).or_default().push(imp);
        }
    }
    let mut alias: HashMap<String, String> = HashMap::new();
    loop {
        // The types of one shape, in the order they come; the shortest name stays (a
        // component's name, usually, rather than one made from an operation's path).
        let mut groups: HashMap<String, Vec<&str>> = HashMap::new();
        let mut keys = Vec::new();
        for (item, name) in file.items.iter().zip(&names) {
            let Some(name) = name.as_deref() else {
                continue;
            };
            // A tuple or unit struct's name is also its constructor, which an alias is not
            // (typify's defaults call `super::Ttl(3600)`).
            let constructor =
                matches!(item, syn::Item::Struct(s) if !matches!(s.fields, syn::Fields::Named(_)));
            if constructor || alias.contains_key(name) {
                continue;
            }
            let mut key = shape(item, name, &alias);
            for imp in owned.get(name).into_iter().flatten() {
                key.push_str(&canonical(imp.to_token_stream(), Some(name), &alias));
            }
            let group = groups.entry(key.clone()).or_default();
            if group.is_empty() {
                keys.push(key);
            }
            group.push(name);
        }
        let mut found = false;
        for key in &keys {
            let group = &groups[key];
            let Some(kept) = group.iter().min_by_key(|name| name.len()) else {
                continue;
            };
            for name in group.iter().filter(|name| *name != kept) {
                alias.insert((*name).to_owned(), (*kept).to_owned());
                found = true;
            }
        }
        if !found {
            break;
        }
    }
    if alias.is_empty() {
        return Ok(file.into_token_stream());
    }

    let mut out = TokenStream::new();
    let mut impls_seen = HashSet::new();
    for (item, name) in file.items.iter().zip(&names) {
        if let Some(name) = name
            && let Some(target) = alias.get(name)
        {
            let docs = attrs(item).iter().filter(|a| a.path().is_ident("doc"));
            let ident = quote::format_ident!("{name}");
            let target = quote::format_ident!("{target}");
            let note = format!(" The same schema as [`{target}`].");
            out.extend(quote! {
                #(#docs)*
                #[doc = ""]
                #[doc = #note]
                pub type #ident = #target;
            });
            continue;
        }
        if let syn::Item::Impl(imp) = item {
            // A repeat's own impls are the first's; another type's conversion from a repeat
            // may now be one it already has from the first.
            if owner(imp, &local).is_some_and(|o| alias.contains_key(o)) {
                continue;
            }
            if let Some((path, _)) = &imp.trait_ {
                let mut header = canonical(imp.generics.to_token_stream(), None, &alias);
                header.push_str(&canonical(path.to_token_stream(), None, &alias));
                header.push_str(" for ");
                header.push_str(&canonical(imp.self_ty.to_token_stream(), None, &alias));
                if !impls_seen.insert(header) {
                    continue;
                }
            }
        }
        item.to_tokens(&mut out);
    }
    Ok(out)
}

/// The name of a struct or enum item.
fn type_name(item: &syn::Item) -> Option<String> {
    match item {
        syn::Item::Struct(s) => Some(s.ident.to_string()),
        syn::Item::Enum(e) => Some(e.ident.to_string()),
        _ => None,
    }
}

fn attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Struct(s) => &s.attrs,
        syn::Item::Enum(e) => &e.attrs,
        _ => &[],
    }
}

/// The type of these whose impl `imp` is: the one it is for, or, for an impl on another
/// crate's type, the first of these its trait names (`impl From<Duration> for String`).
fn owner<'a>(imp: &syn::ItemImpl, local: &HashSet<&'a str>) -> Option<&'a str> {
    if let syn::Type::Path(p) = &*imp.self_ty
        && p.qself.is_none()
        && let Some(ident) = p.path.get_ident()
    {
        return local.get(ident.to_string().as_str()).copied();
    }
    let (path, _) = imp.trait_.as_ref()?;
    let mut stack = vec![path.to_token_stream()];
    while let Some(tokens) = stack.pop() {
        for token in tokens {
            match token {
                TokenTree::Ident(ident) => {
                    if let Some(name) = local.get(ident.to_string().as_str()) {
                        return Some(name);
                    }
                }
                TokenTree::Group(group) => stack.push(group.stream()),
                _ => {}
            }
        }
    }
    None
}

/// A type's definition without its documentation, its own name and every alias written as
/// what they stand for: two types of one shape have one.
fn shape(item: &syn::Item, name: &str, alias: &HashMap<String, String>) -> String {
    let mut item = item.clone();
    let strip = |attrs: &mut Vec<syn::Attribute>| attrs.retain(|a| !a.path().is_ident("doc"));
    match &mut item {
        syn::Item::Struct(s) => {
            strip(&mut s.attrs);
            for field in s.fields.iter_mut() {
                strip(&mut field.attrs);
            }
        }
        syn::Item::Enum(e) => {
            strip(&mut e.attrs);
            for variant in e.variants.iter_mut() {
                strip(&mut variant.attrs);
                for field in variant.fields.iter_mut() {
                    strip(&mut field.attrs);
                }
            }
        }
        _ => {}
    }
    canonical(item.into_token_stream(), Some(name), alias)
}

/// `tokens` as text, with `own` written as `Self` and each alias as the type it stands for.
fn canonical(
    tokens: impl IntoIterator<Item = TokenTree>,
    own: Option<&str>,
    alias: &HashMap<String, String>,
) -> String {
    let mut out = String::new();
    write_canonical(tokens, own, alias, &mut out);
    out
}

fn write_canonical(
    tokens: impl IntoIterator<Item = TokenTree>,
    own: Option<&str>,
    alias: &HashMap<String, String>,
    out: &mut String,
) {
    for token in tokens {
        match token {
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    proc_macro2::Delimiter::Parenthesis => ("(", ")"),
                    proc_macro2::Delimiter::Brace => ("{", "}"),
                    proc_macro2::Delimiter::Bracket => ("[", "]"),
                    proc_macro2::Delimiter::None => ("", ""),
                };
                out.push_str(open);
                write_canonical(group.stream(), own, alias, out);
                out.push_str(close);
            }
            TokenTree::Ident(ident) => {
                let mut name = ident.to_string();
                if own == Some(name.as_str()) {
                    name = "Self".to_owned();
                } else {
                    while let Some(target) = alias.get(&name) {
                        name.clone_from(target);
                    }
                }
                out.push_str(&name);
            }
            other => out.push_str(&other.to_string()),
        }
        out.push(' ');
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    #[test]
    fn a_type_of_an_earlier_ones_shape_is_its_alias_and_its_impls_go() {
        let types = quote! {
            /// Cancels.
            #[derive(Clone, Debug)]
            pub struct CancelBody { pub reason: Option<String> }
            impl From<&CancelBody> for CancelBody { fn from(v: &CancelBody) -> Self { v.clone() } }
            /// Declines.
            #[derive(Clone, Debug)]
            pub struct DeclineBody {
                /// Why.
                pub reason: Option<String>
            }
            impl From<&DeclineBody> for DeclineBody { fn from(v: &DeclineBody) -> Self { v.clone() } }
            #[derive(Clone, Debug)]
            pub struct Other { pub reason: Option<i64> }
            // Same once `DeclineBody` is known to be `CancelBody`.
            #[derive(Clone, Debug)]
            pub struct A { pub body: CancelBody }
            #[derive(Clone, Debug)]
            pub struct B { pub body: DeclineBody }
        };
        let shared = super::share(types).unwrap().to_string();
        assert!(
            shared.contains("pub type DeclineBody = CancelBody ;"),
            "{shared}"
        );
        assert!(shared.contains("pub type B = A ;"), "{shared}");
        assert!(shared.contains("pub struct Other"), "{shared}");
        assert!(shared.contains("# [doc = r\" Declines.\"]"), "{shared}");
        assert_eq!(shared.matches("impl From").count(), 1, "{shared}");
    }

    #[test]
    fn types_alike_but_for_their_impls_stay_apart() {
        // Two string newtypes of different patterns, two enums of different defaults: typify
        // writes the difference in the impls, so they are not one shape.
        let types = quote! {
            #[derive(Clone, Debug)]
            pub struct Sku(String);
            impl TryFrom<&str> for Sku {
                type Error = &'static str;
                fn try_from(v: &str) -> Result<Self, &'static str> {
                    if v.len() <= 8 { Ok(Self(v.into())) } else { Err("longer than 8 characters") }
                }
            }
            #[derive(Clone, Debug)]
            pub struct Ean(String);
            impl TryFrom<&str> for Ean {
                type Error = &'static str;
                fn try_from(v: &str) -> Result<Self, &'static str> {
                    if v.len() <= 13 { Ok(Self(v.into())) } else { Err("longer than 13 characters") }
                }
            }
            #[derive(Clone, Copy, Debug)]
            pub enum Sort { Asc, Desc }
            impl Default for Sort { fn default() -> Self { Sort::Asc } }
            #[derive(Clone, Copy, Debug)]
            pub enum Order { Asc, Desc }
            impl Default for Order { fn default() -> Self { Order::Desc } }
        };
        let shared = super::share(types).unwrap().to_string();
        assert!(!shared.contains("pub type"), "{shared}");
        assert_eq!(shared.matches("impl TryFrom").count(), 2, "{shared}");
        assert_eq!(shared.matches("impl Default").count(), 2, "{shared}");
        // Two newtypes alike: their names are constructors too.
        let newtypes = quote! {
            #[derive(Clone, Debug)]
            pub struct Ttl(i64);
            #[derive(Clone, Debug)]
            pub struct Timeout(i64);
            mod defaults { pub(super) fn ttl() -> super::Timeout { super::Timeout(3600) } }
        };
        let newtypes = super::share(newtypes).unwrap().to_string();
        assert!(!newtypes.contains("pub type"), "{newtypes}");
    }
}
