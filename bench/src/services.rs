//! The system under test: a scratch PostgreSQL database, and auth and task as separate
//! processes with their stdout (the JSON log) captured to files.

use std::{
    fs::File,
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use crate::http;

/// Runs `sql` with psql against `url`; returns its unaligned, tuples-only output.
pub fn psql(url: &str, sql: &str) -> anyhow::Result<String> {
    let out = Command::new("psql")
        .args([
            url,
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .context("cannot run psql (apt-get install postgresql-client)")?;
    if !out.status.success() {
        bail!(
            "psql failed: {}\nSQL: {}",
            String::from_utf8_lossy(&out.stderr).trim(),
            sql.chars().take(400).collect::<String>()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A database created for this run and dropped when this value is.
pub struct ScratchDb {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl ScratchDb {
    pub fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("bench_{}", std::process::id());
        let mut url = url::Url::parse(admin_url).context("--pg-url is not a URL")?;
        url.set_path(&name);
        psql(admin_url, &format!("DROP DATABASE IF EXISTS {name}"))?;
        psql(admin_url, &format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url: url.into(),
        })
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = psql(&self.admin_url, &sql) {
            eprintln!("bench: could not drop database {}: {e:#}", self.name);
        }
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running service process; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Service {
    pub name: &'static str,
    pub addr: SocketAddr,
    pub health_path: &'static str,
    pub log_path: PathBuf,
    child: Child,
    /// From spawn to the first 200 on the health path.
    pub startup: Duration,
}

pub struct Launch<'a> {
    pub name: &'static str,
    pub binary: &'a Path,
    pub env: Vec<(&'static str, String)>,
    pub log_dir: &'a Path,
    pub log_name: String,
}

impl Launch<'_> {
    pub fn start(self) -> anyhow::Result<Service> {
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let health_path = match self.name {
            "auth" => "/auth/health",
            _ => "/tasks/health",
        };
        let log_path = self.log_dir.join(format!("{}.stdout.log", self.log_name));
        let err_path = self.log_dir.join(format!("{}.stderr.log", self.log_name));
        let mut cmd = Command::new(self.binary);
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(File::create(&log_path)?)
            .stderr(File::create(&err_path)?);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        let mut service = Service {
            name: self.name,
            addr,
            health_path,
            log_path,
            child,
            startup: Duration::ZERO,
        };
        service.startup = service.wait_healthy(started, &err_path)?;
        Ok(service)
    }
}

impl Service {
    fn wait_healthy(&mut self, started: Instant, err_path: &Path) -> anyhow::Result<Duration> {
        let deadline = started + Duration::from_secs(60);
        loop {
            if let Ok(r) = http::request(self.addr, "GET", self.health_path, &[], None)
                && r.status == 200
            {
                return Ok(started.elapsed());
            }
            if let Some(status) = self.child.try_wait()? {
                let stderr = std::fs::read_to_string(err_path).unwrap_or_default();
                let stdout = std::fs::read_to_string(&self.log_path).unwrap_or_default();
                bail!(
                    "{} exited during start-up ({status})\nstderr: {stderr}\nstdout: {}",
                    self.name,
                    tail(&stdout, 2000)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not answer 200 on {} within 60 s",
                    self.name,
                    self.health_path
                );
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// VmRSS and VmHWM in KiB.
    pub fn memory_kib(&self) -> anyhow::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in /proc/{}/status", self.pid()))
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// Bytes written to the captured stdout so far.
    pub fn log_len(&self) -> u64 {
        std::fs::metadata(&self.log_path)
            .map(|m| m.len())
            .unwrap_or(0)
    }

    /// Fails if the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited unexpectedly ({status}); see {}",
                self.name,
                self.log_path.display()
            );
        }
        Ok(())
    }

    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The last `n` bytes of `s` (on a character boundary).
pub fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Lines and bytes a log file gained between two lengths.
pub fn log_delta(path: &Path, from: u64, to: u64) -> anyhow::Result<(u64, u64)> {
    let data = std::fs::read(path)?;
    let to = (to as usize).min(data.len());
    let from = (from as usize).min(to);
    let slice = &data[from..to];
    Ok((
        slice.len() as u64,
        slice.iter().filter(|&&b| b == b'\n').count() as u64,
    ))
}
