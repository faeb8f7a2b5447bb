//! The emulator's state: Stripe objects as Stripe's JSON, each owned by an account (the
//! platform, or a connected `acct_…` named by `Stripe-Account`), the event log, idempotency
//! records, webhook endpoints, and a log of API requests for tests to assert on. What a
//! restart must keep ([`Saved`]) can be written to a file and read back.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The account objects belong to when a request names no `Stripe-Account`.
pub const PLATFORM: &str = "platform";

/// Where events are delivered.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub url: String,
    pub secret: String,
}

/// One API request as the emulator received it.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// The `Stripe-Account` header, if any.
    pub stripe_account: Option<String>,
    pub idempotency_key: Option<String>,
    pub params: Value,
}

/// How delivering one event went.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Delivery {
    pub attempts: u32,
    pub delivered: bool,
    pub last_status: Option<u16>,
}

/// An idempotency key's record: the first request's fingerprint, and its status and body
/// once answered (`None` while it is still running).
pub type Idempotent = (String, Option<(u16, Value)>);

#[derive(Default)]
pub struct Store {
    objects: HashMap<String, (String, Value)>,
    pub events: Vec<Value>,
    pub deliveries: HashMap<String, Delivery>,
    /// (account, key) → what was first sent with the key and how it was answered.
    pub idempotency: HashMap<(String, String), Idempotent>,
    pub endpoints: Vec<Endpoint>,
    pub requests: Vec<LoggedRequest>,
    /// Per Checkout Session: `{lines, subscription_metadata}`, which Stripe keeps but does not
    /// return on the session object.
    pub session_lines: HashMap<String, Value>,
}

impl Store {
    pub fn insert(&mut self, account: &str, object: Value) -> Value {
        let id = object["id"].as_str().expect("objects have ids").to_owned();
        self.objects
            .insert(id, (account.to_owned(), object.clone()));
        object
    }

    /// The object with this id, if `account` owns it (another account's ids do not exist).
    pub fn get(&self, account: &str, id: &str) -> Option<&Value> {
        self.objects
            .get(id)
            .filter(|(owner, _)| owner == account)
            .map(|(_, object)| object)
    }

    pub fn get_mut(&mut self, account: &str, id: &str) -> Option<&mut Value> {
        self.objects
            .get_mut(id)
            .filter(|(owner, _)| owner == account)
            .map(|(_, object)| object)
    }

    /// Every object of one kind (`object` field) that `account` owns, in no order.
    pub fn objects_of<'a>(
        &'a self,
        account: &'a str,
        kind: &'a str,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .values()
            .filter(move |(owner, object)| owner == account && object["object"] == kind)
            .map(|(_, object)| object)
    }

    /// An object whatever account owns it, for the hosted pages, which name no account.
    pub fn find(&self, id: &str) -> Option<&Value> {
        self.objects.get(id).map(|(_, object)| object)
    }

    /// The account that owns an object, for test controls that act on any object.
    pub fn owner(&self, id: &str) -> Option<String> {
        self.objects.get(id).map(|(owner, _)| owner.clone())
    }
}

/// What a restart keeps: every object, event, delivery and finished idempotent answer, and the
/// port the emulator listened on (the URLs it handed out name it). Endpoints are added again
/// by whoever starts the emulator; the request log starts empty.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Saved {
    pub port: Option<u16>,
    /// `(id, account, object)`.
    objects: Vec<(String, String, Value)>,
    events: Vec<Value>,
    deliveries: HashMap<String, Delivery>,
    /// `(account, key, fingerprint, status, answer)`.
    idempotency: Vec<(String, String, String, u16, Value)>,
    session_lines: HashMap<String, Value>,
}

impl Store {
    /// What a restart keeps, and the port.
    pub fn saved(&self, port: Option<u16>) -> Saved {
        Saved {
            port,
            objects: self
                .objects
                .iter()
                .map(|(id, (account, object))| (id.clone(), account.clone(), object.clone()))
                .collect(),
            events: self.events.clone(),
            deliveries: self.deliveries.clone(),
            idempotency: self
                .idempotency
                .iter()
                .filter_map(|((account, key), (fingerprint, answer))| {
                    let (status, body) = answer.as_ref()?;
                    Some((
                        account.clone(),
                        key.clone(),
                        fingerprint.clone(),
                        *status,
                        body.clone(),
                    ))
                })
                .collect(),
            session_lines: self.session_lines.clone(),
        }
    }

    /// The state a restart resumes from.
    pub fn from_saved(saved: Saved) -> Store {
        Store {
            objects: saved
                .objects
                .into_iter()
                .map(|(id, account, object)| (id, (account, object)))
                .collect(),
            events: saved.events,
            deliveries: saved.deliveries,
            idempotency: saved
                .idempotency
                .into_iter()
                .map(|(account, key, fingerprint, status, body)| {
                    ((account, key), (fingerprint, Some((status, body))))
                })
                .collect(),
            endpoints: Vec::new(),
            requests: Vec::new(),
            session_lines: saved.session_lines,
        }
    }
}

/// A Stripe-style id: a prefix and 24 random alphanumerics.
pub fn new_id(prefix: &str) -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let tail: String = (0..24)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}_{tail}")
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
