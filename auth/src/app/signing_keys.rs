//! The Ed25519 keys tokens are signed with, and the JWK Set that publishes their public
//! halves.
//!
//! The key material is PKCS#8 PEM (`openssl genpkey -algorithm ed25519`). To rotate without
//! invalidating live tokens, the secret may hold the new key followed by the previous one
//! (private or public PEM), or `{"current": "<pem>", "previous": ["<pem>", …]}`: tokens are
//! signed with the current key, and both are published until the previous one is dropped.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{
    SigningKey, VerifyingKey,
    pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey},
};
use jsonwebtoken::EncodingKey;
use sha2::{Digest, Sha256};
use token_contract::jwt::{Jwk, JwkSet};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the signing key material holds no PEM block: expected an Ed25519 private key in \
         PKCS#8 PEM (`auth keygen` or `openssl genpkey -algorithm ed25519` makes one)"
    )]
    Empty,
    #[error("signing key #{index} is not an Ed25519 PKCS#8 PEM key: {reason}")]
    Invalid { index: usize, reason: String },
}

pub struct KeyRing {
    kid: String,
    encoding: EncodingKey,
    jwks: JwkSet,
}

impl KeyRing {
    /// Parses key material as described in the module documentation.
    pub fn from_material(text: &str) -> Result<Self, KeyError> {
        let pems: Vec<String> = match serde_json::from_str::<Bundle>(text.trim()) {
            Ok(bundle) => std::iter::once(bundle.current)
                .chain(bundle.previous)
                .collect(),
            Err(_) => split_pem_blocks(text),
        };
        let (first, rest) = pems.split_first().ok_or(KeyError::Empty)?;
        let current = SigningKey::from_pkcs8_pem(first).map_err(|e| KeyError::Invalid {
            index: 0,
            reason: explain(&e.to_string()),
        })?;
        let mut previous = Vec::new();
        for (i, pem) in rest.iter().enumerate() {
            let public = SigningKey::from_pkcs8_pem(pem)
                .map(|k| k.verifying_key())
                .or_else(|_| VerifyingKey::from_public_key_pem(pem))
                .map_err(|e| KeyError::Invalid {
                    index: i + 1,
                    reason: explain(&e.to_string()),
                })?;
            previous.push(public);
        }
        Self::new(&current, &previous)
    }

    /// A fresh key for this process only: tokens die with it. Development only.
    pub fn ephemeral() -> Self {
        let key = SigningKey::generate(&mut rand::rng());
        Self::new(&key, &[]).expect("a freshly generated key encodes")
    }

    fn new(current: &SigningKey, previous: &[VerifyingKey]) -> Result<Self, KeyError> {
        let der = current.to_pkcs8_der().map_err(|e| KeyError::Invalid {
            index: 0,
            reason: e.to_string(),
        })?;
        let encoding = EncodingKey::from_ed_der(der.as_bytes());
        let public = current.verifying_key();
        let mut keys = vec![jwk(&public)];
        keys.extend(previous.iter().filter(|p| **p != public).map(jwk));
        Ok(Self {
            kid: kid(&public),
            encoding,
            jwks: JwkSet { keys },
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// Signs `claims` with the current key, named by `kid` in the header.
    pub fn sign(
        &self,
        claims: &impl serde::Serialize,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }
}

#[derive(serde::Deserialize)]
struct Bundle {
    current: String,
    #[serde(default)]
    previous: Vec<String>,
}

/// The decoder names the OID it *wanted* (Ed25519's, 1.3.101.112) when it meets another
/// algorithm, which reads as if that were the key's own: say what it means instead.
fn explain(reason: &str) -> String {
    if reason.contains("algorithm") || reason.contains("OID") {
        "it is a key of another algorithm (RSA or EC?); an Ed25519 key is needed".into()
    } else {
        reason.to_owned()
    }
}

fn split_pem_blocks(text: &str) -> Vec<String> {
    text.split("-----BEGIN ")
        .skip(1)
        .map(|block| format!("-----BEGIN {}", block.trim_end()))
        .collect()
}

/// A stable id derived from the public key, so every instance names the same key alike.
fn kid(key: &VerifyingKey) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(key.as_bytes()))[..16].to_owned()
}

fn jwk(key: &VerifyingKey) -> Jwk {
    Jwk::ed25519(kid(key), URL_SAFE_NO_PAD.encode(key.as_bytes()))
}

/// A PKCS#8 PEM for a new key (used by tests and `auth keygen`).
pub fn generate_pem() -> String {
    SigningKey::generate(&mut rand::rng())
        .to_pkcs8_pem(Default::default())
        .expect("a freshly generated key encodes")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_publishes_current_and_previous() {
        let (a, b) = (generate_pem(), generate_pem());
        let ring = KeyRing::from_material(&format!("{a}\n{b}")).unwrap();
        assert_eq!(ring.jwks().keys.len(), 2);
        assert_eq!(ring.jwks().keys[0].kid, ring.kid());
        let json = serde_json::json!({"current": b, "previous": [a]}).to_string();
        let swapped = KeyRing::from_material(&json).unwrap();
        assert_eq!(swapped.jwks().keys[1].kid, ring.kid());
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(
            KeyRing::from_material("nope"),
            Err(KeyError::Empty)
        ));
        assert!(
            KeyRing::from_material("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
    }
}
