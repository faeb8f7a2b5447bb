//! `Serialize` for the stubs' timestamp types without chrono's formatter.
//!
//! typify turns a named `format: date-time` schema into a newtype over `DateTime<Utc>` that
//! derives `Serialize` with `#[serde(transparent)]`, so every timestamp a response carries is
//! written by chrono's `Display`: one `fmt::Write::write_char` per character through serde's
//! `collect_str` (on a response with two timestamps, about a tenth of the instructions the
//! server spends on it). Each such newtype gets instead an `impl Serialize` over the shared
//! `rfc3339_utc` function this module adds, which writes whole seconds in years 0 to 9999
//! (what an API's timestamps are) from a 20-byte buffer, and hands anything else to chrono.
//! The text is chrono's in every case: `2026-12-01T00:00:00Z`.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

use crate::deserialize::derived;
use crate::error::GenError;

/// `types` with each timestamp newtype's `#[derive(Serialize)]` replaced by its impl, and the
/// `rfc3339_utc` function added when any was.
pub fn fast(types: TokenStream) -> Result<TokenStream, GenError> {
    let mut file: syn::File = syn::parse2(types).map_err(|e| GenError::Upstream {
        generator: "typify",
        message: format!("generated types do not parse: {e}"),
    })?;
    let mut impls = Vec::new();
    for item in &mut file.items {
        let syn::Item::Struct(s) = item else {
            continue;
        };
        if !is_timestamp(s) {
            continue;
        }
        drop_serialize(&mut s.attrs);
        let ident = &s.ident;
        impls.push(quote! {
            impl ::serde::Serialize for #ident {
                fn serialize<S: ::serde::Serializer>(
                    &self,
                    serializer: S,
                ) -> ::std::result::Result<S::Ok, S::Error> {
                    rfc3339_utc(&self.0, serializer)
                }
            }
        });
    }
    let mut tokens = file.into_token_stream();
    if !impls.is_empty() {
        tokens.extend(impls);
        tokens.extend(support());
    }
    Ok(tokens)
}

/// A transparent newtype over `DateTime<Utc>` that derives `Serialize`.
fn is_timestamp(s: &syn::ItemStruct) -> bool {
    let syn::Fields::Unnamed(fields) = &s.fields else {
        return false;
    };
    let [field] = fields.unnamed.iter().collect::<Vec<_>>()[..] else {
        return false;
    };
    let ty = field.ty.to_token_stream().to_string().replace(' ', "");
    ty == "::chrono::DateTime<::chrono::offset::Utc>"
        && derived(&s.attrs).iter().any(|d| d == "Serialize")
        && s.attrs.iter().any(|a| {
            a.path().is_ident("serde") && a.to_token_stream().to_string().contains("transparent")
        })
}

/// Takes `Serialize` out of the derives; with no serde derive left, the `#[serde]`
/// attributes go too (nothing would read them).
fn drop_serialize(attrs: &mut Vec<syn::Attribute>) {
    for attr in attrs.iter_mut() {
        if !attr.path().is_ident("derive") {
            continue;
        }
        let Ok(paths) = attr.parse_args_with(
            syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
        ) else {
            continue;
        };
        let kept = paths
            .into_iter()
            .filter(|p| p.segments.last().is_none_or(|s| s.ident != "Serialize"));
        *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
    }
    if !derived(attrs).iter().any(|d| d == "Deserialize") {
        attrs.retain(|a| !a.path().is_ident("serde"));
    }
}

fn support() -> TokenStream {
    quote! {
        /// A UTC timestamp as RFC 3339, the text chrono writes (`2026-12-01T00:00:00Z`):
        /// whole seconds in years 0 to 9999 from a buffer, anything else by chrono.
        fn rfc3339_utc<S: ::serde::Serializer>(
            value: &::chrono::DateTime<::chrono::offset::Utc>,
            serializer: S,
        ) -> ::std::result::Result<S::Ok, S::Error> {
            use ::chrono::{Datelike as _, Timelike as _};
            let year = value.year();
            // A leap second is a nanosecond count of a second or more: chrono's too.
            if !(0..=9999).contains(&year) || value.nanosecond() != 0 {
                return ::serde::Serialize::serialize(value, serializer);
            }
            let mut text = *b"0000-00-00T00:00:00Z";
            let parts = [
                (0, year.unsigned_abs(), 4),
                (5, value.month(), 2),
                (8, value.day(), 2),
                (11, value.hour(), 2),
                (14, value.minute(), 2),
                (17, value.second(), 2),
            ];
            for (at, mut number, digits) in parts {
                for digit in text[at..at + digits].iter_mut().rev() {
                    *digit = b'0' + (number % 10) as u8;
                    number /= 10;
                }
            }
            match ::std::str::from_utf8(&text) {
                Ok(text) => serializer.serialize_str(text),
                Err(_) => ::serde::Serialize::serialize(value, serializer),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast_of(code: &str) -> String {
        let tokens: TokenStream = code.parse().unwrap();
        fast(tokens).unwrap().to_string()
    }

    #[test]
    fn a_timestamp_newtype_serializes_through_the_shared_function() {
        let out = fast_of(
            "#[derive(::serde::Deserialize, ::serde::Serialize, Clone, Debug)] \
             #[serde(transparent)] \
             pub struct Timestamp(pub ::chrono::DateTime<::chrono::offset::Utc>);",
        );
        assert!(
            out.contains("impl :: serde :: Serialize for Timestamp"),
            "{out}"
        );
        assert!(
            out.contains("rfc3339_utc (& self . 0 , serializer)"),
            "{out}"
        );
        assert!(out.contains("fn rfc3339_utc"), "{out}");
        // Deserialize is still derived, and reads `transparent`.
        assert!(
            out.contains("derive (:: serde :: Deserialize , Clone , Debug)"),
            "{out}"
        );
        assert!(out.contains("serde (transparent)"), "{out}");
    }

    #[test]
    fn without_a_serde_derive_left_the_serde_attribute_goes() {
        let out = fast_of(
            "#[derive(::serde::Serialize, Clone, Debug)] #[serde(transparent)] \
             pub struct Stamp(pub ::chrono::DateTime<::chrono::offset::Utc>);",
        );
        assert!(out.contains("derive (Clone , Debug)"), "{out}");
        assert!(!out.contains("serde (transparent)"), "{out}");
    }

    #[test]
    fn other_types_are_left_alone_and_nothing_is_added() {
        let code = "#[derive(::serde::Serialize, Clone, Debug)] #[serde(transparent)] \
                    pub struct Day(pub ::chrono::NaiveDate); \
                    #[derive(::serde::Serialize)] \
                    pub struct Event { pub at: ::chrono::DateTime<::chrono::offset::Utc> }";
        let before = code.parse::<TokenStream>().unwrap().to_string();
        let out = fast_of(code);
        assert_eq!(
            out.replace(' ', ""),
            before.replace(' ', ""),
            "nothing changes without a timestamp newtype"
        );
    }
}
