//! A real Secrets Manager emulator (`moto_server`, from PyPI's `moto[server]`) on a free
//! port, stopped when dropped.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use aws_sdk_secretsmanager::{
    Client,
    config::{BehaviorVersion, Credentials, Region},
};

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Self {
        let port = crate::free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server must be on PATH: pip install 'moto[server]'");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, endpoint }
    }

    /// The environment a service needs to reach this emulator with the AWS SDK.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    pub fn client(&self) -> Client {
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build();
        Client::from_conf(config)
    }

    /// Creates a secret and returns its ARN.
    pub async fn create_secret(&self, name: &str, value: &str) -> String {
        let out = self
            .client()
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("create secret in moto");
        out.arn().expect("moto returns an ARN").to_owned()
    }

    pub async fn put_secret(&self, id: &str, value: &str) {
        self.client()
            .put_secret_value()
            .secret_id(id)
            .secret_string(value)
            .send()
            .await
            .expect("put secret value in moto");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
