//! The axum server stubs: one trait with one method per operation, typed requests, one
//! response enum per operation with a variant per documented status, and a `router` that does
//! authentication, extraction, validation and serialization.
//!
//! Types come from typify (the generator progenitor uses), so server and client agree on the
//! wire shapes. Everything else is emitted here.

use std::collections::{BTreeMap, HashMap, HashSet};

use heck::{ToSnakeCase, ToUpperCamelCase};
use openapiv3::{OpenAPI, ReferenceOr, Schema, SchemaKind, Type};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use typify::{TypeSpace, TypeSpaceSettings};

use crate::derives::Derives;
use crate::error::{GenError, guard, pointer_segment};
use crate::format::{format_tokens, generated_header};
use crate::load::Skip;
use crate::model::{self, BodyKind, Location, Operation, ResponseContent, Status, resolve};
use crate::schema::to_schemars;
use crate::traits::Traits;
use crate::validate::Validators;

/// How the stubs are generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Which serde derives the types carry.
    pub derives: Derives,
    /// How operations are grouped into traits.
    pub traits: Traits,
}

/// Generates the stubs module for `spec`; fails on the first part it cannot generate.
pub fn generate(spec: &OpenAPI, source: &str, options: Options) -> Result<String, GenError> {
    let (code, skipped) = generate_lenient(spec, source, options)?;
    crate::load::strict(code, skipped)
}

/// Generates the stubs for every part of `spec` it can: a component schema typify refuses is
/// read as any JSON value, an operation that cannot be generated is left out of the trait and
/// the router; each is listed.
pub fn generate_lenient(
    spec: &OpenAPI,
    source: &str,
    options: Options,
) -> Result<(String, Vec<Skip>), GenError> {
    let (stubs, skipped) = build(spec, options)?;
    Ok((stubs.module(source)?, skipped))
}

/// One generated operation, with the trait that declares it.
pub(crate) struct Op {
    /// Its place among the operations.
    pub index: usize,
    pub group: crate::traits::Group,
    pub path: String,
    generated: GeneratedOperation,
}

impl Op {
    /// Its request, its response and their impls.
    pub(crate) fn items(&self) -> &TokenStream {
        &self.generated.items
    }
}

/// The stubs' parts, before they are laid out as one module or as a workspace of crates.
pub(crate) struct Stubs {
    /// typify's types, shared and trimmed.
    types: TokenStream,
    /// `SecurityScheme` and `Security`.
    security: TokenStream,
    /// The operations the `Api` trait itself declares (all of them, when they are not split
    /// into groups).
    api_methods: Vec<TokenStream>,
    /// Every generated operation, in the document's order.
    pub ops: Vec<Op>,
    /// The support code, the optional support the operations use, and the validators.
    support: TokenStream,
}

/// Generates the parts of the stubs for every operation of `spec` it can.
pub(crate) fn build(spec: &OpenAPI, options: Options) -> Result<(Stubs, Vec<Skip>), GenError> {
    let operations = model::operations(spec)?;
    let groups = crate::traits::assign(&operations, options.traits);
    let mut skipped = Vec::new();
    let mut types = Types::new(
        new_type_space(spec, &used_schemas(spec, &operations), &mut skipped)?,
        &operations,
    );
    let mut validators = Validators::new(spec);

    let schemes = security_schemes(spec);
    let scheme_variants: Vec<_> = schemes
        .iter()
        .map(|s| format_ident!("{}", s.to_upper_camel_case()))
        .collect();
    let scheme_docs: Vec<_> = schemes
        .iter()
        .map(|s| format!("The `{s}` security scheme."))
        .collect();

    let mut ops = Vec::new();
    let mut api_methods = Vec::new();
    let mut uses = Uses::default();
    let mut read_types = Vec::new();
    for (op, group) in operations.iter().zip(groups) {
        let api_trait = format_ident!("{}", group.name);
        let generated = match operation(
            spec,
            (op, &api_trait),
            &mut types,
            &mut validators,
            &schemes,
            &mut uses,
            &mut read_types,
            options.derives == Derives::All,
        ) {
            Ok(generated) => generated,
            Err(e) => {
                skipped.push(Skip::of(&e, &op.pointer, "left out of the axum stubs"));
                continue;
            }
        };
        if group.name == crate::traits::BASE {
            api_methods.push(generated.trait_method.clone());
        }
        ops.push(Op {
            index: ops.len(),
            group,
            path: op.path.clone(),
            generated,
        });
    }
    let type_tokens = guard("typify", || Ok(types.space.to_stream()))?;
    let type_tokens = crate::same_types::share(type_tokens)?;
    let type_tokens = match options.derives {
        Derives::AsUsed => crate::derives::trim(type_tokens, &read_types)?,
        Derives::All => type_tokens,
    };
    let types = crate::deserialize::lighten(type_tokens)?;
    let types = crate::timestamps::fast(types)?;
    let security = quote! {
        /// The security schemes the spec declares.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum SecurityScheme {
            #(#[doc = #scheme_docs] #scheme_variants,)*
        }

        /// An operation's security requirement: any one of the alternatives, each a set of
        /// schemes that must all be satisfied. Empty means no credential is needed.
        pub type Security = &'static [&'static [SecurityScheme]];
    };
    let mut support = support();
    support.extend(uses.support());
    support.extend(validators.finish());
    Ok((
        Stubs {
            types,
            security,
            api_methods,
            ops,
            support,
        },
        skipped,
    ))
}

/// The traits of `ops` other than `Api`, each with its methods, in the order they first
/// appear; and each path's methods with the traits that declare them.
#[allow(clippy::type_complexity)]
pub(crate) fn traits_and_routes<'a>(
    ops: &[&'a Op],
) -> (
    Vec<(&'a crate::traits::Group, Vec<TokenStream>)>,
    Vec<(String, Vec<TokenStream>, Vec<&'a str>)>,
) {
    let mut trait_methods: Vec<(&crate::traits::Group, Vec<TokenStream>)> = Vec::new();
    let mut routes: Vec<(String, Vec<TokenStream>, Vec<&str>)> = Vec::new();
    for &op in ops {
        let group = &op.group;
        if group.name != crate::traits::BASE {
            match trait_methods.iter_mut().find(|(g, _)| *g == group) {
                Some((_, methods)) => methods.push(op.generated.trait_method.clone()),
                None => trait_methods.push((group, vec![op.generated.trait_method.clone()])),
            }
        }
        match routes.iter_mut().find(|(path, _, _)| *path == op.path) {
            Some((_, methods, traits)) => {
                methods.push(op.generated.route.clone());
                if !traits.contains(&group.name.as_str()) {
                    traits.push(&group.name);
                }
            }
            None => routes.push((
                op.path.clone(),
                vec![op.generated.route.clone()],
                vec![&group.name],
            )),
        }
    }
    (trait_methods, routes)
}

/// The group traits' definitions; `router` names where the implementation goes.
pub(crate) fn group_traits(
    trait_methods: &[(&crate::traits::Group, Vec<TokenStream>)],
    router: &str,
) -> TokenStream {
    let traits = trait_methods.iter().map(|(group, methods)| {
        let ident = format_ident!("{}", group.name);
        let doc = if group.key.starts_with('/') {
            format!(" The untagged operations under `{}`.", group.key)
        } else {
            format!(" The operations tagged `{}`.", group.key)
        };
        let doc =
            format!("{doc} Implement it with [`Api`] and pass the implementation to {router}.");
        quote! {
            #[doc = #doc]
            pub trait #ident: Api {
                #(#methods)*
            }
        }
    });
    quote!(#(#traits)*)
}

/// The lines every stubs file starts with.
pub(crate) fn prelude() -> TokenStream {
    quote! {
        #![allow(clippy::all, clippy::pedantic, unused_imports, dead_code, missing_docs)]

        use std::future::Future;
        use std::sync::Arc;

        use axum::response::{IntoResponse, Response};
    }
}

impl Stubs {
    /// Whether the operations are split into group traits.
    pub(crate) fn grouped(&self) -> bool {
        self.api_methods.is_empty() && !self.ops.is_empty()
    }

    /// typify's types, shared and trimmed: the body of the `types` module.
    pub(crate) fn types(&self) -> &TokenStream {
        &self.types
    }

    /// The support code, the optional support the operations use, and the validators.
    pub(crate) fn support(&self) -> &TokenStream {
        &self.support
    }

    /// The security schemes and the `Api` trait; `router` names the function the
    /// implementation is passed to.
    pub(crate) fn api(&self, router: &str) -> TokenStream {
        let Stubs {
            security,
            api_methods,
            ..
        } = self;
        let api_doc = if self.grouped() {
            format!(
                " What every group of operations shares: implement it, and the trait of each group, and pass the implementation to {router}."
            )
        } else {
            format!(" The operations of the API. Implement this trait and pass it to {router}.")
        };
        quote! {
            #security

            #[doc = #api_doc]
            pub trait Api: Send + Sync + 'static {
                /// Who is calling, as established by [`Api::authenticate`].
                type Caller: Send + 'static;

                /// Establishes the caller from the request head, for an operation with the given
                /// security requirement. Called before the request is parsed. A refusal is the
                /// response the client sees, rendered by the implementation.
                fn authenticate(
                    &self,
                    security: Security,
                    parts: &http::request::Parts,
                ) -> impl Future<Output = Result<Self::Caller, Response>> + Send;

                /// Renders a rejection of malformed or invalid input as the response the client
                /// sees: the implementation gives it its error body and code.
                fn reject(&self, rejection: Rejection, parts: &http::request::Parts) -> Response;

                #(#api_methods)*
            }
        }
    }

    /// The stubs as one module.
    pub(crate) fn module(&self, source: &str) -> Result<String, GenError> {
        let all: Vec<&Op> = self.ops.iter().collect();
        let (trait_methods, routes) = traits_and_routes(&all);
        let group_idents: Vec<_> = trait_methods
            .iter()
            .map(|(g, _)| format_ident!("{}", g.name))
            .collect();
        let group_traits = group_traits(&trait_methods, "[`router`]");
        let (routes, route_fns) = router_body(routes);
        let prelude = prelude();
        let types = &self.types;
        let api = self.api("[`router`]");
        let support = &self.support;
        let items = self.ops.iter().map(|op| &op.generated.items);
        let tokens = quote! {
            #prelude

            /// Request and response bodies, generated by typify from the spec's schemas.
            pub mod types {
                #types
            }

            #api

            #group_traits

            /// Builds the router serving every operation of the spec on `api`.
            pub fn router<A: Api #(+ #group_idents)*>(api: Arc<A>) -> axum::Router {
                // One statement a route, not one chained expression: the compiler walks a chain
                // of thousands of calls recursively, and overflows its stack on the largest specs.
                let mut router = axum::Router::<Arc<A>>::new();
                #routes
                router.with_state(api)
            }

            #route_fns

            #(#items)*

            #support
        };
        let body = format_tokens(tokens)?;
        Ok(format!("{}{}", generated_header(source), body))
    }
}

/// The most paths one function of the router adds.
const PATHS_PER_ROUTER_FN: usize = 64;

/// The statements that add every path to `router`, and the functions they call. A document
/// of up to [`PATHS_PER_ROUTER_FN`] paths is routed in one function; a larger one in a function
/// per that many paths (`routes_0`, `routes_1`, …), each bound by the traits its operations
/// belong to, so that no one body holds thousands of generic instantiations (Microsoft Graph
/// has 7,419 paths).
pub(crate) fn router_body(
    routes: Vec<(String, Vec<TokenStream>, Vec<&str>)>,
) -> (TokenStream, TokenStream) {
    let statement = |(path, methods, _): &(String, Vec<TokenStream>, Vec<&str>)| quote!(router = router.route(#path, axum::routing::MethodRouter::new() #(#methods)*););
    if routes.len() <= PATHS_PER_ROUTER_FN {
        let statements = routes.iter().map(statement);
        return (quote!(#(#statements)*), TokenStream::new());
    }
    let mut calls = Vec::new();
    let mut fns = Vec::new();
    for (index, chunk) in routes.chunks(PATHS_PER_ROUTER_FN).enumerate() {
        let name = format_ident!("routes_{}", index);
        let mut traits: Vec<&str> = Vec::new();
        for name in chunk.iter().flat_map(|(_, _, traits)| traits) {
            if *name != crate::traits::BASE && !traits.contains(name) {
                traits.push(name);
            }
        }
        let traits = traits.iter().map(|t| format_ident!("{}", t));
        let statements = chunk.iter().map(statement);
        calls.push(quote!(router = #name(router);));
        fns.push(quote! {
            fn #name<A: Api #(+ #traits)*>(mut router: axum::Router<Arc<A>>) -> axum::Router<Arc<A>> {
                #(#statements)*
                router
            }
        });
    }
    (quote!(#(#calls)*), quote!(#(#fns)*))
}

/// The component schemas the operations reach: the stubs hold the types a server reads and
/// writes, not every schema of the document (on GitHub's, 625 of 969: the rest describe the
/// webhooks it sends).
fn used_schemas(spec: &OpenAPI, operations: &[Operation]) -> std::collections::BTreeSet<String> {
    fn refs(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(r)) = map.get("$ref")
                    && let Some(name) = model::ref_name(r)
                {
                    out.push(name.into_owned());
                }
                map.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut todo = Vec::new();
    let mut mention = |schema: &ReferenceOr<Schema>| {
        if let Ok(value) = serde_json::to_value(schema) {
            refs(&value, &mut todo);
        }
    };
    for op in operations {
        op.params.iter().for_each(|p| mention(&p.schema));
        if let Some(body) = &op.body {
            mention(&body.schema);
        }
        for response in &op.responses {
            if let ResponseContent::Json(schema) = &response.content {
                mention(schema);
            }
        }
    }
    let components = spec.components.as_ref().map(|c| &c.schemas);
    let mut used = std::collections::BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !used.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = components.and_then(|c| c.get(&name))
            && let Ok(value) = serde_json::to_value(schema)
        {
            refs(&value, &mut todo);
        }
    }
    used
}

fn new_type_space(
    spec: &OpenAPI,
    used: &std::collections::BTreeSet<String>,
    skipped: &mut Vec<Skip>,
) -> Result<TypeSpace, GenError> {
    let mut settings = TypeSpaceSettings::default();
    // No struct builders: a server builds its responses with struct literals, and the
    // builders were more than half of a large spec's stubs.
    settings
        .with_type_mod("types")
        .with_map_type("::std::collections::BTreeMap");
    let any = || schemars::schema::Schema::Bool(true);
    let mut schemas = Vec::new();
    if let Some(components) = &spec.components {
        for (name, schema) in components.schemas.iter().filter(|(n, _)| used.contains(*n)) {
            let pointer = format!("/components/schemas/{}", pointer_segment(name));
            let converted = match to_schemars(schema, &pointer) {
                Ok(converted) => converted,
                Err(e) => {
                    skipped.push(Skip {
                        pointer,
                        reason: format!("read as any JSON value in the axum stubs: {e}"),
                    });
                    any()
                }
            };
            schemas.push((name.clone(), converted));
        }
    }
    let attempt = |schemas: Vec<(String, schemars::schema::Schema)>| {
        let mut types = TypeSpace::new(&settings);
        guard("typify", || {
            types.add_ref_types(schemas).map_err(|e| e.to_string())
        })
        .map(|()| types)
    };
    let first = match attempt(schemas.clone()) {
        Ok(types) => return Ok(types),
        Err(e) => e,
    };
    // typify takes the schemas as one batch: find the ones it refuses, read them as any value.
    let blank = |removed: &[usize]| {
        let mut schemas = schemas.clone();
        for &i in removed {
            schemas[i].1 = any();
        }
        schemas
    };
    let culprits =
        crate::degrade::culprits(schemas.len(), |removed| attempt(blank(removed)).is_ok())
            .ok_or(first)?;
    for &i in &culprits {
        skipped.push(Skip {
            pointer: format!("/components/schemas/{}", pointer_segment(&schemas[i].0)),
            reason: "read as any JSON value in the axum stubs: typify cannot generate it".into(),
        });
    }
    attempt(blank(&culprits))
}

/// The types of a document's inline schemas. A parameter's inline schema written out the same
/// way in several operations (Microsoft Graph repeats each `$select`/`$expand` enum in
/// hundreds) is one type, so the output grows with the distinct schemas, not with their
/// copies. Sharing is among parameters of one name: a `tierId` path parameter and a
/// `productId` one are two types even when their schemas are the same. Bodies and responses
/// keep a type per operation, named after it.
///
/// Names, assigned in document order so the output is stable: a parameter name whose uses are
/// all one schema, used more than once, names its type (`TierId`); any other type is named
/// after its first use (`{Operation}{Parameter}`, `{Operation}Body`). A name typify already
/// holds (a component schema's) gets a number, since typify would otherwise answer with that
/// other type.
struct Types {
    space: TypeSpace,
    /// The type of each parameter schema added so far, by parameter name (upper camel case)
    /// and converted schema text.
    seen: HashMap<(String, String), TokenStream>,
    /// The types named after their parameter: names whose every use is one schema, used more
    /// than once.
    param_named: HashMap<(String, String), String>,
    /// Type names typify holds or was given.
    taken: HashSet<String>,
    /// Each parameter schema's converted text, by pointer, as `new` computed it.
    keys: HashMap<String, String>,
}

impl Types {
    fn new(space: TypeSpace, operations: &[Operation]) -> Types {
        let mut uses: BTreeMap<String, (HashSet<String>, usize)> = BTreeMap::new();
        let mut keys = HashMap::new();
        for op in operations {
            for param in &op.params {
                let pointer = format!("{}/schema", param.pointer);
                if let Ok(key) = to_schemars(&param.schema, &pointer)
                    .and_then(|converted| converted_key(&converted, &pointer))
                {
                    let entry = uses.entry(param.name.to_upper_camel_case()).or_default();
                    entry.0.insert(key.clone());
                    entry.1 += 1;
                    keys.insert(pointer, key);
                }
            }
        }
        let taken: HashSet<String> = space.iter_types().map(|t| t.name()).collect();
        let param_named = uses
            .into_iter()
            .filter(|(name, (keys, count))| {
                keys.len() == 1 && *count > 1 && !name.is_empty() && !taken.contains(name)
            })
            .filter_map(|(name, (keys, _))| {
                let key = keys.into_iter().next()?;
                Some(((name.clone(), key), name))
            })
            .collect();
        Types {
            space,
            seen: HashMap::new(),
            param_named,
            taken,
            keys,
        }
    }

    /// The type of `schema` (at `pointer`), shared with the other parameters of the name
    /// `param` where it is a parameter's; `first` names it if it needs a type of its own and
    /// is not named after its parameter.
    fn add(
        &mut self,
        schema: &ReferenceOr<Schema>,
        param: Option<&str>,
        first: String,
        pointer: &str,
    ) -> Result<TokenStream, GenError> {
        let key = match (param, self.keys.get(pointer)) {
            (Some(param), Some(key)) => Some((param.to_owned(), key.clone())),
            _ => None,
        };
        if let Some(ident) = key.as_ref().and_then(|key| self.seen.get(key)) {
            return Ok(ident.clone());
        }
        let converted = to_schemars(schema, pointer)?;
        let named = key.as_ref().and_then(|key| self.param_named.get(key));
        let mut name = named.cloned().unwrap_or(first);
        if self.taken.contains(&name) {
            let base = name;
            let mut n = 2;
            while self.taken.contains(&format!("{base}{n}")) {
                n += 1;
            }
            name = format!("{base}{n}");
        }
        self.taken.insert(name.clone());
        let space = &mut self.space;
        let ident = guard("typify", || {
            let id = space
                .add_type_with_name(&converted, Some(name))
                .map_err(|e| e.to_string())?;
            Ok(space.get_type(&id).map_err(|e| e.to_string())?.ident())
        })
        .map_err(|e| match e {
            GenError::Upstream { message, .. } => GenError::unsupported(pointer, message),
            other => other,
        })?;
        if let Some(key) = key {
            self.seen.insert(key, ident.clone());
        }
        Ok(ident)
    }
}

/// An inline schema's identity for sharing: its converted JSON Schema's text.
fn converted_key(converted: &schemars::schema::Schema, pointer: &str) -> Result<String, GenError> {
    serde_json::to_string(converted).map_err(|e| GenError::unsupported(pointer, e.to_string()))
}

fn security_schemes(spec: &OpenAPI) -> Vec<String> {
    spec.components
        .as_ref()
        .map(|c| c.security_schemes.keys().cloned().collect())
        .unwrap_or_default()
}

/// Which optional support code the operations call; a module carries only what it uses.
#[derive(Default)]
struct Uses {
    cookies: bool,
    json_params: bool,
    form: bool,
    multipart: bool,
    text: bool,
    binary: bool,
    stream: bool,
}

impl Uses {
    fn support(&self) -> TokenStream {
        let mut out = driver(self.multipart, self.stream);
        if self.cookies {
            out.extend(support_cookies());
        }
        if self.json_params {
            out.extend(support_json_params());
        }
        if self.form {
            out.extend(support_form());
        }
        if self.multipart {
            out.extend(support_multipart());
        }
        if self.text || self.binary {
            out.extend(support_plain_bodies());
        }
        out
    }
}

/// How a form body's text becomes JSON before validation: the schema's shape, down to
/// [`FORM_SHAPE_DEPTH`] levels (deeper, and recursive, values are kept as text).
fn form_shape(spec: &OpenAPI, schema: &ReferenceOr<Schema>, depth: usize) -> TokenStream {
    const FORM_SHAPE_DEPTH: usize = 6;
    let Some(schema) = resolve(spec, schema).filter(|_| depth < FORM_SHAPE_DEPTH) else {
        return quote!(FormShape::Any);
    };
    let object = |properties: Vec<(&String, &ReferenceOr<Box<Schema>>)>,
                  additional: Option<&openapiv3::AdditionalProperties>| {
        let entries = properties.into_iter().map(|(name, property)| {
            let shape = form_shape(spec, &property.clone().unbox(), depth + 1);
            quote!((#name, #shape))
        });
        let extra = match additional {
            Some(openapiv3::AdditionalProperties::Schema(extra)) => {
                form_shape(spec, extra, depth + 1)
            }
            _ => quote!(FormShape::Any),
        };
        quote!(FormShape::Object(&[#(#entries),*], &#extra))
    };
    match &schema.schema_kind {
        SchemaKind::Type(Type::Integer(_)) => quote!(FormShape::Integer),
        SchemaKind::Type(Type::Number(_)) => quote!(FormShape::Number),
        SchemaKind::Type(Type::Boolean(_)) => quote!(FormShape::Boolean),
        SchemaKind::Type(Type::String(_)) => quote!(FormShape::String),
        SchemaKind::Type(Type::Array(array)) => {
            let item = match &array.items {
                Some(item) => form_shape(spec, &item.clone().unbox(), depth + 1),
                None => quote!(FormShape::Any),
            };
            quote!(FormShape::Array(&#item))
        }
        SchemaKind::Type(Type::Object(o)) => object(
            o.properties.iter().collect(),
            o.additional_properties.as_ref(),
        ),
        SchemaKind::AllOf { all_of } => {
            // The parts' properties together.
            let mut properties = Vec::new();
            for part in all_of {
                if let Some(SchemaKind::Type(Type::Object(o))) =
                    resolve(spec, part).map(|s| &s.schema_kind)
                {
                    properties.extend(o.properties.iter());
                }
            }
            object(properties, None)
        }
        _ => quote!(FormShape::Any),
    }
}

struct GeneratedOperation {
    items: TokenStream,
    trait_method: TokenStream,
    route: TokenStream,
}

/// How a parameter's text is read before validation.
fn coercion(spec: &OpenAPI, schema: &ReferenceOr<Schema>) -> TokenStream {
    match resolve(spec, schema).map(|s| &s.schema_kind) {
        Some(SchemaKind::Type(Type::Integer(_))) => quote!(Coerce::Integer),
        Some(SchemaKind::Type(Type::Number(_))) => quote!(Coerce::Number),
        Some(SchemaKind::Type(Type::Boolean(_))) => quote!(Coerce::Boolean),
        Some(SchemaKind::Type(Type::Array(a))) => {
            let inner = match a.items.as_ref().map(|i| i.clone().unbox()) {
                Some(item) => match resolve(spec, &item).map(|s| &s.schema_kind) {
                    Some(SchemaKind::Type(Type::Integer(_))) => quote!(Coerce::Integer),
                    Some(SchemaKind::Type(Type::Number(_))) => quote!(Coerce::Number),
                    Some(SchemaKind::Type(Type::Boolean(_))) => quote!(Coerce::Boolean),
                    _ => quote!(Coerce::String),
                },
                None => quote!(Coerce::String),
            };
            quote!(Coerce::Array(&#inner))
        }
        _ => quote!(Coerce::String),
    }
}

fn default_of(spec: &OpenAPI, schema: &ReferenceOr<Schema>) -> Option<String> {
    resolve(spec, schema)
        .and_then(|s| s.schema_data.default.as_ref())
        .map(|d| d.to_string())
}

fn status_variant(status: &Status) -> (proc_macro2::Ident, TokenStream) {
    match status {
        Status::Code(code) => {
            let reason = http::StatusCode::from_u16(*code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .map(|r| r.to_upper_camel_case().replace(['-', '\''], ""))
                .unwrap_or_else(|| format!("Status{code}"));
            let constant = match code {
                200 => Some("OK"),
                201 => Some("CREATED"),
                202 => Some("ACCEPTED"),
                204 => Some("NO_CONTENT"),
                400 => Some("BAD_REQUEST"),
                401 => Some("UNAUTHORIZED"),
                403 => Some("FORBIDDEN"),
                404 => Some("NOT_FOUND"),
                409 => Some("CONFLICT"),
                422 => Some("UNPROCESSABLE_ENTITY"),
                429 => Some("TOO_MANY_REQUESTS"),
                500 => Some("INTERNAL_SERVER_ERROR"),
                503 => Some("SERVICE_UNAVAILABLE"),
                _ => None,
            };
            let expr = match constant {
                Some(name) => {
                    let name = format_ident!("{}", name);
                    quote!(http::StatusCode::#name)
                }
                None => quote!(http::StatusCode::from_u16(#code).expect("a valid status")),
            };
            (format_ident!("{}", reason), expr)
        }
        Status::Range(range) => (format_ident!("Range{}xx", range), quote!()),
        Status::Default => (format_ident!("Default"), quote!()),
    }
}

#[allow(clippy::too_many_arguments)]
fn operation(
    spec: &OpenAPI,
    // The operation and the trait that declares it.
    (op, api_trait): (&Operation, &proc_macro2::Ident),
    types: &mut Types,
    validators: &mut Validators,
    schemes: &[String],
    uses: &mut Uses,
    read_types: &mut Vec<TokenStream>,
    // Whether requests and responses derive `Debug` and `Clone`: nothing in the router uses
    // either, and on Microsoft Graph's workspace the two derives were a quarter of its check.
    derived: bool,
) -> Result<GeneratedOperation, GenError> {
    let snake = format_ident!("{}", op.snake());
    let pascal = op.pascal();
    let request_ident = format_ident!("{}Request", pascal);
    let response_ident = format_ident!("{}Response", pascal);

    // Security.
    let mut alternatives = Vec::new();
    for (index, alternative) in op.security.iter().enumerate() {
        let mut set = Vec::new();
        for name in alternative {
            if !schemes.contains(name) {
                return Err(GenError::unsupported(
                    format!("{}/security/{index}", op.pointer),
                    format!("the undeclared security scheme `{name}`"),
                ));
            }
            let variant = format_ident!("{}", name.to_upper_camel_case());
            set.push(quote!(SecurityScheme::#variant));
        }
        alternatives.push(quote!(&[#(#set),*]));
    }

    // Parameters and body.
    let mut fields = Vec::new();
    let mut extract = Vec::new();
    let mut field_names = Vec::new();
    for param in &op.params {
        // Names that differ only by punctuation (`StartTime`, `StartTime<`) or location make
        // the same field: later ones get a number.
        let mut name = safe_ident(&param.name.to_snake_case());
        if field_names.iter().any(|f: &proc_macro2::Ident| *f == name) {
            let mut n = 2;
            while field_names.iter().any(|f| *f == format!("{name}_{n}")) {
                n += 1;
            }
            name = format!("{name}_{n}");
        }
        let field = format_ident!("{}", name);
        let param_name = param.name.to_upper_camel_case();
        let ty = types.add(
            &param.schema,
            Some(&param_name),
            format!("{pascal}{param_name}"),
            &format!("{}/schema", param.pointer),
        )?;
        read_types.push(ty.clone());
        let check = validators.entry(&param.schema);
        let coerce = coercion(spec, &param.schema);
        let name = &param.name;
        let raw = match param.location {
            Location::Path => quote!(path_value(&input.path_params, #name)),
            Location::Query => quote!(query_values(&input.raw_query, #name)),
            Location::Header => quote!(header_values(&input.parts.headers, #name)),
            Location::Cookie => {
                uses.cookies = true;
                quote!(cookie_values(&input.parts.headers, #name))
            }
        };
        let location = match param.location {
            Location::Path => "path parameter",
            Location::Query => "query parameter",
            Location::Header => "header",
            Location::Cookie => "cookie",
        };
        let json = param.content.as_deref().is_some_and(model::is_json);
        uses.json_params |= json;
        let default = default_of(spec, &param.schema);
        let doc = param
            .description
            .clone()
            .unwrap_or_else(|| format!("The `{name}` {location}."));
        let decode = if json {
            quote!(decode_json_param(#raw, #name, #check)?)
        } else {
            quote!(decode_param(#raw, #name, #coerce, #check)?)
        };
        let (field_ty, value) = if param.required && !json {
            // One call and one `?` where `required(decode_param(…)?, …)?` took two of each
            // (Graph's 25,770 required parameters).
            (
                ty.clone(),
                quote!(decode_required(#raw, #name, #coerce, #check, #location)?),
            )
        } else if param.required {
            (ty.clone(), quote!(required(#decode, #name, #location)?))
        } else if let Some(default) = default {
            (ty.clone(), quote!(or_default(#decode, #name, #default)?))
        } else {
            (quote!(Option<#ty>), decode)
        };
        fields.push(quote!(#[doc = #doc] pub #field: #field_ty,));
        extract.push(quote! {
            let #field = #value;
        });
        field_names.push(field);
    }
    if let Some(body) = op.body.as_ref().filter(|b| b.stream) {
        uses.stream = true;
        let media = &body.media;
        let doc = format!(
            "The request body ({media}), unread: the implementation reads it and enforces its \
             own size limit."
        );
        fields.push(quote!(
            #[doc = "The body's `Content-Type`, as the client sent it."]
            pub content_type: Option<String>,
            #[doc = #doc]
            pub body: axum::body::Body,
        ));
        extract.push(quote! {
            let content_type = header_values(&input.parts.headers, "content-type").and_then(|v| v.into_iter().next());
            let body = input.stream.take().unwrap_or_default();
        });
        field_names.push(format_ident!("content_type"));
        field_names.push(format_ident!("body"));
    } else if let Some(body) = &op.body {
        // The generated code binds no variable it may not use: rustc's unused-variable
        // analysis costs time per such binding in proportion to the whole crate, allowed or
        // not (on the largest documents, a quarter of `cargo check`).
        let (read, bytes) = if body.raw {
            fields.push(quote!(
                #[doc = "The request body exactly as it arrived, for a signature over it."]
                pub raw_body: axum::body::Bytes,
            ));
            field_names.push(format_ident!("raw_body"));
            (
                quote!(let raw_body = input.body.clone();),
                quote!(&raw_body),
            )
        } else {
            (quote!(), quote!(&input.body))
        };
        let required = body.required;
        let media = &body.media;
        let (ty, parse, what) = match body.kind {
            BodyKind::Json => {
                let ty = types.add(&body.schema, None, format!("{pascal}Body"), &body.pointer)?;
                read_types.push(ty.clone());
                let check = validators.entry(&body.schema);
                (
                    ty,
                    quote!(json_body(&input.parts.headers, #bytes, #required, #check)?),
                    "JSON",
                )
            }
            BodyKind::Form => {
                uses.form = true;
                let ty = types.add(&body.schema, None, format!("{pascal}Body"), &body.pointer)?;
                read_types.push(ty.clone());
                let check = validators.entry(&body.schema);
                let shape = form_shape(spec, &body.schema, 0);
                (
                    ty,
                    quote!(form_body(&input.parts.headers, #bytes, #required, &#shape, #check)?),
                    "form",
                )
            }
            BodyKind::Multipart => {
                uses.multipart = true;
                let names: Vec<String> = resolve(spec, &body.schema)
                    .and_then(|s| match &s.schema_kind {
                        SchemaKind::Type(Type::Object(o)) => Some(o.required.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                (
                    quote!(Multipart),
                    quote!(multipart_body(input.multipart.as_ref(), #required, &[#(#names),*])?),
                    "multipart",
                )
            }
            BodyKind::Text => {
                uses.text = true;
                (
                    quote!(String),
                    quote!(text_body(#bytes, #required)?),
                    "text",
                )
            }
            BodyKind::Binary => {
                uses.binary = true;
                fields.push(quote!(
                    #[doc = "The body's `Content-Type`, as the client sent it."]
                    pub content_type: Option<String>,
                ));
                field_names.push(format_ident!("content_type"));
                extract.push(quote! {
                    let content_type = header_values(&input.parts.headers, "content-type").and_then(|v| v.into_iter().next());
                });
                (
                    quote!(axum::body::Bytes),
                    quote!(binary_body(#bytes, #required)),
                    "binary",
                )
            }
        };
        let doc = if body.kind == BodyKind::Json {
            "The request body".to_owned()
        } else {
            format!("The request body ({media})")
        };
        if required {
            let missing = format!("a {what} request body is required");
            let doc = format!("{doc}.");
            fields.push(quote!(#[doc = #doc] pub body: #ty,));
            extract.push(quote! {
                #read
                let body = #parse
                    .ok_or_else(|| Rejection::bad_request(None, #missing.to_string()))?;
            });
        } else {
            let doc = format!("{doc}, when one was sent.");
            fields.push(quote!(#[doc = #doc] pub body: Option<#ty>,));
            extract.push(quote! {
                #read
                let body = #parse;
            });
        }
        field_names.push(format_ident!("body"));
    }
    let reads_stream = op.body.as_ref().is_some_and(|b| b.stream);
    let reads_body = op.body.is_some() && !reads_stream;
    let reads_multipart = op
        .body
        .as_ref()
        .is_some_and(|b| b.kind == BodyKind::Multipart);
    let reads_path = op.params.iter().any(|p| p.location == Location::Path);
    let reads_query = op.params.iter().any(|p| p.location == Location::Query);

    // Responses.
    let mut variants = Vec::new();
    let mut into_arms = Vec::new();
    let mut error_types = Vec::new();
    let mut has_500 = false;
    let mut error_arms = Vec::new();
    for response in &op.responses {
        let (variant, status_expr) = status_variant(&response.status);
        let doc = format!(
            "{}: {}",
            match &response.status {
                Status::Code(c) => c.to_string(),
                Status::Range(r) => format!("{r}XX"),
                Status::Default => "default".to_string(),
            },
            response.description.trim()
        );
        let dynamic_status = !matches!(response.status, Status::Code(_));
        let body_ty = match &response.content {
            ResponseContent::Json(schema) => {
                Some(types.add(schema, None, format!("{pascal}Response"), &response.pointer)?)
            }
            ResponseContent::Other(_) => Some(quote!(axum::body::Bytes)),
            ResponseContent::None => None,
        };
        let is_error = match &response.status {
            Status::Code(c) => *c >= 400,
            Status::Range(r) => *r >= 4,
            Status::Default => true,
        };
        if let (true, Some(ty)) = (is_error, &body_ty) {
            error_types.push(ty.to_string());
            if let Status::Code(code) = &response.status {
                if *code == 500 {
                    has_500 = true;
                }
                error_arms.push(quote!(#code => Self::#variant(body),));
            }
        }
        let render = |status: TokenStream| match &response.content {
            ResponseContent::Json(_) => quote!(json_response(#status, &body)),
            ResponseContent::Other(media) => quote!(bytes_response(#status, #media, body)),
            ResponseContent::None => quote!(empty_response(#status)),
        };
        match (dynamic_status, body_ty) {
            (false, Some(ty)) => {
                let render = render(status_expr);
                variants.push(quote!(#[doc = #doc] #variant(#ty),));
                into_arms.push(quote!(Self::#variant(body) => #render,));
            }
            (false, None) => {
                let render = render(status_expr);
                variants.push(quote!(#[doc = #doc] #variant,));
                into_arms.push(quote!(Self::#variant => #render,));
            }
            (true, Some(ty)) => {
                let render = render(quote!(status));
                variants.push(quote!(#[doc = #doc] #variant(http::StatusCode, #ty),));
                into_arms.push(quote!(Self::#variant(status, body) => #render,));
            }
            (true, None) => {
                let render = render(quote!(status));
                variants.push(quote!(#[doc = #doc] #variant(http::StatusCode),));
                into_arms.push(quote!(Self::#variant(status) => #render,));
            }
        }
    }
    error_types.dedup();
    let error_impl = if has_500 && error_types.len() == 1 {
        let ty: TokenStream = error_types[0].parse().expect("a type parses");
        quote! {
            impl ErrorResponse<#ty> for #response_ident {
                fn from_error(status: http::StatusCode, body: #ty) -> Self {
                    match status.as_u16() {
                        #(#error_arms)*
                        _ => Self::InternalServerError(body),
                    }
                }
            }
        }
    } else {
        quote!()
    };

    let summary = op.summary.clone().unwrap_or_else(|| op.id.clone());
    let mut method_doc = vec![summary.clone()];
    if let Some(description) = &op.description {
        method_doc.push(String::new());
        method_doc.extend(description.trim().lines().map(str::to_string));
    }
    method_doc.push(String::new());
    method_doc.push(format!("`{} {}`", op.method.to_uppercase(), op.path));
    let request_doc = format!("The parsed and validated input of `{}`.", op.id);
    let response_doc = format!("Every response `{}` documents.", op.id);
    let method_fn = format_ident!("{}", op.method);

    // The statuses a rejection may use: every documented one, or any when a range or default
    // response covers client errors.
    let open = op.responses.iter().any(|r| match r.status {
        Status::Code(_) => false,
        Status::Range(range) => range == 4,
        Status::Default => true,
    });
    // The trait's defaults (no credential, any status) are left to it: each constant is
    // type-checked on its own, 11,422 times in Microsoft Graph.
    let statuses = if open {
        quote!()
    } else {
        let codes = op.responses.iter().filter_map(|r| match r.status {
            Status::Code(code) => Some(proc_macro2::Literal::u16_unsuffixed(code)),
            _ => None,
        });
        quote!(const STATUSES: Option<&'static [u16]> = Some(&[#(#codes),*]);)
    };
    let security = if alternatives.is_empty() {
        quote!()
    } else {
        quote!(const SECURITY: Security = &[#(#alternatives),*];)
    };

    // A body left unread as a stream can be read once: such a request is never `Clone`.
    let request_derives = match (derived, reads_stream) {
        (false, _) => quote!(),
        (true, true) => quote!(#[derive(Debug)]),
        (true, false) => quote!(#[derive(Debug, Clone)]),
    };
    let response_derives = if derived {
        quote!(#[derive(Debug, Clone)])
    } else {
        quote!()
    };
    let input = if extract.is_empty() {
        format_ident!("_input")
    } else {
        format_ident!("input")
    };
    let items = quote! {
        #[doc = #request_doc]
        #request_derives
        pub struct #request_ident {
            #(#fields)*
        }

        #[doc = #response_doc]
        #response_derives
        pub enum #response_ident {
            #(#variants)*
        }

        impl IntoResponse for #response_ident {
            fn into_response(self) -> Response {
                match self {
                    #(#into_arms)*
                }
            }
        }

        #error_impl

        impl<A: #api_trait> Operation<A> for #request_ident {
            type Response = #response_ident;
            #security
            #statuses
            const READS: Reads = Reads {
                path: #reads_path,
                query: #reads_query,
                body: #reads_body,
                multipart: #reads_multipart,
                stream: #reads_stream,
            };

            fn parse(#input: &Input<'_>) -> Result<Self, Rejection> {
                #(#extract)*
                Ok(Self { #(#field_names),* })
            }

            fn call(api: &A, caller: A::Caller, request: Self) -> impl Future<Output = Self::Response> + Send + '_ {
                api.#snake(caller, request)
            }
        }
    };
    let trait_method = quote! {
        #(#[doc = #method_doc])*
        fn #snake(
            &self,
            caller: Self::Caller,
            request: #request_ident,
        ) -> impl Future<Output = #response_ident> + Send;
    };
    let route = quote!(.#method_fn(boxed::<A, #request_ident> as Handle<A>));
    Ok(GeneratedOperation {
        items,
        trait_method,
        route,
    })
}

fn safe_ident(name: &str) -> String {
    // Names the generated extraction code uses for its own variables and fields.
    const TAKEN: &[&str] = &[
        "body",
        "caller",
        "parts",
        "raw_query",
        "raw_body",
        "content_type",
        "path_params",
    ];
    // Whatever the spec names a parameter (`*`, `$filter`, `2fa`), the field is an identifier.
    let mut ident: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if ident.chars().all(|c| c == '_') {
        ident = "param".to_string();
    }
    if ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.insert(0, '_');
    }
    if crate::load::RUST_KEYWORDS.contains(&ident.as_str()) || TAKEN.contains(&ident.as_str()) {
        ident.push('_');
    }
    ident
}

/// Reads cookie parameters from the `Cookie` header.
fn support_cookies() -> TokenStream {
    quote! {
        fn cookie_values(headers: &http::HeaderMap, name: &str) -> Option<Vec<String>> {
            let values: Vec<String> = headers
                .get_all(http::header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|pair| pair.trim().split_once('='))
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| percent_decode(v))
                .collect();
            (!values.is_empty()).then_some(values)
        }

        /// `%XX` escapes decoded; text that is not valid UTF-8 afterwards is kept as sent.
        fn percent_decode(text: &str) -> String {
            let bytes = text.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                let hex = |b: u8| (b as char).to_digit(16);
                match (bytes[i], bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b))) {
                    (b'%', Some(high), Some(low)) => {
                        out.push((high * 16 + low) as u8);
                        i += 3;
                    }
                    (b, _, _) => {
                        out.push(b);
                        i += 1;
                    }
                }
            }
            String::from_utf8(out).unwrap_or_else(|_| text.to_string())
        }
    }
}

/// Reads parameters described by `content: application/json`: the text is JSON.
fn support_json_params() -> TokenStream {
    quote! {
        fn decode_json_param<T: serde::de::DeserializeOwned>(
            raw: Option<Vec<String>>,
            name: &str,
            check: fn(&serde_json::Value, &str) -> Result<(), Violation>,
        ) -> Result<Option<T>, Rejection> {
            let Some(text) = raw.and_then(|values| values.into_iter().last()) else { return Ok(None) };
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Rejection::bad_request(Some(name), format!("`{name}` is not valid JSON: {e}.")))?;
            check(&value, name)?;
            serde_json::from_value(value).map(Some).map_err(|e| Rejection::invalid(name, format!("`{name}` is not valid: {e}.")))
        }
    }
}

/// Reads `application/x-www-form-urlencoded` bodies: `key=value` pairs, nested values in
/// brackets (`metadata[plan]=pro`, `items[0][price]=p_1`, `tags[]=a`), read by the schema's shape.
fn support_form() -> TokenStream {
    quote! {
        /// What a form value is, from its schema, to turn its text into JSON.
        #[derive(Debug)]
        enum FormShape {
            Any,
            String,
            Integer,
            Number,
            Boolean,
            Array(&'static FormShape),
            /// Named properties, and the shape of any others.
            Object(&'static [(&'static str, FormShape)], &'static FormShape),
        }

        /// The deepest bracket nesting a form key may have.
        const MAX_FORM_DEPTH: usize = 16;

        /// The pairs of a form, as a tree of their bracketed keys.
        #[derive(Debug, Default)]
        struct FormNode {
            values: Vec<String>,
            children: Vec<(String, FormNode)>,
        }

        impl FormNode {
            fn insert(&mut self, key: &str, value: String) -> Result<(), Rejection> {
                // `a[b][0]` is `a`, `b`, `0`; a key whose brackets do not close is a plain key.
                let mut segments = Vec::new();
                match key.find('[') {
                    Some(open) if open > 0 && key.ends_with(']') => {
                        segments.push(&key[..open]);
                        let inner = &key[open + 1..key.len() - 1];
                        segments.extend(inner.split("]["));
                    }
                    _ => segments.push(key),
                }
                if segments.len() > MAX_FORM_DEPTH {
                    return Err(Rejection::bad_request(None, format!("The form key `{key}` is nested deeper than {MAX_FORM_DEPTH} levels.")));
                }
                let mut node = self;
                for segment in segments {
                    // `a[]` appends to `a`.
                    let segment = if segment.is_empty() { node.children.len().to_string() } else { segment.to_string() };
                    let index = match node.children.iter().position(|(k, _)| *k == segment) {
                        Some(index) => index,
                        None => {
                            node.children.push((segment, FormNode::default()));
                            node.children.len() - 1
                        }
                    };
                    node = &mut node.children[index].1;
                }
                node.values.push(value);
                Ok(())
            }

            fn value(&self, shape: &FormShape, path: &str) -> Result<serde_json::Value, Rejection> {
                let scalar = |how: Coerce| -> Result<serde_json::Value, Rejection> {
                    if !self.children.is_empty() {
                        return Err(Rejection::bad_request(Some(path), format!("`{path}` must be a single value.")));
                    }
                    match self.values.last() {
                        Some(text) => coerce(text, how, path),
                        None => Ok(serde_json::Value::Null),
                    }
                };
                match shape {
                    FormShape::String => scalar(Coerce::String),
                    FormShape::Integer => scalar(Coerce::Integer),
                    FormShape::Number => scalar(Coerce::Number),
                    FormShape::Boolean => scalar(Coerce::Boolean),
                    FormShape::Array(item) => {
                        let mut items = Vec::new();
                        for (i, text) in self.values.iter().enumerate() {
                            let leaf = FormNode { values: vec![text.clone()], children: Vec::new() };
                            items.push(leaf.value(item, &format!("{path}[{i}]"))?);
                        }
                        let mut indexed: Vec<(usize, &FormNode)> = Vec::new();
                        for (key, child) in &self.children {
                            let index = key.parse::<usize>().map_err(|_| {
                                Rejection::bad_request(Some(path), format!("`{path}` is a list: `{path}[{key}]` is not an index."))
                            })?;
                            indexed.push((index, child));
                        }
                        indexed.sort_by_key(|(index, _)| *index);
                        for (index, child) in indexed {
                            items.push(child.value(item, &format!("{path}[{index}]"))?);
                        }
                        Ok(serde_json::Value::Array(items))
                    }
                    FormShape::Object(properties, extra) => {
                        if self.values.iter().any(|v| !v.is_empty()) {
                            return Err(Rejection::bad_request(Some(path), format!("`{path}` must be an object, sent as `{path}[key]=value`.")));
                        }
                        let mut object = serde_json::Map::new();
                        for (key, child) in &self.children {
                            let shape = properties.iter().find(|(name, _)| name == key).map_or(*extra, |(_, shape)| shape);
                            let child_path = if path.is_empty() { key.clone() } else { format!("{path}[{key}]") };
                            object.insert(key.clone(), child.value(shape, &child_path)?);
                        }
                        Ok(serde_json::Value::Object(object))
                    }
                    FormShape::Any => {
                        if !self.children.is_empty() {
                            let object = self
                                .children
                                .iter()
                                .map(|(key, child)| Ok((key.clone(), child.value(&FormShape::Any, &format!("{path}[{key}]"))?)))
                                .collect::<Result<serde_json::Map<_, _>, Rejection>>()?;
                            return Ok(serde_json::Value::Object(object));
                        }
                        Ok(match self.values.as_slice() {
                            [] => serde_json::Value::Null,
                            [one] => serde_json::Value::String(one.clone()),
                            many => many.iter().cloned().map(serde_json::Value::String).collect(),
                        })
                    }
                }
            }
        }

        fn form_body<T: serde::de::DeserializeOwned>(
            headers: &http::HeaderMap,
            bytes: &[u8],
            required: bool,
            shape: &FormShape,
            check: fn(&serde_json::Value, &str) -> Result<(), Violation>,
        ) -> Result<Option<T>, Rejection> {
            if bytes.is_empty() {
                return if required { Err(Rejection::bad_request(None, "A form request body is required.".to_string())) } else { Ok(None) };
            }
            if let Some(content_type) = headers.get(http::header::CONTENT_TYPE) {
                let content_type = content_type.to_str().unwrap_or("");
                let media = content_type.split(';').next().unwrap_or("").trim();
                if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
                    return Err(Rejection::bad_request(None, format!("The body must be application/x-www-form-urlencoded, not {content_type}.")));
                }
            }
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
                .map_err(|e| Rejection::bad_request(None, format!("The form body is malformed: {e}.")))?;
            let mut root = FormNode::default();
            for (key, value) in pairs {
                root.insert(&key, value)?;
            }
            let value = root.value(shape, "")?;
            check(&value, "")?;
            serde_json::from_value(value).map(Some).map_err(|e| Rejection::invalid("", format!("The body is not valid: {e}.")))
        }
    }
}

/// The one handler every route runs, generic over the operation. Each operation's own code is
/// synchronous (`Operation::parse`), so the compiler proves one handler future `Send` instead
/// of one per operation — on a large spec most of `cargo check`'s time and memory.
fn driver(multipart: bool, stream: bool) -> TokenStream {
    let (stream_field, stream_take, stream_store) = if stream {
        (
            quote! {
                /// The unread body, for an operation that takes it as a stream; its `parse`
                /// takes it.
                stream: std::cell::Cell<Option<axum::body::Body>>,
            },
            quote! {
                let (body, stream) = if O::READS.stream {
                    (axum::body::Body::empty(), Some(body))
                } else {
                    (body, None)
                };
            },
            quote!(stream: std::cell::Cell::new(stream),),
        )
    } else {
        (quote!(), quote!(), quote!())
    };
    let (field, read, store) = if multipart {
        (
            quote! {
                /// The multipart body's parts, for an operation that takes one.
                multipart: Option<Multipart>,
            },
            quote! {
                let multipart = if O::READS.multipart {
                    match read_multipart(&parts, &body).await {
                        Ok(read) => read,
                        Err(rejection) => return api.reject(rejection.fitted(O::STATUSES), &parts),
                    }
                } else {
                    None
                };
            },
            quote!(multipart,),
        )
    } else {
        (quote!(), quote!(), quote!())
    };
    quote! {
        /// What the router reads of a request before an operation parses it.
        #[derive(Debug, Clone, Copy)]
        struct Reads {
            path: bool,
            query: bool,
            body: bool,
            multipart: bool,
            /// The body is left unread, for the operation to read as a stream.
            stream: bool,
        }

        /// A request as the router read it: the head, the path and query parameters and the
        /// whole body, each read only when the operation has them.
        struct Input<'a> {
            parts: &'a http::request::Parts,
            path_params: std::collections::HashMap<String, String>,
            raw_query: Vec<(String, String)>,
            body: axum::body::Bytes,
            #field
            #stream_field
        }

        /// One operation, as the router serves it: implemented by its request type.
        trait Operation<A: Api>: Sized + Send + 'static {
            type Response: IntoResponse;
            /// Who may call it (by default, anyone).
            const SECURITY: Security = &[];
            /// The statuses a rejection may use (see [`Rejection::fitted`]; by default, any).
            const STATUSES: Option<&'static [u16]> = None;
            const READS: Reads;
            /// Parses and validates the operation's input.
            fn parse(input: &Input<'_>) -> Result<Self, Rejection>;
            /// Calls the implementation.
            fn call(api: &A, caller: A::Caller, request: Self) -> impl Future<Output = Self::Response> + Send + '_;
        }

        /// Every operation's handler, as the router holds it: one type for all, so that the
        /// compiler proves it an axum handler once, not once per operation (on the largest
        /// documents, 8% of `cargo check`).
        type Handle<A> = fn(
            axum::extract::State<Arc<A>>,
            axum::extract::Request,
        ) -> std::pin::Pin<Box<dyn Future<Output = Response> + Send>>;

        /// [`handle`] for operation `O`, as a [`Handle`].
        fn boxed<A: Api, O: Operation<A>>(
            state: axum::extract::State<Arc<A>>,
            request: axum::extract::Request,
        ) -> std::pin::Pin<Box<dyn Future<Output = Response> + Send>> {
            Box::pin(handle::<A, O>(state, request))
        }

        async fn handle<A: Api, O: Operation<A>>(
            axum::extract::State(api): axum::extract::State<Arc<A>>,
            request: axum::extract::Request,
        ) -> Response {
            let (mut parts, body) = request.into_parts();
            let caller = match api.authenticate(O::SECURITY, &parts).await {
                Ok(caller) => caller,
                Err(refusal) => return refusal,
            };
            #stream_take
            let read = async {
                let path_params = if O::READS.path { path_params(&mut parts).await? } else { Default::default() };
                let raw_query = if O::READS.query { query_pairs(&parts)? } else { Vec::new() };
                let body = if O::READS.body { read_body(body).await? } else { axum::body::Bytes::new() };
                Ok::<_, Rejection>((path_params, raw_query, body))
            };
            let (path_params, raw_query, body) = match read.await {
                Ok(read) => read,
                Err(rejection) => return api.reject(rejection.fitted(O::STATUSES), &parts),
            };
            #read
            let input = Input { parts: &parts, path_params, raw_query, body, #store #stream_store };
            let request = match O::parse(&input) {
                Ok(request) => request,
                Err(rejection) => return api.reject(rejection.fitted(O::STATUSES), &parts),
            };
            O::call(&api, caller, request).await.into_response()
        }
    }
}

/// Reads `multipart/form-data` bodies (axum's `multipart` feature).
fn support_multipart() -> TokenStream {
    quote! {
        /// A `multipart/form-data` body: its parts, in the order they came.
        #[derive(Debug, Clone, Default)]
        pub struct Multipart {
            pub parts: Vec<MultipartPart>,
        }

        /// One part of a multipart body.
        #[derive(Debug, Clone)]
        pub struct MultipartPart {
            pub name: String,
            /// The file name, for a file part.
            pub file_name: Option<String>,
            pub content_type: Option<String>,
            pub data: axum::body::Bytes,
        }

        impl Multipart {
            /// The first part with this name.
            pub fn part(&self, name: &str) -> Option<&MultipartPart> {
                self.parts.iter().find(|p| p.name == name)
            }
            /// Every part with this name (an array property sends one per item).
            pub fn parts_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a MultipartPart> + 'a {
                self.parts.iter().filter(move |p| p.name == name)
            }
            /// The first part with this name, as text; `None` when it is absent or not UTF-8.
            pub fn text(&self, name: &str) -> Option<&str> {
                self.part(name).and_then(|p| std::str::from_utf8(&p.data).ok())
            }
        }

        /// Reads a multipart body that was read whole (up to [`MAX_BODY_BYTES`]); `None` when
        /// it is empty.
        async fn read_multipart(
            parts: &http::request::Parts,
            bytes: &axum::body::Bytes,
        ) -> Result<Option<Multipart>, Rejection> {
            use axum::extract::FromRequest;
            if bytes.is_empty() {
                return Ok(None);
            }
            let request = http::Request::from_parts(parts.clone(), axum::body::Body::from(bytes.clone()));
            let mut multipart = axum::extract::Multipart::from_request(request, &())
                .await
                .map_err(|e| Rejection::bad_request(None, format!("The body must be multipart/form-data: {}.", e.body_text())))?;
            let mut body = Multipart::default();
            loop {
                let field = multipart
                    .next_field()
                    .await
                    .map_err(|e| Rejection::bad_request(None, format!("The multipart body is malformed: {}.", e.body_text())))?;
                let Some(field) = field else { break };
                let name = field.name().unwrap_or_default().to_string();
                let file_name = field.file_name().map(str::to_string);
                let content_type = field.content_type().map(str::to_string);
                let data = field
                    .bytes()
                    .await
                    .map_err(|e| Rejection::bad_request(Some(&name), format!("The part `{name}` is malformed: {}.", e.body_text())))?;
                body.parts.push(MultipartPart { name, file_name, content_type, data });
            }
            Ok(Some(body))
        }

        /// The multipart body the router read, with every part the schema requires.
        fn multipart_body(
            read: Option<&Multipart>,
            required: bool,
            required_parts: &[&str],
        ) -> Result<Option<Multipart>, Rejection> {
            let Some(body) = read else {
                return if required { Err(Rejection::bad_request(None, "A multipart request body is required.".to_string())) } else { Ok(None) };
            };
            for name in required_parts {
                if body.part(name).is_none() {
                    return Err(Rejection::invalid(name, format!("The part `{name}` is required.")));
                }
            }
            Ok(Some(body.clone()))
        }
    }
}

/// Reads text and binary bodies.
fn support_plain_bodies() -> TokenStream {
    quote! {
        fn text_body(bytes: &[u8], required: bool) -> Result<Option<String>, Rejection> {
            if bytes.is_empty() && !required {
                return Ok(None);
            }
            String::from_utf8(bytes.to_vec())
                .map(Some)
                .map_err(|_| Rejection::bad_request(None, "The body must be UTF-8 text.".to_string()))
        }

        fn binary_body(bytes: &axum::body::Bytes, required: bool) -> Option<axum::body::Bytes> {
            (required || !bytes.is_empty()).then(|| bytes.clone())
        }
    }
}

/// Fixed support code every stubs module carries: rejections, violations and the extraction
/// helpers the handlers call.
fn support() -> TokenStream {
    quote! {
        /// What is wrong with a request the router refused.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum RejectionKind {
            /// The input could not be read at all (400): a malformed body, query or path.
            Malformed,
            /// The input was read but breaks a rule of the spec (422).
            Invalid,
        }

        /// Why the router refused a request before reaching the implementation. It carries
        /// no error code: [`Api::reject`] gives it the API's own.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Rejection {
            pub kind: RejectionKind,
            /// A human-readable explanation.
            pub message: String,
            /// The input the rejection is about.
            pub param: Option<String>,
        }

        impl Rejection {
            /// The input could not be parsed at all.
            pub fn bad_request(param: Option<&str>, message: String) -> Self {
                Rejection { kind: RejectionKind::Malformed, message, param: param.map(str::to_string) }
            }
            /// The input parsed but breaks a rule of the spec.
            pub fn invalid(param: &str, message: String) -> Self {
                Rejection {
                    kind: RejectionKind::Invalid,
                    message,
                    param: (!param.is_empty()).then(|| param.to_string()),
                }
            }
            /// The HTTP status the rejection answers with.
            pub fn status(&self) -> http::StatusCode {
                match self.kind {
                    RejectionKind::Malformed => http::StatusCode::BAD_REQUEST,
                    RejectionKind::Invalid => http::StatusCode::UNPROCESSABLE_ENTITY,
                }
            }
            /// The rejection as an operation documenting `statuses` may send it: an operation
            /// that documents 400 but not 422 refuses invalid input as malformed (400), so the
            /// router never answers with a status the spec does not list.
            pub fn fitted(self, statuses: Option<&[u16]>) -> Self {
                match statuses {
                    Some(statuses) if self.kind == RejectionKind::Invalid && !statuses.contains(&422) && statuses.contains(&400) => {
                        Rejection { kind: RejectionKind::Malformed, ..self }
                    }
                    _ => self,
                }
            }
        }

        /// The first rule a value breaks, and where.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Violation {
            /// Path to the offending value, such as `prices[0].unitAmount`; empty for the root.
            pub path: String,
            /// What is wrong with it.
            pub message: String,
        }

        impl Violation {
            fn new(path: &str, message: String) -> Self {
                Violation { path: path.to_string(), message }
            }
        }

        impl From<Violation> for Rejection {
            fn from(v: Violation) -> Self {
                let message = if v.path.is_empty() { format!("The body {}.", v.message) } else { format!("`{}` {}.", v.path, v.message) };
                Rejection::invalid(&v.path, message)
            }
        }

        /// Builds a response of an operation from an error status and body: the variant
        /// documented for that status, or the 500 variant for any status the operation does
        /// not document.
        pub trait ErrorResponse<B>: Sized {
            fn from_error(status: http::StatusCode, body: B) -> Self;
        }

        /// How a parameter's text becomes JSON before validation.
        #[derive(Debug, Clone, Copy)]
        enum Coerce {
            String,
            Integer,
            Number,
            Boolean,
            Array(&'static Coerce),
        }

        fn field(path: &str, name: &str) -> String {
            if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
        }

        fn is_email(s: &str) -> bool {
            match s.split_once('@') {
                Some((local, domain)) => !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !s.contains(char::is_whitespace),
                None => false,
            }
        }

        fn is_uri(s: &str) -> bool {
            match s.split_once(':') {
                Some((scheme, rest)) => {
                    !rest.is_empty()
                        && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                        && !s.contains(char::is_whitespace)
                }
                None => false,
            }
        }

        fn coerce(text: &str, how: Coerce, name: &str) -> Result<serde_json::Value, Rejection> {
            let wrong = |what: &str| Rejection::bad_request(Some(name), format!("`{name}` must be {what}, not {text:?}."));
            Ok(match how {
                Coerce::String => serde_json::Value::String(text.to_string()),
                Coerce::Integer => match (text.parse::<i64>(), text.parse::<u64>()) {
                    (Ok(n), _) => n.into(),
                    (_, Ok(n)) => n.into(),
                    _ => return Err(wrong("an integer")),
                },
                Coerce::Number => text.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(serde_json::Value::Number).ok_or_else(|| wrong("a number"))?,
                Coerce::Boolean => match text {
                    "true" => true.into(),
                    "false" => false.into(),
                    _ => return Err(wrong("true or false")),
                },
                Coerce::Array(_) => serde_json::Value::String(text.to_string()),
            })
        }

        fn decode_param<T: serde::de::DeserializeOwned>(
            raw: Option<Vec<String>>,
            name: &str,
            how: Coerce,
            check: fn(&serde_json::Value, &str) -> Result<(), Violation>,
        ) -> Result<Option<T>, Rejection> {
            let Some(values) = raw else { return Ok(None) };
            let value = match how {
                Coerce::Array(inner) => serde_json::Value::Array(
                    values.iter().flat_map(|v| v.split(',')).map(|v| coerce(v, *inner, name)).collect::<Result<_, _>>()?,
                ),
                _ => match values.last() {
                    Some(text) => coerce(text, how, name)?,
                    None => return Ok(None),
                },
            };
            check(&value, name)?;
            serde_json::from_value(value).map(Some).map_err(|e| Rejection::invalid(name, format!("`{name}` is not valid: {e}.")))
        }

        /// A required parameter's value, or the rejection naming it.
        fn decode_required<T: serde::de::DeserializeOwned>(
            raw: Option<Vec<String>>,
            name: &str,
            how: Coerce,
            check: fn(&serde_json::Value, &str) -> Result<(), Violation>,
            location: &str,
        ) -> Result<T, Rejection> {
            required(decode_param(raw, name, how, check)?, name, location)
        }

        fn required<T>(value: Option<T>, name: &str, location: &str) -> Result<T, Rejection> {
            value.ok_or_else(|| Rejection::invalid(name, format!("the {location} `{name}` is required")))
        }

        /// An optional parameter's value, or its default (JSON text from the spec).
        fn or_default<T: serde::de::DeserializeOwned>(value: Option<T>, name: &str, default: &str) -> Result<T, Rejection> {
            match value {
                Some(value) => Ok(value),
                None => serde_json::from_str(default).map_err(|e| Rejection::invalid(name, e.to_string())),
            }
        }

        /// A response with a JSON body.
        fn json_response<T: serde::Serialize>(status: http::StatusCode, body: &T) -> Response {
            let mut response = axum::Json(body).into_response();
            if response.status().is_success() {
                *response.status_mut() = status;
            }
            response
        }

        /// A response with a body of another media type.
        fn bytes_response(status: http::StatusCode, media: &'static str, body: axum::body::Bytes) -> Response {
            (status, [(http::header::CONTENT_TYPE, media)], body).into_response()
        }

        /// A response without a body.
        fn empty_response(status: http::StatusCode) -> Response {
            status.into_response()
        }

        async fn path_params(parts: &mut http::request::Parts) -> Result<std::collections::HashMap<String, String>, Rejection> {
            use axum::extract::FromRequestParts;
            let params = axum::extract::RawPathParams::from_request_parts(parts, &())
                .await
                .map_err(|e| Rejection::bad_request(None, e.body_text()))?;
            Ok(params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
        }

        fn query_pairs(parts: &http::request::Parts) -> Result<Vec<(String, String)>, Rejection> {
            serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
                .map_err(|e| Rejection::bad_request(None, format!("The query string is malformed: {e}.")))
        }

        /// A path parameter's text, as the values of a parameter (one function, not a
        /// closure in every operation: Microsoft Graph reads 24,621 path parameters).
        fn path_value(
            params: &std::collections::HashMap<String, String>,
            name: &str,
        ) -> Option<Vec<String>> {
            params.get(name).map(|v| vec![v.clone()])
        }

        fn query_values(query: &[(String, String)], name: &str) -> Option<Vec<String>> {
            let values: Vec<String> = query.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect();
            (!values.is_empty()).then_some(values)
        }

        fn header_values(headers: &http::HeaderMap, name: &str) -> Option<Vec<String>> {
            let values: Vec<String> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect();
            (!values.is_empty()).then_some(values)
        }

        /// The largest request body the router reads.
        pub const MAX_BODY_BYTES: usize = 1 << 20;

        /// Reads the whole body, up to [`MAX_BODY_BYTES`].
        async fn read_body(body: axum::body::Body) -> Result<axum::body::Bytes, Rejection> {
            axum::body::to_bytes(body, MAX_BODY_BYTES)
                .await
                .map_err(|_| Rejection::bad_request(None, format!("The request body is larger than {MAX_BODY_BYTES} bytes.")))
        }

        fn json_body<T: serde::de::DeserializeOwned>(
            headers: &http::HeaderMap,
            bytes: &[u8],
            required: bool,
            check: fn(&serde_json::Value, &str) -> Result<(), Violation>,
        ) -> Result<Option<T>, Rejection> {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return if required { Err(Rejection::bad_request(None, "A JSON request body is required.".to_string())) } else { Ok(None) };
            }
            if let Some(content_type) = headers.get(http::header::CONTENT_TYPE) {
                let content_type = content_type.to_str().unwrap_or("");
                let media = content_type.split(';').next().unwrap_or("").trim();
                if !(media.eq_ignore_ascii_case("application/json") || media.ends_with("+json")) {
                    return Err(Rejection::bad_request(None, format!("The body must be application/json, not {content_type}.")));
                }
            }
            let value: serde_json::Value = serde_json::from_slice(bytes)
                .map_err(|e| Rejection::bad_request(None, format!("The body is not valid JSON: {e}.")))?;
            check(&value, "")?;
            serde_json::from_value(value).map(Some).map_err(|e| Rejection::invalid("", format!("The body is not valid: {e}.")))
        }
    }
}
