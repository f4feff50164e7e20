//! CA roots, as the container image provides them: the image ships a CA bundle and sets
//! `SSL_CERT_FILE` to it (flake.nix). These tests start the built `auth` and `task` binaries
//! with `SSL_CERT_FILE` naming a missing file, an empty file, or a bundle, and check what an
//! operator would see: without roots, the service stops at startup with an error that names
//! the CA certificates and no panic; with roots, no such error. Every address is on loopback.
//!
//! They check behaviour only (exit status and output), so they hold whichever TLS crates the
//! services use. What `.ci/musl.sh` adds: the same for a root with no bundle and no
//! `SSL_CERT_FILE` at all, which cannot be arranged on a host that has /etc/ssl.

use std::{
    io::Read,
    path::Path,
    process::{Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

use testkit::{
    free_port,
    process::{ServiceProcess, workspace_binary},
};

/// A self-signed root: a bundle with one certificate, as good as Mozilla's for this purpose.
const ROOT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBlzCCAT2gAwIBAgIUcrTbJ5/oi/Fv2ayBr9fLodIqnL4wCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVaW1hZ2Utc21va2UgdGVzdCByb290MCAXDTI2MTEyNTIyNTM0
OFoYDzIxMjYxMTAxMjI1MzQ4WjAgMR4wHAYDVQQDDBVpbWFnZS1zbW9rZSB0ZXN0
IHJvb3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQgoJFmkrEK2+r9+YwCy93u
oOR2cu3ocXpd1a35uypj1BZsp4abzoglTfpx88aHzbzWCs+mT01tnyxvYJOdwywy
o1MwUTAdBgNVHQ4EFgQU2QoxZBqzwOdSiVeqy3VLTzc/TgQwHwYDVR0jBBgwFoAU
2QoxZBqzwOdSiVeqy3VLTzc/TgQwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNIADBFAiACQ1sTl3enUSU4R3Qf0Po7URTldBKBMClvI6x97wcbkAIhAP8goxB6
mn0farPAIrtOWVxbFhqxvzFcIAmPWkCFHHTx
-----END CERTIFICATE-----
";

/// What the error must mention, in some wording (case-insensitive).
const NAMES_THE_ROOTS: &[&str] = &[
    "certificate",
    "ca bundle",
    "ssl_cert_file",
    "trust anchor",
    "root store",
];

/// A scratch directory holding the CA files of each case and the SQLite database.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("empty.pem"), "").unwrap();
        std::fs::write(dir.path().join("bundle.pem"), ROOT_PEM).unwrap();
        Self { dir }
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }

    /// The environment of a service in the image, minus the bundle: `SSL_CERT_FILE` is `ca`.
    /// The AWS SDK is pointed at a closed loopback port with static credentials.
    fn env(&self, ca: &str, extra: &[(&str, String)]) -> Vec<(String, String)> {
        let dead = format!("https://127.0.0.1:{}", free_port());
        let mut env: Vec<(String, String)> = [
            ("SSL_CERT_FILE", self.path(ca)),
            ("APP_ENV", "development".into()),
            (
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", self.path("db.sqlite")),
            ),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", dead.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AUTH_SERVICE_URL", dead),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        env
    }
}

/// Runs `bin` until it exits or `limit` passes (then kills it): its status, if it exited,
/// and everything it wrote to stdout and stderr.
fn run(
    bin: &Path,
    env: &[(String, String)],
    dir: &Path,
    limit: Duration,
) -> (Option<ExitStatus>, String) {
    let mut child = Command::new(bin)
        .env_clear()
        .env("PORT", free_port().to_string())
        .envs(env.iter().cloned())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    (status, out.join().unwrap() + &err.join().unwrap())
}

/// Without roots: an error exit (not a signal, not a hang) whose output names the CA roots
/// and shows no panic.
fn assert_clear_startup_error(name: &str, extra: &[(&str, String)]) {
    let case = Case::new();
    for ca in ["missing.pem", "empty.pem"] {
        let (status, output) = run(
            Path::new(&workspace_binary(name)),
            &case.env(ca, extra),
            case.dir.path(),
            Duration::from_secs(30),
        );
        let status = status.unwrap_or_else(|| {
            panic!("{name} with SSL_CERT_FILE={ca} still running after 30 s:\n{output}")
        });
        assert!(
            status.code().is_some_and(|c| c != 0),
            "{name}, {ca}: {status}\n{output}"
        );
        assert!(
            !output.contains("panicked"),
            "{name}, {ca}: a panic\n{output}"
        );
        let lower = output.to_lowercase();
        assert!(
            NAMES_THE_ROOTS.iter().any(|w| lower.contains(w)),
            "{name}, {ca}: the error does not say that CA roots are missing:\n{output}"
        );
    }
}

#[test]
fn auth_without_ca_roots_stops_with_a_clear_error() {
    // The signing key comes from Secrets Manager, over TLS.
    assert_clear_startup_error("auth", &[("JWT_SIGNING_KEY_SECRET", "jwt-key".into())]);
}

#[test]
fn task_without_ca_roots_stops_with_a_clear_error() {
    // AUTH_SERVICE_URL is https (Case::env), so fetching auth's public keys needs TLS.
    assert_clear_startup_error("task", &[]);
}

#[test]
fn auth_with_a_bundle_gets_past_the_roots() {
    // The secret fetch then fails on the closed port: an error, but not about CA roots.
    let case = Case::new();
    let env = case.env(
        "bundle.pem",
        &[("JWT_SIGNING_KEY_SECRET", "jwt-key".into())],
    );
    let (status, output) = run(
        Path::new(&workspace_binary("auth")),
        &env,
        case.dir.path(),
        Duration::from_secs(60),
    );
    assert!(status.is_some_and(|s| !s.success()), "{status:?}\n{output}");
    assert!(!output.contains("panicked"), "{output}");
    assert!(
        !output.to_lowercase().contains("no ca certificates"),
        "{output}"
    );
}

#[tokio::test]
async fn task_with_a_bundle_serves() {
    // auth is unreachable, so task starts without verification keys, but it starts.
    let case = Case::new();
    let bin = workspace_binary("task");
    let env = case.env("bundle.pem", &[]);
    let task = ServiceProcess::start(&bin, &env, "/tasks/health").await;
    drop(task);
}
