//! The `healthcheck` subcommand: a scratch image has no shell or curl, so the binary checks
//! its own liveness endpoint for the container health check. Plain HTTP/1.1 over TCP keeps it
//! free of TLS and of any configuration but `PORT`.

use std::time::Duration;

use poem_openapi::Object;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// `Ok` when `GET http://127.0.0.1:{port}{path}` answers 200 within two seconds.
pub async fn check(port: u16, path: &str) -> Result<(), String> {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("cannot connect to 127.0.0.1:{port}: {e}"))?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await.map_err(|e| e.to_string())?;
        let line = String::from_utf8_lossy(&head[..n]);
        let status = line.split_whitespace().nth(1).unwrap_or("");
        if status == "200" {
            Ok(())
        } else {
            Err(format!(
                "{path} answered {:?}",
                line.lines().next().unwrap_or("")
            ))
        }
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .map_err(|_| format!("{path} did not answer within 2 s"))?
}

/// Runs the check for the `healthcheck` subcommand and turns it into an exit code.
pub fn run_cli(path: &str) -> std::process::ExitCode {
    let port = crate::process::config::parse_or("PORT", 3000u16).unwrap_or(3000);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("healthcheck: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(check(port, path)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("healthcheck failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The liveness body both services answer with.
#[derive(Object, Debug, Clone)]
pub struct HealthResponse {
    /// `healthy`
    pub status: String,
    /// `auth-service` or `task-service`
    pub service: String,
    pub version: String,
}

impl HealthResponse {
    pub fn healthy(service: &str) -> Self {
        Self {
            status: "healthy".into(),
            service: service.into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}
