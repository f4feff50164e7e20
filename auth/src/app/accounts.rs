//! The caller's own account: read it, change its password (which revokes every other token),
//! delete it (with all its tasks). Changes are confirmed with the current password, which
//! is throttled like a login.

use std::net::IpAddr;

use token_contract::jwt::TokenError;

use crate::{
    app::{State, error::AuthError, tokens::Issued},
    domain::{LoginPassword, PasswordChange, User},
    storage::{accounts::Accounts, users::StoredCredentials},
};

impl State {
    /// The user a verified token names; a deleted one's token is revoked.
    pub async fn me(&self, user_id: i64) -> Result<User, AuthError> {
        Accounts::new(&self.db)
            .by_id(user_id)
            .await?
            .map(|s| s.user)
            .ok_or_else(|| TokenError::Revoked.into())
    }

    /// Sets a new password and revokes every token issued before it; answers a new token.
    pub async fn change_password(
        &self,
        user_id: i64,
        change: &PasswordChange,
        addr: Option<IpAddr>,
    ) -> Result<(User, Issued), AuthError> {
        let stored = self
            .confirm_password(user_id, &change.current, addr)
            .await?;
        let hash = self.hasher.hash(&change.new).await?;
        let epoch = self.revoke_all_tokens(user_id, Some(&hash)).await?;
        let user = User {
            epoch,
            ..stored.user
        };
        let issued = self.tokens.issue(&user)?;
        tracing::info!(user_id, "password changed; earlier tokens revoked");
        Ok((user, issued))
    }

    /// Deletes the user and, by the database's cascade in the same statement, their tasks.
    pub async fn delete_account(
        &self,
        user_id: i64,
        password: &LoginPassword,
        addr: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        self.confirm_password(user_id, password, addr).await?;
        if !Accounts::new(&self.db).delete(user_id).await? {
            return Err(TokenError::Revoked.into());
        }
        tracing::info!(user_id, "account deleted");
        Ok(())
    }

    /// The user, if `password` is theirs; a wrong one counts as a failed login.
    async fn confirm_password(
        &self,
        user_id: i64,
        password: &LoginPassword,
        addr: Option<IpAddr>,
    ) -> Result<StoredCredentials, AuthError> {
        let stored = Accounts::new(&self.db)
            .by_id(user_id)
            .await?
            .ok_or(AuthError::Token(TokenError::Revoked))?;
        let folded = stored.user.username.to_ascii_lowercase();
        self.refuse_if_throttled(&folded, addr).await?;
        let ok = self
            .hasher
            .verify(password.expose(), Some(&stored.password_hash))
            .await?;
        if !ok {
            self.record_login_failure(&folded, addr).await?;
            tracing::info!(user_id, "wrong current password");
            return Err(AuthError::WrongPassword);
        }
        Ok(stored)
    }
}
