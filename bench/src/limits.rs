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

/// A pgbench custom script: the statements one request of an endpoint ran (bench/src/capture.rs
/// reads them from PostgreSQL's statement log), in two texts.
pub struct SqlScript {
    pub key: &'static str,
    pub what: String,
    /// As the service sent them: every value it bound a parameter (a pgbench `-D` variable, or
    /// `:id` for the row id each transaction picks at random), so prepared once per connection
    /// and planned as PostgreSQL's plan cache decides.
    pub as_run: String,
    /// The same statements with the values inlined (only `:id` stays a parameter): each
    /// prepared statement is then planned once, for its values.
    pub inlined: String,
    /// pgbench `-D` variables for `as_run`.
    pub defines: Vec<(String, String)>,
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

/// pgbench `-M prepared` with `clients` clients on `script` in `form` for `duration`.
pub fn pgbench(
    db_url: &str,
    script: &SqlScript,
    form: Form,
    clients: u32,
    duration: Duration,
    work_dir: &Path,
) -> anyhow::Result<PgbenchResult> {
    let (sql, defines) = match form {
        Form::Inlined => (&script.inlined, &[][..]),
        Form::Parameters | Form::Generic => (&script.as_run, &script.defines[..]),
    };
    let name = format!("pgbench-{}-{form:?}", script.key);
    let path = work_dir.join(format!("{name}.sql"));
    std::fs::write(&path, sql)?;
    let (clients_s, secs) = (clients.to_string(), duration.as_secs().max(1).to_string());
    let out = Command::new("pgbench")
        .args([
            "-n", "-M", "prepared", "-c", &clients_s, "-j", "2", "-T", &secs, "-f",
        ])
        .arg(&path)
        .args(
            defines
                .iter()
                .flat_map(|(k, v)| ["-D".to_owned(), format!("{k}={v}")]),
        )
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
    let num = |prefix: &str| -> Option<f64> {
        let line = text.lines().find_map(|l| l.trim().strip_prefix(prefix))?;
        line.split_whitespace().next()?.parse().ok()
    };
    let shown: String = defines
        .iter()
        .map(|(k, v)| format!("-- -D {k}={v}\n"))
        .collect();
    Ok(PgbenchResult {
        key: script.key.into(),
        what: script.what.clone(),
        form,
        clients,
        tps: num("tps = ").with_context(|| format!("no tps in pgbench output:\n{text}"))?,
        latency_avg_ms: num("latency average = ").unwrap_or(f64::NAN),
        transactions: num("number of transactions actually processed: ").unwrap_or(0.0) as u64,
        failed: num("number of failed transactions: ").unwrap_or(0.0) as u64,
        sql: shown + sql,
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
    let (hashes_per_s, other_cpu_pct) = (hashes as f64 / seconds, None);
    BcryptResult {
        cost,
        threads,
        hashes,
        seconds,
        hashes_per_s,
        other_cpu_pct,
    }
}
