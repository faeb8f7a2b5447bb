//! User identity: verifying user JWTs against a tenant's issuer, and the development issuer.
//!
//! Order matters and is fixed here: the header's algorithm is checked against the allowed
//! asymmetric ones, the key is chosen by `kid`, the signature is verified, and only then are
//! `exp`, `nbf`, `iat`, `iss` and `azp` read. The user id is the verified `sub`. Issuers'
//! key sets are fetched by `jwks`, which decides where from, how much and how often.

mod jwks;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
pub use jwks::{Jwks, JwksPolicy};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{AppError, AppResult};
use crate::domain::{AuthSettings, Mode, Tenant};
use crate::store::Store;

/// How long a token whose signature verified is trusted without checking the signature again.
/// Shorter than a key set's life ([`JwksPolicy::max_age`]), so a key the issuer withdraws stops being accepted no later
/// than it would without this cache. Its claims are checked on every request.
const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// How many verified tokens are kept (about 300 bytes each: a digest and the claims).
const VERIFIED_CAPACITY: usize = 100_000;
/// The development issuer's `iss`, before the project id.
const DEV_ISSUER_BASE: &str = "https://dev.dream-api.invalid/";

/// A user whose token verified.
#[derive(Debug, Clone)]
pub struct VerifiedUser {
    pub user_id: String,
    pub email: Option<String>,
}

/// A token's claims. The registered ones the server needs are optional here so that a token
/// without one is refused by name (`it has no `exp` claim`), not as unreadable.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    azp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
}

/// The development issuer's key.
struct DevKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: serde_json::Value,
}

/// A token whose signature verified: its claims, and whether the development key signed it.
#[derive(Debug, Clone)]
struct Signed {
    claims: Arc<Claims>,
    dev: bool,
}

/// Verifies user tokens and mints development tokens.
pub struct Identity {
    /// The issuers' key sets.
    pub jwks: Jwks,
    dev: DevKey,
    /// Tokens whose signature verified, by the SHA-256 of the tenant, where its keys come from,
    /// and the token. A signature checks the same way every time; the claims do not, so they
    /// are checked on every request.
    signed: super::replica::Expiring<[u8; 32], Signed>,
}

impl Identity {
    /// Loads the development issuer's key from the store, making one on first start.
    pub async fn load(store: &Store, now: i64, policy: JwksPolicy) -> anyhow::Result<Identity> {
        let (kid, pem) = match store.dev_key_get().await? {
            Some(found) => found,
            None => {
                let (kid, pem) =
                    tokio::task::spawn_blocking(|| -> anyhow::Result<(String, String)> {
                        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)?;
                        let pem = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)?.to_string();
                        Ok((format!("dev-{}", crate::domain::ids::random(12)), pem))
                    })
                    .await??;
                store.dev_key_init(&kid, &pem, now).await?
            }
        };
        let private = rsa::RsaPrivateKey::from_pkcs1_pem(&pem)?;
        let jwk = rsa_jwk(&kid, &private.to_public_key());
        let (n, e) = (
            jwk["n"].as_str().unwrap_or_default(),
            jwk["e"].as_str().unwrap_or_default(),
        );
        Ok(Identity {
            jwks: Jwks::new(policy)?,
            dev: DevKey {
                kid,
                encoding: EncodingKey::from_rsa_pem(pem.as_bytes())?,
                decoding: DecodingKey::from_rsa_components(n, e)?,
                jwk,
            },
            signed: super::replica::Expiring::new(VERIFIED_CAPACITY, VERIFIED_TTL),
        })
    }

    /// The development issuer's `iss` for a project: each project gets its own, so a token
    /// minted for one project is refused by every other.
    pub fn dev_issuer(project_id: &str) -> String {
        format!("{DEV_ISSUER_BASE}{project_id}")
    }

    /// The development issuer's public key set.
    pub fn dev_jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.dev.jwk] })
    }

    /// Mints a development token. Callers check mode and opt-in first.
    pub fn dev_mint(
        &self,
        project_id: &str,
        user_id: &str,
        email: Option<&str>,
        now: i64,
        ttl: i64,
    ) -> AppResult<(String, String, i64)> {
        let issuer = Self::dev_issuer(project_id);
        let claims = Claims {
            sub: Some(user_id.to_string()),
            iss: Some(issuer.clone()),
            exp: Some(now + ttl),
            nbf: Some(now),
            iat: Some(now),
            azp: None,
            email: email.map(str::to_string),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.dev.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.dev.encoding)
            .map_err(|e| AppError::Internal(e.into()))?;
        Ok((token, issuer, now + ttl))
    }

    /// Verifies a user token for `tenant` under its `settings`: the signature (once per
    /// [`VERIFIED_TTL`]), then the claims.
    pub async fn verify(
        &self,
        tenant: &Tenant,
        settings: &AuthSettings,
        token: &str,
        now: i64,
    ) -> AppResult<VerifiedUser> {
        // Everything that decides which key must have signed it is part of the name: a
        // changed issuer or JWKS address means the signature is checked again.
        let mut digest = Sha256::new();
        for part in [
            tenant.project_id.as_str(),
            tenant.mode.as_str(),
            settings.jwt_issuer.as_deref().unwrap_or_default(),
            settings.jwks_url.as_deref().unwrap_or_default(),
            token,
        ] {
            digest.update(part.as_bytes());
            digest.update([0]);
        }
        let digest: [u8; 32] = digest.finalize().into();
        let signed = match self.signed.get(&digest) {
            Some(signed) => signed,
            None => {
                let signed = self.verify_signature(settings, token).await?;
                self.signed.insert(digest, signed.clone());
                signed
            }
        };
        self.check_claims(tenant, settings, &signed, now)
    }

    /// Checks the token's signature with the key its header names, and reads its claims.
    async fn verify_signature(&self, settings: &AuthSettings, token: &str) -> AppResult<Signed> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            AppError::InvalidToken("it is malformed or uses an unsupported algorithm".into())
        })?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(AppError::InvalidToken(format!(
                "the algorithm {:?} is not accepted; use RS256 or ES256",
                header.alg
            )));
        }
        let kid = header.kid.clone().unwrap_or_default();
        if kid == self.dev.kid {
            if header.alg != Algorithm::RS256 {
                return Err(AppError::InvalidToken(
                    "the algorithm does not match the key".into(),
                ));
            }
            let claims = decode(token, header.alg, &self.dev.decoding)?;
            return Ok(Signed { claims, dev: true });
        }
        let Some(url) = jwks_url(settings) else {
            return Err(AppError::InvalidToken(
                "this project has no JWT issuer configured".into(),
            ));
        };
        let jwk = self.jwks.key(&url, &kid, None).await?;
        let unusable = |_| AppError::InvalidToken("the issuer's key is unusable".into());
        let claims = match decode(
            token,
            header.alg,
            &DecodingKey::from_jwk(&jwk).map_err(unusable)?,
        ) {
            // The issuer may have replaced the key under the same id: fetch its keys again
            // (no more often than the key set allows) and try the key it publishes now.
            Err(Failed::Signature) => {
                let now_published = self.jwks.key(&url, &kid, Some(&jwk)).await?;
                if now_published == jwk {
                    return Err(Failed::Signature.into());
                }
                let key = DecodingKey::from_jwk(&now_published).map_err(unusable)?;
                decode(token, header.alg, &key)?
            }
            other => other?,
        };
        Ok(Signed { claims, dev: false })
    }

    /// The claims of a token whose signature verified, against the tenant's settings now.
    fn check_claims(
        &self,
        tenant: &Tenant,
        settings: &AuthSettings,
        signed: &Signed,
        now: i64,
    ) -> AppResult<VerifiedUser> {
        // The issuer the token must name: the project's development issuer (compared without
        // building it, on every request) or the configured one.
        let issuer: (&str, &str) = if signed.dev {
            if tenant.mode != Mode::Test || !settings.dev_issuer_enabled {
                return Err(AppError::InvalidToken(
                    "development tokens are not accepted by this project and mode".into(),
                ));
            }
            (DEV_ISSUER_BASE, &tenant.project_id)
        } else {
            let configured = settings.jwt_issuer.as_deref().ok_or_else(|| {
                AppError::InvalidToken("this project has no JWT issuer configured".into())
            })?;
            (configured, "")
        };
        let claims = &signed.claims;
        let missing = |claim: &str| AppError::InvalidToken(format!("it has no `{claim}` claim"));
        let exp = claims.exp.ok_or_else(|| missing("exp"))?;
        let sub = claims.sub.as_deref().ok_or_else(|| missing("sub"))?;
        let iss = claims.iss.as_deref().ok_or_else(|| missing("iss"))?;
        let leeway = settings.leeway_seconds.max(0);
        if exp.saturating_add(leeway) < now {
            return Err(AppError::TokenExpired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(leeway))
            || claims
                .iat
                .is_some_and(|iat| iat > now.saturating_add(leeway))
        {
            return Err(AppError::TokenNotYetValid);
        }
        if iss.strip_prefix(issuer.0) != Some(issuer.1) {
            return Err(AppError::InvalidToken(
                "it comes from another issuer".into(),
            ));
        }
        if let Some(azp) = &claims.azp
            && !settings.allowed_origins.is_empty()
            && !settings.allowed_origins.iter().any(|o| o == azp)
        {
            return Err(AppError::InvalidToken(format!(
                "the authorized party {azp} is not an allowed origin"
            )));
        }
        if sub.is_empty() || sub.len() > 255 {
            return Err(AppError::InvalidToken(
                "its `sub` is empty or too long".into(),
            ));
        }
        Ok(VerifiedUser {
            user_id: sub.to_string(),
            email: claims.email.clone(),
        })
    }
}

/// An RSA public key as a JWK for RS256 signatures.
fn rsa_jwk(kid: &str, public: &rsa::RsaPublicKey) -> serde_json::Value {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let n = b64.encode(public.n().to_bytes_be());
    let e = b64.encode(public.e().to_bytes_be());
    serde_json::json!({ "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": n, "e": e })
}

/// Where the project's issuer publishes its keys: the JWKS URL, or the issuer's well-known
/// address; `None` without an issuer.
pub(crate) fn jwks_url(settings: &AuthSettings) -> Option<String> {
    let issuer = settings.jwt_issuer.as_ref()?;
    Some(
        settings
            .jwks_url
            .clone()
            .unwrap_or_else(|| format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/'))),
    )
}

/// Why a token's signature was not accepted.
enum Failed {
    Signature,
    Other,
}

impl From<Failed> for AppError {
    fn from(failed: Failed) -> AppError {
        AppError::InvalidToken(match failed {
            Failed::Signature => "its signature does not verify".into(),
            Failed::Other => "it failed verification".into(),
        })
    }
}

/// The token's claims, if `key` made its signature; the claims themselves are checked by
/// `check_claims`, on every request.
fn decode(token: &str, alg: Algorithm, key: &DecodingKey) -> Result<Arc<Claims>, Failed> {
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    match jsonwebtoken::decode::<Claims>(token, key, &validation) {
        Ok(data) => Ok(Arc::new(data.claims)),
        Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => {
            Err(Failed::Signature)
        }
        Err(_) => Err(Failed::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dev_issuer_enabled: bool) -> AuthSettings {
        AuthSettings {
            jwt_issuer: None,
            jwks_url: None,
            allowed_origins: Vec::new(),
            leeway_seconds: 5,
            dev_issuer_enabled,
        }
    }

    /// A token whose signature was checked once is remembered, but its claims are read
    /// against the clock and the project's settings on every use.
    #[tokio::test]
    async fn a_remembered_signature_never_outlives_the_claims() {
        crate::install_crypto();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("identity.db").display());
        let store = Store::connect(&url).await.unwrap();
        let now = 1_900_000_000;
        let identity = Identity::load(&store, now, JwksPolicy::default())
            .await
            .unwrap();
        let tenant = Tenant {
            project_id: "proj_a".into(),
            mode: Mode::Test,
        };
        let (token, _, _) = identity
            .dev_mint("proj_a", "user_1", None, now, 60)
            .unwrap();

        let user = identity
            .verify(&tenant, &settings(true), &token, now)
            .await
            .unwrap();
        assert_eq!(user.user_id, "user_1");
        assert_eq!(identity.signed.len(), 1);
        // Remembered: the same answer again.
        let again = identity
            .verify(&tenant, &settings(true), &token, now + 30)
            .await;
        assert_eq!(again.unwrap().user_id, "user_1");
        // Past `exp` and the leeway, the remembered token is expired.
        let late = identity
            .verify(&tenant, &settings(true), &token, now + 66)
            .await;
        assert!(matches!(late, Err(AppError::TokenExpired)), "{late:?}");
        // The project stops accepting development tokens.
        let off = identity
            .verify(&tenant, &settings(false), &token, now)
            .await;
        assert!(matches!(off, Err(AppError::InvalidToken(_))), "{off:?}");
        // Another project, or live mode: another issuer.
        let other = Tenant {
            project_id: "proj_b".into(),
            mode: Mode::Test,
        };
        let elsewhere = identity.verify(&other, &settings(true), &token, now).await;
        assert!(
            matches!(elsewhere, Err(AppError::InvalidToken(_))),
            "{elsewhere:?}"
        );
        let live = Tenant {
            project_id: "proj_a".into(),
            mode: Mode::Live,
        };
        let live = identity.verify(&live, &settings(true), &token, now).await;
        assert!(matches!(live, Err(AppError::InvalidToken(_))), "{live:?}");
        // A token changed by one character is a different token, checked afresh.
        let mut forged = token.clone().into_bytes();
        let at = forged.len() - 10;
        forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        let forged = identity
            .verify(&tenant, &settings(true), &forged, now)
            .await;
        assert!(
            matches!(forged, Err(AppError::InvalidToken(_))),
            "{forged:?}"
        );
    }

    /// An issuer that replaces its key under the same `kid` is followed once the refresh
    /// interval allows a fetch; a key it never published is refused, without a fetch.
    #[tokio::test]
    async fn a_key_replaced_under_the_same_id_verifies_after_a_refetch() {
        crate::install_crypto();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("identity.db").display());
        let store = Store::connect(&url).await.unwrap();
        let now = 1_900_000_000;
        let policy = JwksPolicy {
            allow_insecure: true,
            min_refresh: Duration::from_millis(300),
            ..JwksPolicy::default()
        };
        let identity = Identity::load(&store, now, policy).await.unwrap();
        let keys: Vec<rsa::RsaPrivateKey> = tokio::task::spawn_blocking(|| {
            (0..3)
                .map(|_| rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap())
                .collect()
        })
        .await
        .unwrap();
        let published = Arc::new(std::sync::Mutex::new(serde_json::Value::Null));
        let publish = |key: &rsa::RsaPrivateKey| {
            *published.lock().unwrap() =
                serde_json::json!({ "keys": [rsa_jwk("k1", &key.to_public_key())] });
        };
        let served = published.clone();
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let served = served.clone();
                async move { axum::Json(served.lock().unwrap().clone()) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let jwks_url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let settings = AuthSettings {
            jwt_issuer: Some("https://issuer.test".into()),
            jwks_url: Some(jwks_url),
            ..settings(false)
        };
        let tenant = Tenant {
            project_id: "proj_a".into(),
            mode: Mode::Test,
        };
        let token = |key: &rsa::RsaPrivateKey, user: &str| {
            let pem = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some("k1".into());
            let claims = Claims {
                sub: Some(user.into()),
                iss: Some("https://issuer.test".into()),
                exp: Some(now + 600),
                nbf: None,
                iat: Some(now),
                azp: None,
                email: None,
            };
            jsonwebtoken::encode(
                &header,
                &claims,
                &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            )
            .unwrap()
        };

        publish(&keys[0]);
        let first = identity
            .verify(&tenant, &settings, &token(&keys[0], "user_1"), now)
            .await;
        assert_eq!(first.unwrap().user_id, "user_1");
        publish(&keys[1]);
        tokio::time::sleep(Duration::from_millis(350)).await;
        let second = identity
            .verify(&tenant, &settings, &token(&keys[1], "user_2"), now)
            .await;
        assert_eq!(second.unwrap().user_id, "user_2");
        assert_eq!(identity.jwks.fetches(), 2);
        // A key never published, under the same id, right after: refused without a fetch.
        let forged = identity
            .verify(&tenant, &settings, &token(&keys[2], "user_3"), now)
            .await;
        assert!(
            matches!(&forged, Err(AppError::InvalidToken(m)) if m.contains("signature")),
            "{forged:?}"
        );
        assert_eq!(identity.jwks.fetches(), 2);
    }
}
