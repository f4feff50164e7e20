//! A service binary run as a real process on a free port, killed when dropped.

use std::{
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

pub struct ServiceProcess {
    child: Option<Child>,
    pub port: u16,
    pub base: String,
}

impl ServiceProcess {
    /// Starts `bin` with `env` (plus `PORT`) and waits until `health_path` answers 200.
    pub async fn start(bin: &str, env: &[(String, String)], health_path: &str) -> Self {
        let mut p = Self::spawn(bin, env);
        p.wait_healthy(health_path).await;
        p
    }

    /// Starts without waiting.
    pub fn spawn(bin: &str, env: &[(String, String)]) -> Self {
        Self::spawn_args(bin, &[], env)
    }

    /// Starts `bin args…` without waiting. `PORT` in `env` overrides the free port chosen.
    pub fn spawn_args(bin: &str, args: &[&str], env: &[(String, String)]) -> Self {
        Self::spawn_with_stdout(bin, args, env, Stdio::null())
    }

    /// Starts `bin` without waiting, its log (stdout) going to `log`, for tests of what it
    /// writes.
    pub fn spawn_logging_to(bin: &str, env: &[(String, String)], log: std::fs::File) -> Self {
        Self::spawn_with_stdout(bin, &[], env, Stdio::from(log))
    }

    fn spawn_with_stdout(
        bin: &str,
        args: &[&str],
        env: &[(String, String)],
        stdout: Stdio,
    ) -> Self {
        let port = env
            .iter()
            .find(|(k, _)| k == "PORT")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or_else(crate::free_port);
        let dir = std::env::temp_dir();
        let child = Command::new(bin)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            // Every test client is 127.0.0.1: the per-address registration limit and the
            // short hashing queue are tested where they are meant to bite (auth/tests/it/limits.rs).
            .env("REGISTER_PER_ADDRESS_PER_HOUR", "1000000")
            .env("HASH_QUEUE", "4096")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
        Self {
            child: Some(child),
            port,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    pub async fn wait_healthy(&mut self, health_path: &str) {
        let http = crate::http();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.try_status() {
                panic!("service exited early with {status}");
            }
            if let Ok(r) = http.get(format!("{}{health_path}", self.base)).send().await
                && r.status().as_u16() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "service not healthy in time");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or_default()
    }

    /// Sends SIGTERM, as ECS does on scale-in or deploy.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit (up to `limit`) and returns its status.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.try_status() {
                self.child = None;
                return s;
            }
            assert!(Instant::now() < deadline, "process did not exit in time");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the process (SIGKILL) now.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `KEY=value` pairs as a process environment.
pub fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A binary of the workspace, built beside the running test (`target/<profile>/<name>`).
pub fn workspace_binary(name: &str) -> String {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
        .expect("tests run from target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} missing: build the workspace (cargo build --workspace)",
        path.display()
    );
    path.display().to_string()
}
