//! Registration: hash the password off the async workers, then store the user.

use crate::{
    app::{State, error::AuthError},
    domain::{Registration, User},
    storage::users::Users,
};

impl State {
    pub async fn register(&self, reg: &Registration) -> Result<User, AuthError> {
        let hash = self.hasher.hash(&reg.password).await?;
        let user = Users::new(&self.db).create(reg, hash).await?;
        tracing::debug!(user_id = user.id, "user registered");
        Ok(user)
    }
}
