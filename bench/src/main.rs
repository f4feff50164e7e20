//! The benchmark harness: `cargo run --release -p bench` (`-- --quick` for CI).
//!
//! 1. builds the release binaries of auth and task (`cargo build --release -p auth -p task`,
//!    same target directory) unless `--auth-bin`/`--task-bin` are given;
//! 2. creates a fresh PostgreSQL database `bench_<pid>`, starts auth and task on it as separate
//!    processes (JSON logs at info, a key from `auth keygen`), stdout captured to files;
//! 3. seeds users and tasks, registers and logs in the two benchmark users;
//! 4. measures the limits: pgbench with the SQL each endpoint runs, in the form PostgreSQL
//!    serves fastest (bound parameters as the service sends them, the same with a generic plan
//!    forced, values inlined), and bcrypt on all cores;
//! 5. drives each scenario with wrk (a separate process), after one request of it has been
//!    checked to succeed, and reads the log growth per request; then GET /tasks at a fixed
//!    rate over 16 connections (a load balancer's traffic), and with `--musl` the host build's
//!    task on `/tasks/health` for comparison;
//! 6. measures RSS idle and under 256 connections, and start-up on a fresh SQLite file;
//! 7. writes RESULTS.md and results.json to `--out` (default: `bench/`), with
//!    bench/changes-tried.md (A/B measurements made by hand) at the end, and drops the database.

mod http;
mod limits;
mod lists;
mod load;
mod machine;
mod rate;
mod report;
mod services;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Parser;

use crate::{
    limits::SqlIds,
    load::{Script, WrkArgs, WrkStats},
    report::{
        BinarySize, FixedRate, HostHealth, Limit, Memory, Results, RunConfig, Scenario, Startup,
    },
    services::{Launch, ScratchDb, Service, psql},
};

/// Load-test auth and task next to their limits and write RESULTS.md and results.json.
#[derive(Parser, Debug)]
#[command(name = "bench")]
struct Cli {
    /// CI mode: 3 s per scenario, 1 s warm-up, 3 start-up runs.
    #[arg(long)]
    quick: bool,
    /// Seconds of measurement per scenario and per pgbench script [default: 15, quick: 3].
    #[arg(long)]
    duration: Option<u64>,
    /// Seconds of unmeasured load before each scenario [default: 3, quick: 1].
    #[arg(long)]
    warmup: Option<u64>,
    /// Where RESULTS.md and results.json go [default: the bench crate's folder].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Build and measure the static musl binaries the images ship
    /// (`--target x86_64-unknown-linux-musl`; needs that rustup target and musl-tools, which
    /// .ci/musl.sh installs) instead of the host's glibc ones.
    #[arg(long, conflicts_with_all = ["auth_bin", "task_bin"])]
    musl: bool,
    /// With --musl, skip building and measuring the host (glibc) task on /tasks/health.
    #[arg(long)]
    no_host_compare: bool,
    /// Use this auth binary instead of building one (give --task-bin too).
    #[arg(long, requires = "task_bin")]
    auth_bin: Option<PathBuf>,
    /// Use this task binary instead of building one (give --auth-bin too).
    #[arg(long, requires = "auth_bin")]
    task_bin: Option<PathBuf>,
    /// An admin connection to PostgreSQL (the scratch database is created next to it).
    #[arg(
        long,
        env = "BENCH_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pg_url: String,
    /// Connections for every scenario but login.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// Connections for the login flood.
    #[arg(long, default_value_t = 16)]
    login_connections: u32,
    /// Requests per second of the fixed-rate GET /tasks scenario.
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    /// Keep-alive connections of the fixed-rate scenario.
    #[arg(long, default_value_t = 16)]
    rate_connections: u32,
    /// DB_POOL_MAX of both services, and pgbench's client count.
    #[arg(long, default_value_t = 5)]
    pool: u32,
    /// Users seeded besides the two benchmark users.
    #[arg(long, default_value_t = 200)]
    users: u32,
    /// Tasks per seeded user.
    #[arg(long, default_value_t = 50)]
    tasks_per_user: u32,
    /// Tasks of each benchmark user.
    #[arg(long, default_value_t = 100)]
    bench_user_tasks: u32,
    /// Start-up measurements per service [default: 10, quick: 3].
    #[arg(long)]
    startup_runs: Option<u32>,
    /// Before starting, wait up to this many seconds for the CPUs to be quiet (under 10 %
    /// busy with other work over 3 s); the report says how busy they were either way.
    #[arg(long, default_value_t = 0)]
    wait_idle: u64,
    /// Keep the work folder (wrk scripts and outputs, service logs) after a successful run.
    #[arg(long)]
    keep_work: bool,
    /// Only the list-at-scale scenario (docs/benchmarks.md, "Lists at scale"): a user with
    /// --lists-tasks tasks against one with 20, first page and a deep cursor page; prints
    /// the table and fails when the target (within 2×) is not met. Needs only psql.
    #[arg(long)]
    lists: bool,
    /// Tasks of the large user in --lists.
    #[arg(long, default_value_t = 1_000_000)]
    lists_tasks: u64,
    /// Timed requests per case in --lists.
    #[arg(long, default_value_t = 300)]
    lists_requests: u32,
    /// For profiling by hand: start and seed as usual, print the services' addresses, pids and
    /// the benchmark users' tokens (with a ready wrk command), then wait for Enter (or the end of
    /// standard input) and clean up, measuring nothing.
    #[arg(long)]
    hold: bool,
}

const BCRYPT_COST: u32 = 10;
const SEED_PASSWORD: &str = "bench-password-1";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn say(msg: impl AsRef<str>) {
    eprintln!("bench: {}", msg.as_ref());
}

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench is a workspace member")
        .to_path_buf()
}

const MUSL: &str = "x86_64-unknown-linux-musl";

/// Builds auth and task in release mode into the target directory this binary lives in
/// (for the host, or for musl as the images are).
fn build_binaries(musl: bool) -> anyhow::Result<(PathBuf, PathBuf)> {
    build(musl, &["auth", "task"])
}

/// `cargo build --release -p <each of packages>` (for musl or the host), as [`build_binaries`].
fn build(musl: bool, packages: &[&str]) -> anyhow::Result<(PathBuf, PathBuf)> {
    let exe = std::env::current_exe()?;
    let target_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("cannot find the target directory")?
        .to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_args: &[&str] = if musl { &["--target", MUSL] } else { &[] };
    let package_args: Vec<&str> = packages.iter().flat_map(|p| ["-p", *p]).collect();
    say(format!(
        "building: cargo build --release {} {} --target-dir {}",
        package_args.join(" "),
        target_args.join(" "),
        target_dir.display()
    ));
    let mut cmd = Command::new(cargo);
    // `cargo run` hands this process the package's build variables (CARGO_MANIFEST_DIR, ...).
    // Passed on, they would make the inner build differ from a plain
    // `cargo build --release -p auth -p task` (ring's build script tracks CARGO_MANIFEST_DIR)
    // and rebuild half the dependency tree every time.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        let prefixes = [
            "CARGO_MANIFEST_",
            "CARGO_PKG_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_PRIMARY_",
        ];
        if prefixes.iter().any(|p| name.starts_with(p)) {
            cmd.env_remove(name);
        }
    }
    let status = cmd
        .args(["build", "--release"])
        .args(&package_args)
        .arg("--target-dir")
        .arg(&target_dir)
        .args(target_args)
        .current_dir(workspace_dir())
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!(
            "cargo build --release {} failed ({status})",
            package_args.join(" ")
        );
    }
    let release = if musl {
        target_dir.join(MUSL).join("release")
    } else {
        target_dir.join("release")
    };
    Ok((release.join("auth"), release.join("task")))
}

/// What the report says was measured: static musl (as the images ship) or the host's build.
fn binaries_description(auth_bin: &Path, musl: bool) -> String {
    let statically_linked = musl
        || auth_bin
            .components()
            .any(|c| c.as_os_str() == std::ffi::OsStr::new(MUSL));
    if statically_linked {
        format!("the static release binaries for `{MUSL}`, as the images ship them")
    } else {
        "the release binaries for the host (glibc; the images ship static musl builds: \
         `--musl` measures those)"
            .into()
    }
}

fn check_tools() -> anyhow::Result<()> {
    for (tool, package) in [
        ("wrk", "wrk"),
        ("pgbench", "postgresql-contrib"),
        ("psql", "postgresql-client"),
    ] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .map(|_| true)
            .unwrap_or(false);
        if !found {
            bail!("{tool} is not installed (apt-get install {package}; .ci/bench.sh does it)");
        }
    }
    Ok(())
}

struct Env<'a> {
    auth_bin: &'a Path,
    task_bin: &'a Path,
    signing_key: String,
    pool: u32,
    work: &'a Path,
}

impl Env<'_> {
    fn common(&self, database_url: &str) -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", database_url.to_owned()),
            ("LOG_FORMAT", "json".into()),
            ("RUST_LOG", "info".into()),
            ("APP_ENV", "development".into()),
            ("DB_POOL_MAX", self.pool.to_string()),
        ]
    }

    fn start_auth(&self, database_url: &str, log_name: String) -> anyhow::Result<Service> {
        let mut env = self.common(database_url);
        env.push(("JWT_SIGNING_KEY", self.signing_key.clone()));
        env.push(("BCRYPT_COST", BCRYPT_COST.to_string()));
        // The login scenario measures bcrypt throughput with more connections than hashing
        // slots: they queue rather than being refused, as before the queue had a bound.
        env.push(("HASH_QUEUE", "65536".to_owned()));
        env.push(("REGISTER_PER_ADDRESS_PER_HOUR", "1000000".to_owned()));
        Launch {
            name: "auth",
            binary: self.auth_bin,
            env,
            log_dir: self.work,
            log_name,
        }
        .start()
    }

    fn start_task(
        &self,
        database_url: &str,
        auth: &Service,
        log_name: String,
    ) -> anyhow::Result<Service> {
        let mut env = self.common(database_url);
        env.push(("AUTH_SERVICE_URL", auth.url()));
        // The scenarios measure throughput, with one user writing as fast as wrk can: the
        // per-user bounds would turn most of it into 403s and 429s, so they are off.
        env.push(("TASK_WRITES_PER_USER_PER_SEC", "0".into()));
        env.push(("TASK_QUOTA_PER_USER", "0".into()));
        Launch {
            name: "task",
            binary: self.task_bin,
            env,
            log_dir: self.work,
            log_name,
        }
        .start()
    }
}

fn keygen(auth_bin: &Path) -> anyhow::Result<String> {
    let out = Command::new(auth_bin).arg("keygen").output()?;
    let pem = String::from_utf8(out.stdout)?;
    if !out.status.success() || !pem.contains("PRIVATE KEY") {
        bail!(
            "auth keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(pem)
}

/// A user the benchmark acts as.
struct BenchUser {
    id: i64,
    token: String,
}

fn register(auth: SocketAddr, username: &str) -> anyhow::Result<i64> {
    let body = serde_json::json!({
        "username": username,
        "email": format!("{username}@example.com"),
        "password": SEED_PASSWORD,
    })
    .to_string();
    let r = http::request(auth, "POST", "/auth/register", &[], Some(&body))?;
    if r.status != 201 {
        bail!("register {username}: {} {}", r.status, r.body);
    }
    r.json()?["user"]["id"]
        .as_i64()
        .with_context(|| format!("no user.id in {}", r.body))
}

fn login(auth: SocketAddr, username: &str) -> anyhow::Result<String> {
    let body = serde_json::json!({"username": username, "password": SEED_PASSWORD}).to_string();
    let r = http::request(auth, "POST", "/auth/login", &[], Some(&body))?;
    if r.status != 200 {
        bail!("login {username}: {} {}", r.status, r.body);
    }
    Ok(r.json()?["token"]
        .as_str()
        .with_context(|| format!("no token in {}", r.body))?
        .to_owned())
}

fn bench_user(auth: SocketAddr, username: &str) -> anyhow::Result<BenchUser> {
    let id = register(auth, username)?;
    Ok(BenchUser {
        id,
        token: login(auth, username)?,
    })
}

fn seed_user_name(i: u32) -> String {
    format!("seed_user_{i}")
}

/// The seeded users, by SQL (one shared bcrypt hash, so each can log in); if the users table
/// no longer takes that INSERT, through the API instead. Returns how it was done.
fn seed_users(db_url: &str, auth: SocketAddr, users: u32) -> anyhow::Result<String> {
    let hash = bcrypt::hash(SEED_PASSWORD, BCRYPT_COST)?;
    let sql = format!(
        "INSERT INTO users (username, email, password_hash, created_at, updated_at) \
         SELECT 'seed_user_' || g, 'seed_user_' || g || '@example.com', '{hash}', \
                now() - g * interval '1 hour', now() - g * interval '1 hour' \
         FROM generate_series(1, {users}) g"
    );
    match psql(db_url, &sql) {
        Ok(_) => Ok("by SQL".into()),
        Err(e) => {
            say(format!(
                "users by SQL failed ({e:#}); registering {users} users through the API instead"
            ));
            let next = std::sync::atomic::AtomicU32::new(1);
            thread::scope(|s| {
                let workers: Vec<_> = (0..4)
                    .map(|_| {
                        s.spawn(|| -> anyhow::Result<()> {
                            loop {
                                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                if i > users {
                                    return Ok(());
                                }
                                register(auth, &seed_user_name(i))?;
                            }
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .try_for_each(|w| w.join().expect("register thread"))
            })?;
            Ok("through the API".into())
        }
    }
}

/// `count` tasks for each user `WHERE` matches, with a spread of statuses, priorities, due
/// dates and creation times. One statement, so each user's ids come out contiguous.
fn seed_tasks(db_url: &str, user_where: &str, count: u32) -> anyhow::Result<()> {
    psql(
        db_url,
        &format!(
            "INSERT INTO tasks (user_id, title, description, status, priority, due_date, created_at, updated_at) \
             SELECT u.id, 'Seeded task ' || g || ' of ' || u.username, \
                    CASE WHEN g % 3 = 0 THEN NULL ELSE repeat('Something to do. ', 1 + g % 8) END, \
                    (ARRAY['pending','in_progress','completed'])[1 + g % 3], \
                    (ARRAY['low','medium','high'])[1 + (g / 3) % 3], \
                    CASE WHEN g % 2 = 0 THEN now() + g * interval '1 day' END, \
                    now() - g * interval '1 minute', now() - g * interval '1 minute' \
             FROM users u CROSS JOIN generate_series(1, {count}) g \
             WHERE {user_where} ORDER BY u.id, g"
        ),
    )?;
    Ok(())
}

fn task_ids(db_url: &str, user_id: i64) -> anyhow::Result<Vec<i64>> {
    let out = psql(
        db_url,
        &format!("SELECT id FROM tasks WHERE user_id = {user_id} ORDER BY id"),
    )?;
    let ids: Vec<i64> = out
        .lines()
        .map(|l| l.trim().parse())
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        bail!("user {user_id} has no tasks after seeding");
    }
    Ok(ids)
}

fn bounds(ids: &[i64]) -> (i64, i64) {
    (ids[0], ids[ids.len() - 1])
}

/// One scenario: the request shape, which service serves it, and its limit.
struct Plan {
    key: &'static str,
    name: &'static str,
    service: &'static str,
    connections: u32,
    script: Script,
}

fn bearer(token: &str) -> Vec<(String, String)> {
    vec![("Authorization".into(), format!("Bearer {token}"))]
}

fn plans(
    cli: &Cli,
    reader: &BenchUser,
    writer: &BenchUser,
    reader_ids: &[i64],
    writer_ids: &[i64],
) -> Vec<Plan> {
    let paths = |ids: &[i64]| ids.iter().map(|id| format!("/tasks/{id}")).collect();
    let one = |path: &str| vec![path.to_owned()];
    let json = |v: serde_json::Value| v.to_string();
    let updates = ["pending", "in_progress", "completed"]
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json(serde_json::json!({"title": format!("Updated by wrk {i}"), "status": s}))
        })
        .collect();
    let new_task = json(serde_json::json!({
        "title": "Benchmark task",
        "description": "created by wrk",
        "priority": "high",
        "due_date": "2030-01-31"
    }));
    // Logins rotate over (at most) the first 50 seeded users.
    let logins = (1..=cli.users.clamp(1, 50))
        .map(|i| {
            json(serde_json::json!({"username": seed_user_name(i), "password": SEED_PASSWORD}))
        })
        .collect();
    let (c, as_reader, as_writer) = (
        cli.connections,
        bearer(&reader.token),
        bearer(&writer.token),
    );
    let plan = |key, name, service, connections, script| Plan {
        key,
        name,
        service,
        connections,
        script,
    };
    vec![
        plan(
            "tasks_health",
            "GET /tasks/health",
            "task",
            c,
            Script::new("GET", one("/tasks/health")),
        ),
        plan(
            "tasks_list",
            "GET /tasks?limit=20",
            "task",
            c,
            Script::new("GET", one("/tasks?limit=20")).headers(as_reader.clone()),
        ),
        plan(
            "tasks_get",
            "GET /tasks/{id}",
            "task",
            c,
            Script::new("GET", paths(reader_ids)).headers(as_reader.clone()),
        ),
        plan(
            "tasks_update",
            "PUT /tasks/{id}",
            "task",
            c,
            Script::new("PUT", paths(writer_ids))
                .headers(as_writer.clone())
                .bodies(updates),
        ),
        plan(
            "tasks_create",
            "POST /tasks",
            "task",
            c,
            Script::new("POST", one("/tasks"))
                .headers(as_writer)
                .bodies(vec![new_task]),
        ),
        plan(
            "auth_validate",
            "POST /auth/validate",
            "auth",
            c,
            Script::new("POST", one("/auth/validate")).headers(as_reader),
        ),
        plan(
            "auth_login",
            "POST /auth/login",
            "auth",
            cli.login_connections,
            Script::new("POST", one("/auth/login")).bodies(logins),
        ),
    ]
}

/// Sends the scenario's first request once and insists on a 2xx: a failure here is the
/// harness's (token, path, body), not a finding about the service.
fn sanity_check(service: &Service, plan: &Plan) -> anyhow::Result<()> {
    let headers: Vec<(&str, &str)> = plan
        .script
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = http::request(
        service.addr,
        plan.script.method,
        &plan.script.paths[0],
        &headers,
        plan.script.bodies.first().map(String::as_str),
    )?;
    if !(200..300).contains(&r.status) {
        bail!(
            "{}: a single request answered {} {}",
            plan.name,
            r.status,
            r.body
        );
    }
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// `--lists`: the list-at-scale scenario alone, on its own scratch database.
fn run_lists(cli: &Cli) -> anyhow::Result<()> {
    let (auth_bin, task_bin) = match (&cli.auth_bin, &cli.task_bin) {
        (Some(a), Some(t)) => (a.clone(), t.clone()),
        _ => build_binaries(cli.musl)?,
    };
    let work = std::env::temp_dir().join(format!("bench-work-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let env = Env {
        auth_bin: &auth_bin,
        task_bin: &task_bin,
        signing_key: keygen(&auth_bin)?,
        pool: cli.pool,
        work: &work,
    };
    let db = ScratchDb::create(&cli.pg_url)?;
    let auth = env.start_auth(&db.url, "auth".into())?;
    let task = env.start_task(&db.url, &auth, "task".into())?;
    let cases = lists::measure(
        &db.url,
        auth.addr,
        task.addr,
        cli.lists_tasks,
        cli.lists_requests,
    )?;
    let (table, met) = lists::report(&cases);
    println!("{table}");
    task.stop();
    auth.stop();
    if !cli.keep_work {
        let _ = std::fs::remove_dir_all(&work);
    }
    if !met {
        bail!("a large user's list page took more than 2× the small user's");
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let started = Instant::now();
    let duration = Duration::from_secs(cli.duration.unwrap_or(if cli.quick { 3 } else { 15 }));
    let warmup = Duration::from_secs(cli.warmup.unwrap_or(if cli.quick { 1 } else { 3 }));
    let startup_runs = cli.startup_runs.unwrap_or(if cli.quick { 3 } else { 10 });
    let out_dir = cli
        .out
        .clone()
        .unwrap_or_else(|| workspace_dir().join("bench"));
    if cli.lists {
        return run_lists(&cli);
    }
    check_tools()?;
    let (auth_bin, task_bin) = match (&cli.auth_bin, &cli.task_bin) {
        (Some(a), Some(t)) => (a.clone(), t.clone()),
        _ => build_binaries(cli.musl)?,
    };
    let binaries = binaries_description(&auth_bin, cli.musl);
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    let wrk_threads = nproc.clamp(1, 4) as u32;

    let work = std::env::temp_dir().join(format!("bench-work-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    std::fs::create_dir_all(&out_dir)?;
    say(format!("work folder (logs, scripts): {}", work.display()));

    if cli.wait_idle > 0 {
        let deadline = Instant::now() + Duration::from_secs(cli.wait_idle);
        loop {
            let busy = machine::cpu_busy(Duration::from_secs(3));
            let quiet = busy
                .trim_end_matches('%')
                .trim()
                .parse::<f64>()
                .is_ok_and(|v| v < 10.0);
            if quiet || Instant::now() >= deadline {
                say(format!("CPU busy with other work: {busy}; starting"));
                break;
            }
            say(format!("CPU busy with other work: {busy}; waiting"));
        }
    }
    let pg_version = psql(&cli.pg_url, "SHOW server_version")
        .with_context(|| format!("cannot reach PostgreSQL at {}", cli.pg_url))?;
    let machine = machine::describe(&workspace_dir(), format!("PostgreSQL {pg_version}"));

    let env = Env {
        auth_bin: &auth_bin,
        task_bin: &task_bin,
        signing_key: keygen(&auth_bin)?,
        pool: cli.pool,
        work: &work,
    };

    let db = ScratchDb::create(&cli.pg_url)?;
    say(format!("database {}", db.name));
    let mut auth = env.start_auth(&db.url, "auth".into())?;
    let mut task = env.start_task(&db.url, &auth, "task".into())?;
    let startup_postgres_ms = vec![
        ("auth".to_owned(), auth.startup.as_secs_f64() * 1000.0),
        ("task".to_owned(), task.startup.as_secs_f64() * 1000.0),
    ];
    say(format!(
        "auth on {} (pid {}), task on {} (pid {})",
        auth.addr,
        auth.pid(),
        task.addr,
        task.pid()
    ));

    // Data.
    let reader = bench_user(auth.addr, "bench_reader")?;
    let writer = bench_user(auth.addr, "bench_writer")?;
    let seeded_users_via = seed_users(&db.url, auth.addr, cli.users)?;
    seed_tasks(
        &db.url,
        "u.username LIKE 'seed\\_user\\_%'",
        cli.tasks_per_user,
    )?;
    seed_tasks(
        &db.url,
        &format!("u.id = {}", reader.id),
        cli.bench_user_tasks,
    )?;
    seed_tasks(
        &db.url,
        &format!("u.id = {}", writer.id),
        cli.bench_user_tasks,
    )?;
    psql(&db.url, "ANALYZE")?;
    let reader_ids = task_ids(&db.url, reader.id)?;
    let writer_ids = task_ids(&db.url, writer.id)?;
    let counts = psql(
        &db.url,
        "SELECT (SELECT count(*) FROM users) || ' users, ' || (SELECT count(*) FROM tasks) || ' tasks'",
    )?;
    say(format!("seeded {counts} (users {seeded_users_via})"));

    if cli.hold {
        return hold(&auth, &task, &reader, &writer, &reader_ids);
    }

    thread::sleep(Duration::from_secs(1));
    let idle = [auth.memory_kib()?.0, task.memory_kib()?.0];

    // Each scenario runs right after its limit, so that other work on the machine (if any)
    // weighs on both alike; the CPU other work took just before is recorded with each.
    let ids = SqlIds {
        reader_id: reader.id,
        reader_task_ids: bounds(&reader_ids),
        writer_id: writer.id,
        writer_task_ids: bounds(&writer_ids),
    };
    let mut scripts = limits::endpoint_scripts(&ids);
    let mut pgbench = Vec::new();
    let mut bcrypt = None;
    let quiet_window = Duration::from_secs(1);

    // Scenarios.
    let plans = plans(&cli, &reader, &writer, &reader_ids, &writer_ids);
    let mut scenarios = Vec::new();
    let mut health_during_login = WrkStats::default();
    let mut host_health = None;
    for plan in &plans {
        let service = if plan.service == "auth" {
            &mut auth
        } else {
            &mut task
        };
        sanity_check(service, plan)?;
        let limit_keys: &[&str] = match plan.key {
            "tasks_list" => &["list"],
            "tasks_get" => &["get"],
            "tasks_update" => &["get_update"],
            "tasks_create" => &["insert"],
            "auth_validate" => &["validate"],
            _ => &[],
        };
        for key in limit_keys {
            let at = scripts
                .iter()
                .position(|s| s.key == *key)
                .expect("a script for each limit key");
            let script = scripts.remove(at);
            for form in limits::Form::ALL {
                let other = machine::cpu_busy_pct(quiet_window);
                say(format!("pgbench {key} ({})", form.label()));
                let mut r = limits::pgbench(&db.url, &script, form, cli.pool, duration, &work)?;
                r.other_cpu_pct = other;
                pgbench.push(r);
            }
        }
        if plan.key == "auth_login" {
            let other = machine::cpu_busy_pct(quiet_window);
            say(format!("bcrypt cost {BCRYPT_COST} on {nproc} threads"));
            let mut b = limits::bcrypt_rate(BCRYPT_COST, nproc, duration);
            b.other_cpu_pct = other;
            bcrypt = Some(b);
        }
        let other_cpu_pct = machine::cpu_busy_pct(quiet_window);
        let base = service.url();
        let args = |d: Duration, label: &str| WrkArgs {
            base_url: &base,
            script: &plan.script,
            connections: plan.connections,
            threads: wrk_threads,
            duration: d,
            work_dir: &work,
            label: format!("{}-{label}", plan.key),
        };
        say(format!("{} ({} connections)", plan.name, plan.connections));
        if !warmup.is_zero() {
            load::run(args(warmup, "warmup"))?;
        }
        let log_from = service.log_len();
        let (stats, served) = if plan.key == "auth_login" {
            let probe = Script::new("GET", vec!["/auth/health".into()]).delay_ms(10);
            let prober = load::spawn(WrkArgs {
                base_url: &base,
                script: &probe,
                connections: 1,
                threads: 1,
                duration,
                work_dir: &work,
                label: "auth_health_probe".into(),
            })?;
            let stats = load::run(args(duration, "run"))?;
            health_during_login = prober.wait()?;
            let served = stats.requests + health_during_login.requests;
            (stats, served)
        } else {
            let stats = load::run(args(duration, "run"))?;
            let served = stats.requests;
            (stats, served)
        };
        thread::sleep(Duration::from_millis(300)); // let the last log lines land
        let log_to = service.log_len();
        service.check_alive()?;
        let (log_bytes, log_lines) = services::log_delta(&service.log_path, log_from, log_to)?;
        let limit = match plan.key {
            "tasks_list" => pg_limit(&pgbench, "list", "pgbench page with its total"),
            "tasks_get" => pg_limit(&pgbench, "get", "pgbench get by id"),
            "tasks_create" => pg_limit(&pgbench, "insert", "pgbench INSERT"),
            "tasks_update" => pg_limit(&pgbench, "get_update", "pgbench get + UPDATE"),
            "auth_login" => bcrypt.as_ref().map(|b| Limit {
                name: format!("bcrypt cost {BCRYPT_COST}, {nproc} threads"),
                value: b.hashes_per_s,
                unit: "hashes/s".into(),
            }),
            "auth_validate" => pg_limit(&pgbench, "validate", "pgbench token state"),
            _ => None,
        };
        let rps = stats.rps();
        let per = |v: u64| {
            if served == 0 {
                f64::NAN
            } else {
                v as f64 / served as f64
            }
        };
        say(format!(
            "  {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, {} errors, {:.2} log lines/request",
            rps,
            report::ms(stats.p50_us),
            report::ms(stats.p99_us),
            report::ms(stats.max_us),
            stats.errors(),
            per(log_lines)
        ));
        if stats.requests == 0 {
            bail!("{}: wrk completed no request", plan.name);
        }
        scenarios.push(Scenario {
            key: plan.key.into(),
            name: plan.name.into(),
            service: plan.service.into(),
            connections: plan.connections,
            rps,
            ratio: limit.as_ref().map(|l| rps / l.value),
            limit,
            log_bytes,
            log_lines,
            served,
            other_cpu_pct,
            log_bytes_per_request: per(log_bytes),
            log_lines_per_request: per(log_lines),
            stats,
        });
        if plan.key == "tasks_health" && cli.musl && !cli.no_host_compare {
            host_health = Some(host_task_health(
                &env, &db.url, &auth, plan, duration, warmup,
            )?);
        }
    }

    // GET /tasks at a fixed rate over a few connections, as a load balancer sends it.
    let list = plans
        .iter()
        .find(|p| p.key == "tasks_list")
        .expect("a GET /tasks plan");
    say(format!(
        "{} at {} req/s over {} connections",
        list.name, cli.rate, cli.rate_connections
    ));
    let rate_args = |d: Duration| rate::RateArgs {
        addr: task.addr,
        path: &list.script.paths[0],
        headers: &list.script.headers,
        connections: cli.rate_connections,
        rps: cli.rate,
        duration: d,
    };
    if !warmup.is_zero() {
        rate::run(rate_args(warmup))?;
    }
    let other_cpu_pct = machine::cpu_busy_pct(quiet_window);
    let fixed = rate::run(rate_args(duration))?;
    say(format!(
        "  {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, {} errors",
        fixed.achieved_rps,
        report::ms(fixed.p50_us),
        report::ms(fixed.p99_us),
        report::ms(fixed.max_us),
        fixed.errors
    ));
    let fixed_rate = FixedRate {
        name: list.name.into(),
        stats: fixed,
        other_cpu_pct,
    };
    task.check_alive()?;

    // Memory under 256 connections.
    let mut memory = Vec::new();
    let mem_duration = duration.min(Duration::from_secs(10));
    for (i, key) in ["auth_validate", "tasks_list"].into_iter().enumerate() {
        let plan = plans.iter().find(|p| p.key == key).expect("plan");
        let service = if plan.service == "auth" {
            &mut auth
        } else {
            &mut task
        };
        say(format!(
            "RSS of {} under 256 connections ({})",
            service.name, plan.name
        ));
        let base = service.url();
        let run = load::spawn(WrkArgs {
            base_url: &base,
            script: &plan.script,
            connections: 256,
            threads: wrk_threads,
            duration: mem_duration,
            work_dir: &work,
            label: format!("rss-{}", service.name),
        })?;
        let t0 = Instant::now();
        let mut max_rss = 0;
        while t0.elapsed() < mem_duration + Duration::from_millis(500) {
            max_rss = max_rss.max(service.memory_kib()?.0);
            thread::sleep(Duration::from_millis(50));
        }
        let stats = run.wait()?;
        service.check_alive()?;
        memory.push(Memory {
            service: service.name.into(),
            idle_kib: idle[i],
            at_256_kib: max_rss,
            load_256: plan.name.into(),
            load_256_rps: stats.rps(),
            load_256_errors: stats.errors(),
            after_kib: 0,
            peak_kib: 0,
        });
    }
    thread::sleep(Duration::from_secs(1));
    for (m, s) in memory.iter_mut().zip([&auth, &task]) {
        let (rss, hwm) = s.memory_kib()?;
        m.after_kib = rss;
        m.peak_kib = hwm;
    }

    // Start-up on a fresh SQLite file (task reaches the running auth for its keys).
    let mut startup = Vec::new();
    for name in ["auth", "task"] {
        say(format!("start-up of {name} on SQLite, {startup_runs} runs"));
        let mut runs = Vec::new();
        for i in 0..startup_runs {
            let dir = work.join(format!("startup-{name}-{i}"));
            std::fs::create_dir_all(&dir)?;
            let url = format!("sqlite://{}/fresh.db?mode=rwc", dir.display());
            let log_name = format!("startup-{name}-{i}");
            let s = if name == "auth" {
                env.start_auth(&url, log_name)?
            } else {
                env.start_task(&url, &auth, log_name)?
            };
            runs.push(s.startup.as_secs_f64() * 1000.0);
            s.stop();
        }
        startup.push(Startup {
            service: name.into(),
            database: "SQLite, fresh file".into(),
            median_ms: median(&runs),
            max_ms: runs.iter().copied().fold(f64::NAN, f64::max),
            runs_ms: runs,
        });
    }

    task.stop();
    auth.stop();
    drop(db);

    let mut machine = machine;
    machine.load_at_end = machine::loadavg();
    machine.other_cpu_at_end = machine::cpu_busy(Duration::from_secs(3));
    let mut results = Results {
        machine,
        config: RunConfig {
            quick: cli.quick,
            duration_s: duration.as_secs(),
            warmup_s: warmup.as_secs(),
            connections: cli.connections,
            login_connections: cli.login_connections,
            wrk_threads,
            pool_max: cli.pool,
            bcrypt_cost: BCRYPT_COST,
            seed_users: cli.users,
            seed_tasks_per_user: cli.tasks_per_user,
            bench_user_tasks: cli.bench_user_tasks,
            seeded_users_via,
            startup_runs,
            binaries,
        },
        targets: vec![],
        scenarios,
        health_during_login,
        pgbench,
        bcrypt: bcrypt.context("no login scenario, so no bcrypt limit")?,
        memory,
        startup,
        startup_postgres_ms,
        fixed_rate,
        host_health,
        sizes: [("auth", &auth_bin), ("task", &task_bin)]
            .into_iter()
            .map(|(n, b)| binary_size(n, b))
            .collect::<anyhow::Result<_>>()?,
        changes_tried: std::fs::read_to_string(workspace_dir().join("bench/changes-tried.md")).ok(),
    };
    results.judge();
    let md = results.markdown();
    std::fs::write(out_dir.join("RESULTS.md"), &md)?;
    std::fs::write(
        out_dir.join("results.json"),
        serde_json::to_string_pretty(&results)? + "\n",
    )?;
    if !cli.keep_work {
        let _ = std::fs::remove_dir_all(&work);
    }
    say(format!(
        "done in {:.0} s; wrote {} and results.json",
        started.elapsed().as_secs_f64(),
        out_dir.join("RESULTS.md").display()
    ));
    println!("{md}");
    Ok(())
}

/// `--hold`: the seeded services, left running for a profiler until Enter.
fn hold(
    auth: &Service,
    task: &Service,
    reader: &BenchUser,
    writer: &BenchUser,
    reader_ids: &[i64],
) -> anyhow::Result<()> {
    println!("AUTH_URL={} AUTH_PID={}", auth.url(), auth.pid());
    println!("TASK_URL={} TASK_PID={}", task.url(), task.pid());
    println!("READER_TOKEN={}", reader.token);
    println!("WRITER_TOKEN={}", writer.token);
    println!("READER_TASK_ID={}", reader_ids[0]);
    println!(
        "# e.g.: wrk -t2 -c64 -d10s -H 'Authorization: Bearer {}' '{}/tasks?limit=20'",
        reader.token,
        task.url()
    );
    say("holding; press Enter (or close standard input) to stop and drop the database");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(())
}

/// The fastest form of the script `key`: what PostgreSQL could do for this endpoint.
fn pg_limit(pgbench: &[limits::PgbenchResult], key: &str, name: &str) -> Option<Limit> {
    pgbench
        .iter()
        .filter(|p| p.key == key)
        .max_by(|a, b| a.tps.total_cmp(&b.tps))
        .map(|p| Limit {
            name: format!("{name} ({}, {} clients)", p.form.label(), p.clients),
            value: p.tps,
            unit: "tps".into(),
        })
}

/// `/tasks/health` on the host's (glibc) build of task, right after the static one, on the
/// same database: what the static build gives up on the path every request takes.
fn host_task_health(
    env: &Env,
    db_url: &str,
    auth: &Service,
    plan: &Plan,
    duration: Duration,
    warmup: Duration,
) -> anyhow::Result<HostHealth> {
    let (_, host_task) = build(false, &["task"])?;
    let host_env = Env {
        task_bin: &host_task,
        signing_key: env.signing_key.clone(),
        ..*env
    };
    let mut service = host_env.start_task(db_url, auth, "task-host".into())?;
    let base = service.url();
    let args = |d: Duration, label: &str| WrkArgs {
        base_url: &base,
        script: &plan.script,
        connections: plan.connections,
        threads: std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 4) as u32,
        duration: d,
        work_dir: env.work,
        label: format!("host-{}-{label}", plan.key),
    };
    say(format!("{} on the host build", plan.name));
    if !warmup.is_zero() {
        load::run(args(warmup, "warmup"))?;
    }
    let other_cpu_pct = machine::cpu_busy_pct(Duration::from_secs(1));
    let stats = load::run(args(duration, "run"))?;
    service.check_alive()?;
    service.stop();
    say(format!("  {:.0} req/s", stats.rps()));
    Ok(HostHealth {
        binary: host_task.display().to_string(),
        rps: stats.rps(),
        stats,
        other_cpu_pct,
    })
}

/// The binary's size on disk and gzip -9'd (as a registry layer is compressed).
fn binary_size(name: &str, path: &Path) -> anyhow::Result<BinarySize> {
    let bytes = std::fs::metadata(path)
        .with_context(|| format!("{}", path.display()))?
        .len();
    let out = Command::new("sh")
        .arg("-c")
        .arg("gzip -9 -c \"$0\" | wc -c")
        .arg(path)
        .output()
        .context("cannot run gzip")?;
    let gzip_bytes = String::from_utf8_lossy(&out.stdout).trim().parse().ok();
    Ok(BinarySize {
        service: name.into(),
        bytes,
        gzip_bytes,
    })
}
