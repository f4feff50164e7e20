//! Login: the failed-attempt throttle around one bcrypt check, with the same cost whether
//! or not the user exists.

use std::net::IpAddr;

use crate::{
    app::{State, error::AuthError, tokens::Issued},
    domain::{Credentials, User},
    storage::users::Users,
};

impl State {
    /// Checks credentials under the failed-login limits.
    pub async fn login(
        &self,
        creds: &Credentials,
        addr: Option<IpAddr>,
    ) -> Result<(User, Issued), AuthError> {
        let user_key = creds.username.folded();
        let addr_key = addr.map(|a| a.to_string());
        let wait = [
            self.by_username.check(&user_key).err(),
            addr_key
                .as_deref()
                .and_then(|k| self.by_address.check(k).err()),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(secs) = wait {
            return Err(AuthError::RateLimited(secs));
        }
        let stored = Users::new(&self.db).credentials(user_key.clone()).await?;
        let ok = self
            .hasher
            .verify(
                creds.password.expose(),
                stored.as_ref().map(|s| s.password_hash.as_str()),
            )
            .await?;
        match stored {
            Some(stored) if ok => {
                self.by_username.reset(&user_key);
                let issued = self.tokens.issue(&stored.user)?;
                tracing::info!(user_id = stored.user.id, "login succeeded");
                Ok((stored.user, issued))
            }
            _ => {
                self.by_username.record_failure(&user_key);
                if let Some(k) = &addr_key {
                    self.by_address.record_failure(k);
                }
                tracing::info!("login failed");
                Err(AuthError::InvalidCredentials)
            }
        }
    }
}

/// The throttle as the account operations use it: a wrong password confirming a password
/// change or an account deletion counts as a failed login, and is refused while logins are.
impl State {
    /// `Some(seconds to wait)` while `username_folded` or `addr` may not try a password.
    pub async fn login_wait(
        &self,
        username_folded: &str,
        addr: Option<IpAddr>,
    ) -> Result<Option<u64>, AuthError> {
        let addr_key = addr.map(|a| a.to_string());
        Ok([
            self.by_username.check(username_folded).err(),
            addr_key
                .as_deref()
                .and_then(|k| self.by_address.check(k).err()),
        ]
        .into_iter()
        .flatten()
        .max())
    }

    pub async fn record_login_failure(
        &self,
        username_folded: &str,
        addr: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        self.by_username.record_failure(username_folded);
        if let Some(a) = addr {
            self.by_address.record_failure(&a.to_string());
        }
        Ok(())
    }
}
