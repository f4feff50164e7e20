//! What the figures were measured on.

use std::{path::Path, process::Command, time::Duration};

use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub date: String,
    pub commit: String,
    pub nproc: usize,
    pub cpu: String,
    pub memory: String,
    pub kernel: String,
    pub postgres: String,
    pub rustc: String,
    pub load_generators: String,
    pub pgbench: String,
    /// /proc/loadavg (1, 5, 15 minutes) when the run started and when it ended: other work on
    /// the machine shows here, and disturbs every figure.
    pub load_at_start: String,
    pub load_at_end: String,
    /// CPU busy with other work over 3 s before the services start, and after they stop.
    pub other_cpu_at_start: String,
    pub other_cpu_at_end: String,
}

/// How busy the CPUs are over `window` (from /proc/stat), in percent of all cores: taken while
/// nothing of the benchmark runs, it is other work on the machine.
pub fn cpu_busy(window: Duration) -> String {
    cpu_busy_pct(window).map_or_else(|| "unknown".into(), |v| format!("{v:.0} %"))
}

/// [`cpu_busy`] as a number.
pub fn cpu_busy_pct(window: Duration) -> Option<f64> {
    let sample = || -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let v: Vec<u64> = (stat.lines().next()?.split_whitespace().skip(1))
            .filter_map(|x| x.parse().ok())
            .collect();
        Some((v.iter().take(8).sum(), v.get(3)? + v.get(4).unwrap_or(&0)))
    };
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
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The first line a command prints (stdout, else stderr).
fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().ok();
    let text = out.map(|o| {
        if o.stdout.is_empty() {
            o.stderr
        } else {
            o.stdout
        }
    });
    let text = String::from_utf8_lossy(&text.unwrap_or_default()).into_owned();
    text.lines().next().unwrap_or("unknown").trim().to_owned()
}

fn proc_field(file: &str, name: &str) -> String {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let v = text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == name).then(|| v.trim().to_owned())
    });
    v.unwrap_or_else(|| "unknown".into())
}

pub fn describe(workspace: &Path, postgres: String) -> Machine {
    let ws = workspace.to_string_lossy();
    let mut commit = run("git", &["-C", &ws, "rev-parse", "--short=12", "HEAD"]);
    let dirty = Command::new("git")
        .args(["-C", &ws, "status", "--porcelain", "--", "."])
        .args([":!bench/RESULTS.md", ":!bench/results.json"])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    if dirty {
        commit.push_str(" (with uncommitted changes)");
    }
    let mem_kib: f64 = (proc_field("/proc/meminfo", "MemTotal")
        .trim_end_matches("kB")
        .trim())
    .parse()
    .unwrap_or(f64::NAN);
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    Machine {
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        commit,
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu: proc_field("/proc/cpuinfo", "model name"),
        memory: format!("{:.1} GiB", mem_kib / 1024.0 / 1024.0),
        kernel: format!("{} {}", run("uname", &["-s"]), release.trim()),
        postgres,
        rustc: run("rustc", &["--version"]),
        load_generators: format!("{}; {}", run("wrk", &["-v"]), run("oha", &["--version"])),
        pgbench: run("pgbench", &["--version"]),
        load_at_start: loadavg(),
        load_at_end: String::new(),
        other_cpu_at_start: cpu_busy(Duration::from_secs(3)),
        other_cpu_at_end: String::new(),
    }
}
