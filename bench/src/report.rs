//! The results (results.json) and their Markdown rendering (RESULTS.md).

use std::fmt::Write as _;

use serde::Serialize;

use crate::{
    limits::{BcryptResult, Form, PgbenchResult},
    load::WrkStats,
    machine::Machine,
    rate::RateStats,
};

#[derive(Clone, Debug, Serialize)]
pub struct RunConfig {
    pub quick: bool,
    pub duration_s: u64,
    pub warmup_s: u64,
    pub connections: u32,
    pub login_connections: u32,
    pub wrk_threads: u32,
    pub pool_max: u32,
    pub bcrypt_cost: u32,
    pub seed_users: u32,
    pub seed_tasks_per_user: u32,
    pub bench_user_tasks: u32,
    pub seeded_users_via: String,
    pub startup_runs: u32,
    /// Which builds of auth and task were measured.
    pub binaries: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Limit {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Scenario {
    pub key: String,
    pub name: String,
    pub service: String,
    pub connections: u32,
    pub rps: f64,
    pub stats: WrkStats,
    pub log_bytes: u64,
    pub log_lines: u64,
    /// Requests the service served during the measured run (for login: login + health probe).
    pub served: u64,
    /// CPU busy with other work over 1 s just before the run (percent of all cores).
    pub other_cpu_pct: Option<f64>,
    pub log_bytes_per_request: f64,
    pub log_lines_per_request: f64,
    pub limit: Option<Limit>,
    /// rps ÷ limit.
    pub ratio: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Memory {
    pub service: String,
    pub idle_kib: u64,
    pub at_256_kib: u64,
    pub load_256: String,
    pub load_256_rps: f64,
    pub load_256_errors: u64,
    pub after_kib: u64,
    pub peak_kib: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Startup {
    pub service: String,
    pub database: String,
    pub runs_ms: Vec<f64>,
    pub median_ms: f64,
    pub max_ms: f64,
}

/// A scenario at a fixed request rate (latency at a realistic load, not at saturation).
#[derive(Clone, Debug, Serialize)]
pub struct FixedRate {
    pub name: String,
    pub stats: RateStats,
    /// CPU busy with other work over 1 s just before the run (percent of all cores).
    pub other_cpu_pct: Option<f64>,
}

/// `GET /tasks/health` on the host's (glibc) build of task, for comparison with the static one.
#[derive(Clone, Debug, Serialize)]
pub struct HostHealth {
    pub binary: String,
    pub rps: f64,
    pub stats: WrkStats,
    pub other_cpu_pct: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BinarySize {
    pub service: String,
    pub bytes: u64,
    /// gzip -9 (None when gzip could not run).
    pub gzip_bytes: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Target {
    pub what: String,
    pub target: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Results {
    pub machine: Machine,
    pub config: RunConfig,
    pub targets: Vec<Target>,
    pub scenarios: Vec<Scenario>,
    pub health_during_login: WrkStats,
    pub pgbench: Vec<PgbenchResult>,
    pub bcrypt: BcryptResult,
    pub memory: Vec<Memory>,
    pub startup: Vec<Startup>,
    /// Start-up on the seeded PostgreSQL database (migrations already applied), informational.
    pub startup_postgres_ms: Vec<(String, f64)>,
    pub fixed_rate: FixedRate,
    /// With `--musl`: the host build's task on `/tasks/health`.
    pub host_health: Option<HostHealth>,
    pub sizes: Vec<BinarySize>,
    /// bench/changes-tried.md: A/B measurements made by hand, carried into every RESULTS.md.
    pub changes_tried: Option<String>,
}

pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn fmt_ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "?".into(), |v| format!("{v:.0} %"))
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

impl Results {
    pub fn scenario(&self, key: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.key == key)
    }

    /// The issue's targets, each judged on this run's figures.
    pub fn judge(&mut self) {
        let mut t = Vec::new();
        let ratio_target =
            |t: &mut Vec<Target>, what: &str, s: Option<&Scenario>, min: f64, limit: &str| {
                if let Some((s, r)) = s.and_then(|s| s.ratio.map(|r| (s, r))) {
                    t.push(Target {
                        what: what.into(),
                        target: format!("≥ {:.0} % of {limit}", min * 100.0),
                        measured: format!(
                            "{:.0} req/s = {:.1} % of {:.0}",
                            s.rps,
                            r * 100.0,
                            s.limit.as_ref().map_or(0.0, |l| l.value)
                        ),
                        met: r >= min,
                    });
                }
            };
        ratio_target(
            &mut t,
            "GET /tasks?limit=20 throughput",
            self.scenario("tasks_list"),
            0.5,
            "pgbench of its statement (page with total), fastest form",
        );
        if let Some(s) = self.scenario("tasks_list") {
            t.push(Target {
                what: "GET /tasks?limit=20 p99".into(),
                target: "≤ 10 ms".into(),
                measured: format!("{} ms", fmt_ms(ms(s.stats.p99_us))),
                met: ms(s.stats.p99_us) <= 10.0,
            });
        }
        ratio_target(
            &mut t,
            "GET /tasks/{id} throughput",
            self.scenario("tasks_get"),
            0.4,
            "pgbench get by id, fastest form",
        );
        ratio_target(
            &mut t,
            "POST /auth/validate throughput",
            self.scenario("auth_validate"),
            0.4,
            "pgbench of its statement, fastest form",
        );
        if let (Some(h), Some(s)) = (&self.host_health, self.scenario("tasks_health")) {
            let r = s.rps / h.rps;
            t.push(Target {
                what: "GET /tasks/health, static build ÷ host build".into(),
                target: "≥ 90 %".into(),
                measured: format!("{:.0} ÷ {:.0} req/s = {:.1} %", s.rps, h.rps, r * 100.0),
                met: r >= 0.9,
            });
        }
        ratio_target(
            &mut t,
            "POST /tasks throughput",
            self.scenario("tasks_create"),
            0.4,
            "pgbench INSERT tps",
        );
        ratio_target(
            &mut t,
            "POST /auth/login throughput",
            self.scenario("auth_login"),
            0.85,
            "bcrypt hashes/s on all cores",
        );
        let h = &self.health_during_login;
        t.push(Target {
            what: "GET /auth/health p99 during the login flood".into(),
            target: "≤ 10 ms".into(),
            measured: format!("{} ms ({} probes)", fmt_ms(ms(h.p99_us)), h.requests),
            met: h.requests > 0 && ms(h.p99_us) <= 10.0,
        });
        for m in &self.memory {
            t.push(Target {
                what: format!("{} RSS at 256 connections", m.service),
                target: "≤ 40 MiB".into(),
                measured: format!("{:.1} MiB", mib(m.at_256_kib)),
                met: mib(m.at_256_kib) <= 40.0,
            });
        }
        for b in &self.sizes {
            let gz = b.gzip_bytes.map_or(f64::NAN, |g| g as f64 / 1048576.0);
            t.push(Target {
                what: format!("{} binary size", b.service),
                target: "≤ 32 MiB, ≤ 12 MiB gzip -9".into(),
                measured: format!("{:.1} MiB, gzip {gz:.1} MiB", b.bytes as f64 / 1048576.0),
                met: b.bytes <= 32 << 20 && gz <= 12.0,
            });
        }
        for s in &self.startup {
            t.push(Target {
                what: format!("{} start-up to first 200 (SQLite, fresh file)", s.service),
                target: "≤ 100 ms (median)".into(),
                measured: format!(
                    "median {} ms, max {} ms",
                    fmt_ms(s.median_ms),
                    fmt_ms(s.max_ms)
                ),
                met: s.median_ms <= 100.0,
            });
        }
        for service in ["auth", "task"] {
            let worst = self
                .scenarios
                .iter()
                .filter(|s| s.service == service)
                .max_by(|a, b| a.log_lines_per_request.total_cmp(&b.log_lines_per_request));
            if let Some(w) = worst {
                t.push(Target {
                    what: format!("{service} log lines per request (worst scenario)"),
                    target: "≤ 1".into(),
                    measured: format!(
                        "{:.2} ({}, {:.0} bytes/request)",
                        w.log_lines_per_request, w.name, w.log_bytes_per_request
                    ),
                    // The window also holds the periodic lines (a metrics document a
                    // minute, start-up): 1.00 to two decimals is one line per request.
                    met: w.log_lines_per_request < 1.005,
                });
            }
        }
        self.targets = t;
    }

    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let m = &self.machine;
        let c = &self.config;
        let _ = writeln!(o, "# Benchmark results\n");
        let _ = writeln!(
            o,
            "Written by `cargo run --release -p bench{}` (the `bench` crate; how to run it and what \
             it does: the README's \"Benchmarks\" section and `bench/src/main.rs`). {} mode: \
             {} s per scenario after {} s of warm-up.\n",
            if c.quick { " -- --quick" } else { "" },
            if c.quick { "Quick (CI)" } else { "Full" },
            c.duration_s,
            c.warmup_s
        );
        let _ = writeln!(o, "## Machine\n");
        let _ = writeln!(o, "| | |\n|---|---|");
        for (k, v) in [
            ("date (UTC)", m.date.clone()),
            ("commit", format!("`{}`", m.commit)),
            ("cores (nproc)", m.nproc.to_string()),
            ("CPU", m.cpu_model.clone()),
            ("memory", m.memory.clone()),
            ("kernel", m.kernel.clone()),
            ("PostgreSQL", m.postgres.clone()),
            ("rustc", m.rustc.clone()),
            ("load generator", m.wrk.clone()),
            ("pgbench", m.pgbench.clone()),
            (
                "load average (1/5/15 min)",
                format!(
                    "{} at the start, {} at the end",
                    m.load_at_start, m.load_at_end
                ),
            ),
            (
                "CPU busy with other work (3 s, all cores)",
                format!(
                    "{} before the services started, {} after they stopped",
                    m.other_cpu_at_start, m.other_cpu_at_end
                ),
            ),
        ] {
            let _ = writeln!(o, "| {k} | {v} |");
        }
        let _ = writeln!(
            o,
            "\nEverything runs on this one machine: auth, task, PostgreSQL, wrk and pgbench share \
             its {} cores, so a service's figure includes the CPU the load generator and the \
             database took from it.\n",
            m.nproc
        );
        let busy = |v: &str| {
            v.trim_end_matches('%')
                .trim()
                .parse::<f64>()
                .is_ok_and(|v| v > 10.0)
        };
        let phases = self
            .scenarios
            .iter()
            .map(|s| s.other_cpu_pct)
            .chain(self.pgbench.iter().map(|p| p.other_cpu_pct))
            .chain([self.bcrypt.other_cpu_pct])
            .flatten()
            .fold(0.0f64, f64::max);
        let disturbed = busy(&m.other_cpu_at_start) || busy(&m.other_cpu_at_end) || phases > 10.0;
        if disturbed {
            let _ = writeln!(
                o,
                "**Other work kept the CPUs busy during this run** ({} before it, {} after it, \
                 up to {phases:.0} % in the second before a measurement; see \"other CPU \
                 before\" in the tables): the figures are lower and noisier than on an idle \
                 machine.\n",
                m.other_cpu_at_start, m.other_cpu_at_end
            );
        } else {
            let _ = writeln!(
                o,
                "Other work on the machine took at most {phases:.0} % of the CPUs in the second \
                 before each measurement (\"other CPU before\" in the tables).\n"
            );
        }
        let _ = writeln!(o, "## Setup\n");
        let _ = writeln!(
            o,
            "- auth and task: {}, separate processes on a fresh PostgreSQL \
             database (created and dropped by the run), `LOG_FORMAT=json`, `RUST_LOG=info`, \
             `APP_ENV=development`, a signing key from `auth keygen`, `DB_POOL_MAX={}`, \
             `BCRYPT_COST={}`; stdout captured to files.\n\
             - Data: {} users × {} tasks (users {}, tasks by SQL), plus the two benchmark users \
             (registered and logged in through the API) with {} tasks each: `bench_reader` \
             (the GET scenarios) and `bench_writer` (POST and PUT).\n\
             - Load: wrk, {} threads, {} connections ({} for login), keep-alive; errors are \
             responses ≥ 400 plus socket errors (connect, read, write, timeout). During the \
             login flood a second wrk (1 connection, one request every 10 ms) probes \
             `GET /auth/health`.\n\
             - Limits: pgbench `-M prepared -c {} -j 2 -T {}` with the SQL each endpoint runs \
             (below), on the same data, each right before its scenario; bcrypt at cost {} on {} threads (the `bcrypt` crate, \
             same optimisation level as the service).\n",
            c.binaries,
            c.pool_max,
            c.bcrypt_cost,
            c.seed_users,
            c.seed_tasks_per_user,
            c.seeded_users_via,
            c.bench_user_tasks,
            c.wrk_threads,
            c.connections,
            c.login_connections,
            c.pool_max,
            c.duration_s,
            self.bcrypt.cost,
            self.bcrypt.threads
        );

        let _ = writeln!(o, "## Targets\n");
        let _ = writeln!(
            o,
            "| target | goal | measured | verdict |\n|---|---|---|---|"
        );
        for t in &self.targets {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                t.what,
                t.target,
                t.measured,
                verdict(t.met)
            );
        }
        let met = self.targets.iter().filter(|t| t.met).count();
        let _ = writeln!(o, "\n{met} of {} targets met.\n", self.targets.len());
        if disturbed {
            let _ = writeln!(
                o,
                "Other work shared the CPUs with this run (see Machine), and not equally in every \
                 phase, so a limit and its scenario may have had different shares of the machine: \
                 these verdicts, the ratios above all, are no evidence either way. Re-run on a \
                 quiet machine (`--wait-idle SECS` waits for one).\n"
            );
        }

        let _ = writeln!(o, "## Scenarios next to their limits\n");
        let _ = writeln!(
            o,
            "| scenario | conns | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | limit | limit /s | ratio | log B/req | log lines/req | other CPU before |\n\
             |---|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|"
        );
        for s in &self.scenarios {
            let (lname, lval, ratio) = match (&s.limit, s.ratio) {
                (Some(l), Some(r)) => (
                    l.name.clone(),
                    format!("{:.0}", l.value),
                    format!("{:.1} %", r * 100.0),
                ),
                _ => ("—".into(), "—".into(), "—".into()),
            };
            let errors = if s.stats.errors() == 0 {
                "0".to_owned()
            } else {
                format!(
                    "**{}** ({} ≥400, {} socket)",
                    s.stats.errors(),
                    s.stats.status_errors,
                    s.stats.socket_errors()
                )
            };
            let _ = writeln!(
                o,
                "| `{}` | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.2} | {} |",
                s.name,
                s.connections,
                s.rps,
                fmt_ms(ms(s.stats.p50_us)),
                fmt_ms(ms(s.stats.p90_us)),
                fmt_ms(ms(s.stats.p99_us)),
                fmt_ms(ms(s.stats.max_us)),
                errors,
                lname,
                lval,
                ratio,
                s.log_bytes_per_request,
                s.log_lines_per_request,
                pct(s.other_cpu_pct)
            );
        }
        let h = &self.health_during_login;
        let _ = writeln!(
            o,
            "\n`GET /auth/health` during the login flood (1 connection, a request every 10 ms): \
             {} requests, p50 {} ms, p90 {} ms, p99 {} ms, max {} ms, {} errors.\n",
            h.requests,
            fmt_ms(ms(h.p50_us)),
            fmt_ms(ms(h.p90_us)),
            fmt_ms(ms(h.p99_us)),
            fmt_ms(ms(h.max_us)),
            h.errors()
        );
        let _ = writeln!(
            o,
            "Log volume is the growth of the service's captured stdout during the measured run \
             divided by the requests it served in that time (for login: login requests plus \
             health probes).\n"
        );
        let f = &self.fixed_rate;
        let r = &f.stats;
        let _ = writeln!(
            o,
            "### At a fixed rate, as a load balancer sends it\n\n\
             `{}` at {} req/s over {} keep-alive connections (the harness's own client: each \
             request is due at a fixed time and its latency counts from then, so a stall \
             counts for every request it held up): {} requests, {:.0} req/s answered, \
             **p50 {} ms, p99 {} ms**, p90 {} ms, p99.9 {} ms, max {} ms, {} errors; other \
             CPU before: {}.\n",
            f.name,
            r.target_rps,
            r.connections,
            r.requests,
            r.achieved_rps,
            fmt_ms(ms(r.p50_us)),
            fmt_ms(ms(r.p99_us)),
            fmt_ms(ms(r.p90_us)),
            fmt_ms(ms(r.p999_us)),
            fmt_ms(ms(r.max_us)),
            r.errors,
            pct(f.other_cpu_pct)
        );
        if let Some(h) = &self.host_health {
            let _ = writeln!(
                o,
                "### The host build on `/tasks/health`\n\n\
                 The host's (glibc) release build of task (`{}`), started on the same database \
                 right after the static one's health scenario, same load: {:.0} req/s, p50 {} ms, \
                 p99 {} ms, {} errors; other CPU before: {}.\n",
                h.binary,
                h.rps,
                fmt_ms(ms(h.stats.p50_us)),
                fmt_ms(ms(h.stats.p99_us)),
                h.stats.errors(),
                pct(h.other_cpu_pct)
            );
        }

        let _ = writeln!(o, "## Limits\n");
        let _ = writeln!(o, "### PostgreSQL (pgbench)\n");
        let _ = writeln!(
            o,
            "| script | what | form | tps | avg latency ms | failed | endpoint ÷ this | other CPU before |\n|---|---|---|--:|--:|--:|--:|--:|"
        );
        let pairs = [
            ("list", "tasks_list"),
            ("get", "tasks_get"),
            ("insert", "tasks_create"),
            ("get_update", "tasks_update"),
            ("validate", "auth_validate"),
        ];
        for p in &self.pgbench {
            let ratio = pairs
                .iter()
                .find(|(k, _)| *k == p.key)
                .and_then(|(_, s)| self.scenario(s))
                .map(|s| format!("{:.1} % (`{}`)", s.rps / p.tps * 100.0, s.name))
                .unwrap_or_else(|| "—".into());
            let best = self
                .pgbench
                .iter()
                .filter(|q| q.key == p.key)
                .all(|q| q.tps <= p.tps);
            let _ = writeln!(
                o,
                "| `{}` | {} | {}{} | {:.0} | {:.3} | {} | {} | {} |",
                p.key,
                p.what,
                p.form.label(),
                if best { " (**the limit**)" } else { "" },
                p.tps,
                p.latency_avg_ms,
                p.failed,
                ratio,
                pct(p.other_cpu_pct)
            );
        }
        let _ = writeln!(
            o,
            "\nEach script runs in three forms: the statements as the service sends them \
             (every value a bound parameter, `plan_cache_mode = auto` as on the services' \
             connections), the same with `plan_cache_mode = force_generic_plan`, and with the \
             values fixed for the run inlined (only the row id each transaction picks stays a \
             parameter). An endpoint is held against the fastest.\n\n\
             The scripts (`:uid` is the benchmark user, `:id` one of its tasks; strings such \
             as `:jti` and `:title` are `pgbench -D` variables):\n"
        );
        for p in self.pgbench.iter().filter(|p| p.form != Form::Generic) {
            let _ = writeln!(
                o,
                "`{}`, {}:\n\n```sql\n{}```\n",
                p.key,
                p.form.label(),
                p.sql
            );
        }
        let b = &self.bcrypt;
        let _ = writeln!(o, "### bcrypt\n");
        let _ = writeln!(
            o,
            "Cost {}, {} threads: {} hashes in {:.1} s = **{:.1} hashes/s** (one login verifies \
             one hash); other CPU before: {}.\n",
            b.cost,
            b.threads,
            b.hashes,
            b.seconds,
            b.hashes_per_s,
            pct(b.other_cpu_pct)
        );

        let _ = writeln!(o, "## Binaries\n");
        let _ = writeln!(o, "| service | size | gzip -9 |\n|---|--:|--:|");
        for b in &self.sizes {
            let _ = writeln!(
                o,
                "| {} | {:.2} MiB | {} |",
                b.service,
                b.bytes as f64 / 1048576.0,
                b.gzip_bytes.map_or_else(
                    || "?".into(),
                    |g| format!("{:.2} MiB", g as f64 / 1048576.0)
                )
            );
        }
        let _ = writeln!(o);
        let _ = writeln!(o, "## Memory (VmRSS)\n");
        let _ = writeln!(
            o,
            "| service | idle after start-up and seeding | at 256 connections (max sampled) | load at 256 connections | after all scenarios | peak (VmHWM) |\n|---|--:|--:|---|--:|--:|"
        );
        for mem in &self.memory {
            let _ = writeln!(
                o,
                "| {} | {:.1} MiB | {:.1} MiB | {}: {:.0} req/s, {} errors | {:.1} MiB | {:.1} MiB |",
                mem.service,
                mib(mem.idle_kib),
                mib(mem.at_256_kib),
                mem.load_256,
                mem.load_256_rps,
                mem.load_256_errors,
                mib(mem.after_kib),
                mib(mem.peak_kib)
            );
        }
        let _ = writeln!(o, "\n## Start-up\n");
        let _ = writeln!(
            o,
            "From spawning the process to the first 200 on its `/…/health`, polled every \
             millisecond; a fresh SQLite file each run (so migrations run every time); task's \
             `AUTH_SERVICE_URL` points at the running auth.\n"
        );
        let _ = writeln!(
            o,
            "| service | runs | median ms | max ms | all runs ms |\n|---|--:|--:|--:|---|"
        );
        for s in &self.startup {
            let runs: Vec<String> = s.runs_ms.iter().map(|v| fmt_ms(*v)).collect();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                s.service,
                s.runs_ms.len(),
                fmt_ms(s.median_ms),
                fmt_ms(s.max_ms),
                runs.join(", ")
            );
        }
        let pg: Vec<String> = self
            .startup_postgres_ms
            .iter()
            .map(|(s, v)| format!("{s} {} ms", fmt_ms(*v)))
            .collect();
        let _ = writeln!(
            o,
            "\nFor comparison, the first start of each on this run's fresh PostgreSQL database \
             (auth ran the migrations, task found them applied): {}.",
            pg.join(", ")
        );
        if let Some(changes) = &self.changes_tried {
            let _ = writeln!(o, "\n{}", changes.trim_end());
        }
        o
    }
}
