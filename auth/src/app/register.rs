//! Registration: counted per client address (refused past the limit before any bcrypt
//! work, and a refused address that keeps asking answered after a pause), then the
//! password hashed off the async workers, then the user stored.

use std::{net::IpAddr, time::Duration};

use crate::{
    app::{State, error::AuthError},
    domain::{Registration, User},
    storage::users::Users,
};

/// How long an address that was refused and asks again within its window waits for the
/// same answer. A flood then gets one answer per connection per pause however fast it asks,
/// rather than as many as the CPU allows, which is CPU taken from everyone's logins
/// (docs/benchmarks.md, "Login under a registration flood"). Holding the request costs a
/// timer; the connection is held by the flood either way.
const REPEATED_REFUSAL_PAUSE: Duration = Duration::from_secs(1);

impl State {
    pub async fn register(
        &self,
        reg: &Registration,
        addr: Option<IpAddr>,
    ) -> Result<User, AuthError> {
        if let Some(refusal) = self.throttle.admit_registration(&self.db, addr).await? {
            if refusal.told_before {
                tracing::debug!("registration refused again: too many from the address");
                tokio::time::sleep(REPEATED_REFUSAL_PAUSE).await;
            } else {
                tracing::info!(
                    retry_after = refusal.retry_after,
                    "registration refused: too many from the address"
                );
            }
            return Err(AuthError::RegistrationsLimited(refusal.retry_after));
        }
        let hash = self.hasher.hash(&reg.password).await?;
        let user = Users::new(&self.db).create(reg, hash).await?;
        tracing::debug!(user_id = user.id, "user registered");
        Ok(user)
    }
}
