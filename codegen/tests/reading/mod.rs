//! The stubs' types read JSON with the `Deserialize` impls dreamgen writes; the Rust clients'
//! types are the same typify types with serde's derived `Deserialize`. For every type the two
//! share, any JSON value — generated from the names the fixture's types read, nested, with
//! members missing, null, of the wrong type or unknown — must read the same way in both: the
//! same value (compared by what it serializes to), or both a refusal (serde's derive names the
//! first problem in the order of the input's members, dreamgen's impls in the order of the
//! fields, so with two problems the messages may name different ones).

use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The string literals of a snapshot that look like member or variant names.
fn names(snapshot: &str) -> Vec<String> {
    let path = format!(
        "{}/tests/snapshots/fixtures__{snapshot}.snap",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("the snapshot exists");
    let mut names: Vec<String> = text
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            !s.is_empty()
                && s.len() < 40
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-@.$ ".contains(c))
        })
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// JSON values whose strings and member names are `names`, a few levels deep.
fn values(names: Vec<String>) -> impl Strategy<Value = Value> {
    let word = prop::sample::select(names);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..300).prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        Just(Value::from(2.5)),
        Just(Value::from("")),
        word.clone().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::vec((word.clone(), inner), 0..7)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// How `T` reads `value`: what it serializes back to, or the refusal.
fn read<T: DeserializeOwned + Serialize>(value: &Value) -> Result<Value, String> {
    serde_json::from_value::<T>(value.clone())
        .map(|read| serde_json::to_value(read).expect("a read value serializes"))
        .map_err(|e| e.to_string())
}

/// How `T` reads `value` from its text (serde_json's own deserializer, which hands unit
/// variants and structs to the impls differently from a `Value`).
fn read_text<T: DeserializeOwned + Serialize>(value: &Value) -> Result<Value, ()> {
    serde_json::from_str::<T>(&value.to_string())
        .map(|read| serde_json::to_value(read).expect("a read value serializes"))
        .map_err(|_| ())
}

/// `Written` (dreamgen's impl) reads `value` as `Derived` (serde's derive) does.
fn same<Written, Derived>(name: &str, value: &Value) -> Result<(), TestCaseError>
where
    Written: DeserializeOwned + Serialize,
    Derived: DeserializeOwned + Serialize,
{
    let written = read::<Written>(value);
    let derived = read::<Derived>(value);
    if written.is_err() && derived.is_err() {
        return Ok(());
    }
    prop_assert_eq!(
        written,
        derived,
        "{} reads {} unlike serde's derive",
        name,
        value
    );
    prop_assert_eq!(
        read_text::<Written>(value).is_ok(),
        read_text::<Derived>(value).is_ok(),
        "{} reads the text of {} unlike serde's derive",
        name,
        value
    );
    Ok(())
}

/// For each named type of a fixture: dreamgen's impl (the stubs) against serde's derive (the
/// client), over generated values and a few every type must handle.
macro_rules! reads_like_serde {
    ($test:ident, $snapshot:literal, $stubs:ident, $client:ident, [$($ty:ident),* $(,)?]) => {
        #[test]
        fn $test() {
            let check = |value: &Value| -> Result<(), TestCaseError> {
                $(same::<crate::$stubs::types::$ty, crate::clients::$client::types::$ty>(
                    stringify!($ty),
                    value,
                )?;)*
                Ok(())
            };
            for value in [
                Value::Null,
                serde_json::json!({}),
                serde_json::json!([]),
                serde_json::json!("x"),
            ] {
                check(&value).unwrap();
            }
            let config = ProptestConfig { cases: 3000, ..ProptestConfig::default() };
            proptest!(config, |(value in values(names($snapshot)))| { check(&value)?; });
        }
    };
}

reads_like_serde!(
    polymorphism_types_read_like_serde,
    "polymorphism_axum",
    polymorphism_axum,
    polymorphism_rust_client,
    [
        AndaluciaExemption,
        AndaluciaExemptionReason,
        AndaluciaRegistration,
        BaltimoreExemption,
        BaltimoreRegistration,
        BostonExemption,
        BostonRegistration,
        Cat,
        CataloniaExemption,
        CataloniaRegistration,
        ChicagoRegistration,
        CubaAffiliation,
        DenmarkCategorization,
        DenmarkCategorizationListingType,
        Dog,
        DogBreed,
        FirstTypeOfObject,
        Object1,
        Object2,
        PatchPetsBody,
        PostAnyOfWithTypeBody,
        PostAnyOfWithTypeBodyEvent,
        PostAnythingAllOfObjectBody,
        PostAnythingAnyOfObjectBody,
        PostAnythingAnyOfPrimitiveBody,
        PostAnythingNestedOneOfObjectRefBody,
        PostAnythingNestedOneOfObjectRefBodyConfig,
        PostAnythingNestedOneOfRefBody,
        PostAnythingNestedOneOfRefBodyConfig,
        PostAnythingOneOfObjectRefBody,
        PostAnythingOneOfPrimitiveBody,
        PostOneOfWithTypeBody,
        PostOneOfWithTypeBodyEvent,
        SecondTypeOfObject,
        String1,
        String2,
    ]
);

reads_like_serde!(
    discriminator_types_read_like_serde,
    "discriminators_axum",
    discriminators_axum,
    discriminators_rust_client,
    [
        ApplicationApprovedEvent,
        ApplicationDeniedEvent,
        BasePurchaseWebhookEvent,
        BasePurchaseWebhookEventEventType,
        BaseVehicle,
        Cat,
        CatNoDisc,
        Dog,
        DogBreed,
        DogNoDisc,
        GcsImport,
        Object1,
        Object2,
        OneOfWithImproperlyPlacedDiscriminatorBody,
        OneOfWithTopLevelDiscriminatorNoMappingBody,
        OptionOneNoDisc,
        OptionTwoNoDisc,
        PatchEmbeddedDiscriminatorBody,
        PatchMappingOfSchemaNamesBody,
        PatchNestedOneOfObjectWithNestedOneOfBody,
        PatchOneofAllofTopLevelDiscBody,
        PostPotentiallyUndefinedFormDataBody,
        RedoclyQuirkBody,
        S3Import,
    ]
);

reads_like_serde!(
    enum_and_body_types_read_like_serde,
    "schema_enums_axum",
    schema_enums_axum,
    schema_enums_rust_client,
    [
        BooleanEnumSupportBody,
        StringEnumSupportBody,
        StringEnumSupportBodyEnum,
        StringEnumSupportBodyEnumRequired,
        StringEnumSupportBodyEnumWithDefault,
        StringEnumSupportBodyEnumWithEmptyOption,
        StringEnumSupportBodyEnumWithExample,
    ]
);

reads_like_serde!(
    body_types_read_like_serde,
    "bodies_axum",
    bodies_axum,
    bodies_rust_client,
    [
        CreateCustomerBody,
        CreateCustomerBodyEmail,
        CreateCustomerBodyItemsItem,
        CreateOrderBody,
        PostEventBody,
        SearchByFormBody,
    ]
);
