//! Secrets Manager, read at run time with the AWS SDK. `AWS_ENDPOINT_URL` points it at a
//! local emulator in tests.

use std::time::Duration;

use aws_config::{BehaviorVersion, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_secretsmanager::{Client, error::DisplayErrorContext};

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(transparent)]
    Tls(#[from] crate::process::tls::TlsError),
    #[error("cannot read secret {id}: {reason}")]
    Fetch { id: String, reason: String },
    #[error("secret {id} has no string value")]
    Empty { id: String },
}

#[derive(Clone, Debug)]
pub struct Secrets {
    client: Client,
}

impl Secrets {
    /// A client configured from the standard AWS environment (region, credentials, endpoint).
    pub async fn from_env() -> Result<Self, SecretsError> {
        let endpoint = crate::process::config::var("AWS_ENDPOINT_URL").unwrap_or_default();
        if endpoint.is_empty() || crate::process::tls::needs_tls(&endpoint) {
            crate::process::tls::ensure_roots()?;
        }
        let config = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(15))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .load()
            .await;
        Ok(Self {
            client: Client::new(&config),
        })
    }

    /// The current string value of a secret. Never logged.
    pub async fn get_string(&self, id: &str) -> Result<String, SecretsError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| SecretsError::Fetch {
                id: id.to_owned(),
                reason: DisplayErrorContext(&e).to_string(),
            })?;
        out.secret_string()
            .map(str::to_owned)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| SecretsError::Empty { id: id.to_owned() })
    }
}
