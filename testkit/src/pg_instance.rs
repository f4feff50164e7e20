//! A PostgreSQL server of the test's own, for faults that the shared server must not suffer
//! (a restart): `initdb` into a temporary directory, started on a free port, stopped when
//! dropped.
//!
//! PostgreSQL refuses to run as root, and CI runs as root: then every step runs as `nobody`
//! (through `runuser`), in a directory handed to it.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

pub struct PgInstance {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

/// The account the server runs as when the test runs as root.
const UNPRIVILEGED: &str = "nobody";

impl PgInstance {
    /// A fresh cluster with trust authentication for `postgres` on 127.0.0.1, started.
    pub fn start() -> Self {
        let bin = server_binaries();
        let dir = tempfile::tempdir().expect("temp dir");
        if is_root() {
            chown(dir.path(), UNPRIVILEGED);
        }
        let port = crate::free_port();
        let me = Self { dir, bin, port };
        me.run(
            "initdb",
            &[
                "-D",
                &me.data(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        me.pg_ctl(&["start"]);
        me
    }

    /// A URL of database `name` on this server, as the superuser `postgres`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// `pg_ctl restart -m fast`: sessions are ended, the server stops and starts again.
    pub fn restart(&self) {
        self.pg_ctl(&["restart", "-m", "fast"]);
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn pg_ctl(&self, action: &[&str]) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        let data = self.data();
        let mut args = vec!["-D", &data, "-w", "-l", &log, "-o", &options];
        args.extend_from_slice(action);
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run("pg_ctl", &args);
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", UNPRIVILEGED, "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PgInstance {
    fn drop(&mut self) {
        let data = self.data();
        let program = self.bin.join("pg_ctl");
        let args = ["-D", &data, "-m", "immediate", "stop"];
        let _ = if is_root() {
            Command::new("runuser")
                .args(["-u", UNPRIVILEGED, "--"])
                .arg(&program)
                .args(args)
                .output()
        } else {
            Command::new(&program).args(args).output()
        };
    }
}

/// The directory of `initdb`, `pg_ctl` and `postgres`: on PATH, else the newest of Debian's
/// `/usr/lib/postgresql/<version>/bin`.
fn server_binaries() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
    });
    if let Some(dir) = on_path {
        return dir;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .expect("PostgreSQL server binaries (initdb, pg_ctl): not on PATH nor under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn chown(path: &Path, user: &str) {
    let status = Command::new("chown")
        .args(["-R", user])
        .arg(path)
        .status()
        .expect("chown");
    assert!(status.success(), "chown {user} {}", path.display());
}
