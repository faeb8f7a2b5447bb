//! User identity: verifying user JWTs against a tenant's issuer, and the development issuer.
//!
//! Order matters and is fixed here: the header's algorithm is checked against the allowed
//! asymmetric ones, the key is chosen by `kid`, the signature is verified, and only then are
//! `exp`, `nbf`, `iat`, `iss` and `azp` read. The user id is the verified `sub`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};

use super::error::{AppError, AppResult};
use crate::store::{Mode, SettingsRow, Store, Tenant};

/// How long a fetched JWKS is trusted before an unknown `kid` may trigger a refetch.
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(10);
/// How long a fetched JWKS is used at all.
const JWKS_MAX_AGE: Duration = Duration::from_secs(300);

/// A user whose token verified.
#[derive(Debug, Clone)]
pub struct VerifiedUser {
    pub user_id: String,
    pub email: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    azp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
}

struct CachedJwks {
    keys: JwkSet,
    fetched_at: Instant,
}

/// The development issuer's key.
struct DevKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: serde_json::Value,
}

/// Verifies user tokens and mints development tokens.
pub struct Identity {
    http: reqwest::Client,
    jwks: Mutex<HashMap<String, CachedJwks>>,
    dev: DevKey,
}

impl Identity {
    /// Loads the development issuer's key from the store, making one on first start.
    pub async fn load(store: &Store, now: i64) -> anyhow::Result<Identity> {
        let (kid, pem) = match store.dev_key_get().await? {
            Some(found) => found,
            None => {
                let (kid, pem) =
                    tokio::task::spawn_blocking(|| -> anyhow::Result<(String, String)> {
                        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)?;
                        let pem = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)?.to_string();
                        Ok((format!("dev-{}", super::ids::random(12)), pem))
                    })
                    .await??;
                store.dev_key_init(&kid, &pem, now).await?
            }
        };
        let private = rsa::RsaPrivateKey::from_pkcs1_pem(&pem)?;
        let public = private.to_public_key();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let n = b64.encode(public.n().to_bytes_be());
        let e = b64.encode(public.e().to_bytes_be());
        let jwk = serde_json::json!({ "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": n, "e": e });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Identity {
            http,
            jwks: Mutex::new(HashMap::new()),
            dev: DevKey {
                kid,
                encoding: EncodingKey::from_rsa_pem(pem.as_bytes())?,
                decoding: DecodingKey::from_rsa_components(&n, &e)?,
                jwk,
            },
        })
    }

    /// The development issuer's `iss` for a project: each project gets its own, so a token
    /// minted for one project is refused by every other.
    pub fn dev_issuer(project_id: &str) -> String {
        format!("https://dev.dream-api.invalid/{project_id}")
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
            sub: user_id.to_string(),
            iss: issuer.clone(),
            exp: now + ttl,
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

    /// Verifies a user token for `tenant` under its `settings`.
    pub async fn verify(
        &self,
        tenant: &Tenant,
        settings: &SettingsRow,
        token: &str,
        now: i64,
    ) -> AppResult<VerifiedUser> {
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
        let is_dev = kid == self.dev.kid;
        let (key, issuer) = if is_dev {
            if tenant.mode != Mode::Test || !settings.dev_issuer_enabled {
                return Err(AppError::InvalidToken(
                    "development tokens are not accepted by this project and mode".into(),
                ));
            }
            if header.alg != Algorithm::RS256 {
                return Err(AppError::InvalidToken(
                    "the algorithm does not match the key".into(),
                ));
            }
            (
                self.dev.decoding.clone(),
                Self::dev_issuer(&tenant.project_id),
            )
        } else {
            let Some(issuer) = settings.jwt_issuer.clone() else {
                return Err(AppError::InvalidToken(
                    "this project has no JWT issuer configured".into(),
                ));
            };
            let url = settings.jwks_url.clone().unwrap_or_else(|| {
                format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/'))
            });
            let jwk = self.find_key(&url, &kid).await?;
            let key = DecodingKey::from_jwk(&jwk)
                .map_err(|_| AppError::InvalidToken("the issuer's key is unusable".into()))?;
            (key, issuer)
        };
        let leeway = settings.leeway_seconds.max(0) as u64;
        let mut validation = Validation::new(header.alg);
        validation.leeway = leeway;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => AppError::TokenExpired,
                ErrorKind::ImmatureSignature => AppError::TokenNotYetValid,
                ErrorKind::InvalidIssuer => {
                    AppError::InvalidToken("it comes from another issuer".into())
                }
                ErrorKind::InvalidSignature => {
                    AppError::InvalidToken("its signature does not verify".into())
                }
                ErrorKind::MissingRequiredClaim(claim) => {
                    AppError::InvalidToken(format!("it has no `{claim}` claim"))
                }
                _ => AppError::InvalidToken("it failed verification".into()),
            }
        })?;
        let claims = data.claims;
        if let Some(iat) = claims.iat
            && iat > now + leeway as i64
        {
            return Err(AppError::TokenNotYetValid);
        }
        if let Some(azp) = &claims.azp
            && !settings.allowed_origins.is_empty()
            && !settings.allowed_origins.iter().any(|o| o == azp)
        {
            return Err(AppError::InvalidToken(format!(
                "the authorized party {azp} is not an allowed origin"
            )));
        }
        if claims.sub.is_empty() || claims.sub.len() > 255 {
            return Err(AppError::InvalidToken(
                "its `sub` is empty or too long".into(),
            ));
        }
        Ok(VerifiedUser {
            user_id: claims.sub,
            email: claims.email,
        })
    }

    /// The key `kid` from the JWKS at `url`, refetching at most once per
    /// [`JWKS_MIN_REFRESH`] when the key is unknown.
    async fn find_key(&self, url: &str, kid: &str) -> AppResult<Jwk> {
        let refresh = {
            let cache = self.jwks.lock().expect("jwks cache lock");
            match cache.get(url) {
                Some(cached) if cached.fetched_at.elapsed() < JWKS_MAX_AGE => {
                    if let Some(key) = cached.keys.find(kid) {
                        return Ok(key.clone());
                    }
                    cached.fetched_at.elapsed() >= JWKS_MIN_REFRESH
                }
                _ => true,
            }
        };
        if !refresh {
            return Err(AppError::InvalidToken(format!(
                "no key with id {kid:?} is published by the issuer"
            )));
        }
        let keys: JwkSet = async {
            self.http
                .get(url)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await
        }
        .await
        .map_err(|e: reqwest::Error| {
            tracing::warn!(%url, error = %e, "fetching the JWKS failed");
            AppError::InvalidToken("the issuer's keys could not be fetched".into())
        })?;
        let found = keys.find(kid).cloned();
        self.jwks.lock().expect("jwks cache lock").insert(
            url.to_string(),
            CachedJwks {
                keys,
                fetched_at: Instant::now(),
            },
        );
        found.ok_or_else(|| {
            AppError::InvalidToken(format!("no key with id {kid:?} is published by the issuer"))
        })
    }
}
