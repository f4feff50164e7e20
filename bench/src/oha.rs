//! Load at a fixed rate over a few keep-alive connections, as a load balancer sends it (an
//! ALB keeps a handful of connections per target): latency at a realistic load rather than
//! at saturation. `oha -q RATE --latency-correction` counts each request's latency from the
//! time it was due, so a stall counts for every request it delayed.

use std::{process::Command, time::Duration};

use anyhow::{Context, bail};
use serde::Serialize;

/// What one fixed-rate run measured; latencies in microseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RateStats {
    pub target_rps: u32,
    pub connections: u32,
    pub requests: u64,
    /// Requests answered per second over the run.
    pub achieved_rps: f64,
    /// Responses >= 400 plus requests that failed on the connection.
    pub errors: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

/// GETs `url` at `rps` requests per second over `connections` connections for `duration`.
pub fn run(
    url: &str,
    headers: &[(String, String)],
    connections: u32,
    rps: u32,
    duration: Duration,
) -> anyhow::Result<RateStats> {
    let mut cmd = Command::new("oha");
    cmd.args([
        "--no-tui",
        "--output-format",
        "json",
        "--latency-correction",
    ])
    .args(["-c", &connections.to_string(), "-q", &rps.to_string()])
    .arg("-z")
    .arg(format!("{}s", duration.as_secs().max(1)));
    for (k, v) in headers {
        cmd.arg("-H").arg(format!("{k}: {v}"));
    }
    let out = cmd
        .arg(url)
        .output()
        .context("cannot run oha (.ci/setup.sh installs it)")?;
    if !out.status.success() {
        bail!("oha failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("oha's JSON")?;
    let us = |p: &str| (v.pointer(p).and_then(|x| x.as_f64()).unwrap_or(f64::NAN) * 1e6) as u64;
    // Responses by status, and requests that failed on the connection (by error).
    let count = |p: &str, bad: fn(&str) -> bool| -> u64 {
        let o = v
            .pointer(p)
            .and_then(|x| x.as_object())
            .into_iter()
            .flatten();
        o.filter(|(k, _)| bad(k))
            .map(|(_, n)| n.as_u64().unwrap_or(0))
            .sum()
    };
    let requests = count("/statusCodeDistribution", |_| true);
    let bad_status = count("/statusCodeDistribution", |s| {
        s.parse().map_or(true, |s: u16| s >= 400)
    });
    // The requests in flight when the run's time is up are not the service's errors.
    let errors = bad_status + count("/errorDistribution", |e| !e.contains("deadline"));
    Ok(RateStats {
        target_rps: rps,
        connections,
        requests,
        achieved_rps: requests as f64 / duration.as_secs_f64(),
        errors,
        p50_us: us("/latencyPercentiles/p50"),
        p90_us: us("/latencyPercentiles/p90"),
        p99_us: us("/latencyPercentiles/p99"),
        p999_us: us("/latencyPercentiles/p99.9"),
        max_us: us("/summary/slowest"),
    })
}
