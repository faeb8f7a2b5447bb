//! User identity: verifying user JWTs against a tenant's issuer, and the development issuer.
//!
//! Order matters and is fixed here: the header's algorithm is checked against the allowed
//! asymmetric ones, the key is chosen by `kid`, the signature is verified, and only then are
//! `exp`, `nbf`, `iat`, `iss` and `azp` read. The user id is the verified `sub`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{AppError, AppResult};
use crate::domain::{AuthSettings, Mode, Tenant};
use crate::store::Store;

/// How long a fetched JWKS is trusted before an unknown `kid` may trigger a refetch.
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(10);
/// How long a fetched JWKS is used at all.
const JWKS_MAX_AGE: Duration = Duration::from_secs(300);
/// How long a token whose signature verified is trusted without checking the signature again.
/// Shorter than [`JWKS_MAX_AGE`], so a key the issuer withdraws stops being accepted no later
/// than it would without this cache. Its claims are checked on every request.
const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// How many verified tokens are kept (about 300 bytes each: a digest and the claims).
const VERIFIED_CAPACITY: usize = 100_000;

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

/// A token whose signature verified: its claims, and whether the development key signed it.
#[derive(Debug, Clone)]
struct Signed {
    claims: Arc<Claims>,
    dev: bool,
}

/// Verifies user tokens and mints development tokens.
pub struct Identity {
    http: reqwest::Client,
    jwks: Mutex<HashMap<String, CachedJwks>>,
    dev: DevKey,
    /// Tokens whose signature verified, by the SHA-256 of the tenant, where its keys come from,
    /// and the token. A signature checks the same way every time; the claims do not, so they
    /// are checked on every request.
    signed: super::replica::Expiring<[u8; 32], Signed>,
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
                        Ok((format!("dev-{}", crate::domain::ids::random(12)), pem))
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
            signed: super::replica::Expiring::new(VERIFIED_CAPACITY, VERIFIED_TTL),
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
        let dev = kid == self.dev.kid;
        let key = if dev {
            if header.alg != Algorithm::RS256 {
                return Err(AppError::InvalidToken(
                    "the algorithm does not match the key".into(),
                ));
            }
            self.dev.decoding.clone()
        } else {
            let Some(issuer) = &settings.jwt_issuer else {
                return Err(AppError::InvalidToken(
                    "this project has no JWT issuer configured".into(),
                ));
            };
            let url = settings.jwks_url.clone().unwrap_or_else(|| {
                format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/'))
            });
            let jwk = self.find_key(&url, &kid).await?;
            DecodingKey::from_jwk(&jwk)
                .map_err(|_| AppError::InvalidToken("the issuer's key is unusable".into()))?
        };
        // The signature only: the claims are checked by `check_claims`, on every request.
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::new();
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature => {
                    AppError::InvalidToken("its signature does not verify".into())
                }
                _ => AppError::InvalidToken("it failed verification".into()),
            }
        })?;
        Ok(Signed {
            claims: Arc::new(data.claims),
            dev,
        })
    }

    /// The claims of a token whose signature verified, against the tenant's settings now.
    fn check_claims(
        &self,
        tenant: &Tenant,
        settings: &AuthSettings,
        signed: &Signed,
        now: i64,
    ) -> AppResult<VerifiedUser> {
        let issuer = if signed.dev {
            if tenant.mode != Mode::Test || !settings.dev_issuer_enabled {
                return Err(AppError::InvalidToken(
                    "development tokens are not accepted by this project and mode".into(),
                ));
            }
            Self::dev_issuer(&tenant.project_id)
        } else {
            settings.jwt_issuer.clone().ok_or_else(|| {
                AppError::InvalidToken("this project has no JWT issuer configured".into())
            })?
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
        if iss != issuer {
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
        let identity = Identity::load(&store, now).await.unwrap();
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
}
