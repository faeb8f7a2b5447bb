//! `Deserialize` for the stubs' types without serde's derive.
//!
//! serde's derived `Deserialize` is the costliest code a large spec's types compile to: per
//! struct a field enum with its visitor, a struct visitor with `visit_seq` and `visit_map`,
//! and buffering through serde's private `Content` for a `flatten` field (on Microsoft
//! Graph's types, about half of `cargo check`). Every struct, unit enum and untagged enum
//! whose attributes are among those typify writes gets instead an `impl Deserialize` of a few
//! lines over one shared visitor (the `de` module this adds to the types), reading the object
//! into its members once and each field from its member. What a value may be is unchanged:
//! the same names, the same defaults, a missing `Option` is `None` and any other missing field
//! is refused, unknown members are ignored unless `deny_unknown_fields`, a `flatten` field
//! takes the members no named field took (an `Option` one is `None` when they do not make a
//! value), an untagged enum is the first variant the value makes. A type with any other
//! attribute keeps serde's derive.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote};

use crate::error::GenError;

/// `types` with each `#[derive(Deserialize)]` this module can write replaced by its impl,
/// and the `de` support module added when any was.
pub fn lighten(types: TokenStream) -> Result<TokenStream, GenError> {
    let mut file: syn::File = syn::parse2(types).map_err(|e| GenError::Upstream {
        generator: "typify",
        message: format!("generated types do not parse: {e}"),
    })?;
    let mut impls = Vec::new();
    for item in &mut file.items {
        let written = match item {
            syn::Item::Struct(s) if derives_deserialize(&s.attrs) => struct_impl(s),
            syn::Item::Enum(e) if derives_deserialize(&e.attrs) => enum_impl(e),
            _ => None,
        };
        if let Some(written) = written {
            match item {
                syn::Item::Struct(s) => crate::derives::drop_deserialize(&mut s.attrs),
                syn::Item::Enum(e) => crate::derives::drop_deserialize(&mut e.attrs),
                _ => {}
            }
            impls.push(written);
        }
    }
    let mut tokens = file.into_token_stream();
    if !impls.is_empty() {
        tokens.extend(impls);
        tokens.extend(support());
    }
    Ok(tokens)
}

/// Whether the item derives both serde traits (the `#[serde]` attributes stay, read by the
/// `Serialize` derive).
fn derives_deserialize(attrs: &[syn::Attribute]) -> bool {
    let derived = derived(attrs);
    derived.iter().any(|d| d == "Deserialize") && derived.iter().any(|d| d == "Serialize")
}

/// The names an item's `#[derive(...)]` attributes list.
pub(crate) fn derived(attrs: &[syn::Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("derive"))
        .filter_map(|a| {
            a.parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
            )
            .ok()
        })
        .flatten()
        .filter_map(|p| p.segments.last().map(|s| s.ident.to_string()))
        .collect()
}

/// The `#[serde(...)]` settings of an item, field or variant; `None` when one is not among
/// those this module writes.
#[derive(Default)]
struct Serde {
    rename: Option<String>,
    /// `default` (`Some(None)`) or `default = "path"`.
    default: Option<Option<syn::ExprPath>>,
    flatten: bool,
    untagged: bool,
    transparent: bool,
    deny_unknown_fields: bool,
}

fn serde_attrs(attrs: &[syn::Attribute]) -> Option<Serde> {
    let mut out = Serde::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            let name = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            match name.as_str() {
                "rename" => {
                    let value: syn::LitStr = meta.value()?.parse()?;
                    out.rename = Some(value.value());
                }
                "default" => {
                    out.default = Some(if meta.input.peek(syn::Token![=]) {
                        let value: syn::LitStr = meta.value()?.parse()?;
                        Some(value.parse()?)
                    } else {
                        None
                    });
                }
                "skip_serializing_if" => {
                    let _: syn::LitStr = meta.value()?.parse()?;
                }
                "flatten" => out.flatten = true,
                "untagged" => out.untagged = true,
                "transparent" => out.transparent = true,
                "deny_unknown_fields" => out.deny_unknown_fields = true,
                _ => return Err(meta.error("not written by this module")),
            }
            Ok(())
        })
        .ok()?;
    }
    Some(out)
}

/// The member name serde reads a field or variant from.
fn wire_name(ident: &syn::Ident, serde: &Serde) -> String {
    serde.rename.clone().unwrap_or_else(|| {
        let name = ident.to_string();
        name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
    })
}

/// Whether serde's derive would treat the type as an `Option` (it looks at the last path
/// segment, as this does).
fn is_option(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

fn struct_impl(item: &syn::ItemStruct) -> Option<TokenStream> {
    let settings = serde_attrs(&item.attrs)?;
    if settings.untagged || settings.rename.is_some() || settings.default.is_some() {
        return None;
    }
    if !item.generics.params.is_empty() {
        return None;
    }
    let ident = &item.ident;
    let body = match &item.fields {
        syn::Fields::Unnamed(fields) if fields.unnamed.len() == 1 && settings.transparent => {
            let field = fields.unnamed.first()?;
            if serde_attrs(&field.attrs)?.rename.is_some() {
                return None;
            }
            quote! {
                ::std::result::Result::Ok(Self(::serde::Deserialize::deserialize(deserializer)?))
            }
        }
        syn::Fields::Named(fields) if !settings.transparent => {
            let mut names = Vec::new();
            let mut named = Vec::new();
            let mut flattened = Vec::new();
            for field in &fields.named {
                let field_ident = field.ident.as_ref()?;
                let serde = serde_attrs(&field.attrs)?;
                if serde.flatten {
                    let read = if is_option(&field.ty) {
                        quote!(fields.flatten_option()?)
                    } else {
                        quote!(fields.flatten()?)
                    };
                    flattened.push(quote!(#field_ident: #read));
                    continue;
                }
                let name = wire_name(field_ident, &serde);
                let read = match &serde.default {
                    None => quote!(fields.field(#name)?),
                    Some(None) => quote!(fields.or_default(#name)?),
                    Some(Some(path)) => quote!(fields.or_else(#name, #path)?),
                };
                named.push(quote!(#field_ident: #read));
                names.push(name);
            }
            let name = ident.to_string();
            // With a `flatten` field serde reads a map (a flattened struct then sees every
            // member); without, a struct with its field names (so, flattened into another,
            // it takes only its own members).
            let read = if flattened.is_empty() {
                quote!(de::Fields::read_struct(deserializer, #name, FIELDS)?)
            } else {
                quote!(de::Fields::read_map(deserializer, #name, FIELDS)?)
            };
            let deny = settings
                .deny_unknown_fields
                .then(|| quote!(fields.deny_unknown(FIELDS)?;));
            quote! {
                const FIELDS: &[&str] = &[#(#names),*];
                let mut fields = #read;
                let value = Self { #(#named,)* #(#flattened,)* };
                #deny
                ::std::result::Result::Ok(value)
            }
        }
        _ => return None,
    };
    Some(deserialize_impl(ident, body))
}

fn enum_impl(item: &syn::ItemEnum) -> Option<TokenStream> {
    let settings = serde_attrs(&item.attrs)?;
    if settings.rename.is_some()
        || settings.default.is_some()
        || settings.transparent
        || settings.deny_unknown_fields
        || !item.generics.params.is_empty()
    {
        return None;
    }
    let ident = &item.ident;
    let name = ident.to_string();
    let body = if settings.untagged {
        let mut tries = Vec::new();
        for variant in &item.variants {
            let serde = serde_attrs(&variant.attrs)?;
            if serde.rename.is_some() || serde.default.is_some() || serde.flatten {
                return None;
            }
            let variant_ident = &variant.ident;
            tries.push(match &variant.fields {
                syn::Fields::Unit => quote! {
                    if value.is_null() {
                        return ::std::result::Result::Ok(Self::#variant_ident);
                    }
                },
                syn::Fields::Unnamed(fields) if fields.unnamed.len() == 1 => quote! {
                    if let ::std::result::Result::Ok(inner) = de::from_value(&value) {
                        return ::std::result::Result::Ok(Self::#variant_ident(inner));
                    }
                },
                _ => return None,
            });
        }
        let refusal = format!("data did not match any variant of untagged enum {name}");
        quote! {
            let value: ::serde_json::Value = ::serde::Deserialize::deserialize(deserializer)?;
            #(#tries)*
            ::std::result::Result::Err(::serde::de::Error::custom(#refusal))
        }
    } else {
        let mut wire = Vec::new();
        let mut variants = Vec::new();
        for variant in &item.variants {
            let serde = serde_attrs(&variant.attrs)?;
            if !matches!(variant.fields, syn::Fields::Unit)
                || serde.default.is_some()
                || serde.flatten
                || variant.discriminant.is_some()
            {
                return None;
            }
            wire.push(wire_name(&variant.ident, &serde));
            variants.push(&variant.ident);
        }
        if variants.is_empty() {
            return None;
        }
        let pick = if derived(&item.attrs).iter().any(|d| d == "Copy") {
            quote!([#(Self::#variants),*][index])
        } else {
            let indexes = 0..variants.len();
            let last = variants.last()?;
            quote! {
                match index {
                    #(#indexes => Self::#variants,)*
                    _ => Self::#last,
                }
            }
        };
        quote! {
            const VARIANTS: &[&str] = &[#(#wire),*];
            let index = de::variant(deserializer, #name, VARIANTS)?;
            ::std::result::Result::Ok(#pick)
        }
    };
    Some(deserialize_impl(ident, body))
}

fn deserialize_impl(ident: &syn::Ident, body: TokenStream) -> TokenStream {
    let deserializer = format_ident!("deserializer");
    quote! {
        impl<'de> ::serde::Deserialize<'de> for #ident {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                #deserializer: D,
            ) -> ::std::result::Result<Self, D::Error> {
                #body
            }
        }
    }
}

/// The support every written impl shares: one visitor that reads an object's members, and
/// the deserializers that hand a missing or flattened field what serde's derive would.
fn support() -> TokenStream {
    quote! {
        /// What the types' `Deserialize` impls share (written by dreamgen instead of serde's
        /// derive, which costs a large spec most of its compile time).
        pub mod de {
            use ::serde::de::{DeserializeOwned, Deserializer, Error, MapAccess, Visitor};
            use ::serde_json::{Map, Value};
            use ::std::fmt;
            use ::std::marker::PhantomData;

            /// The members of an object being read, taken by the fields that read them.
            pub struct Fields<E> {
                members: Map<String, Value>,
                /// Read from an array, by position: an element missing at the end is refused
                /// unless its field has a default.
                positional: Option<Positional>,
                error: PhantomData<fn() -> E>,
            }

            /// How many elements an array read as a struct had, of how many fields.
            #[derive(Clone, Copy)]
            struct Positional {
                name: &'static str,
                read: usize,
                fields: usize,
            }

            struct Members {
                name: &'static str,
                fields: &'static [&'static str],
                /// Whether an array is read too (a struct without `flatten` fields).
                positional: bool,
            }

            impl<'de> Visitor<'de> for Members {
                type Value = (Map<String, Value>, Option<usize>);

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    write!(f, "struct {}", self.name)
                }

                fn visit_seq<A: ::serde::de::SeqAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                    if !self.positional {
                        return Err(A::Error::invalid_type(::serde::de::Unexpected::Seq, &self));
                    }
                    let mut members = Map::new();
                    let mut read = 0;
                    for field in self.fields {
                        let Some(value) = access.next_element::<Value>()? else {
                            break;
                        };
                        members.insert((*field).to_owned(), value);
                        read += 1;
                    }
                    Ok((members, Some(read)))
                }

                fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                    let mut members = Map::new();
                    while let Some(key) = access.next_key::<String>()? {
                        let value: Value = access.next_value()?;
                        if let Some(field) = self.fields.iter().find(|f| **f == key)
                            && members.contains_key(&key)
                        {
                            return Err(A::Error::duplicate_field(field));
                        }
                        members.insert(key, value);
                    }
                    Ok((members, None))
                }
            }

            impl<E: Error> Fields<E> {
                /// Reads a struct without `flatten` fields.
                pub fn read_struct<'de, D: Deserializer<'de, Error = E>>(
                    deserializer: D,
                    name: &'static str,
                    fields: &'static [&'static str],
                ) -> Result<Self, E> {
                    let (members, positional) = deserializer.deserialize_struct(
                        name,
                        fields,
                        Members { name, fields, positional: true },
                    )?;
                    let positional = positional.map(|read| Positional { name, read, fields: fields.len() });
                    Ok(Self { members, positional, error: PhantomData })
                }

                /// Reads a struct with `flatten` fields.
                pub fn read_map<'de, D: Deserializer<'de, Error = E>>(
                    deserializer: D,
                    name: &'static str,
                    fields: &'static [&'static str],
                ) -> Result<Self, E> {
                    let (members, _) = deserializer.deserialize_map(Members { name, fields, positional: false })?;
                    Ok(Self { members, positional: None, error: PhantomData })
                }

                /// A field without a default: when missing, `None` for an `Option`, refused
                /// for anything else (and always, read from an array).
                pub fn field<T: DeserializeOwned>(&mut self, name: &'static str) -> Result<T, E> {
                    match (self.members.remove(name), self.positional) {
                        (Some(value), _) => T::deserialize(value).map_err(E::custom),
                        (None, None) => T::deserialize(Missing(name, PhantomData)),
                        (None, Some(array)) => Err(E::custom(format_args!(
                            "invalid length {}, expected struct {} with {} elements",
                            array.read, array.name, array.fields,
                        ))),
                    }
                }

                /// A field with `#[serde(default)]`.
                pub fn or_default<T: DeserializeOwned + Default>(&mut self, name: &'static str) -> Result<T, E> {
                    match self.members.remove(name) {
                        Some(value) => T::deserialize(value).map_err(E::custom),
                        None => Ok(T::default()),
                    }
                }

                /// A field with `#[serde(default = "...")]`.
                pub fn or_else<T: DeserializeOwned>(&mut self, name: &'static str, default: fn() -> T) -> Result<T, E> {
                    match self.members.remove(name) {
                        Some(value) => T::deserialize(value).map_err(E::custom),
                        None => Ok(default()),
                    }
                }

                /// A `flatten` field, from the members no field before it took.
                pub fn flatten<T: DeserializeOwned>(&mut self) -> Result<T, E> {
                    T::deserialize(Flat(&mut self.members)).map_err(E::custom)
                }

                /// An `Option` `flatten` field: `None` when those members do not make one.
                pub fn flatten_option<T: DeserializeOwned>(&mut self) -> Result<Option<T>, E> {
                    Ok(T::deserialize(Flat(&mut self.members)).ok())
                }

                /// Refuses a member no field took (`deny_unknown_fields`).
                pub fn deny_unknown(&self, fields: &'static [&'static str]) -> Result<(), E> {
                    match self.members.keys().next() {
                        Some(key) => Err(E::unknown_field(key, fields)),
                        None => Ok(()),
                    }
                }
            }

            /// The value of an untagged enum's variant, if it makes one.
            pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, ::serde_json::Error> {
                T::deserialize(value)
            }

            /// The index in `variants` of the unit variant read.
            pub fn variant<'de, D: Deserializer<'de>>(
                deserializer: D,
                name: &'static str,
                variants: &'static [&'static str],
            ) -> Result<usize, D::Error> {
                deserializer.deserialize_enum(name, variants, Variant(variants))
            }

            struct Variant(&'static [&'static str]);

            impl Variant {
                fn index<E: Error>(&self, name: &str) -> Result<usize, E> {
                    self.0.iter().position(|v| *v == name).ok_or_else(|| E::unknown_variant(name, self.0))
                }
            }

            impl<'de> Visitor<'de> for Variant {
                type Value = usize;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a variant name")
                }

                fn visit_str<E: Error>(self, name: &str) -> Result<usize, E> {
                    self.index(name)
                }

                fn visit_enum<A: ::serde::de::EnumAccess<'de>>(self, data: A) -> Result<usize, A::Error> {
                    use ::serde::de::VariantAccess;
                    let (name, variant) = data.variant::<String>()?;
                    let index = self.index(&name)?;
                    variant.unit_variant()?;
                    Ok(index)
                }
            }

            /// What a missing field is read from: `None` for an `Option`, else refused as
            /// missing (as serde's derive does).
            struct Missing<E>(&'static str, PhantomData<E>);

            impl<'de, E: Error> Deserializer<'de> for Missing<E> {
                type Error = E;

                fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, E> {
                    Err(E::missing_field(self.0))
                }

                fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
                    visitor.visit_none()
                }

                ::serde::forward_to_deserialize_any! {
                    bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
                    bytes byte_buf unit unit_struct newtype_struct seq tuple
                    tuple_struct map struct enum identifier ignored_any
                }
            }

            /// The members left for `flatten` fields: a struct takes its own, a map sees
            /// them all (as serde's flattening does).
            struct Flat<'a>(&'a mut Map<String, Value>);

            impl<'de> Deserializer<'de> for Flat<'_> {
                type Error = ::serde_json::Error;

                fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                    self.deserialize_map(visitor)
                }

                fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                    Value::Object(self.0.clone()).deserialize_map(visitor)
                }

                fn deserialize_struct<V: Visitor<'de>>(
                    self,
                    _: &'static str,
                    fields: &'static [&'static str],
                    visitor: V,
                ) -> Result<V::Value, Self::Error> {
                    let mut taken = Map::new();
                    for field in fields {
                        if let Some(value) = self.0.remove(*field) {
                            taken.insert((*field).to_owned(), value);
                        }
                    }
                    Value::Object(taken).deserialize_map(visitor)
                }

                fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                    visitor.visit_some(self)
                }

                fn deserialize_newtype_struct<V: Visitor<'de>>(
                    self,
                    _: &'static str,
                    visitor: V,
                ) -> Result<V::Value, Self::Error> {
                    visitor.visit_newtype_struct(self)
                }

                fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                    visitor.visit_unit()
                }

                ::serde::forward_to_deserialize_any! {
                    bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
                    bytes byte_buf unit_struct seq tuple tuple_struct enum identifier
                    ignored_any
                }
            }
        }
    }
}
