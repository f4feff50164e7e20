//! Login: the failed-attempt throttle around one bcrypt check, with the same cost whether
//! or not the user exists.

use std::net::IpAddr;

use crate::{
    app::{State, error::AuthError, tokens::Issued},
    domain::{Credentials, User},
    storage::users::Users,
};

impl State {
    /// Checks credentials under the failed-login limits and issues a token.
    pub async fn login(
        &self,
        creds: &Credentials,
        addr: Option<IpAddr>,
    ) -> Result<(User, Issued), AuthError> {
        let username = creds.username.folded();
        self.refuse_if_throttled(&username, addr).await?;
        let stored = Users::new(&self.db).credentials(username.clone()).await?;
        let ok = self
            .hasher
            .verify(
                creds.password.expose(),
                stored.as_ref().map(|s| s.password_hash.as_str()),
            )
            .await?;
        match stored {
            Some(stored) if ok => {
                self.throttle
                    .record_success(&self.db, &username, addr)
                    .await?;
                let issued = self.tokens.issue(&stored.user)?;
                tracing::debug!(user_id = stored.user.id, "login succeeded");
                Ok((stored.user, issued))
            }
            _ => {
                self.record_login_failure(&username, addr).await?;
                tracing::debug!("login failed");
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    /// 429 while attempts for `folded_username` from `addr` are refused. The account
    /// operations that re-check a password go through this too, so they cannot be used to
    /// guess around the login limits.
    pub async fn refuse_if_throttled(
        &self,
        folded_username: &str,
        addr: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        match self.throttle.check(&self.db, folded_username, addr).await? {
            Some(secs) => Err(AuthError::RateLimited(secs)),
            None => Ok(()),
        }
    }

    /// Counts a wrong password (at login, or when an account operation re-checks it).
    pub async fn record_login_failure(
        &self,
        folded_username: &str,
        addr: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        Ok(self
            .throttle
            .record_failure(&self.db, folded_username, addr)
            .await?)
    }
}
