//! What both services agree on about tokens: the claims, the JWK Set document, and
//! verification against a set of Ed25519 public keys selected by `kid`.
//!
//! auth signs and verifies with its own keys; task verifies with the keys auth publishes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use crate::settings::JwtSettings;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id, as a string.
    pub sub: String,
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    /// The user's token generation when the password this token was issued for was read
    /// (claim `gen`; see [`crate::revocation_rule`]). Absent from tokens issued before the
    /// claim existed: those fall back to the `iat` cut-off.
    #[serde(rename = "gen", default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

/// One public key in a JWK Set (RFC 7517/8037: an Ed25519 `OKP` key).
#[derive(Object, Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Jwk {
    /// Key type: `OKP`.
    pub kty: String,
    /// Curve: `Ed25519`.
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    /// Key id, matched against the token header's `kid`.
    pub kid: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    #[oai(rename = "use")]
    pub use_: String,
}

impl Jwk {
    pub fn ed25519(kid: impl Into<String>, x: impl Into<String>) -> Self {
        Self {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: x.into(),
            kid: kid.into(),
            alg: "EdDSA".into(),
            use_: "sig".into(),
        }
    }
}

/// The document at `/auth/.well-known/jwks.json`.
#[derive(Object, Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// Why a bearer token was refused; each maps to one of the contract's 401 messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("Token has expired")]
    Expired,
    #[error("Invalid token")]
    Invalid,
    /// The token names a key we do not (yet) have.
    #[error("Invalid token")]
    UnknownKey,
    /// Well signed and unexpired, but revoked: logged out, issued before the user's last
    /// password change or logout-all, or of a deleted user (see [`crate::revocation_rule`]).
    #[error("Token has been revoked")]
    Revoked,
}

/// How far in the future `iat` and `nbf` may lie (clock skew between instances).
pub const FUTURE_LEEWAY_SECS: i64 = 60;

/// The claims plus `nbf`, which auth never sets but a verifier must honour if present.
#[derive(Deserialize)]
struct TimedClaims {
    #[serde(flatten)]
    claims: Claims,
    nbf: Option<i64>,
}

/// How many verified tokens a [`Verifier`] remembers.
pub const VERIFIED_CACHE_CAPACITY: usize = 10_000;

/// Checks signatures and claims against a fixed set of public keys.
///
/// A client sends the same token with every request until it expires, so a token that
/// verified is remembered (by its SHA-256, until its `exp`) and the next request with it costs
/// a hash and a lookup instead of a signature check. The memory lives and dies with the key
/// set: a verifier for new keys starts empty. Failures are never remembered.
#[derive(Clone)]
pub struct Verifier {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
    verified: Arc<VerifiedTokens>,
}

type TokenDigest = [u8; 32];

/// The tokens a verifier has accepted, bounded: when full, the expired ones go, and if that
/// is not enough an arbitrary eighth, so a flood of distinct tokens costs one sweep per
/// `capacity / 8` new ones.
struct VerifiedTokens {
    /// SHA-256 of the token → its claims and `exp`.
    entries: Mutex<HashMap<TokenDigest, (Arc<Claims>, i64)>>,
    capacity: usize,
}

impl VerifiedTokens {
    fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    fn digest(token: &str) -> TokenDigest {
        use sha2::{Digest, Sha256};
        Sha256::digest(token.as_bytes()).into()
    }

    /// The claims of a token verified before that has not expired at `now`.
    fn get(&self, digest: &TokenDigest, now: i64) -> Option<Arc<Claims>> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(digest) {
            Some((claims, exp)) if now < *exp => Some(claims.clone()),
            Some(_) => {
                entries.remove(digest);
                None
            }
            None => None,
        }
    }

    fn insert(&self, digest: TokenDigest, claims: Arc<Claims>, now: i64) {
        let exp = claims.exp;
        if exp <= now || self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&digest) {
            entries.retain(|_, (_, exp)| now < *exp);
            if entries.len() >= self.capacity {
                let evict: Vec<TokenDigest> = entries
                    .keys()
                    .take((self.capacity / 8).max(1))
                    .copied()
                    .collect();
                for k in evict {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(digest, (claims, exp));
    }

    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Verifier {
    pub fn new(jwks: &JwkSet, settings: &JwtSettings) -> Self {
        Self::with_cache_capacity(jwks, settings, VERIFIED_CACHE_CAPACITY)
    }

    /// A verifier that remembers at most `capacity` verified tokens (0: none).
    pub fn with_cache_capacity(jwks: &JwkSet, settings: &JwtSettings, capacity: usize) -> Self {
        let keys = jwks
            .keys
            .iter()
            .filter(|k| k.kty == "OKP" && k.crv == "Ed25519")
            .filter_map(|k| {
                DecodingKey::from_ed_components(&k.x)
                    .ok()
                    .map(|d| (k.kid.clone(), d))
            })
            .collect();
        // Only EdDSA: `alg: none`, HS256 with the public key as secret and every other
        // algorithm confusion fail here before any key is used.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = 5;
        Self {
            keys,
            validation,
            verified: Arc::new(VerifiedTokens::new(capacity)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let digest = VerifiedTokens::digest(token);
        let now = jsonwebtoken::get_current_timestamp() as i64;
        if let Some(claims) = self.verified.get(&digest, now) {
            return Ok(Claims::clone(&claims));
        }
        let claims = self.verify_signed(token)?;
        self.verified.insert(digest, Arc::new(claims.clone()), now);
        Ok(claims)
    }

    /// How many verified tokens are remembered now.
    pub fn cached_tokens(&self) -> usize {
        self.verified.len()
    }

    /// The full check: header, signature, claims.
    fn verify_signed(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        // RFC 7515 §4.1.11: `crit` names extensions the verifier must understand; we
        // understand none, so such a token is refused rather than half-checked.
        if header.alg != Algorithm::EdDSA || header.crit.is_some() {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let key = self.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let data = jsonwebtoken::decode::<TimedClaims>(token, key, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            },
        )?;
        let TimedClaims { claims, nbf } = data.claims;
        // A token from the future was issued by a clock we must not trust (or forged to
        // outlive its `exp`); the leeway absorbs ordinary clock skew between instances.
        let latest = jsonwebtoken::get_current_timestamp() as i64 + FUTURE_LEEWAY_SECS;
        if claims.iat > latest || nbf.is_some_and(|nbf| nbf > latest) {
            return Err(TokenError::Invalid);
        }
        if claims.sub != claims.user_id.to_string() {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }

    /// The `kid` a token claims to be signed with, if it parses at all.
    pub fn kid_of(token: &str) -> Option<String> {
        jsonwebtoken::decode_header(token).ok()?.kid
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use ed25519_dalek::{Signer, SigningKey};
    use serde_json::{Value, json};

    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn verifier() -> Verifier {
        let x = URL_SAFE_NO_PAD.encode(key().verifying_key().to_bytes());
        let set = JwkSet {
            keys: vec![Jwk::ed25519("k1", x)],
        };
        Verifier::new(&set, &JwtSettings::default())
    }

    fn now() -> i64 {
        jsonwebtoken::get_current_timestamp() as i64
    }

    fn claims(iat: i64) -> Value {
        let d = JwtSettings::default();
        json!({
            "sub": "42", "user_id": 42, "username": "ann", "email": "ann@example.com",
            "role": "user", "iat": iat, "exp": iat + 3600, "iss": d.issuer, "aud": d.audience,
            "jti": "j1",
        })
    }

    /// Signed by hand, so that headers jsonwebtoken would not write (`crit`) can be tested.
    fn sign(header: Value, claims: Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = key().sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    fn header() -> Value {
        json!({"alg": "EdDSA", "typ": "JWT", "kid": "k1"})
    }

    #[test]
    fn a_well_formed_token_verifies() {
        let token = sign(header(), claims(now()));
        assert_eq!(verifier().verify(&token).unwrap().user_id, 42);
    }

    #[test]
    fn iat_in_the_future_beyond_the_leeway_is_refused() {
        let v = verifier();
        assert!(v.verify(&sign(header(), claims(now() + 30))).is_ok());
        assert_eq!(
            v.verify(&sign(header(), claims(now() + 120))),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn nbf_in_the_future_beyond_the_leeway_is_refused() {
        let v = verifier();
        let with_nbf = |nbf: i64| {
            let mut c = claims(now());
            c["nbf"] = nbf.into();
            sign(header(), c)
        };
        assert!(v.verify(&with_nbf(now() - 10)).is_ok());
        assert!(v.verify(&with_nbf(now() + 30)).is_ok());
        assert_eq!(v.verify(&with_nbf(now() + 120)), Err(TokenError::Invalid));
    }

    fn claims_with(jti: &str, iat: i64, exp: i64) -> Value {
        let mut c = claims(iat);
        c["jti"] = jti.into();
        c["exp"] = exp.into();
        c
    }

    #[test]
    fn a_verified_token_is_served_from_memory_with_the_same_claims() {
        let v = verifier();
        let token = sign(header(), claims(now()));
        let first = v.verify(&token).unwrap();
        assert_eq!(v.cached_tokens(), 1);
        let digest = VerifiedTokens::digest(&token);
        assert_eq!(*v.verified.get(&digest, now()).unwrap(), first);
        assert_eq!(v.verify(&token).unwrap(), first);
        assert_eq!(v.cached_tokens(), 1);
        // Clones share the memory (they share the keys).
        assert_eq!(v.clone().cached_tokens(), 1);
    }

    #[test]
    fn an_expired_token_is_not_served_from_memory() {
        let v = verifier();
        let token = sign(header(), claims_with("old", now() - 3600, now() - 60));
        let digest = VerifiedTokens::digest(&token);
        // As if it had verified while still valid.
        let c: Claims =
            serde_json::from_value(claims_with("old", now() - 3600, now() - 60)).unwrap();
        v.verified.insert(digest, Arc::new(c), now() - 120);
        assert_eq!(v.cached_tokens(), 1);
        assert_eq!(v.verify(&token), Err(TokenError::Expired));
        assert_eq!(v.cached_tokens(), 0, "the expired entry is dropped");
        // An entry is served only before its exp.
        let fresh = sign(header(), claims(now()));
        let claims = v.verify(&fresh).unwrap();
        let digest = VerifiedTokens::digest(&fresh);
        assert!(v.verified.get(&digest, claims.exp - 1).is_some());
        assert!(v.verified.get(&digest, claims.exp).is_none());
    }

    #[test]
    fn failures_are_not_remembered() {
        let v = verifier();
        let mut h = header();
        h["kid"] = "other".into();
        let unknown = sign(h, claims(now()));
        let tampered = format!("{}x", sign(header(), claims(now())));
        for _ in 0..2 {
            assert_eq!(v.verify(&unknown), Err(TokenError::UnknownKey));
            assert_eq!(v.verify(&tampered), Err(TokenError::Invalid));
        }
        assert_eq!(v.cached_tokens(), 0);
    }

    #[test]
    fn the_memory_stays_within_its_bound() {
        let x = URL_SAFE_NO_PAD.encode(key().verifying_key().to_bytes());
        let set = JwkSet {
            keys: vec![Jwk::ed25519("k1", x)],
        };
        let v = Verifier::with_cache_capacity(&set, &JwtSettings::default(), 16);
        let tokens: Vec<String> = (0..50)
            .map(|i| sign(header(), claims_with(&format!("j{i}"), now(), now() + 3600)))
            .collect();
        for t in &tokens {
            v.verify(t).unwrap();
            assert!(v.cached_tokens() <= 16, "{} remembered", v.cached_tokens());
        }
        // Every token still verifies, remembered or not.
        for t in &tokens {
            assert!(v.verify(t).is_ok());
        }
        assert!(v.cached_tokens() <= 16);
    }

    #[test]
    fn a_crit_header_is_refused() {
        let mut h = header();
        h["crit"] = json!(["exp"]);
        assert_eq!(
            verifier().verify(&sign(h, claims(now()))),
            Err(TokenError::Invalid)
        );
    }
}
