//! The limits each scenario is held against: PostgreSQL running the statements the endpoint
//! runs, in the form it serves fastest (pgbench, as many connections as a service's pool), and
//! bcrypt on every core.

use std::{
    path::Path,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde::Serialize;

/// The columns sea-orm selects for a task, in the entity's order.
const TASK_COLUMNS: &str = r#""tasks"."id", "tasks"."user_id", "tasks"."title", "tasks"."description", "tasks"."status", "tasks"."priority", "tasks"."due_date", "tasks"."created_at", "tasks"."updated_at", "tasks"."version""#;
const RETURNING: &str = r#""id", "user_id", "title", "description", "status", "priority", "due_date", "created_at", "updated_at", "version""#;

/// The ids the scripts need: the reading user, the writing user and its task ids.
pub struct SqlIds {
    pub reader_id: i64,
    pub reader_task_ids: (i64, i64),
    pub writer_id: i64,
    pub writer_task_ids: (i64, i64),
}

/// A pgbench custom script: the statements one request of an endpoint runs, in two texts.
pub struct SqlScript {
    pub key: &'static str,
    pub what: &'static str,
    /// As the service sends it: every value sea-orm binds (ids, LIMIT and OFFSET, strings) a
    /// parameter, so prepared once per connection and planned as PostgreSQL's plan cache
    /// decides (custom plans first; a generic one once it estimates no worse).
    pub as_run: String,
    /// The same statements with the values that are fixed for the run written in (only the
    /// row id that each transaction picks at random stays a parameter): each prepared
    /// statement is then planned once, for its values.
    pub inlined: String,
    /// pgbench `-D` variables (strings, which `\set` cannot hold) for `as_run`.
    pub defines: Vec<(&'static str, &'static str)>,
}

/// The forms each script is measured in; an endpoint's limit is the fastest of them, since
/// PostgreSQL could serve the same work that fast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// `as_run`, `plan_cache_mode = auto` (what the services' connections use).
    Parameters,
    /// `as_run` with `plan_cache_mode = force_generic_plan`: never re-planned.
    Generic,
    /// `inlined`, `plan_cache_mode = auto`.
    Inlined,
}

impl Form {
    pub const ALL: [Form; 3] = [Form::Parameters, Form::Generic, Form::Inlined];

    pub fn label(self) -> &'static str {
        match self {
            Form::Parameters => "parameters",
            Form::Generic => "parameters, generic plan",
            Form::Inlined => "values inlined",
        }
    }

    fn plan_cache_mode(self) -> &'static str {
        match self {
            Form::Generic => "force_generic_plan",
            Form::Parameters | Form::Inlined => "auto",
        }
    }
}

/// The SQL of each endpoint exactly as sea-orm sends it from the storage modules
/// (task/src/storage/tasks.rs, auth/src/storage/accounts.rs; captured from PostgreSQL's
/// statement log): `:name` where the service binds `$n`.
pub fn endpoint_scripts(ids: &SqlIds) -> Vec<SqlScript> {
    let (r_lo, r_hi) = ids.reader_task_ids;
    let (w_lo, w_hi) = ids.writer_task_ids;
    let (reader, writer) = (ids.reader_id, ids.writer_id);
    let list = |uid: &str, lim: &str, off: &str| {
        format!(
            r#"SELECT {TASK_COLUMNS}, (SELECT COUNT(*) FROM "tasks" WHERE "tasks"."user_id" = {uid}) AS "total_count" FROM "tasks" WHERE "tasks"."user_id" = {uid} ORDER BY "tasks"."created_at" DESC, "tasks"."id" DESC LIMIT {lim} OFFSET {off};"#
        )
    };
    let get = |one: &str| {
        format!(r#"SELECT {TASK_COLUMNS} FROM "tasks" WHERE "tasks"."id" = :id LIMIT {one};"#)
    };
    let update = |one: &str, title: &str, status: &str, uid: &str| {
        format!(
            r#"UPDATE "tasks" SET "updated_at" = now(), "version" = "version" + {one}, "title" = {title}, "status" = {status} WHERE "tasks"."id" = :id AND "tasks"."user_id" = {uid} RETURNING {RETURNING};"#
        )
    };
    let insert = |v: [&str; 6]| {
        let [uid, title, desc, status, prio, one] = v;
        format!(
            r#"INSERT INTO "tasks" ("user_id", "title", "description", "status", "priority", "due_date", "created_at", "updated_at", "version") VALUES ({uid}, {title}, {desc}, {status}, {prio}, '2030-01-31T00:00:00Z', now(), now(), {one}) RETURNING {RETURNING};"#
        )
    };
    let validate = |one: &str, jti: &str, uid: &str| {
        format!(
            r#"SELECT "users"."tokens_valid_after", EXISTS(SELECT {one} FROM "revoked_tokens" WHERE "revoked_tokens"."jti" = {jti}) AS "logged_out" FROM "users" WHERE "users"."id" = {uid} LIMIT {one};"#
        )
    };
    let (r, w) = (reader.to_string(), writer.to_string());
    vec![
        SqlScript {
            key: "list",
            what: "page with its total, one statement (GET /tasks?limit=20)",
            as_run: format!(
                "\\set uid {reader}\n\\set lim 20\n\\set off 0\n{}\n",
                list(":uid", ":lim", ":off")
            ),
            inlined: format!("{}\n", list(&r, "20", "0")),
            defines: vec![],
        },
        SqlScript {
            key: "validate",
            what: "the token's user: cut-off and logged-out jti, one statement (POST /auth/validate)",
            as_run: format!(
                "\\set uid {reader}\n\\set one 1\n{}\n",
                validate(":one", ":jti", ":uid")
            ),
            inlined: format!("{}\n", validate("1", "'a-jti-not-logged-out'", &r)),
            defines: vec![("jti", "a-jti-not-logged-out")],
        },
        SqlScript {
            key: "get",
            what: "get by id (GET /tasks/{id})",
            as_run: format!(
                "\\set id random({r_lo}, {r_hi})\n\\set one 1\n{}\n",
                get(":one")
            ),
            inlined: format!("\\set id random({r_lo}, {r_hi})\n{}\n", get("1")),
            defines: vec![],
        },
        SqlScript {
            key: "insert",
            what: "INSERT ... RETURNING (POST /tasks)",
            as_run: format!(
                "\\set uid {writer}\n\\set one 1\n{}\n",
                insert([":uid", ":title", ":descr", ":status", ":prio", ":one"])
            ),
            inlined: format!(
                "{}\n",
                insert([
                    &w,
                    "'Benchmark task'",
                    "'created by pgbench'",
                    "'pending'",
                    "'high'",
                    "1"
                ])
            ),
            defines: vec![
                ("title", "Benchmark task"),
                ("descr", "created by pgbench"),
                ("status", "pending"),
                ("prio", "high"),
            ],
        },
        SqlScript {
            key: "get_update",
            what: "get by id + UPDATE ... RETURNING (PUT /tasks/{id})",
            as_run: format!(
                "\\set uid {writer}\n\\set one 1\n\\set id random({w_lo}, {w_hi})\n{}\n{}\n",
                get(":one"),
                update(":one", ":title", ":status", ":uid")
            ),
            inlined: format!(
                "\\set id random({w_lo}, {w_hi})\n{}\n{}\n",
                get("1"),
                update("1", "'Updated by pgbench'", "'in_progress'", &w)
            ),
            defines: vec![("title", "Updated by pgbench"), ("status", "in_progress")],
        },
    ]
}

#[derive(Clone, Debug, Serialize)]
pub struct PgbenchResult {
    pub key: String,
    pub what: String,
    pub form: Form,
    pub clients: u32,
    pub tps: f64,
    pub latency_avg_ms: f64,
    pub transactions: u64,
    pub failed: u64,
    pub sql: String,
    /// CPU busy with other work over 1 s just before (percent of all cores).
    pub other_cpu_pct: Option<f64>,
}

pub fn pgbench(
    db_url: &str,
    script: &SqlScript,
    form: Form,
    clients: u32,
    duration: Duration,
    work_dir: &Path,
) -> anyhow::Result<PgbenchResult> {
    let name = format!("pgbench-{}-{}", script.key, form.plan_cache_mode());
    let (sql, defines) = match form {
        Form::Inlined => (&script.inlined, &[][..]),
        Form::Parameters | Form::Generic => (&script.as_run, &script.defines[..]),
    };
    let name = if form == Form::Inlined {
        format!("{name}-inlined")
    } else {
        name
    };
    let path = work_dir.join(format!("{name}.sql"));
    std::fs::write(&path, sql)?;
    let out = Command::new("pgbench")
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
        ])
        .arg(duration.as_secs().max(1).to_string())
        .args(
            defines
                .iter()
                .flat_map(|(k, v)| ["-D".to_owned(), format!("{k}={v}")]),
        )
        .arg("-f")
        .arg(&path)
        .arg(db_url)
        .env(
            "PGOPTIONS",
            format!("-c plan_cache_mode={}", form.plan_cache_mode()),
        )
        .output()
        .context("cannot run pgbench (apt-get install postgresql-contrib)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    std::fs::write(work_dir.join(format!("{name}.txt")), &text)?;
    if !out.status.success() {
        bail!(
            "pgbench {name} failed: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let num_after = |prefix: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Ok(PgbenchResult {
        key: script.key.into(),
        what: script.what.into(),
        form,
        clients,
        tps: num_after("tps = ").with_context(|| format!("no tps in pgbench output:\n{text}"))?,
        latency_avg_ms: num_after("latency average = ").unwrap_or(f64::NAN),
        transactions: num_after("number of transactions actually processed: ").unwrap_or(0.0)
            as u64,
        failed: num_after("number of failed transactions: ").unwrap_or(0.0) as u64,
        sql: sql.clone(),
        other_cpu_pct: None,
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct BcryptResult {
    pub cost: u32,
    pub threads: usize,
    pub hashes: u64,
    pub seconds: f64,
    pub hashes_per_s: f64,
    /// CPU busy with other work over 1 s just before (percent of all cores).
    pub other_cpu_pct: Option<f64>,
}

/// bcrypt hashes per second at `cost` with `threads` threads hashing flat out. One login
/// verifies one hash, the same work as one hash.
pub fn bcrypt_rate(cost: u32, threads: usize, duration: Duration) -> BcryptResult {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (stop, count) = (stop.clone(), count.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    bcrypt::hash("correct-horse-battery", cost).expect("bcrypt");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    thread::sleep(duration);
    // Hashes that finish after the deadline still count, over the time they took.
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("bcrypt thread");
    }
    let seconds = started.elapsed().as_secs_f64();
    let hashes = count.load(Ordering::Relaxed);
    BcryptResult {
        cost,
        threads,
        hashes,
        seconds,
        hashes_per_s: hashes as f64 / seconds,
        other_cpu_pct: None,
    }
}
