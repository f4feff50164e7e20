//! The benchmark harness: `cargo build --release -p auth -p task -p bench &&
//! target/release/bench` (`--quick` for CI). It starts auth and task on a scratch PostgreSQL
//! database, seeds it, captures the SQL of each endpoint (capture.rs), runs each scenario next
//! to its limit (pgbench, bcrypt), then the fixed-rate, memory, lists-at-scale, registration
//! flood and start-up measurements, and writes RESULTS.md and results.json to `--out`
//! (default: `bench/`). docs/benchmarks.md says what each part measures and why.

mod capture;
mod flood;
mod http;
mod limits;
mod lists;
mod load;
mod machine;
mod oha;
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
    capture::StatementLog,
    load::{Script, WrkArgs, WrkStats},
    report::{BinarySize, FixedRate, HostHealth, Limit, Memory, Results, Scenario},
    services::{Launch, ScratchDb, Service, psql},
};

/// Load-test auth and task next to their limits and write RESULTS.md and results.json.
#[derive(Parser, Debug)]
#[command(name = "bench")]
struct Cli {
    /// CI mode: shorter runs, 100k tasks for the lists, a 10 s flood.
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
    /// The folder holding the `auth` and `task` binaries [default: this binary's folder].
    #[arg(long, env = "BENCH_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// A folder with a host (glibc) build of `task`, run on `/tasks/health` after the measured one.
    #[arg(long)]
    host_bin_dir: Option<PathBuf>,
    /// An admin connection to PostgreSQL (the scratch database is made next to it).
    #[arg(
        long,
        env = "BENCH_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pg_url: String,
    /// PostgreSQL's server log, where the services' statements are read [default: the
    /// server's log file, else Debian's].
    #[arg(long, env = "BENCH_PG_LOG")]
    pg_log: Option<PathBuf>,
    /// Connections for every wrk scenario but login.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// Requests per second of the fixed-rate GET /tasks scenario.
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    /// DB_POOL_MAX of both services, and pgbench's client count.
    #[arg(long, default_value_t = 5)]
    pool: u32,
    /// Tasks of the large user in the lists-at-scale scenario [default: 1000000, quick: 100000].
    #[arg(long)]
    lists_tasks: Option<u64>,
    /// Seconds of the registration flood [default: 30, quick: 10].
    #[arg(long)]
    flood_secs: Option<u64>,
    /// Wait up to this many seconds for the CPUs to be quiet (under 10 % busy) first.
    #[arg(long, default_value_t = 0)]
    wait_idle: u64,
    /// Keep the work folder (wrk scripts and outputs, service logs) after a successful run.
    #[arg(long)]
    keep_work: bool,
    /// For profiling by hand: start and seed, print the services' addresses, pids and tokens,
    /// wait for Enter (or the end of standard input), clean up; measure nothing.
    #[arg(long)]
    hold: bool,
}

const BCRYPT_COST: u32 = 10;
const SEED_PASSWORD: &str = "bench-password-1";
/// Seeded users besides the two benchmark users, tasks of each, tasks of a benchmark user.
const USERS: u32 = 200;
const TASKS_PER_USER: u32 = 50;
const BENCH_USER_TASKS: u32 = 100;
/// Connections of the login scenario, of the fixed-rate one (a load balancer keeps a handful
/// per target), and of the registration flood.
const LOGIN_CONNECTIONS: u32 = 16;
const RATE_CONNECTIONS: u32 = 16;
const FLOOD_CONNECTIONS: u32 = 48;
/// The throughput scenarios drive bcrypt with more connections than hashing slots, and one
/// user writing as fast as wrk can: the bounds that would turn that into 503s, 429s and 403s
/// are lifted (the flood scenario runs auth at its defaults).
const AUTH_UNBOUNDED: &[(&str, &str)] = &[
    ("HASH_QUEUE", "65536"),
    ("REGISTER_PER_ADDRESS_PER_HOUR", "1000000"),
];
const TASK_UNBOUNDED: &[(&str, &str)] = &[
    ("TASK_WRITES_PER_USER_PER_SEC", "0"),
    ("TASK_QUOTA_PER_USER", "0"),
];

fn main() -> ExitCode {
    match run(Cli::parse()) {
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
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Env<'a> {
    bins: &'a Path,
    signing_key: String,
    pool: u32,
    work: &'a Path,
}

impl Env<'_> {
    fn start(
        &self,
        name: &'static str,
        url: &str,
        log_name: &str,
        extra: Vec<(&'static str, String)>,
    ) -> anyhow::Result<Service> {
        let mut env = vec![
            ("DATABASE_URL", url.to_owned()),
            ("LOG_FORMAT", "json".into()),
            ("RUST_LOG", "info".into()),
            ("APP_ENV", "development".into()),
            ("DB_POOL_MAX", self.pool.to_string()),
        ];
        env.extend(extra);
        let binary = &self.bins.join(name);
        let (log_dir, log_name) = (self.work, log_name.to_owned());
        Launch {
            name,
            binary,
            env,
            log_dir,
            log_name,
        }
        .start()
    }

    /// auth with the signing key, bcrypt cost 10 and `settings` over the defaults.
    fn auth(
        &self,
        url: &str,
        log: &str,
        settings: &[(&'static str, &str)],
    ) -> anyhow::Result<Service> {
        let mut extra = vec![
            ("JWT_SIGNING_KEY", self.signing_key.clone()),
            ("BCRYPT_COST", BCRYPT_COST.to_string()),
        ];
        extra.extend(settings.iter().map(|(k, v)| (*k, v.to_string())));
        self.start("auth", url, log, extra)
    }

    fn task(&self, url: &str, auth: &Service, log: &str) -> anyhow::Result<Service> {
        let mut extra = vec![("AUTH_SERVICE_URL", auth.url())];
        extra.extend(TASK_UNBOUNDED.iter().map(|(k, v)| (*k, v.to_string())));
        self.start("task", url, log, extra)
    }
}

/// A user the benchmark acts as.
struct BenchUser {
    id: i64,
    token: String,
}

/// Registers `username` through the API and logs it in.
fn bench_user(auth: SocketAddr, username: &str) -> anyhow::Result<BenchUser> {
    let email = format!("{username}@example.com");
    let body = serde_json::json!({"username": username, "email": email, "password": SEED_PASSWORD});
    let mut answers = vec![];
    for (path, want) in [("/auth/register", 201), ("/auth/login", 200)] {
        let r = http::request(auth, "POST", path, &[], Some(&body.to_string()))?;
        if r.status != want {
            bail!("{path} {username}: {} {}", r.status, r.body);
        }
        answers.push(serde_json::from_str::<serde_json::Value>(&r.body)?);
    }
    let id = answers[0]["user"]["id"].as_i64().context("no user.id")?;
    let token = answers[1]["token"].as_str().context("no token")?.to_owned();
    Ok(BenchUser { id, token })
}

/// `count` tasks for each user `WHERE` matches, with a spread of statuses, priorities, due
/// dates and creation times. One statement, so each user's ids come out contiguous.
fn seed_tasks(db_url: &str, user_where: &str, count: u32) -> anyhow::Result<()> {
    psql(
        db_url,
        &format!(
            "INSERT INTO tasks (user_id, title, description, status, priority, due_date, \
                                created_at, updated_at) \
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

/// One scenario: its key and name, the service that serves it, and the request shape.
struct Plan {
    key: &'static str,
    name: &'static str,
    service: &'static str,
    connections: u32,
    script: Script,
}

fn plans(c: u32, reader: &BenchUser, writer: &BenchUser, ids: (&[i64], &[i64])) -> Vec<Plan> {
    let paths = |ids: &[i64]| ids.iter().map(|id| format!("/tasks/{id}")).collect();
    let one = |path: &str| vec![path.to_owned()];
    let updates = ["pending", "in_progress", "completed"].iter().enumerate();
    let updates = updates
        .map(|(i, s)| serde_json::json!({"title": format!("Updated by wrk {i}"), "status": s}))
        .map(|v| v.to_string())
        .collect();
    let new_task = serde_json::json!({"title": "Benchmark task", "description": "created by wrk",
        "priority": "high", "due_date": "2030-01-31"});
    // Logins rotate over the first 50 seeded users.
    let logins = (1..=50)
        .map(|i| serde_json::json!({"username": format!("seed_user_{i}"), "password": SEED_PASSWORD}))
        .map(|v| v.to_string())
        .collect();
    let plan = |key: &'static str, name: &'static str, paths, user: Option<&BenchUser>, bodies| {
        let headers = user.map(|u| vec![("Authorization".into(), format!("Bearer {}", u.token))]);
        Plan {
            key,
            name,
            service: if key.starts_with("auth") {
                "auth"
            } else {
                "task"
            },
            connections: if key == "auth_login" {
                LOGIN_CONNECTIONS
            } else {
                c
            },
            script: Script {
                method: name.split(' ').next().unwrap_or("GET"),
                paths,
                headers: headers.unwrap_or_default(),
                bodies,
                delay_ms: 0,
            },
        }
    };
    let (r, w) = (Some(reader), Some(writer));
    vec![
        plan(
            "tasks_health",
            "GET /tasks/health",
            one("/tasks/health"),
            None,
            vec![],
        ),
        plan(
            "tasks_list",
            "GET /tasks?limit=20",
            one("/tasks?limit=20"),
            r,
            vec![],
        ),
        plan("tasks_get", "GET /tasks/{id}", paths(ids.0), r, vec![]),
        plan("tasks_update", "PUT /tasks/{id}", paths(ids.1), w, updates),
        plan(
            "tasks_create",
            "POST /tasks",
            one("/tasks"),
            w,
            vec![new_task.to_string()],
        ),
        plan(
            "auth_validate",
            "POST /auth/validate",
            one("/auth/validate"),
            r,
            vec![],
        ),
        plan(
            "auth_login",
            "POST /auth/login",
            one("/auth/login"),
            None,
            logins,
        ),
    ]
}

/// Sends the scenario's first request once and insists on a 2xx: a failure here is the
/// harness's (token, path, body), not a finding about the service.
fn sanity_check(service: &Service, plan: &Plan) -> anyhow::Result<()> {
    let s = &plan.script;
    let headers: Vec<(&str, &str)> = s
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body = s.bodies.first().map(String::as_str);
    let r = http::request(service.addr, s.method, &s.paths[0], &headers, body)?;
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
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// The scenarios held against PostgreSQL, and the ids their request picks one of (GET and PUT
/// of one task: pgbench draws it from all of the user's).
fn db_limited<'a>(key: &str, ids: (&'a [i64], &'a [i64])) -> Option<Option<&'a [i64]>> {
    match key {
        "tasks_list" | "tasks_create" | "auth_validate" => Some(None),
        "tasks_get" => Some(Some(ids.0)),
        "tasks_update" => Some(Some(ids.1)),
        _ => None,
    }
}

/// The pgbench script of each scenario held against PostgreSQL, from the statements one
/// request of it sent: a second auth and task log every statement of theirs (their
/// connections only), each request is sent until two in a row send the same statements (the
/// first ones warm caches and prepare), and the last is kept.
fn capture_scripts(
    env: &Env,
    db_url: &str,
    log: &StatementLog,
    plans: &[Plan],
    ids: (&[i64], &[i64]),
) -> anyhow::Result<Vec<limits::SqlScript>> {
    let url = format!("{db_url}?options[log_statement]=all");
    let auth = env.auth(&url, "auth-capture", AUTH_UNBOUNDED)?;
    let task = env.task(&url, &auth, "task-capture")?;
    let mut scripts = Vec::new();
    for plan in plans {
        let Some(rows) = db_limited(plan.key, ids) else {
            continue;
        };
        let service = if plan.service == "auth" { &auth } else { &task };
        let same = |a: &[capture::Statement], b: &[capture::Statement]| {
            a.iter().map(|s| &s.sql).eq(b.iter().map(|s| &s.sql))
        };
        let mut runs: Vec<Vec<capture::Statement>> = Vec::new();
        while !matches!(&runs[..], [.., a, b] if same(a, b)) {
            if runs.len() == 6 {
                bail!(
                    "{}: its statements differ from request to request",
                    plan.name
                );
            }
            let mark = log.mark();
            sanity_check(service, plan)?;
            thread::sleep(Duration::from_millis(200));
            runs.push(log.since(mark)?);
        }
        let statements = runs.pop().unwrap_or_default();
        if statements
            .iter()
            .all(|s| ["BEGIN", "COMMIT"].contains(&s.sql.as_str()))
        {
            bail!("{}: no statement in PostgreSQL's log", plan.name);
        }
        let row = rows.map(|r| (r[0], (r[0], r[r.len() - 1])));
        let what = format!("the {} statement(s) of `{}`", statements.len(), plan.name);
        scripts.push(capture::script(plan.key, what, &statements, row));
    }
    Ok(scripts)
}

/// The fastest form of scenario `key`'s script: what PostgreSQL could do for this endpoint.
fn pg_limit(pgbench: &[limits::PgbenchResult], key: &str) -> Option<Limit> {
    let best = pgbench
        .iter()
        .filter(|p| p.key == key)
        .max_by(|a, b| a.tps.total_cmp(&b.tps))?;
    let (form, clients) = (best.form.label(), best.clients);
    let name = format!("pgbench, its statements ({form}, {clients} clients)");
    Some(Limit {
        name,
        value: best.tps,
    })
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let started = Instant::now();
    let q = cli.quick;
    let duration = Duration::from_secs(cli.duration.unwrap_or(if q { 3 } else { 15 }));
    let warmup = Duration::from_secs(cli.warmup.unwrap_or(if q { 1 } else { 3 }));
    let startup_runs = if q { 3 } else { 10 };
    let lists_tasks = cli
        .lists_tasks
        .unwrap_or(if q { 100_000 } else { 1_000_000 });
    let (lists_requests, idle_logins) = if q { (100, 10) } else { (300, 30) };
    let flood_secs = cli.flood_secs.unwrap_or(if q { 10 } else { 30 });
    let out_dir = cli
        .out
        .clone()
        .unwrap_or_else(|| workspace_dir().join("bench"));
    let bins = match &cli.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("this binary's folder")?
            .to_path_buf(),
    };
    let (auth_bin, task_bin) = (bins.join("auth"), bins.join("task"));
    let out = Command::new(&auth_bin)
        .arg("keygen")
        .output()
        .with_context(|| {
            format!(
                "cannot run {} (cargo build --release -p auth -p task, or --bin-dir)",
                auth_bin.display()
            )
        })?;
    let signing_key = String::from_utf8(out.stdout)?;
    if !out.status.success() || !signing_key.contains("PRIVATE KEY") {
        bail!(
            "auth keygen failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    let wrk_threads = nproc.clamp(1, 4) as u32;
    let work = std::env::temp_dir().join(format!("bench-work-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    std::fs::create_dir_all(&out_dir)?;
    say(format!("work folder (logs, scripts): {}", work.display()));
    let env = Env {
        bins: &bins,
        signing_key,
        pool: cli.pool,
        work: &work,
    };

    let deadline = Instant::now() + Duration::from_secs(cli.wait_idle);
    let mut waiting = cli.wait_idle > 0;
    while waiting {
        let busy = machine::cpu_busy_pct(Duration::from_secs(3));
        say(format!("CPU busy with other work: {busy:.0?} %"));
        waiting = !busy.is_some_and(|v| v < 10.0) && Instant::now() < deadline;
    }
    let pg_version = psql(&cli.pg_url, "SHOW server_version")
        .with_context(|| format!("cannot reach PostgreSQL at {}", cli.pg_url))?;
    let mut machine = machine::describe(&workspace_dir(), format!("PostgreSQL {pg_version}"));

    let db = ScratchDb::create(&cli.pg_url)?;
    say(format!("database {}", db.name));
    let mut auth = env.auth(&db.url, "auth", AUTH_UNBOUNDED)?;
    let mut task = env.task(&db.url, &auth, "task")?;

    let reader = bench_user(auth.addr, "bench_reader")?;
    let writer = bench_user(auth.addr, "bench_writer")?;
    let hash = bcrypt::hash(SEED_PASSWORD, BCRYPT_COST)?;
    psql(
        &db.url,
        &format!(
            "INSERT INTO users (username, email, password_hash, created_at, updated_at) \
             SELECT 'seed_user_' || g, 'seed_user_' || g || '@example.com', '{hash}', \
                    now() - g * interval '1 hour', now() - g * interval '1 hour' \
             FROM generate_series(1, {USERS}) g"
        ),
    )?;
    seed_tasks(&db.url, "u.username LIKE 'seed\\_user\\_%'", TASKS_PER_USER)?;
    for user in [&reader, &writer] {
        seed_tasks(&db.url, &format!("u.id = {}", user.id), BENCH_USER_TASKS)?;
    }
    psql(&db.url, "ANALYZE")?;
    let reader_ids = task_ids(&db.url, reader.id)?;
    let writer_ids = task_ids(&db.url, writer.id)?;
    if cli.hold {
        println!("AUTH_URL={} AUTH_PID={}", auth.url(), auth.pid());
        println!("TASK_URL={} TASK_PID={}", task.url(), task.pid());
        println!(
            "READER_TOKEN={}\nWRITER_TOKEN={}",
            reader.token, writer.token
        );
        println!("READER_TASK_ID={}", reader_ids[0]);
        let (t, u) = (&reader.token, task.url());
        println!("# e.g.: wrk -t2 -c64 -d10s -H 'Authorization: Bearer {t}' '{u}/tasks?limit=20'");
        say("holding; press Enter (or close standard input) to stop and drop the database");
        std::io::stdin().read_line(&mut String::new())?;
        return Ok(());
    }
    thread::sleep(Duration::from_secs(1));
    let idle = [auth.memory_kib()?.0, task.memory_kib()?.0];

    let ids = (&reader_ids[..], &writer_ids[..]);
    let plans = plans(cli.connections, &reader, &writer, ids);
    // A server whose log this machine cannot read (a container's) leaves the scenarios without
    // their database limits, and the report says so; a readable log that yields nothing fails.
    let (scripts, statement_log) =
        match StatementLog::find(&cli.pg_url, cli.pg_log.clone(), &db.name) {
            Ok(log) => {
                say(format!(
                    "capturing each endpoint's statements from {}",
                    log.path.display()
                ));
                (
                    capture_scripts(&env, &db.url, &log, &plans, ids)?,
                    log.path.display().to_string(),
                )
            }
            Err(e) => {
                say(format!("NO DATABASE LIMITS: {e:#}"));
                (
                    vec![],
                    format!("**not readable, so no database limits**: {e:#}"),
                )
            }
        };

    // Each scenario runs right after its limit, so that other work on the machine (if any)
    // weighs on both alike; the CPU other work took just before is recorded with each.
    let (mut pgbench, mut bcrypt, mut scenarios) = (Vec::new(), None, Vec::new());
    let (mut health_during_login, mut host_health) = (WrkStats::default(), None);
    let mut memory = Vec::new();
    let quiet = || machine::cpu_busy_pct(Duration::from_secs(1));
    for plan in &plans {
        let service = if plan.service == "auth" {
            &mut auth
        } else {
            &mut task
        };
        sanity_check(service, plan)?;
        let mut limit = None;
        if let Some(script) = scripts.iter().find(|s| s.key == plan.key) {
            for form in limits::Form::ALL {
                let other = quiet();
                say(format!("pgbench {} ({})", plan.key, form.label()));
                let mut r = limits::pgbench(&db.url, script, form, cli.pool, duration, &work)?;
                r.other_cpu_pct = other;
                pgbench.push(r);
            }
            limit = pg_limit(&pgbench, plan.key);
        }
        if plan.key == "auth_login" {
            let other = quiet();
            say(format!("bcrypt cost {BCRYPT_COST} on {nproc} threads"));
            let mut b = limits::bcrypt_rate(BCRYPT_COST, nproc, duration);
            b.other_cpu_pct = other;
            let name = format!("bcrypt cost {BCRYPT_COST}, {nproc} threads");
            limit = Some(Limit {
                name,
                value: b.hashes_per_s,
            });
            bcrypt = Some(b);
        }
        let other_cpu_pct = quiet();
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
        let probe = Script::new("GET", vec!["/auth/health".into()]).delay_ms(10);
        let probe = WrkArgs {
            script: &probe,
            connections: 1,
            threads: 1,
            ..args(duration, "probe")
        };
        let prober = (plan.key == "auth_login")
            .then(|| load::spawn(probe))
            .transpose()?;
        let stats = load::run(args(duration, "run"))?;
        let mut served = stats.requests;
        if let Some(p) = prober {
            health_during_login = p.wait()?;
            served += health_during_login.requests;
        }
        thread::sleep(Duration::from_millis(300)); // let the last log lines land
        service.check_alive()?;
        let (log_bytes, log_lines) =
            services::log_delta(&service.log_path, log_from, service.log_len())?;
        let (rps, per) = (stats.rps(), |v: u64| v as f64 / served.max(1) as f64);
        let (p50, p99) = (report::ms(stats.p50_us), report::ms(stats.p99_us));
        say(format!(
            "  {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms, {} errors",
            stats.errors()
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
            served,
            other_cpu_pct,
            log_bytes_per_request: per(log_bytes),
            log_lines_per_request: per(log_lines),
            stats,
        });
        if matches!(plan.key, "auth_validate" | "tasks_list") {
            say(format!("RSS of {} under 256 connections", service.name));
            let mem_duration = duration.min(Duration::from_secs(10));
            let run = load::spawn(WrkArgs {
                connections: 256,
                ..args(mem_duration, "rss")
            })?;
            let (t0, mut max_rss) = (Instant::now(), 0);
            while t0.elapsed() < mem_duration + Duration::from_millis(500) {
                max_rss = max_rss.max(service.memory_kib()?.0);
                thread::sleep(Duration::from_millis(50));
            }
            let stats = run.wait()?;
            service.check_alive()?;
            memory.push(Memory {
                service: service.name.into(),
                idle_kib: idle[usize::from(plan.service == "task")],
                at_256_kib: max_rss,
                load_256: format!(
                    "{}: {:.0} req/s, {} errors",
                    plan.name,
                    stats.rps(),
                    stats.errors()
                ),
                peak_kib: service.memory_kib()?.1,
            });
        }
        if let (Some(dir), "tasks_health") = (&cli.host_bin_dir, plan.key) {
            let host = Env {
                bins: dir,
                signing_key: env.signing_key.clone(),
                ..env
            };
            let host_task = host.task(&db.url, &auth, "task-host")?;
            say(format!(
                "{} on the host build in {}",
                plan.name,
                dir.display()
            ));
            let base = host_task.url();
            let args = |d, label| WrkArgs {
                base_url: &base,
                ..args(d, label)
            };
            load::run(args(warmup.max(Duration::from_secs(1)), "host-warmup"))?;
            let other_cpu_pct = quiet();
            let stats = load::run(args(duration, "host-run"))?;
            let (binary, rps) = (dir.join("task").display().to_string(), stats.rps());
            host_health = Some(HostHealth {
                binary,
                rps,
                stats,
                other_cpu_pct,
            });
        }
    }

    // GET /tasks at a fixed rate over a few connections, as a load balancer sends it.
    let list = plans
        .iter()
        .find(|p| p.key == "tasks_list")
        .context("a list plan")?;
    say(format!(
        "{} at {} req/s, {RATE_CONNECTIONS} connections (oha)",
        list.name, cli.rate
    ));
    let url = format!("{}{}", task.url(), list.script.paths[0]);
    let fixed = |d| oha::run(&url, &list.script.headers, RATE_CONNECTIONS, cli.rate, d);
    if !warmup.is_zero() {
        fixed(warmup)?;
    }
    let other_cpu_pct = quiet();
    let fixed_rate = FixedRate {
        name: list.name.into(),
        stats: fixed(duration)?,
        other_cpu_pct,
    };
    task.check_alive()?;

    say(format!("lists at scale: {lists_tasks} tasks against 20"));
    let lists = lists::measure(&db.url, auth.addr, task.addr, lists_tasks, lists_requests)?;

    say(format!(
        "login under a registration flood, {flood_secs} s, auth at its defaults"
    ));
    let flood_auth = env.auth(&db.url, "auth-flood", &[("TRUSTED_PROXY_HOPS", "1")])?;
    let flood = flood::run(
        flood_auth.addr,
        FLOOD_CONNECTIONS,
        flood_secs,
        idle_logins,
        &work,
    )?;
    drop(flood_auth);

    // Start-up on a fresh SQLite file (task reaches the running auth for its keys).
    let mut startup = Vec::new();
    for name in ["auth", "task"] {
        say(format!("start-up of {name} on SQLite, {startup_runs} runs"));
        let mut runs_ms = Vec::new();
        for i in 0..startup_runs {
            let dir = work.join(format!("startup-{name}-{i}"));
            std::fs::create_dir_all(&dir)?;
            let url = format!("sqlite://{}/fresh.db?mode=rwc", dir.display());
            let log = format!("startup-{name}-{i}");
            let s = match name {
                "auth" => env.auth(&url, &log, AUTH_UNBOUNDED)?,
                _ => env.task(&url, &auth, &log)?,
            };
            runs_ms.push(s.startup.as_secs_f64() * 1000.0);
        }
        let (median_ms, max_ms) = (
            median(&runs_ms),
            runs_ms.iter().copied().fold(f64::NAN, f64::max),
        );
        startup.push(report::Startup {
            service: name.into(),
            median_ms,
            max_ms,
            runs_ms,
        });
    }
    drop((task, auth, db));

    machine.load_at_end = machine::loadavg();
    machine.other_cpu_at_end = machine::cpu_busy(Duration::from_secs(3));
    let mut sizes = Vec::new();
    for (service, path) in [("auth", &auth_bin), ("task", &task_bin)] {
        let bytes = std::fs::metadata(path)?.len();
        // gzip -9, as a registry layer is compressed.
        let gz = Command::new("sh")
            .args(["-c", "gzip -9 -c \"$0\" | wc -c"])
            .arg(path)
            .output()?;
        let gzip_bytes = String::from_utf8_lossy(&gz.stdout).trim().parse().ok();
        sizes.push(BinarySize {
            service: service.into(),
            bytes,
            gzip_bytes,
        });
    }
    let mut results = Results {
        machine,
        config: serde_json::json!({
            "quick": q, "duration_s": duration.as_secs(), "warmup_s": warmup.as_secs(),
            "connections": cli.connections, "login_connections": LOGIN_CONNECTIONS,
            "wrk_threads": wrk_threads, "pool_max": cli.pool, "bcrypt_cost": BCRYPT_COST,
            "seed_users": USERS, "seed_tasks_per_user": TASKS_PER_USER,
            "bench_user_tasks": BENCH_USER_TASKS, "startup_runs": startup_runs,
            "binaries": bins.display().to_string(), "lists_tasks": lists_tasks,
            "statement_log": statement_log,
            "flood": format!("{FLOOD_CONNECTIONS} connections, {flood_secs} s"),
        }),
        targets: vec![],
        scenarios,
        health_during_login,
        pgbench,
        bcrypt: bcrypt.context("no login scenario, so no bcrypt limit")?,
        memory,
        startup,
        fixed_rate,
        host_health,
        lists,
        flood,
        sizes,
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
    let secs = started.elapsed().as_secs_f64();
    say(format!(
        "done in {secs:.0} s; wrote {}",
        out_dir.join("RESULTS.md").display()
    ));
    println!("{md}");
    Ok(())
}
