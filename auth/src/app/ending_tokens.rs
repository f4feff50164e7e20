//! Ending tokens before they expire, and refusing the ended ones: the rule is
//! `token_contract::revocation_rule`'s, applied here against the database on every request, so a
//! token auth has ended is refused by auth at once.

use chrono::{DateTime, TimeDelta, Utc};
use platform::db;
use token_contract::{
    jwt::{Claims, TokenError},
    revocation_rule::{self, UserTokens},
};

use crate::{
    app::{State, error::AuthError},
    storage::{accounts::Accounts, revoked_tokens::RevokedTokens},
};

/// Logged-out rows are swept once their token is past `exp` by more than any verifier's
/// leeway, at most this many per logout: each logout adds one row and may remove many.
const SWEEP_MARGIN: TimeDelta = TimeDelta::seconds(120);
const SWEEP_LIMIT: u64 = 100;

/// How often a cut-off update is retried when another one for the same user won the race.
const CUTOFF_ATTEMPTS: usize = 5;

impl State {
    /// A bearer token's claims, if it is well signed, unexpired and not ended.
    pub async fn authenticate(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.tokens.verify(token)?;
        let Some((valid_after, logged_out)) = Accounts::new(&self.db)
            .token_state(claims.user_id, &claims.jti)
            .await?
        else {
            return Err(TokenError::Revoked.into());
        };
        let mut user = UserTokens {
            valid_after,
            ..UserTokens::default()
        };
        if logged_out {
            user.revoked_jtis.insert(claims.jti.clone());
        }
        if revocation_rule::is_revoked(Some(&user), claims.iat, &claims.jti) {
            Err(TokenError::Revoked.into())
        } else {
            Ok(claims)
        }
    }

    /// Ends the presented token (by its `jti`).
    pub async fn logout(&self, claims: &Claims) -> Result<(), AuthError> {
        let expires_at = DateTime::<Utc>::from_timestamp(claims.exp, 0)
            .ok_or_else(|| AuthError::Internal(format!("exp {} out of range", claims.exp)))?;
        let revoked = RevokedTokens::new(&self.db);
        match revoked
            .insert(&claims.jti, claims.user_id, expires_at)
            .await
        {
            // The user was deleted meanwhile: the token is ended anyway.
            Err(e) if db::is_foreign_key_violation(&e) => return Err(TokenError::Revoked.into()),
            other => other?,
        }
        tracing::info!(user_id = claims.user_id, "logged out one token");
        match revoked.sweep(db::now() - SWEEP_MARGIN, SWEEP_LIMIT).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "swept expired revoked tokens"),
            Err(e) => tracing::warn!(error = %e, "sweeping expired revoked tokens failed"),
        }
        Ok(())
    }

    /// Ends every token of the user issued so far.
    pub async fn logout_all(&self, user_id: i64) -> Result<(), AuthError> {
        self.end_all_tokens(user_id, None).await?;
        tracing::info!(user_id, "logged out every token");
        Ok(())
    }

    /// Moves the user's cut-off past every token issued so far (and sets `password_hash`
    /// in the same write, when given); answers the new cut-off, which tokens issued from
    /// now on carry as their `iat` at the earliest.
    pub(crate) async fn end_all_tokens(
        &self,
        user_id: i64,
        password_hash: Option<&str>,
    ) -> Result<DateTime<Utc>, AuthError> {
        let accounts = Accounts::new(&self.db);
        for _ in 0..CUTOFF_ATTEMPTS {
            let Some(current) = accounts.cutoff(user_id).await? else {
                return Err(TokenError::Revoked.into());
            };
            let next = revocation_rule::next_cutoff(Utc::now(), current);
            if accounts
                .replace_cutoff(user_id, current, next, password_hash)
                .await?
            {
                return Ok(next);
            }
        }
        Err(AuthError::Internal(format!(
            "user {user_id}: token cut-off changed {CUTOFF_ATTEMPTS} times during one update"
        )))
    }
}
