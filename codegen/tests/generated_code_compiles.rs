//! The axum stubs generated for the fixture specs must compile, not just look right: the build
//! script wraps each approved snapshot in a module and this test crate type-checks them all.
//! The petstore stubs are then implemented and served, to show the generated router extracts,
//! validates and answers the way its spec says, for a spec that is not ours.

include!(concat!(env!("OUT_DIR"), "/fixture_stubs.rs"));

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{Request, StatusCode};
use petstore_expanded_axum as petstore;
use tower::ServiceExt;

#[derive(Default)]
struct Petstore {
    pets: Mutex<Vec<petstore::types::Pet>>,
}

impl petstore::Api for Petstore {
    type Caller = ();

    async fn authenticate(
        &self,
        _security: petstore::Security,
        _parts: &http::request::Parts,
    ) -> Result<(), Response> {
        Ok(())
    }

    fn reject(&self, rejection: petstore::Rejection, _parts: &http::request::Parts) -> Response {
        let body = serde_json::json!({ "code": rejection.status().as_u16(), "message": rejection.message });
        (rejection.status(), axum::Json(body)).into_response()
    }

    async fn find_pets(
        &self,
        _caller: (),
        request: petstore::FindPetsRequest,
    ) -> petstore::FindPetsResponse {
        let pets = self.pets.lock().unwrap();
        let limit = request.limit.map_or(usize::MAX, |l| l as usize);
        let wanted = |pet: &&petstore::types::Pet| match &request.tags {
            None => true,
            Some(tags) => pet.tag.as_ref().is_some_and(|t| tags.contains(t)),
        };
        petstore::FindPetsResponse::Ok(pets.iter().filter(wanted).take(limit).cloned().collect())
    }

    async fn add_pet(
        &self,
        _caller: (),
        request: petstore::AddPetRequest,
    ) -> petstore::AddPetResponse {
        let mut pets = self.pets.lock().unwrap();
        let pet = petstore::types::Pet {
            id: pets.len() as i64 + 1,
            name: request.body.name,
            tag: request.body.tag,
        };
        pets.push(pet.clone());
        petstore::AddPetResponse::Ok(pet)
    }

    async fn find_pet_by_id(
        &self,
        _caller: (),
        request: petstore::FindPetByIdRequest,
    ) -> petstore::FindPetByIdResponse {
        match self
            .pets
            .lock()
            .unwrap()
            .iter()
            .find(|p| p.id == request.id)
        {
            Some(pet) => petstore::FindPetByIdResponse::Ok(pet.clone()),
            None => petstore::FindPetByIdResponse::Default(
                StatusCode::NOT_FOUND,
                petstore::types::Error {
                    code: 404,
                    message: "no such pet".into(),
                },
            ),
        }
    }

    async fn delete_pet(
        &self,
        _caller: (),
        request: petstore::DeletePetRequest,
    ) -> petstore::DeletePetResponse {
        self.pets.lock().unwrap().retain(|p| p.id != request.id);
        petstore::DeletePetResponse::NoContent
    }
}

async fn call(
    router: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request
        .body(Body::from(body.unwrap_or("").to_owned()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let json = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, json)
}

#[tokio::test]
async fn petstore_stubs_serve_their_spec() {
    let router = petstore::router(Arc::new(Petstore::default()));

    let (status, pet) = call(
        &router,
        "POST",
        "/pets",
        Some(r#"{"name":"Rex","tag":"dog"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        pet,
        serde_json::json!({"id": 1, "name": "Rex", "tag": "dog"})
    );
    call(
        &router,
        "POST",
        "/pets",
        Some(r#"{"name":"Tom","tag":"cat"}"#),
    )
    .await;

    let (status, pets) = call(&router, "GET", "/pets?tags=cat&limit=5", None).await;
    assert_eq!(
        (status, pets),
        (
            StatusCode::OK,
            serde_json::json!([{"id": 2, "name": "Tom", "tag": "cat"}])
        )
    );

    let (status, error) = call(&router, "GET", "/pets/7", None).await;
    assert_eq!(
        (status, error["code"].as_i64()),
        (StatusCode::NOT_FOUND, Some(404))
    );

    // `name` is required by NewPet: the generated validator rejects before the handler runs.
    let (status, error) = call(&router, "POST", "/pets", Some(r#"{"tag":"dog"}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error["message"].as_str().unwrap().contains("name"),
        "{error}"
    );

    // A path parameter that is not an int64 is a 400, not a panic or a plain-text axum error.
    let (status, _) = call(&router, "GET", "/pets/seven", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = call(&router, "DELETE", "/pets/1", None).await;
    assert_eq!(
        (status, body),
        (StatusCode::NO_CONTENT, serde_json::Value::Null)
    );
    let (_, pets) = call(&router, "GET", "/pets", None).await;
    assert_eq!(pets.as_array().map(Vec::len), Some(1));
}

/// A webhook receiver on the `x-raw-body` stubs: it checks a toy signature over the exact
/// bytes, then uses the validated, parsed event.
struct Receiver;

impl raw_body_axum::Api for Receiver {
    type Caller = ();

    async fn authenticate(
        &self,
        _security: raw_body_axum::Security,
        _parts: &http::request::Parts,
    ) -> Result<(), Response> {
        Ok(())
    }

    fn reject(
        &self,
        rejection: raw_body_axum::Rejection,
        _parts: &http::request::Parts,
    ) -> Response {
        // The implementation names the codes; the generator knows only malformed or invalid.
        let code = match rejection.kind {
            raw_body_axum::RejectionKind::Malformed => "malformed",
            raw_body_axum::RejectionKind::Invalid => "invalid",
        };
        let body = serde_json::json!({ "code": code, "message": rejection.message });
        (rejection.status(), axum::Json(body)).into_response()
    }

    async fn receive_webhook(
        &self,
        _caller: (),
        request: raw_body_axum::ReceiveWebhookRequest,
    ) -> raw_body_axum::ReceiveWebhookResponse {
        // The "signature" is the body's length and its last byte: whitespace counts.
        let expected = format!(
            "{}:{}",
            request.raw_body.len(),
            request.raw_body.last().copied().unwrap_or(0)
        );
        if request.signature != expected {
            return raw_body_axum::ReceiveWebhookResponse::BadRequest(
                raw_body_axum::types::Problem {
                    code: "bad_signature".into(),
                    message: format!("expected {expected}"),
                },
            );
        }
        assert_eq!(request.body.type_, "invoice.paid");
        raw_body_axum::ReceiveWebhookResponse::Ok
    }
}

#[tokio::test]
async fn raw_body_stubs_hand_over_the_exact_bytes_and_the_parsed_body() {
    let router = raw_body_axum::router(Arc::new(Receiver));
    let send = |body: &'static str, signature: String| {
        let router = router.clone();
        async move {
            let request = Request::builder()
                .method("POST")
                .uri("/webhooks")
                .header("content-type", "application/json")
                .header("signature", signature)
                .body(Body::from(body))
                .unwrap();
            router.oneshot(request).await.unwrap().status()
        }
    };
    let body = "{\"id\": \"evt_1\",  \"type\": \"invoice.paid\"}\n";
    assert_eq!(
        send(body, format!("{}:{}", body.len(), b'\n')).await,
        StatusCode::OK
    );
    // The same event without the trailing newline is other bytes: the signature fails.
    assert_eq!(
        send(body, format!("{}:{}", body.len() - 1, b'}')).await,
        StatusCode::BAD_REQUEST
    );
    // Validation still runs: an event without an id never reaches the handler. The operation
    // documents 400 and not 422, so that is the status it gets.
    let invalid = "{\"type\": \"invoice.paid\"}";
    assert_eq!(
        send(invalid, format!("{}:{}", invalid.len(), b'}')).await,
        StatusCode::BAD_REQUEST
    );
}
