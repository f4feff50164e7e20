//! The results (results.json) and their Markdown rendering (RESULTS.md).

use std::fmt::Write as _;

use serde::Serialize;

use crate::{
    flood::Flood,
    limits::{BcryptResult, Form, PgbenchResult},
    load::WrkStats,
    machine::Machine,
    oha::RateStats,
};

/// One case of the list-at-scale scenario.
#[derive(Clone, Debug, Serialize)]
pub struct ListCase {
    pub name: String,
    pub median_ms: f64,
    pub p99_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Limit {
    pub name: String,
    pub value: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Scenario {
    pub key: String,
    pub name: String,
    pub service: String,
    pub connections: u32,
    pub rps: f64,
    pub stats: WrkStats,
    /// Requests the service served during the measured run (for login: with the probes).
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
    /// The load at 256 connections, its req/s and errors.
    pub load_256: String,
    pub peak_kib: u64,
}

#[derive(Clone, Debug, Serialize)]
/// To the first 200 on a fresh SQLite file.
pub struct Startup {
    pub service: String,
    pub runs_ms: Vec<f64>,
    pub median_ms: f64,
    pub max_ms: f64,
}

/// A scenario at a fixed request rate (latency at a realistic load, not at saturation).
#[derive(Clone, Debug, Serialize)]
pub struct FixedRate {
    pub name: String,
    #[serde(flatten)]
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
    /// The run's settings (`quick`, `lists_tasks`, ...).
    pub config: serde_json::Value,
    pub targets: Vec<Target>,
    pub scenarios: Vec<Scenario>,
    pub health_during_login: WrkStats,
    pub pgbench: Vec<PgbenchResult>,
    pub bcrypt: BcryptResult,
    pub memory: Vec<Memory>,
    pub startup: Vec<Startup>,
    pub fixed_rate: FixedRate,
    /// With `--host-bin-dir`: the host build's task on `/tasks/health`.
    pub host_health: Option<HostHealth>,
    /// Small and large user alternating: first page, then a deep cursor page.
    pub lists: Vec<ListCase>,
    pub flood: Flood,
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

fn target(what: impl Into<String>, goal: &str, measured: String, met: bool) -> Target {
    let (what, target) = (what.into(), goal.into());
    Target {
        what,
        target,
        measured,
        met,
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "?".into(), |v| format!("{v:.0} %"))
}

impl Results {
    pub fn scenario(&self, key: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.key == key)
    }

    /// The targets (docs/benchmarks.md), each judged on this run's figures.
    pub fn judge(&mut self) {
        let mut t = Vec::new();
        for (key, min, limit) in [
            ("tasks_list", 0.5, "pgbench of its statements, fastest form"),
            ("tasks_get", 0.4, "pgbench of its statements, fastest form"),
            (
                "auth_validate",
                0.4,
                "pgbench of its statements, fastest form",
            ),
            (
                "tasks_create",
                0.4,
                "pgbench of its statements, fastest form",
            ),
            ("auth_login", 0.85, "bcrypt hashes/s on all cores"),
        ] {
            let Some(s) = self.scenario(key) else {
                continue;
            };
            let (Some(r), Some(l)) = (s.ratio, &s.limit) else {
                continue;
            };
            let measured = format!("{:.0} req/s = {:.1} % of {:.0}", s.rps, r * 100.0, l.value);
            let goal = format!("≥ {:.0} % of {limit}", min * 100.0);
            t.push(target(
                format!("{} throughput", s.name),
                &goal,
                measured,
                r >= min,
            ));
        }
        if let Some(s) = self.scenario("tasks_list") {
            let p99 = ms(s.stats.p99_us);
            let what = format!("{} p99", s.name);
            t.push(target(
                what,
                "≤ 10 ms",
                format!("{} ms", fmt_ms(p99)),
                p99 <= 10.0,
            ));
        }
        if let (Some(h), Some(s)) = (&self.host_health, self.scenario("tasks_health")) {
            let r = s.rps / h.rps;
            let m = format!("{:.0} ÷ {:.0} req/s = {:.1} %", s.rps, h.rps, r * 100.0);
            t.push(target(
                "GET /tasks/health, static ÷ host build",
                "≥ 90 %",
                m,
                r >= 0.9,
            ));
        }
        let h = &self.health_during_login;
        let m = format!("{} ms ({} probes)", fmt_ms(ms(h.p99_us)), h.requests);
        let met = h.requests > 0 && ms(h.p99_us) <= 10.0;
        t.push(target(
            "GET /auth/health p99 during the login scenario",
            "≤ 10 ms",
            m,
            met,
        ));
        // Each large user's case within 2× of the small user's (cases alternate).
        for pair in self.lists.chunks(2) {
            let [small, large] = pair else { continue };
            let (rm, rp) = (
                large.median_ms / small.median_ms,
                large.p99_ms / small.p99_ms,
            );
            let what = format!("`GET /tasks?limit=20`, {} vs {}", large.name, small.name);
            let m = format!("median {rm:.2}×, p99 {rp:.2}×");
            t.push(target(
                what,
                "median and p99 ≤ 2×",
                m,
                rm <= 2.0 && rp <= 2.0,
            ));
        }
        let f = &self.flood;
        let (idle, flood) = (fmt_ms(f.idle_median_ms), fmt_ms(f.flood_median_ms));
        let m = format!(
            "{idle} → {flood} ms = {:.2}× ({} failed)",
            f.ratio, f.logins_failed
        );
        t.push(target(
            "login median under a registration flood",
            "< 3× idle",
            m,
            f.ratio < 3.0,
        ));
        let first = f.first_429_within_s;
        let m = first.map_or("never".into(), |s| format!("within {s} s"));
        let met = first.is_some_and(|s| s <= 60);
        t.push(target(
            "the registration flood refused (429)",
            "in its first minute",
            m,
            met,
        ));
        for m in &self.memory {
            let (v, what) = (
                mib(m.at_256_kib),
                format!("{} RSS at 256 connections", m.service),
            );
            t.push(target(what, "≤ 40 MiB", format!("{v:.1} MiB"), v <= 40.0));
        }
        for b in &self.sizes {
            let (size, gz) = (
                mib(b.bytes / 1024),
                b.gzip_bytes.map_or(f64::NAN, |g| mib(g / 1024)),
            );
            let m = format!("{size:.1} MiB, gzip {gz:.1} MiB");
            let met = size <= 32.0 && gz <= 12.0;
            t.push(target(
                format!("{} binary size", b.service),
                "≤ 32 MiB, ≤ 12 MiB gzip",
                m,
                met,
            ));
        }
        for s in &self.startup {
            let what = format!("{} start-up to first 200 (SQLite, fresh file)", s.service);
            let m = format!(
                "median {} ms, max {} ms",
                fmt_ms(s.median_ms),
                fmt_ms(s.max_ms)
            );
            t.push(target(what, "≤ 100 ms (median)", m, s.median_ms <= 100.0));
        }
        for service in ["auth", "task"] {
            let mine = self.scenarios.iter().filter(|s| s.service == service);
            let by_lines = |a: &&Scenario, b: &&Scenario| {
                a.log_lines_per_request.total_cmp(&b.log_lines_per_request)
            };
            let Some(w) = mine.max_by(by_lines) else {
                continue;
            };
            let (lines, bytes) = (w.log_lines_per_request, w.log_bytes_per_request);
            let m = format!("{lines:.2} ({}, {bytes:.0} bytes/request)", w.name);
            let what = format!("{service} log lines per request (worst scenario)");
            // The window also holds the periodic lines (a metrics document a minute,
            // start-up): 1.00 to two decimals is one line per request.
            t.push(target(what, "≤ 1", m, lines < 1.005));
        }
        self.targets = t;
    }

    pub fn markdown(&self) -> String {
        let c = &self.config;
        let quick = c["quick"].as_bool().unwrap_or(false);
        let mut o = format!(
            "# Benchmark results\n\n\
             Written by `bench{}` (`bench/src/main.rs`; the method and what each part \
             measures: docs/benchmarks.md). Everything runs on one machine: the services, \
             PostgreSQL, wrk, oha and pgbench share its cores. Times in ms unless a name says \
             otherwise (`_us`: microseconds, `_kib`: KiB).\n\n## Machine\n\n",
            if quick { " --quick" } else { "" },
        );
        let busy = |v: &str| {
            v.trim_end_matches('%')
                .trim()
                .parse()
                .is_ok_and(|v: f64| v > 10.0)
        };
        let phases = (self.scenarios.iter().map(|s| s.other_cpu_pct))
            .chain(self.pgbench.iter().map(|p| p.other_cpu_pct))
            .chain([self.bcrypt.other_cpu_pct])
            .flatten()
            .fold(0.0f64, f64::max);
        let m = &self.machine;
        fields(&mut o, m);
        let disturbed = busy(&m.other_cpu_at_start) || busy(&m.other_cpu_at_end) || phases > 10.0;
        let _ = writeln!(
            o,
            "\nOther work took up to {phases:.0} % of the CPUs in the second before a measurement \
             (\"other CPU before\" in the tables){}\n\n## Setup\n",
            if disturbed {
                ": **the figures are lower and noisier than on an idle machine, and the ratios \
                 no evidence either way** (`--wait-idle SECS` waits for a quiet machine)."
            } else {
                "."
            }
        );
        fields(&mut o, c);
        o.push_str("\n## Targets\n\n");
        table(
            &mut o,
            "target|goal|measured|verdict",
            self.targets.iter().map(|t| {
                let verdict = if t.met { "met" } else { "**not met**" };
                vec![
                    t.what.clone(),
                    t.target.clone(),
                    t.measured.clone(),
                    verdict.into(),
                ]
            }),
        );
        let met = self.targets.iter().filter(|t| t.met).count();
        let _ = writeln!(
            o,
            "\n{met} of {} targets met.\n\n## Scenarios next to their limits\n",
            self.targets.len()
        );
        table(
            &mut o,
            "scenario|conns|req/s|p50 ms|p90 ms|p99 ms|max ms|errors|limit|limit /s|ratio|log B/req|log lines/req|other CPU before",
            self.scenarios.iter().map(|s| {
                let st = &s.stats;
                let (limit, value, ratio) = match (&s.limit, s.ratio) {
                    (Some(l), Some(r)) => (
                        l.name.clone(),
                        format!("{:.0}", l.value),
                        format!("{:.1} %", r * 100.0),
                    ),
                    _ => ("—".into(), "—".into(), "—".into()),
                };
                let mut row = vec![format!("`{}`", s.name), s.connections.to_string()];
                row.push(format!("{:.0}", s.rps));
                row.extend([st.p50_us, st.p90_us, st.p99_us, st.max_us].map(|v| fmt_ms(ms(v))));
                row.push(match st.errors() {
                    0 => "0".into(),
                    n => format!(
                        "**{n}** ({} ≥400, {} socket)",
                        st.status_errors,
                        st.socket_errors()
                    ),
                });
                row.extend([limit, value, ratio]);
                row.push(format!("{:.0}", s.log_bytes_per_request));
                row.push(format!("{:.2}", s.log_lines_per_request));
                row.push(pct(s.other_cpu_pct));
                row
            }),
        );
        o.push_str(
            "\nLog volume: the growth of the service's captured stdout during the measured run \
             ÷ the requests it served (for login: with the health probes).\n\n\
             ### `GET /tasks?limit=20` at a fixed rate, as a load balancer sends it\n\n\
             oha, latency counted from each request's due time (a stall counts for every \
             request it held up):\n\n",
        );
        fields(&mut o, &self.fixed_rate);
        o.push_str(
            "\n### `GET /auth/health` during the login scenario (1 connection, every 10 ms)\n\n",
        );
        fields(&mut o, &self.health_during_login);
        if let Some(h) = &self.host_health {
            o.push_str("\n### `GET /tasks/health` on the host (glibc) build, same load\n\n");
            fields(&mut o, h);
        }
        let _ = writeln!(
            o,
            "\n### Lists at scale\n\nA user with {} tasks (inserted by SQL) and one with 20, \
             one request at a time, taking turns.\n",
            c["lists_tasks"]
        );
        rows(&mut o, &self.lists);
        o.push_str(
            "\n### Login under a registration flood\n\nauth at its default limits, \
             `TRUSTED_PROXY_HOPS=1`; one user's logins one after another, idle and then while \
             the flood's connections from another address loop `POST /auth/register`:\n\n",
        );
        fields(&mut o, &self.flood);
        o.push_str("\n## Limits\n\n");
        table(
            &mut o,
            "scenario|what|form|tps|avg ms|failed|endpoint ÷ this|other CPU before",
            self.pgbench.iter().map(|p| {
                let best = self
                    .pgbench
                    .iter()
                    .filter(|q| q.key == p.key)
                    .all(|q| q.tps <= p.tps);
                vec![
                    format!("`{}`", p.key),
                    p.what.clone(),
                    format!(
                        "{}{}",
                        p.form.label(),
                        if best { " (**the limit**)" } else { "" }
                    ),
                    format!("{:.0}", p.tps),
                    format!("{:.3}", p.latency_avg_ms),
                    p.failed.to_string(),
                    self.scenario(&p.key)
                        .map_or("—".into(), |s| format!("{:.1} %", s.rps / p.tps * 100.0)),
                    pct(p.other_cpu_pct),
                ]
            }),
        );
        o.push_str("\nbcrypt (one login verifies one hash):\n\n");
        fields(&mut o, &self.bcrypt);
        o.push_str(
            "\nThe scripts as captured (`:id` is drawn from the benchmark user's tasks; every \
             other value the service bound is a `pgbench -D` variable, listed above it):\n\n",
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
        o.push_str("## Binaries, memory (VmRSS), start-up\n\n");
        rows(&mut o, &self.sizes);
        o.push('\n');
        rows(&mut o, &self.memory);
        o.push_str("\nStart-up to the first 200 on a fresh SQLite file each run:\n\n");
        rows(&mut o, &self.startup);
        if let Some(changes) = &self.changes_tried {
            let _ = writeln!(o, "\n{}", changes.trim_end());
        }
        o
    }
}

/// A JSON value as a table cell: strings bare, fractions to two places, lists joined.
fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) if n.is_f64() => fmt_ms(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(", "),
        v => v.to_string(),
    }
}

/// A two-column table of `value`'s fields, as results.json names them.
fn fields(o: &mut String, value: &impl Serialize) {
    let v = serde_json::to_value(value).unwrap_or_default();
    let rows = v
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| vec![k.clone(), cell(v)]);
    table(o, "|", rows);
}

/// A table of `items`, one row each, a column per field.
fn rows(o: &mut String, items: &[impl Serialize]) {
    let v = serde_json::to_value(items).unwrap_or_default();
    let items: Vec<_> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i.as_object())
        .collect();
    let header: Vec<&str> = items
        .first()
        .map_or(vec![], |i| i.keys().map(|k| k.as_str()).collect());
    table(
        o,
        &header.join("|"),
        items.iter().map(|i| i.values().map(cell).collect()),
    );
}

/// A Markdown table: the header, then one line per row (figures right-aligned).
fn table(o: &mut String, header: &str, rows: impl Iterator<Item = Vec<String>>) {
    let header: Vec<&str> = header.split('|').collect();
    let right = |h: &&str| h.contains("ms") || h.contains('/') || h.contains("tps");
    let align: Vec<&str> = (header.iter())
        .map(|h| if right(h) { "--:" } else { "---" })
        .collect();
    let _ = writeln!(o, "| {} |\n|{}|", header.join(" | "), align.join("|"));
    for r in rows {
        let _ = writeln!(o, "| {} |", r.join(" | "));
    }
}
