//! Revocation: revoking tokens before they expire, and refusing the revoked ones. The rule is
//! `token_contract::revocation_rule`'s, applied here against the database on every request, so a
//! token auth has revoked is refused by auth at once.

use chrono::{DateTime, TimeDelta, Utc};
use platform::db;
use token_contract::{
    jwt::{Claims, TokenError},
    revocation_rule,
};

use crate::{
    app::{State, error::AuthError},
    domain::TokenEpoch,
    storage::{accounts::Accounts, revoked_tokens::RevokedTokens},
};

/// Logged-out rows are swept once their token is past `exp` by more than any verifier's
/// leeway, at most this many per logout: each logout adds one row and may remove many.
const SWEEP_MARGIN: TimeDelta = TimeDelta::seconds(120);
const SWEEP_LIMIT: u64 = 100;

/// How many logged-out, unexpired tokens one user may have on record. A logout past it revokes
/// every token of the user instead and drops their rows, which that makes redundant (twice
/// this many per logout, so its work stays bounded), so logging in and out in a loop cannot
/// grow the table without bound.
pub const LOGGED_OUT_PER_USER: u64 = 1000;

/// How often an epoch update is retried when another one for the same user won the race.
const CUTOFF_ATTEMPTS: usize = 5;

impl State {
    /// A bearer token's claims, if it is well signed, unexpired and not revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.tokens.verify(token)?;
        let state = Accounts::new(&self.db)
            .token_state(claims.user_id, &claims.jti)
            .await?;
        if revocation_rule::is_revoked(state.as_ref(), &claims) {
            Err(TokenError::Revoked.into())
        } else {
            Ok(claims)
        }
    }

    /// Revokes the presented token (by its `jti`).
    pub async fn logout(&self, claims: &Claims) -> Result<(), AuthError> {
        let expires_at = DateTime::<Utc>::from_timestamp(claims.exp, 0)
            .ok_or_else(|| AuthError::Internal(format!("exp {} out of range", claims.exp)))?;
        let revoked = RevokedTokens::new(&self.db);
        match revoked
            .insert(&claims.jti, claims.user_id, expires_at)
            .await
        {
            // The user was deleted meanwhile: the token is revoked anyway.
            Err(e) if db::is_foreign_key_violation(&e) => return Err(TokenError::Revoked.into()),
            other => other?,
        }
        tracing::info!(user_id = claims.user_id, "logged out one token");
        let on_record = revoked
            .live_for_user(claims.user_id, db::now(), LOGGED_OUT_PER_USER + 1)
            .await?;
        if on_record > LOGGED_OUT_PER_USER {
            self.revoke_all_tokens(claims.user_id, None).await?;
            let dropped = revoked
                .delete_for_user(claims.user_id, 2 * LOGGED_OUT_PER_USER)
                .await?;
            tracing::info!(
                user_id = claims.user_id,
                dropped,
                "too many logged-out tokens on record: revoked every token of the user"
            );
        }
        match revoked.sweep(db::now() - SWEEP_MARGIN, SWEEP_LIMIT).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "swept expired revoked tokens"),
            Err(e) => tracing::warn!(error = %e, "sweeping expired revoked tokens failed"),
        }
        Ok(())
    }

    /// Revokes every token of the user issued so far.
    pub async fn logout_all(&self, user_id: i64) -> Result<(), AuthError> {
        self.revoke_all_tokens(user_id, None).await?;
        tracing::info!(user_id, "logged out every token");
        Ok(())
    }

    /// Moves the user's epoch past every token issued so far: the cut-off past every `iat`
    /// and the generation up by one (and sets `password_hash` in the same write, when
    /// given); answers the new epoch, which tokens issued from now on carry.
    pub(crate) async fn revoke_all_tokens(
        &self,
        user_id: i64,
        password_hash: Option<&str>,
    ) -> Result<TokenEpoch, AuthError> {
        let accounts = Accounts::new(&self.db);
        for _ in 0..CUTOFF_ATTEMPTS {
            let Some(current) = accounts.epoch(user_id).await? else {
                return Err(TokenError::Revoked.into());
            };
            let next = TokenEpoch {
                valid_after: Some(revocation_rule::next_cutoff(
                    Utc::now(),
                    current.valid_after,
                )),
                generation: current.generation.saturating_add(1),
            };
            if accounts
                .replace_epoch(user_id, current, next, password_hash)
                .await?
            {
                return Ok(next);
            }
        }
        Err(AuthError::Internal(format!(
            "user {user_id}: token epoch changed {CUTOFF_ATTEMPTS} times during one update"
        )))
    }
}
