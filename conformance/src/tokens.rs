//! The suite's own JWT issuer, standing in for Clerk: an RS256 key pair whose public half the
//! proxy serves as a JWKS, valid tokens for any user, and every kind of forgery a backend must
//! refuse. Keys come from the run's seed, so a seed reproduces the same tokens' keys.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::SeedableRng as _;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::EncodePublicKey as _;
use rsa::traits::PublicKeyParts as _;
use serde::Serialize;

/// The origin the suite's tokens name in `azp`, and that projects allow.
pub const ORIGIN: &str = "https://app.conformance.invalid";

/// Claims of a Clerk-style session token.
#[derive(Debug, Clone, Serialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub azp: String,
}

/// Ways to make a token that must be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgery {
    Expired,
    NotYetValid,
    WrongIssuer,
    DisallowedAzp,
    UnknownKid,
    OtherKeySameKid,
    AlgNone,
    Hs256WithPublicKey,
    TamperedPayload,
}

pub struct Issuer {
    /// The `iss` of every token.
    pub issuer: String,
    pub kid: String,
    key: EncodingKey,
    other_key: EncodingKey,
    public_pem: String,
    /// The JWKS publishing the public key.
    pub jwks: serde_json::Value,
}

impl Issuer {
    /// Makes the key pairs (one published, one not) from `seed`.
    pub fn new(seed: u64, run_id: &str) -> anyhow::Result<Issuer> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let private = rsa::RsaPrivateKey::new(&mut rng, 2048)?;
        let other = rsa::RsaPrivateKey::new(&mut rng, 2048)?;
        let pem = |key: &rsa::RsaPrivateKey| -> anyhow::Result<EncodingKey> {
            let pem = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)?;
            Ok(EncodingKey::from_rsa_pem(pem.as_bytes())?)
        };
        let public = private.to_public_key();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let kid = format!("conformance-{seed:x}");
        let jwks = serde_json::json!({ "keys": [{
            "kty": "RSA",
            "kid": kid,
            "use": "sig",
            "alg": "RS256",
            "n": b64.encode(public.n().to_bytes_be()),
            "e": b64.encode(public.e().to_bytes_be()),
        }]});
        Ok(Issuer {
            issuer: format!("https://issuer.conformance.invalid/{run_id}"),
            kid,
            key: pem(&private)?,
            other_key: pem(&other)?,
            public_pem: public.to_public_key_pem(rsa::pkcs8::LineEnding::LF)?,
            jwks,
        })
    }

    /// Claims for `user_id`, valid for ten minutes from now.
    pub fn claims(&self, user_id: &str) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: user_id.to_owned(),
            iss: self.issuer.clone(),
            iat: now,
            nbf: now,
            exp: now + 600,
            azp: ORIGIN.to_owned(),
        }
    }

    /// A valid token for `user_id`.
    pub fn token(&self, user_id: &str) -> String {
        self.sign(&self.claims(user_id))
    }

    /// Signs any claims with the published key.
    pub fn sign(&self, claims: &Claims) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).expect("RS256 signing")
    }

    /// A token for `user_id` that is wrong in the given way.
    pub fn forge(&self, forgery: Forgery, user_id: &str) -> String {
        let mut claims = self.claims(user_id);
        let now = claims.iat;
        let rs256 = |kid: &str, key: &EncodingKey, claims: &Claims| {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(kid.to_owned());
            jsonwebtoken::encode(&header, claims, key).expect("RS256 signing")
        };
        match forgery {
            Forgery::Expired => {
                (claims.iat, claims.nbf, claims.exp) = (now - 7200, now - 7200, now - 3600);
                self.sign(&claims)
            }
            Forgery::NotYetValid => {
                (claims.nbf, claims.exp) = (now + 3600, now + 7200);
                self.sign(&claims)
            }
            Forgery::WrongIssuer => {
                claims.iss = "https://evil.conformance.invalid".into();
                self.sign(&claims)
            }
            Forgery::DisallowedAzp => {
                claims.azp = "https://evil.conformance.invalid".into();
                self.sign(&claims)
            }
            Forgery::UnknownKid => rs256("not-published", &self.other_key, &claims),
            Forgery::OtherKeySameKid => rs256(&self.kid, &self.other_key, &claims),
            Forgery::AlgNone => {
                let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                let header = serde_json::json!({"alg": "none", "typ": "JWT", "kid": self.kid});
                format!(
                    "{}.{}.",
                    b64.encode(header.to_string()),
                    b64.encode(serde_json::to_string(&claims).expect("claims"))
                )
            }
            Forgery::Hs256WithPublicKey => {
                // The algorithm-confusion attack: HMAC keyed with the RSA public key, which
                // anyone can fetch from the JWKS.
                let mut header = Header::new(Algorithm::HS256);
                header.kid = Some(self.kid.clone());
                let key = EncodingKey::from_secret(self.public_pem.as_bytes());
                jsonwebtoken::encode(&header, &claims, &key).expect("HS256 signing")
            }
            Forgery::TamperedPayload => {
                let valid = self.sign(&claims);
                let mut parts: Vec<&str> = valid.split('.').collect();
                claims.sub = format!("{user_id}_admin");
                let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                let payload = b64.encode(serde_json::to_string(&claims).expect("claims"));
                parts[1] = &payload;
                parts.join(".")
            }
        }
    }
}
