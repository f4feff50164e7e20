//! Registration: counted per client address (refused past the limit before any bcrypt
//! work), then the password hashed off the async workers, then the user stored.

use std::net::IpAddr;

use crate::{
    app::{State, error::AuthError},
    domain::{Registration, User},
    storage::users::Users,
};

impl State {
    pub async fn register(
        &self,
        reg: &Registration,
        addr: Option<IpAddr>,
    ) -> Result<User, AuthError> {
        if let Some(secs) = self.throttle.admit_registration(&self.db, addr).await? {
            tracing::info!(
                retry_after = secs,
                "registration refused: too many from the address"
            );
            return Err(AuthError::RegistrationsLimited(secs));
        }
        let hash = self.hasher.hash(&reg.password).await?;
        let user = Users::new(&self.db).create(reg, hash).await?;
        tracing::debug!(user_id = user.id, "user registered");
        Ok(user)
    }
}
