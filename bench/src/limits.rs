//! The limits each scenario is held against: PostgreSQL running the same SQL the endpoint runs
//! (pgbench, as many connections as a service's pool), and bcrypt on every core.

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

/// A pgbench custom script: the statements one request of an endpoint runs.
pub struct SqlScript {
    pub key: &'static str,
    pub what: &'static str,
    pub sql: String,
}

/// The ids the scripts need: the reading user, the writing user and its task ids.
pub struct SqlIds {
    pub reader_id: i64,
    pub reader_task_ids: (i64, i64),
    pub writer_id: i64,
    pub writer_task_ids: (i64, i64),
}

/// The SQL of each endpoint as the storage modules (task/src/storage/tasks.rs,
/// auth/src/storage/accounts.rs) have sea-orm issue it on PostgreSQL
/// (statement shapes taken from sea-orm's query builder; values bound as parameters).
pub fn endpoint_scripts(ids: &SqlIds) -> Vec<SqlScript> {
    let page = format!(
        r#"SELECT {TASK_COLUMNS} FROM "tasks" WHERE "tasks"."user_id" = :uid ORDER BY "tasks"."created_at" DESC, "tasks"."id" DESC LIMIT 20 OFFSET 0;"#
    );
    let list = format!(
        r#"SELECT {TASK_COLUMNS}, (SELECT COUNT(*) FROM "tasks" WHERE "tasks"."user_id" = :uid) AS "total_count" FROM "tasks" WHERE "tasks"."user_id" = :uid ORDER BY "tasks"."created_at" DESC, "tasks"."id" DESC LIMIT 20 OFFSET 0;"#
    );
    let get = format!(r#"SELECT {TASK_COLUMNS} FROM "tasks" WHERE "tasks"."id" = :id LIMIT 1;"#);
    let (r_lo, r_hi) = ids.reader_task_ids;
    let (w_lo, w_hi) = ids.writer_task_ids;
    let reader = format!("\\set uid {}\n", ids.reader_id);
    let writer = format!("\\set uid {}\n", ids.writer_id);
    vec![
        SqlScript {
            key: "page",
            what: "page query alone (GET /tasks?limit=20 without the count)",
            sql: format!("{reader}{page}\n"),
        },
        SqlScript {
            key: "list",
            what: "page with its total (the one statement GET /tasks?limit=20 runs)",
            sql: format!("{reader}{list}\n"),
        },
        SqlScript {
            key: "validate",
            what: "the token's user: cut-off and logged-out jti, one statement (POST /auth/validate)",
            sql: format!(
                "{reader}SELECT \"users\".\"tokens_valid_after\", EXISTS(SELECT 1 FROM \"revoked_tokens\" WHERE \"revoked_tokens\".\"jti\" = 'a-jti-not-logged-out') AS \"logged_out\" FROM \"users\" WHERE \"users\".\"id\" = :uid LIMIT 1;\n"
            ),
        },
        SqlScript {
            key: "get",
            what: "get by id (GET /tasks/{id})",
            sql: format!("\\set id random({r_lo}, {r_hi})\n{get}\n"),
        },
        SqlScript {
            key: "insert",
            what: "INSERT ... RETURNING (POST /tasks)",
            sql: format!(
                "{writer}INSERT INTO \"tasks\" (\"user_id\", \"title\", \"description\", \"status\", \"priority\", \"due_date\", \"created_at\", \"updated_at\", \"version\") \
                 VALUES (:uid, 'Benchmark task', 'created by pgbench', 'pending', 'high', '2030-01-31T00:00:00Z', now(), now(), 1) RETURNING {RETURNING};\n"
            ),
        },
        SqlScript {
            key: "get_update",
            what: "get by id + UPDATE ... RETURNING (PUT /tasks/{id})",
            sql: format!(
                "{writer}\\set id random({w_lo}, {w_hi})\n{get}\n\
                 UPDATE \"tasks\" SET \"updated_at\" = now(), \"version\" = \"version\" + 1, \"title\" = 'Updated by pgbench', \"status\" = 'in_progress' WHERE \"tasks\".\"id\" = :id AND \"tasks\".\"user_id\" = :uid RETURNING {RETURNING};\n"
            ),
        },
    ]
}

#[derive(Clone, Debug, Serialize)]
pub struct PgbenchResult {
    pub key: String,
    pub what: String,
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
    clients: u32,
    duration: Duration,
    work_dir: &Path,
) -> anyhow::Result<PgbenchResult> {
    let path = work_dir.join(format!("pgbench-{}.sql", script.key));
    std::fs::write(&path, &script.sql)?;
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
        .arg("-f")
        .arg(&path)
        .arg(db_url)
        .output()
        .context("cannot run pgbench (apt-get install postgresql-contrib)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    std::fs::write(work_dir.join(format!("pgbench-{}.txt", script.key)), &text)?;
    if !out.status.success() {
        bail!(
            "pgbench {} failed: {}\n{text}",
            script.key,
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
        clients,
        tps: num_after("tps = ").with_context(|| format!("no tps in pgbench output:\n{text}"))?,
        latency_avg_ms: num_after("latency average = ").unwrap_or(f64::NAN),
        transactions: num_after("number of transactions actually processed: ").unwrap_or(0.0)
            as u64,
        failed: num_after("number of failed transactions: ").unwrap_or(0.0) as u64,
        sql: script.sql.clone(),
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
