//! The axum stubs and Rust clients generated for the fixture specs must compile, not just look
//! right: the build script wraps each approved snapshot in a module and this test crate
//! type-checks them all; the stubs written as a workspace of crates (`…_crates` snapshots) are
//! compiled with each crate as a module.
//! The petstore stubs are then implemented and served, to show the generated router extracts,
//! validates and answers the way its spec says, for a spec that is not ours.

include!(concat!(env!("OUT_DIR"), "/fixture_stubs.rs"));
include!(concat!(env!("OUT_DIR"), "/fixture_crates.rs"));

/// The Rust clients of the fixture specs, compiled the same way.
#[allow(warnings, clippy::all)]
mod clients {
    include!(concat!(env!("OUT_DIR"), "/fixture_clients.rs"));
}

mod reading;

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

/// A server on the stubs of `bodies.yaml`: each handler answers with what it received, so the
/// test sees what the router read from a form, a multipart upload, bytes, text and cookies.
struct Bodies;

impl bodies_axum::Api for Bodies {
    type Caller = ();

    async fn authenticate(
        &self,
        _security: bodies_axum::Security,
        _parts: &http::request::Parts,
    ) -> Result<(), Response> {
        Ok(())
    }

    fn reject(&self, rejection: bodies_axum::Rejection, _parts: &http::request::Parts) -> Response {
        let body = serde_json::json!({ "message": rejection.message, "param": rejection.param });
        (rejection.status(), axum::Json(body)).into_response()
    }

    async fn create_customer(
        &self,
        _caller: (),
        request: bodies_axum::CreateCustomerRequest,
    ) -> bodies_axum::CreateCustomerResponse {
        let stored = serde_json::to_value(&request.body).unwrap();
        bodies_axum::CreateCustomerResponse::Ok(stored)
    }

    async fn search_by_form(
        &self,
        _caller: (),
        _request: bodies_axum::SearchByFormRequest,
    ) -> bodies_axum::SearchByFormResponse {
        bodies_axum::SearchByFormResponse::NoContent
    }

    async fn upload_file(
        &self,
        _caller: (),
        request: bodies_axum::UploadFileRequest,
    ) -> bodies_axum::UploadFileResponse {
        let parts = request
            .body
            .parts
            .iter()
            .map(|p| {
                format!(
                    "{} {} {} {}",
                    p.name,
                    p.file_name.as_deref().unwrap_or("-"),
                    p.content_type.as_deref().unwrap_or("-"),
                    p.data.len()
                )
            })
            .collect();
        bodies_axum::UploadFileResponse::Created(bodies_axum::types::UploadFileResponse { parts })
    }

    async fn put_blob(
        &self,
        _caller: (),
        request: bodies_axum::PutBlobRequest,
    ) -> bodies_axum::PutBlobResponse {
        assert_eq!(request.name, "b1");
        assert_eq!(&request.body[..], &[0u8, 159, 146, 150][..]);
        assert_eq!(
            request.content_type.as_deref(),
            Some("application/octet-stream")
        );
        bodies_axum::PutBlobResponse::NoContent
    }

    async fn get_blob(
        &self,
        _caller: (),
        _request: bodies_axum::GetBlobRequest,
    ) -> bodies_axum::GetBlobResponse {
        bodies_axum::GetBlobResponse::Ok(axum::body::Bytes::from_static(&[0, 255]))
    }

    async fn put_stream(
        &self,
        _caller: (),
        request: bodies_axum::PutStreamRequest,
    ) -> bodies_axum::PutStreamResponse {
        let bytes = axum::body::to_bytes(request.body, usize::MAX)
            .await
            .unwrap();
        let size = bytes.len() as i64;
        bodies_axum::PutStreamResponse::Ok(bodies_axum::types::PutStreamResponse {
            name: request.name,
            size,
        })
    }

    async fn put_avatar(
        &self,
        _caller: (),
        _request: bodies_axum::PutAvatarRequest,
    ) -> bodies_axum::PutAvatarResponse {
        bodies_axum::PutAvatarResponse::NoContent
    }

    async fn post_anything(
        &self,
        _caller: (),
        _request: bodies_axum::PostAnythingRequest,
    ) -> bodies_axum::PostAnythingResponse {
        bodies_axum::PostAnythingResponse::NoContent
    }

    async fn post_note(
        &self,
        _caller: (),
        request: bodies_axum::PostNoteRequest,
    ) -> bodies_axum::PostNoteResponse {
        bodies_axum::PostNoteResponse::Ok(request.body.to_uppercase().into())
    }

    async fn post_event(
        &self,
        _caller: (),
        _request: bodies_axum::PostEventRequest,
    ) -> bodies_axum::PostEventResponse {
        bodies_axum::PostEventResponse::NoContent
    }

    async fn post_loose(
        &self,
        _caller: (),
        _request: bodies_axum::PostLooseRequest,
    ) -> bodies_axum::PostLooseResponse {
        bodies_axum::PostLooseResponse::NoContent
    }

    async fn create_order(
        &self,
        _caller: (),
        _request: bodies_axum::CreateOrderRequest,
    ) -> bodies_axum::CreateOrderResponse {
        bodies_axum::CreateOrderResponse::NoContent
    }

    async fn patch_order(
        &self,
        _caller: (),
        _request: bodies_axum::PatchOrderRequest,
    ) -> bodies_axum::PatchOrderResponse {
        bodies_axum::PatchOrderResponse::NoContent
    }

    async fn get_session(
        &self,
        _caller: (),
        request: bodies_axum::GetSessionRequest,
    ) -> bodies_axum::GetSessionResponse {
        bodies_axum::GetSessionResponse::Ok(serde_json::json!({
            "session": request.session_id,
            "theme": request.theme,
            "filter": request.filter.map(|f| serde_json::to_value(f).unwrap()),
        }))
    }
}

async fn send_raw(
    router: &axum::Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, bytes.to_vec())
}

fn json_of(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(bytes)))
}

#[tokio::test]
async fn bodies_stubs_read_forms_with_nesting_typed_by_the_schema() {
    let router = bodies_axum::router(Arc::new(Bodies));
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let body = "email=a%40b.co&balance=12&tax_exempt=true&metadata[plan]=pro&metadata[seats]=3\
                &expand[0]=tax&expand[1]=invoice&tags=x&tags=y\
                &items[0][price]=p_1&items[0][quantity]=2&items[1][price]=p_2";
    let (status, bytes) = send_raw(&router, "POST", "/customers", &form, body.into()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(
        json_of(&bytes),
        serde_json::json!({
            "email": "a@b.co",
            "balance": 12,
            "tax_exempt": true,
            "metadata": {"plan": "pro", "seats": "3"},
            "expand": ["tax", "invoice"],
            "tags": ["x", "y"],
            "items": [{"price": "p_1", "quantity": 2}, {"price": "p_2"}],
        })
    );

    // Text where the schema says integer: malformed, naming the field.
    let (status, bytes) = send_raw(
        &router,
        "POST",
        "/customers",
        &form,
        "email=a%40b.co&items[0][quantity]=two".into(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&bytes)["param"], "items[0][quantity]");

    // The schema's rules hold: a required field, a minimum, a length.
    for (body, rule) in [
        ("balance=1", "email"),
        ("email=a%40b.co&balance=-1", "balance"),
    ] {
        let (status, bytes) = send_raw(&router, "POST", "/customers", &form, body.into()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            json_of(&bytes)["message"].as_str().unwrap().contains(rule),
            "{body}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }

    // Another media type, or a form key nested past the limit, is refused.
    let (status, _) = send_raw(
        &router,
        "POST",
        "/customers",
        &[("content-type", "application/json")],
        b"{\"email\":\"a@b.co\"}".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let deep = format!("email=a%40b.co&metadata{}=x", "[a]".repeat(20));
    let (status, _) = send_raw(&router, "POST", "/customers", &form, deep.into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bodies_stubs_read_multipart_bytes_text_and_cookies() {
    let router = bodies_axum::router(Arc::new(Bodies));
    let boundary = "XyZ";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\navatar\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\
         Content-Type: image/png\r\n\r\n\u{1}\u{2}\u{3}\r\n--{boundary}--\r\n"
    );
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let (status, bytes) = send_raw(
        &router,
        "POST",
        "/files",
        &[("content-type", &content_type)],
        multipart.into(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(
        json_of(&bytes),
        serde_json::json!({"parts": ["purpose - - 6", "file a.png image/png 3"]})
    );

    // A required part missing is invalid; a body that is not multipart is malformed.
    let only_purpose = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\navatar\r\n--{boundary}--\r\n"
    );
    let (status, bytes) = send_raw(
        &router,
        "POST",
        "/files",
        &[("content-type", &content_type)],
        only_purpose.into(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_of(&bytes)["param"], "file");
    let (status, _) = send_raw(
        &router,
        "POST",
        "/files",
        &[("content-type", "text/plain")],
        b"hello".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Bytes arrive as sent, with their content type; bytes go back as bytes.
    let (status, _) = send_raw(
        &router,
        "PUT",
        "/blobs/b1",
        &[("content-type", "application/octet-stream")],
        vec![0, 159, 146, 150],
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, bytes) = send_raw(&router, "GET", "/blobs/b1", &[], Vec::new()).await;
    assert_eq!((status, bytes), (StatusCode::OK, vec![0, 255]));

    // A body read whole stops at the router's limit; one marked x-stream-body reaches the
    // handler unread, whatever its size.
    let big = vec![7u8; 3 * bodies_axum::MAX_BODY_BYTES];
    let (status, _) = send_raw(
        &router,
        "PUT",
        "/blobs/b1",
        &[("content-type", "application/octet-stream")],
        big.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, bytes) = send_raw(
        &router,
        "PUT",
        "/streams/s1",
        &[("content-type", "application/octet-stream")],
        big,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        answer,
        serde_json::json!({ "name": "s1", "size": 3 * bodies_axum::MAX_BODY_BYTES })
    );

    // Text must be UTF-8.
    let (status, bytes) = send_raw(
        &router,
        "POST",
        "/notes",
        &[("content-type", "text/plain")],
        "héllo".into(),
    )
    .await;
    assert_eq!(
        (status, bytes),
        (StatusCode::OK, "HÉLLO".as_bytes().to_vec())
    );
    let (status, _) = send_raw(
        &router,
        "POST",
        "/notes",
        &[("content-type", "text/plain")],
        vec![0xff, 0xfe],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Cookies, and a query parameter that is JSON text.
    let filter = "%7B%22status%22%3A%22open%22%2C%22limit%22%3A5%7D";
    let (status, bytes) = send_raw(
        &router,
        "GET",
        &format!("/session?filter={filter}"),
        &[("cookie", "theme=dark%20blue; session_id=s_1")],
        Vec::new(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(
        json_of(&bytes),
        serde_json::json!({
            "session": "s_1",
            "theme": "dark blue",
            "filter": {"status": "open", "limit": 5},
        })
    );
    // The required cookie missing is refused.
    let (status, _) = send_raw(&router, "GET", "/session", &[], Vec::new()).await;
    assert!(status.is_client_error(), "{status}");
}

/// A server on the stubs of `shared-types.yaml`, whose operations repeat their parameter
/// schemas: the repeated ones are one type each, and a parameter named like a component
/// schema keeps its own type instead of becoming the component's.
struct Widgets;

/// One function for the widget id of every operation: it compiles only if the id is one type.
fn widget(
    id: &shared_types_axum::types::WidgetId,
    name: String,
) -> shared_types_axum::types::Widget {
    shared_types_axum::types::Widget {
        id: id.to_string(),
        name: Some(name),
        order: None,
    }
}

impl shared_types_axum::Api for Widgets {
    type Caller = ();

    async fn authenticate(
        &self,
        _security: shared_types_axum::Security,
        _parts: &http::request::Parts,
    ) -> Result<(), Response> {
        Ok(())
    }

    fn reject(
        &self,
        rejection: shared_types_axum::Rejection,
        _parts: &http::request::Parts,
    ) -> Response {
        let body = serde_json::json!({ "message": rejection.message });
        (rejection.status(), axum::Json(body)).into_response()
    }

    async fn get_widget(
        &self,
        _caller: (),
        request: shared_types_axum::GetWidgetRequest,
    ) -> shared_types_axum::GetWidgetResponse {
        let order: Option<shared_types_axum::types::GetWidgetOrder2> = request.order;
        let select: Vec<shared_types_axum::types::GetWidgetSelectItem> =
            request.select.unwrap_or_default();
        let name = format!(
            "limit={:?} order={} select={}",
            request.limit.map(u64::from),
            order.map_or("-".into(), |o| o.to_string()),
            select
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
        shared_types_axum::GetWidgetResponse::Ok(widget(&request.widget_id, name))
    }

    async fn list_parts(
        &self,
        _caller: (),
        request: shared_types_axum::ListPartsRequest,
    ) -> shared_types_axum::ListPartsResponse {
        // The same `$select` schema as `getWidget`'s: the same type.
        let select: Vec<shared_types_axum::types::GetWidgetSelectItem> =
            request.select.unwrap_or_default();
        let name = format!("{} fields", select.len());
        shared_types_axum::ListPartsResponse::Ok(shared_types_axum::types::ListPartsResponse {
            value: vec![widget(&request.widget_id, name)],
        })
    }

    async fn list_gadgets(
        &self,
        _caller: (),
        request: shared_types_axum::ListGadgetsRequest,
    ) -> shared_types_axum::ListGadgetsResponse {
        // Another `$select` schema: a type of its own, named after its first operation.
        let select: Vec<shared_types_axum::types::ListGadgetsSelectItem> =
            request.select.unwrap_or_default();
        let value = select
            .iter()
            .map(|field| shared_types_axum::types::Widget {
                id: field.to_string(),
                name: None,
                order: None,
            })
            .collect();
        shared_types_axum::ListGadgetsResponse::Ok(shared_types_axum::types::ListGadgetsResponse {
            value,
        })
    }
}

#[tokio::test]
async fn shared_types_stubs_read_each_parameter_by_its_own_schema() {
    let router = shared_types_axum::router(Arc::new(Widgets));

    let (status, body) = call(
        &router,
        "GET",
        "/widgets/w_1?limit=5&order=created&$select=name,id",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"id": "w_1", "name": "limit=Some(5) order=created select=name,id"})
    );

    // `order` is the parameter's enum, not the component object of the same name.
    let (status, _) = call(&router, "GET", "/widgets/w_1?order=size", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(&router, "GET", "/widgets/w_1?limit=500", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(&router, "GET", "/widgets/w_1?limit=ten", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The shared id type keeps its pattern in both operations.
    let (status, _) = call(&router, "GET", "/widgets/bad", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(&router, "GET", "/widgets/bad/parts", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, body) = call(&router, "GET", "/widgets/w_2/parts?$select=id", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["value"][0]["name"], "1 fields");
    // `size` is in the gadgets' `$select` enum and not in the widgets'.
    let (status, body) = call(&router, "GET", "/gadgets?$select=size", None).await;
    assert_eq!(
        (status, body["value"][0]["id"].clone()),
        (StatusCode::OK, "size".into())
    );
    let (status, _) = call(&router, "GET", "/widgets/w_2/parts?$select=size", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// A server on the stubs of `tags.yaml` generated with a trait per tag: it implements `Api`
/// once and each group's trait, every group's routes are served, and each group keeps its
/// parameters' validation. Written once for the stubs as one module (`tags_axum`) and as the
/// workspace of crates `--out` writes (`tags_crates`, its crates compiled here as modules):
/// the crates re-export the same names, so one implementation fits both.
macro_rules! directory {
    ($server:ident, $m:ident) => {
        #[derive(Default)]
        struct $server {
            users: std::sync::Mutex<Vec<$m::types::User>>,
        }

        impl $m::Api for $server {
            type Caller = ();

            async fn authenticate(
                &self,
                _security: $m::Security,
                _parts: &http::request::Parts,
            ) -> Result<(), Response> {
                Ok(())
            }

            fn reject(&self, rejection: $m::Rejection, _parts: &http::request::Parts) -> Response {
                let body = serde_json::json!({ "message": rejection.message });
                (rejection.status(), axum::Json(body)).into_response()
            }
        }

        impl $m::UsersUserApi for $server {
            async fn get_user(
                &self,
                _caller: (),
                request: $m::GetUserRequest,
            ) -> $m::GetUserResponse {
                let users = self.users.lock().unwrap();
                match users.iter().find(|u| u.id == *request.user_id) {
                    Some(user) => $m::GetUserResponse::Ok(user.clone()),
                    None => $m::GetUserResponse::NotFound,
                }
            }

            async fn delete_user(
                &self,
                _caller: (),
                request: $m::DeleteUserRequest,
            ) -> $m::DeleteUserResponse {
                self.users
                    .lock()
                    .unwrap()
                    .retain(|u| u.id != request.user_id);
                $m::DeleteUserResponse::NoContent
            }
        }

        impl $m::AdminApi for $server {
            async fn rename_user(
                &self,
                _caller: (),
                request: $m::RenameUserRequest,
            ) -> $m::RenameUserResponse {
                let mut users = self.users.lock().unwrap();
                match users.iter_mut().find(|u| u.id == request.user_id) {
                    Some(user) => {
                        user.name = String::from(request.body.name.clone()).try_into().unwrap();
                        $m::RenameUserResponse::Ok(user.clone())
                    }
                    None => $m::RenameUserResponse::NotFound,
                }
            }
        }

        impl $m::UsersUser2Api for $server {
            async fn get_user_photo(
                &self,
                _caller: (),
                request: $m::GetUserPhotoRequest,
            ) -> $m::GetUserPhotoResponse {
                $m::GetUserPhotoResponse::Ok($m::types::GetUserPhotoResponse {
                    url: Some(format!("/photos/{}.png", request.user_id)),
                })
            }
        }

        impl $m::UsersApi for $server {
            async fn list_users(
                &self,
                _caller: (),
                request: $m::ListUsersRequest,
            ) -> $m::ListUsersResponse {
                let top = request.top.map_or(50, |n| n.get() as usize);
                let value = self
                    .users
                    .lock()
                    .unwrap()
                    .iter()
                    .take(top)
                    .cloned()
                    .collect();
                $m::ListUsersResponse::Ok($m::types::ListUsersResponse { value })
            }

            async fn create_user(
                &self,
                _caller: (),
                request: $m::CreateUserRequest,
            ) -> $m::CreateUserResponse {
                self.users.lock().unwrap().push(request.body.clone());
                $m::CreateUserResponse::Created(request.body)
            }
        }

        impl $m::RootApi for $server {
            async fn get_root(
                &self,
                _caller: (),
                _request: $m::GetRootRequest,
            ) -> $m::GetRootResponse {
                $m::GetRootResponse::Ok(axum::body::Bytes::from_static(b"directory"))
            }
        }
    };
}

directory!(Directory, tags_axum);
directory!(CratesDirectory, tags_crates);

/// What a client of either directory sees.
async fn serve_directory(router: axum::Router) {
    for (id, name) in [("u1", "Ada"), ("u2", "Grace")] {
        let body = serde_json::json!({ "id": id, "name": name }).to_string();
        let (status, created) = call(&router, "POST", "/users", Some(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created, serde_json::json!({ "id": id, "name": name }));
    }
    // The body's schema is checked in the group's operation too.
    let (status, _) = call(&router, "POST", "/users", Some(r#"{"id":"u3","name":""}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, body) = call(&router, "GET", "/users?top=1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        serde_json::json!({ "value": [{ "id": "u1", "name": "Ada" }] })
    );
    let (status, _) = call(&router, "GET", "/users?top=51", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, body) = call(&router, "GET", "/users/u2", None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            serde_json::json!({ "id": "u2", "name": "Grace" })
        )
    );
    // `userId` of `getUser` has `minLength: 2`.
    let (status, _) = call(&router, "GET", "/users/u", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Another group's method on the same path (in the crates, another crate's route).
    let (status, body) = call(&router, "PATCH", "/users/u2", Some(r#"{"name":"G"}"#)).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            serde_json::json!({ "id": "u2", "name": "G" })
        )
    );
    let (status, _) = call(&router, "PATCH", "/users/u2", Some(r#"{"name":""}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(&router, "PATCH", "/users/u9", Some(r#"{"name":"X"}"#)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&router, "PUT", "/users/u2", Some(r#"{"name":"X"}"#)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    let (status, body) = call(&router, "GET", "/users/u2/photo", None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            serde_json::json!({ "url": "/photos/u2.png" })
        )
    );

    let (status, _) = call(&router, "DELETE", "/users/u2", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&router, "GET", "/users/u2", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, text) = send_raw(&router, "GET", "/", &[], Vec::new()).await;
    assert_eq!(
        (status, text.as_slice()),
        (StatusCode::OK, b"directory".as_slice())
    );
}

#[tokio::test]
async fn tags_stubs_serve_every_group_of_operations() {
    serve_directory(tags_axum::router(Arc::new(Directory::default()))).await;
}

/// The same document written as a workspace of crates (a group per crate, so that the path
/// `/users/{userId}` is routed by two crates) serves exactly the same.
#[tokio::test]
async fn tags_stubs_as_crates_serve_every_group_of_operations() {
    serve_directory(tags_crates::router(Arc::new(CratesDirectory::default()))).await;
}
