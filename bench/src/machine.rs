//! What the figures were measured on.

use std::{path::Path, process::Command};

use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub memory: String,
    pub kernel: String,
    pub postgres: String,
    pub rustc: String,
    pub wrk: String,
    pub pgbench: String,
    pub date: String,
    pub commit: String,
    /// /proc/loadavg (1, 5, 15 minutes) when the run started and when it ended: other work on
    /// the machine shows here, and disturbs every figure.
    pub load_at_start: String,
    pub load_at_end: String,
    /// CPU busy with other work over 3 s just before the services start, and after they stop.
    pub other_cpu_at_start: String,
    pub other_cpu_at_end: String,
}

/// How busy the CPUs are over `window` (from /proc/stat), in percent of all cores: taken while
/// nothing of the benchmark runs, it is other work on the machine.
pub fn cpu_busy(window: std::time::Duration) -> String {
    cpu_busy_pct(window).map_or_else(|| "unknown".into(), |v| format!("{v:.0} %"))
}

/// [`cpu_busy`] as a number.
pub fn cpu_busy_pct(window: std::time::Duration) -> Option<f64> {
    fn sample() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let v: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        let idle = v.get(3)? + v.get(4).unwrap_or(&0);
        Some((v.iter().take(8).sum(), idle))
    }
    let a = sample();
    std::thread::sleep(window);
    match (a, sample()) {
        (Some((t0, i0)), Some((t1, i1))) if t1 > t0 => {
            Some(100.0 * (1.0 - (i1 - i0) as f64 / (t1 - t0) as f64))
        }
        _ => None,
    }
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn run(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn proc_field(file: &str, name: &str) -> Option<String> {
    std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == name).then(|| v.trim().to_owned())
    })
}

pub fn describe(workspace: &Path, postgres: String) -> Machine {
    let memory = proc_field("/proc/meminfo", "MemTotal")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    let ws = workspace.to_string_lossy();
    let mut commit = run("git", &["-C", &ws, "rev-parse", "--short=12", "HEAD"]);
    let dirty = Command::new("git")
        .args(["-C", &ws, "status", "--porcelain", "--", "."])
        .args([":!bench/RESULTS.md", ":!bench/results.json"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    if dirty {
        commit.push_str(" (with uncommitted changes)");
    }
    Machine {
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model: proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into()),
        memory,
        kernel: format!(
            "{} {}",
            run("uname", &["-s"]),
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
        ),
        postgres,
        rustc: run("rustc", &["--version"]),
        wrk: run("wrk", &["-v"]),
        pgbench: run("pgbench", &["--version"]),
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        commit,
        load_at_start: loadavg(),
        load_at_end: String::new(),
        other_cpu_at_start: cpu_busy(std::time::Duration::from_secs(3)),
        other_cpu_at_end: String::new(),
    }
}
