//! Soak: the real auth and task binaries (on PostgreSQL when TEST_DATABASE_URL is set, and on
//! SQLite) while 2,000 silent TCP connections are held open to each, and 1,000 failed logins
//! with random usernames (some 60,000 characters long) from random forwarded addresses go
//! to auth. Afterwards each process must be under 64 MiB resident, and normal requests
//! (health, register, login, GET /tasks) must still be answered correctly.
//!
//! The contract's "answers normal requests in under 50 ms" is not asserted (no timing
//! assertions in tests): the latencies are printed, with the resident sizes, for the record.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use reqwest::Method;
use serde_json::{Value, json};
use testkit::{
    api::Api,
    db::{Backend, TestDb, backends},
    process::{ServiceProcess, env, workspace_binary},
};
use tokio::{net::TcpStream, sync::Semaphore, task::JoinSet};

/// Silent connections held open to each service.
const IDLE: usize = 2_000;
/// Failed logins sent while they are held.
const LOGINS: usize = 1_000;
/// Logins in flight at once.
const CONCURRENCY: usize = 16;
/// Every this many logins, one with a 60,000-character username (a 400).
const OVERLONG_EVERY: usize = 50;
/// The resident-size bound per process.
const RSS_LIMIT_KIB: u64 = 64 * 1024;

/// Raises this process's soft RLIMIT_NOFILE to `needed` (children inherit it), or fails
/// saying why: a soak that quietly held fewer connections would prove nothing.
fn raise_nofile(needed: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(got, 0, "getrlimit: {}", std::io::Error::last_os_error());
    assert!(
        lim.rlim_max >= needed,
        "the soak needs RLIMIT_NOFILE >= {needed}, but the hard limit is {}: raise it \
         (ulimit -Hn, or LimitNOFILE= for a service) and run again",
        lim.rlim_max
    );
    if lim.rlim_cur < needed {
        lim.rlim_cur = needed;
        // SAFETY: as above.
        let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        assert_eq!(set, 0, "setrlimit: {}", std::io::Error::last_os_error());
    }
}

/// VmRSS of `pid` in KiB, from /proc/<pid>/status.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// A small xorshift generator: random enough for usernames and addresses, no dependency.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        println!("soak: seed {nanos}");
        Self(nanos | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A username of the valid shape: `len` of `A–Z a–z 0–9 _ . -`.
    fn username(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";
        (0..len)
            .map(|_| CHARS[self.below(CHARS.len() as u64) as usize] as char)
            .collect()
    }

    fn ipv4(&mut self) -> String {
        let n = self.next();
        format!(
            "{}.{}.{}.{}",
            1 + n % 223,
            (n >> 8) & 255,
            (n >> 16) & 255,
            1 + (n >> 24) % 254
        )
    }
}

/// Opens `n` TCP connections to `port` that send nothing. Connects that do not complete
/// within 2 s are counted, not retried: past the connection cap and the listen backlog the
/// kernel drops the handshake. (Short, so that the flood below starts while the silent
/// connections still occupy the server, not after its header timeout has closed them.)
async fn hold_silent(port: u16, n: usize) -> (Vec<TcpStream>, usize) {
    let gate = Arc::new(Semaphore::new(n));
    let mut set = JoinSet::new();
    for _ in 0..n {
        let gate = gate.clone();
        set.spawn(async move {
            let _p = gate.acquire_owned().await.expect("gate");
            tokio::time::timeout(
                Duration::from_secs(2),
                TcpStream::connect(("127.0.0.1", port)),
            )
            .await
        });
    }
    let (mut held, mut failed) = (Vec::with_capacity(n), 0);
    while let Some(r) = set.join_next().await {
        match r.expect("connect task") {
            Ok(Ok(s)) => held.push(s),
            _ => failed += 1,
        }
    }
    (held, failed)
}

/// How many of `conns` the server has closed (EOF or reset seen without blocking).
fn closed_by_server(conns: &[TcpStream]) -> usize {
    let mut buf = [0u8; 1];
    conns
        .iter()
        .filter(|s| match s.try_read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        })
        .count()
}

/// A client that opens a new connection per request (no pool), so each request has to get
/// through the server's accept queue past the held connections; generous timeout, so that a
/// stall is measured rather than cut short.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("HTTP client")
}

/// `method path` on `api` with a fresh connection: status, JSON body, latency.
async fn timed(
    http: &reqwest::Client,
    api: &Api,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, Duration) {
    let mut req = http.request(method.clone(), api.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let t0 = Instant::now();
    let r = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path} after {:?}: {e}", t0.elapsed()));
    let status = r.status().as_u16();
    let v = r.json().await.unwrap_or(Value::Null);
    (status, v, t0.elapsed())
}

struct Flood {
    unauthorized: usize,
    too_many: usize,
    bad_request: usize,
    slowest: Duration,
    elapsed: Duration,
}

/// `LOGINS` failed logins, `CONCURRENCY` at a time, each from a random forwarded address.
async fn login_flood(auth: &Api, rng: &mut Rng) -> Flood {
    let http = fresh_client();
    let gate = Arc::new(Semaphore::new(CONCURRENCY));
    let mut set = JoinSet::new();
    let start = Instant::now();
    for i in 0..LOGINS {
        let overlong = i % OVERLONG_EVERY == OVERLONG_EVERY - 1;
        let username = if overlong {
            rng.username(60_000)
        } else {
            let len = 3 + rng.below(48) as usize;
            rng.username(len)
        };
        let xff = rng.ipv4();
        let (http, url, gate) = (http.clone(), auth.url("/auth/login"), gate.clone());
        set.spawn(async move {
            let _p = gate.acquire_owned().await.expect("gate");
            let t0 = Instant::now();
            let r = http
                .post(url)
                .header("x-forwarded-for", xff)
                .json(&json!({"username": username, "password": "not-the-password"}))
                .send()
                .await
                .unwrap_or_else(|e| panic!("login {i} after {:?}: {e}", t0.elapsed()));
            (overlong, r.status().as_u16(), t0.elapsed())
        });
    }
    let mut f = Flood {
        unauthorized: 0,
        too_many: 0,
        bad_request: 0,
        slowest: Duration::ZERO,
        elapsed: Duration::ZERO,
    };
    while let Some(r) = set.join_next().await {
        let (overlong, status, took) = r.expect("login task");
        f.slowest = f.slowest.max(took);
        if overlong {
            assert_eq!(status, 400, "a 60,000-character username");
            f.bad_request += 1;
        } else {
            // Random addresses rarely repeat; when one does, its limit may answer 429.
            assert!(matches!(status, 401 | 429), "a failed login: {status}");
            if status == 401 {
                f.unauthorized += 1;
            } else {
                f.too_many += 1;
            }
        }
    }
    f.elapsed = start.elapsed();
    f
}

async fn soak(backend: Backend) {
    let label = format!("{backend:?}");
    let db = TestDb::new(backend).await;
    let key = auth::app::signing_keys::generate_pem();
    let auth_proc = ServiceProcess::start(
        &workspace_binary("auth"),
        &env(&[
            ("DATABASE_URL", &db.url),
            ("JWT_SIGNING_KEY", &key),
            ("BCRYPT_COST", "4"),
            ("TRUSTED_PROXY_HOPS", "1"),
        ]),
        "/auth/ready",
    )
    .await;
    let task_proc = ServiceProcess::start(
        &workspace_binary("task"),
        &env(&[
            ("DATABASE_URL", &db.url),
            ("AUTH_SERVICE_URL", &auth_proc.base),
        ]),
        "/tasks/ready",
    )
    .await;
    let auth = Api::new(auth_proc.base.clone());
    let task = Api::new(task_proc.base.clone());
    let before = (rss_kib(auth_proc.pid()), rss_kib(task_proc.pid()));

    let t0 = Instant::now();
    let ((auth_idle, auth_failed), (task_idle, task_failed)) = tokio::join!(
        hold_silent(auth_proc.port, IDLE),
        hold_silent(task_proc.port, IDLE)
    );
    println!(
        "soak[{label}]: held {} to auth ({auth_failed} connects timed out), {} to task \
         ({task_failed} timed out), in {:?}",
        auth_idle.len(),
        task_idle.len(),
        t0.elapsed()
    );

    let mut rng = Rng::seeded();
    let flood = login_flood(&auth, &mut rng).await;
    println!(
        "soak[{label}]: {LOGINS} failed logins in {:?} (401: {}, 429: {}, 400: {}), slowest {:?}",
        flood.elapsed, flood.unauthorized, flood.too_many, flood.bad_request, flood.slowest
    );

    // Normal requests, each on a new connection, while the silent ones are still held.
    let http = fresh_client();
    let mut latencies = Vec::new();
    let (s, v, d) = timed(&http, &auth, Method::GET, "/auth/health", None, None).await;
    assert_eq!(s, 200, "auth health: {v}");
    latencies.push(("GET /auth/health", d));
    let (s, v, d) = timed(&http, &task, Method::GET, "/tasks/health", None, None).await;
    assert_eq!(s, 200, "task health: {v}");
    latencies.push(("GET /tasks/health", d));
    let creds =
        json!({"username": "soaker", "email": "soaker@example.com", "password": "password1"});
    let (s, v, d) = timed(
        &http,
        &auth,
        Method::POST,
        "/auth/register",
        None,
        Some(creds),
    )
    .await;
    assert_eq!(s, 201, "register: {v}");
    latencies.push(("POST /auth/register", d));
    let login = json!({"username": "soaker", "password": "password1"});
    let (s, v, d) = timed(&http, &auth, Method::POST, "/auth/login", None, Some(login)).await;
    assert_eq!(s, 200, "login: {v}");
    latencies.push(("POST /auth/login", d));
    let token = v["token"].as_str().expect("token").to_owned();
    let (s, v, d) = timed(&http, &task, Method::GET, "/tasks", Some(&token), None).await;
    assert_eq!(s, 200, "GET /tasks: {v}");
    assert!(v.is_array() || v.is_object(), "GET /tasks: {v}");
    latencies.push(("GET /tasks", d));
    for (what, d) in &latencies {
        println!(
            "soak[{label}]: {what} answered in {:.1} ms",
            d.as_secs_f64() * 1e3
        );
    }

    let after = (rss_kib(auth_proc.pid()), rss_kib(task_proc.pid()));
    println!(
        "soak[{label}]: server had closed {} of auth's and {} of task's held connections",
        closed_by_server(&auth_idle),
        closed_by_server(&task_idle)
    );
    println!(
        "soak[{label}]: VmRSS auth {} -> {} KiB, task {} -> {} KiB (bound {RSS_LIMIT_KIB} KiB)",
        before.0, after.0, before.1, after.1
    );
    assert!(after.0 < RSS_LIMIT_KIB, "auth VmRSS {} KiB", after.0);
    assert!(after.1 < RSS_LIMIT_KIB, "task VmRSS {} KiB", after.1);
    drop((auth_idle, task_idle));
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_connections_and_a_login_flood_neither_grow_memory_nor_shut_out_clients() {
    // Both services' held connections live in this process; the services inherit the limit.
    raise_nofile(2 * IDLE as u64 + 1_024);
    for backend in backends() {
        soak(backend).await;
    }
}
