//! Generates validation code: one function per component schema that checks a JSON value
//! against everything the spec states (types, required, enums, lengths, patterns, bounds,
//! item and property counts) and reports the first violation with the path to it.
//!
//! Validation runs on the parsed JSON before it is deserialized into the typed request, so the
//! client learns *which* field broke *which* rule (`prices[0].unitAmount must be at least 0`),
//! not a serde message.

use std::collections::BTreeSet;

use heck::ToSnakeCase;
use openapiv3::{OpenAPI, ReferenceOr, Schema, SchemaKind, Type};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::model::ref_name;

/// Collects the validator functions a set of schemas needs.
pub struct Validators<'a> {
    spec: &'a OpenAPI,
    patterns: Vec<String>,
    wanted: BTreeSet<String>,
    /// The checks of inline schemas, each once: the many parameters that are a plain
    /// `{type: string}` or the same enum share one function.
    inline: Vec<TokenStream>,
    inline_index: std::collections::HashMap<String, usize>,
}

impl<'a> Validators<'a> {
    pub fn new(spec: &'a OpenAPI) -> Self {
        Validators {
            spec,
            patterns: Vec::new(),
            wanted: BTreeSet::new(),
            inline: Vec::new(),
            inline_index: std::collections::HashMap::new(),
        }
    }

    /// The name of the function validating component `name`.
    pub fn fn_name(name: &str) -> proc_macro2::Ident {
        format_ident!("validate_{}", name.to_snake_case())
    }

    /// An expression of type `fn(&Value, &str) -> Result<(), Violation>` for a schema used at
    /// the top of a body or parameter.
    pub fn entry(&mut self, schema: &ReferenceOr<Schema>) -> TokenStream {
        if let ReferenceOr::Reference { reference } = schema
            && let Some(name) = ref_name(reference)
        {
            self.wanted.insert(name.to_string());
            let f = Self::fn_name(&name);
            return quote!(#f);
        }
        let check = self.check(schema, quote!(value), quote!(path));
        let next = self.inline.len();
        let n = *self.inline_index.entry(check.to_string()).or_insert(next);
        if n == next {
            self.inline.push(check);
        }
        let f = format_ident!("check_{}", n);
        quote!(#f)
    }

    /// Statements checking `value` (a `&Value`) at `path` (a `&str`), returning early with
    /// `Err(Violation)`.
    fn check(
        &mut self,
        schema: &ReferenceOr<Schema>,
        value: TokenStream,
        path: TokenStream,
    ) -> TokenStream {
        let schema = match schema {
            ReferenceOr::Reference { reference } => {
                return match ref_name(reference) {
                    Some(name) => {
                        self.wanted.insert(name.to_string());
                        let f = Self::fn_name(&name);
                        quote!(#f(#value, #path)?;)
                    }
                    None => quote!(),
                };
            }
            ReferenceOr::Item(schema) => schema,
        };
        let inner = self.check_kind(schema, &value, &path);
        if schema.schema_data.nullable && !inner.is_empty() {
            quote!(if !#value.is_null() { #inner })
        } else {
            inner
        }
    }

    fn check_kind(
        &mut self,
        schema: &Schema,
        value: &TokenStream,
        path: &TokenStream,
    ) -> TokenStream {
        match &schema.schema_kind {
            SchemaKind::Type(Type::String(s)) => {
                let mut checks = Vec::new();
                let values: Vec<String> = s.enumeration.iter().flatten().cloned().collect();
                if !values.is_empty() {
                    let list = values.join(", ");
                    checks.push(quote! {
                        if ![#(#values),*].contains(&s) {
                            return Err(Violation::new(#path, format!("must be one of: {}", #list)));
                        }
                    });
                }
                if let Some(min) = s.min_length {
                    checks.push(quote! {
                        if s.chars().count() < #min {
                            return Err(Violation::new(#path, format!("must be at least {} characters long", #min)));
                        }
                    });
                }
                if let Some(max) = s.max_length {
                    checks.push(quote! {
                        if s.chars().count() > #max {
                            return Err(Violation::new(#path, format!("must be at most {} characters long", #max)));
                        }
                    });
                }
                if let Some(pattern) = &s.pattern {
                    let index = match self.patterns.iter().position(|p| p == pattern) {
                        Some(i) => i,
                        None => {
                            self.patterns.push(pattern.clone());
                            self.patterns.len() - 1
                        }
                    };
                    let re = format_ident!("PATTERN_{}", index);
                    // `x-pattern-message` says in words what the pattern allows, for the
                    // people who read the error; without it, the pattern itself is named.
                    let message = match schema.schema_data.extensions.get("x-pattern-message") {
                        Some(serde_json::Value::String(words)) => words.clone(),
                        _ => format!("must match the pattern {pattern}"),
                    };
                    checks.push(quote! {
                        if !#re.is_match(s) {
                            return Err(Violation::new(#path, #message.to_string()));
                        }
                    });
                }
                match &s.format {
                    openapiv3::VariantOrUnknownOrEmpty::Item(openapiv3::StringFormat::DateTime) => {
                        checks.push(quote! {
                            if chrono::DateTime::parse_from_rfc3339(s).is_err() {
                                return Err(Violation::new(#path, "must be an RFC 3339 date-time".to_string()));
                            }
                        });
                    }
                    openapiv3::VariantOrUnknownOrEmpty::Unknown(format) if format == "email" => {
                        checks.push(quote! {
                            if !is_email(s) {
                                return Err(Violation::new(#path, "must be an email address".to_string()));
                            }
                        });
                    }
                    openapiv3::VariantOrUnknownOrEmpty::Unknown(format) if format == "uri" => {
                        checks.push(quote! {
                            if !is_uri(s) {
                                return Err(Violation::new(#path, "must be an absolute URI".to_string()));
                            }
                        });
                    }
                    _ => {}
                }
                if checks.is_empty() {
                    return refuse_unless(quote!(#value.is_string()), path, "must be a string");
                }
                quote! {
                    let Some(s) = #value.as_str() else {
                        return Err(Violation::new(#path, "must be a string".to_string()));
                    };
                    #(#checks)*
                }
            }
            SchemaKind::Type(Type::Integer(i)) => {
                let mut checks = Vec::new();
                if let Some(min) = i.minimum {
                    let (op, word) = if i.exclusive_minimum {
                        (quote!(<=), "greater than")
                    } else {
                        (quote!(<), "at least")
                    };
                    checks.push(quote! {
                        if n #op (#min as i128) {
                            return Err(Violation::new(#path, format!("must be {} {}", #word, #min)));
                        }
                    });
                }
                if let Some(max) = i.maximum {
                    let (op, word) = if i.exclusive_maximum {
                        (quote!(>=), "less than")
                    } else {
                        (quote!(>), "at most")
                    };
                    checks.push(quote! {
                        if n #op (#max as i128) {
                            return Err(Violation::new(#path, format!("must be {} {}", #word, #max)));
                        }
                    });
                }
                let values: Vec<i64> = i.enumeration.iter().flatten().copied().collect();
                if !values.is_empty() {
                    checks.push(quote! {
                        if ![#(#values as i128),*].contains(&n) {
                            return Err(Violation::new(#path, "is not one of the allowed values".to_string()));
                        }
                    });
                }
                if checks.is_empty() {
                    let test = quote!((#value.is_i64() || #value.is_u64()));
                    return refuse_unless(test, path, "must be an integer");
                }
                quote! {
                    let n: i128 = match (#value.as_i64(), #value.as_u64()) {
                        (Some(n), _) => n as i128,
                        (None, Some(n)) => n as i128,
                        _ => return Err(Violation::new(#path, "must be an integer".to_string())),
                    };
                    #(#checks)*
                }
            }
            SchemaKind::Type(Type::Number(num)) => {
                let mut checks = Vec::new();
                if let Some(min) = num.minimum {
                    let (op, word) = if num.exclusive_minimum {
                        (quote!(<=), "greater than")
                    } else {
                        (quote!(<), "at least")
                    };
                    checks.push(quote! {
                        if n #op #min {
                            return Err(Violation::new(#path, format!("must be {} {}", #word, #min)));
                        }
                    });
                }
                if let Some(max) = num.maximum {
                    let (op, word) = if num.exclusive_maximum {
                        (quote!(>=), "less than")
                    } else {
                        (quote!(>), "at most")
                    };
                    checks.push(quote! {
                        if n #op #max {
                            return Err(Violation::new(#path, format!("must be {} {}", #word, #max)));
                        }
                    });
                }
                if checks.is_empty() {
                    return refuse_unless(quote!(#value.is_number()), path, "must be a number");
                }
                quote! {
                    let Some(n) = #value.as_f64() else {
                        return Err(Violation::new(#path, "must be a number".to_string()));
                    };
                    #(#checks)*
                }
            }
            SchemaKind::Type(Type::Boolean(_)) => quote! {
                if !#value.is_boolean() {
                    return Err(Violation::new(#path, "must be true or false".to_string()));
                }
            },
            SchemaKind::Type(Type::Object(o)) => {
                let mut checks = Vec::new();
                for name in &o.required {
                    checks.push(quote! {
                        if !object.contains_key(#name) {
                            return Err(Violation::new(&field(#path, #name), "is required".to_string()));
                        }
                    });
                }
                let mut known = Vec::new();
                for (name, prop) in &o.properties {
                    known.push(name.clone());
                    let prop = prop.clone().unbox();
                    let check = self.check(&prop, quote!(v), quote!(&p));
                    if !check.is_empty() {
                        checks.push(quote! {
                            if let Some(v) = object.get(#name) {
                                let p = field(#path, #name);
                                #check
                            }
                        });
                    }
                }
                match &o.additional_properties {
                    Some(openapiv3::AdditionalProperties::Any(false)) => checks.push(quote! {
                        for key in object.keys() {
                            if ![#(#known),*].contains(&key.as_str()) {
                                return Err(Violation::new(&field(#path, key), "is not a known field".to_string()));
                            }
                        }
                    }),
                    Some(openapiv3::AdditionalProperties::Schema(extra)) => {
                        let check = self.check(extra, quote!(v), quote!(&p));
                        // An extra field's schema that checks nothing needs no loop.
                        if !check.is_empty() {
                            checks.push(quote! {
                                for (key, v) in object.iter() {
                                    if [#(#known),*].contains(&key.as_str()) {
                                        continue;
                                    }
                                    let p = field(#path, key);
                                    #check
                                }
                            });
                        }
                    }
                    _ => {}
                }
                if let Some(max) = o.max_properties {
                    checks.push(quote! {
                        if object.len() > #max {
                            return Err(Violation::new(#path, format!("must have at most {} entries", #max)));
                        }
                    });
                }
                if let Some(min) = o.min_properties {
                    checks.push(quote! {
                        if object.len() < #min {
                            return Err(Violation::new(#path, format!("must have at least {} entries", #min)));
                        }
                    });
                }
                if checks.is_empty() {
                    return refuse_unless(quote!(#value.is_object()), path, "must be an object");
                }
                quote! {
                    let Some(object) = #value.as_object() else {
                        return Err(Violation::new(#path, "must be an object".to_string()));
                    };
                    #(#checks)*
                }
            }
            SchemaKind::Type(Type::Array(a)) => {
                let mut checks = Vec::new();
                if let Some(min) = a.min_items {
                    checks.push(quote! {
                        if items.len() < #min {
                            return Err(Violation::new(#path, format!("must have at least {} items", #min)));
                        }
                    });
                }
                if let Some(max) = a.max_items {
                    checks.push(quote! {
                        if items.len() > #max {
                            return Err(Violation::new(#path, format!("must have at most {} items", #max)));
                        }
                    });
                }
                if let Some(item) = &a.items {
                    let item = item.clone().unbox();
                    let check = self.check(&item, quote!(v), quote!(&p));
                    if !check.is_empty() {
                        checks.push(quote! {
                            for (i, v) in items.iter().enumerate() {
                                let p = format!("{}[{}]", #path, i);
                                #check
                            }
                        });
                    }
                }
                if checks.is_empty() {
                    return refuse_unless(quote!(#value.is_array()), path, "must be an array");
                }
                quote! {
                    let Some(items) = #value.as_array() else {
                        return Err(Violation::new(#path, "must be an array".to_string()));
                    };
                    #(#checks)*
                }
            }
            SchemaKind::AllOf { all_of } => {
                let checks: Vec<_> = all_of
                    .iter()
                    .map(|s| self.check(s, value.clone(), path.clone()))
                    .collect();
                quote!(#(#checks)*)
            }
            SchemaKind::OneOf {
                one_of: alternatives,
            }
            | SchemaKind::AnyOf {
                any_of: alternatives,
            } => {
                let checks: Vec<_> = alternatives
                    .iter()
                    .map(|s| self.check(s, quote!(value), quote!(path)))
                    .collect();
                // An alternative that accepts anything makes the whole accept anything.
                if checks.iter().any(TokenStream::is_empty) {
                    return quote!();
                }
                let closures = checks.iter().map(|check| {
                    quote!((|value: &serde_json::Value, path: &str| -> Result<(), Violation> { #check Ok(()) })(#value, #path))
                });
                quote! {
                    let outcomes = [#(#closures),*];
                    if !outcomes.iter().any(|o| o.is_ok()) {
                        return Err(Violation::new(#path, "does not match any of the allowed shapes".to_string()));
                    }
                }
            }
            SchemaKind::Not { .. } | SchemaKind::Any(_) => quote!(),
        }
    }

    /// All validator functions wanted so far, and the ones they in turn need, plus the
    /// compiled patterns.
    pub fn finish(mut self) -> TokenStream {
        let mut done = BTreeSet::new();
        let mut fns = Vec::new();
        while let Some(name) = self.wanted.iter().find(|n| !done.contains(*n)).cloned() {
            done.insert(name.clone());
            let f = Self::fn_name(&name);
            let schema = self
                .spec
                .components
                .as_ref()
                .and_then(|c| c.schemas.get(&name))
                .cloned();
            let body = match schema {
                Some(schema) => self.check(&schema, quote!(value), quote!(path)),
                None => quote!(),
            };
            let doc = format!("Checks a value against the `{name}` schema.");
            let (value, path) = arguments(&body);
            fns.push((
                name,
                quote! {
                    #[doc = #doc]
                    pub fn #f(#value: &serde_json::Value, #path: &str) -> Result<(), Violation> {
                        #body
                        Ok(())
                    }
                },
            ));
        }
        fns.sort_by(|a, b| a.0.cmp(&b.0));
        let fns = fns.into_iter().map(|(_, f)| f);
        let inline = self.inline.iter().enumerate().map(|(n, body)| {
            let f = format_ident!("check_{}", n);
            let (value, path) = arguments(body);
            quote! {
                fn #f(#value: &serde_json::Value, #path: &str) -> Result<(), Violation> {
                    #body
                    Ok(())
                }
            }
        });
        let patterns = self.patterns.iter().enumerate().map(|(i, p)| {
            let re = format_ident!("PATTERN_{}", i);
            quote! {
                static #re: std::sync::LazyLock<regex::Regex> =
                    std::sync::LazyLock::new(|| regex::Regex::new(#p).expect("the spec's pattern compiles"));
            }
        });
        quote! {
            #(#patterns)*
            #(#fns)*
            #(#inline)*
        }
    }
}

/// A validator's argument names: `_`-prefixed when its body checks nothing, so the generated
/// code binds no unused variable (see `axum_stubs::operation`).
fn arguments(body: &TokenStream) -> (proc_macro2::Ident, proc_macro2::Ident) {
    if body.is_empty() {
        (format_ident!("_value"), format_ident!("_path"))
    } else {
        (format_ident!("value"), format_ident!("path"))
    }
}

/// Statements refusing the value at `path` with `message` unless `test` holds: a type check
/// that binds nothing, for a schema with no other rule.
fn refuse_unless(test: TokenStream, path: &TokenStream, message: &str) -> TokenStream {
    quote! {
        if !#test {
            return Err(Violation::new(#path, #message.to_string()));
        }
    }
}
