//! Issuing access tokens for a user, and verifying the ones presented back to auth.

use token_contract::{
    jwt::{Claims, TokenError, Verifier},
    settings::JwtSettings,
};

use crate::{app::error::AuthError, app::signing_keys::KeyRing, domain::User};

pub struct Issued {
    pub token: String,
    pub expires_in: u64,
}

pub struct Tokens {
    keys: KeyRing,
    verifier: Verifier,
    settings: JwtSettings,
}

impl Tokens {
    pub fn new(keys: KeyRing, settings: JwtSettings) -> Self {
        let verifier = Verifier::new(keys.jwks(), &settings);
        Self {
            keys,
            verifier,
            settings,
        }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    pub fn issue(&self, user: &User) -> Result<Issued, AuthError> {
        // Never before the user's cut-off: a token issued in the same second as a password
        // change or logout-all must not be born revoked.
        let iat =
            token_contract::revocation_rule::issued_at(chrono::Utc::now(), user.epoch.valid_after);
        let ttl = self.settings.expiration_secs;
        let claims = Claims {
            sub: user.id.to_string(),
            user_id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            role: User::ROLE.into(),
            iat,
            exp: iat
                + i64::try_from(ttl)
                    .map_err(|_| AuthError::Internal("JWT_EXPIRATION overflows".into()))?,
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            // Read with the hash the password was checked against: a change committed after
            // that read has a higher generation and revokes this token.
            generation: Some(user.epoch.generation),
        };
        let token = self
            .keys
            .sign(&claims)
            .map_err(|e| AuthError::Internal(format!("signing: {e}")))?;
        Ok(Issued {
            token,
            expires_in: ttl,
        })
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        self.verifier.verify(token).map_err(|e| match e {
            TokenError::UnknownKey => TokenError::Invalid,
            other => other,
        })
    }
}
