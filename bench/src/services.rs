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
        let sql: String = sql.chars().take(400).collect();
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("psql failed: {}\nSQL: {sql}", err.trim());
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
        let (admin_url, url) = (admin_url.to_owned(), url.into());
        Ok(Self {
            admin_url,
            name,
            url,
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

/// A running service process; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Service {
    pub name: &'static str,
    pub addr: SocketAddr,
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
    /// Starts the service on a free port and waits (60 s at most) for 200 on its health path.
    pub fn start(self) -> anyhow::Result<Service> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let health = if self.name == "auth" {
            "/auth/health"
        } else {
            "/tasks/health"
        };
        let log_path = self.log_dir.join(format!("{}.stdout.log", self.log_name));
        let err_path = self.log_dir.join(format!("{}.stderr.log", self.log_name));
        let mut cmd = Command::new(self.binary);
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .envs(self.env)
            .stdin(Stdio::null())
            .stdout(File::create(&log_path)?)
            .stderr(File::create(&err_path)?);
        let started = Instant::now();
        let child =
            (cmd.spawn()).with_context(|| format!("cannot start {}", self.binary.display()))?;
        let mut s = Service {
            name: self.name,
            addr,
            log_path,
            child,
            startup: Duration::ZERO,
        };
        loop {
            if http::request(addr, "GET", health, &[], None).is_ok_and(|r| r.status == 200) {
                s.startup = started.elapsed();
                return Ok(s);
            }
            if let Some(status) = s.child.try_wait()? {
                let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
                bail!(
                    "{} exited during start-up ({status})\nstderr: {stderr}",
                    s.name
                );
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("{} did not answer 200 on {health} within 60 s", s.name);
            }
            thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Service {
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
            (status.lines().find_map(|l| l.strip_prefix(name)))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in /proc/{}/status", self.pid()))
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// Bytes written to the captured stdout so far.
    pub fn log_len(&self) -> u64 {
        std::fs::metadata(&self.log_path).map_or(0, |m| m.len())
    }

    /// Fails if the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = self.log_path.display();
            bail!("{} exited unexpectedly ({status}); see {log}", self.name);
        }
        Ok(())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
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

/// Lines and bytes a log file gained between two lengths.
pub fn log_delta(path: &Path, from: u64, to: u64) -> anyhow::Result<(u64, u64)> {
    let data = std::fs::read(path)?;
    let to = (to as usize).min(data.len());
    let slice = &data[(from as usize).min(to)..to];
    let lines = slice.iter().filter(|&&b| b == b'\n').count();
    Ok((slice.len() as u64, lines as u64))
}
