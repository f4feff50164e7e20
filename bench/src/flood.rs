//! Login under a registration flood (docs/benchmarks.md): auth at its default limits and
//! bcrypt cost 10, behind one trusted proxy as deployed (`TRUSTED_PROXY_HOPS=1`, so each
//! side's `X-Forwarded-For` is its address). One user's logins, one after another, idle and
//! then while wrk's connections from one other address loop `POST /auth/register` with fresh
//! names. The target: the login median under the flood within 3× of idle, and the flood
//! refused (a 429) within its first minute.

use std::{
    net::SocketAddr,
    path::Path,
    time::{Duration, Instant, SystemTime},
};

use anyhow::bail;
use serde::{Deserialize, Serialize};

use crate::{http, load, median};

const FLOOD_ADDR: &str = "198.51.100.7";
const USER_ADDR: &str = "192.0.2.10";
const PASSWORD: &str = "flood-bench-password-1";
const PAUSE: Duration = Duration::from_millis(100);

/// What wrk's script counted over the flood.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Counts {
    pub requests: u64,
    pub created: u64,
    pub refused_429: u64,
    pub busy_503: u64,
    pub other: u64,
    pub socket_errors: u64,
    /// Unix second of the first 429 (0: none).
    first_429_unix: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Flood {
    pub idle_ms: Vec<f64>,
    pub flood_ms: Vec<f64>,
    /// Logins during the flood answered other than 200.
    pub logins_failed: u32,
    pub idle_median_ms: f64,
    pub flood_median_ms: f64,
    pub ratio: f64,
    /// Upper bound (1 s resolution) of the time from the flood's start to its first 429.
    pub first_429_within_s: Option<u64>,
    #[serde(flatten)]
    pub counts: Counts,
}

const LUA: &str = r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Forwarded-For"] = "FLOOD_ADDR"
local threads = {}
setup = function(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
init = function(args)
  n, created, refused, busy, other, first = 0, 0, 0, 0, 0, 0
end
request = function()
  n = n + 1
  local name = "flood" .. tid .. "x" .. n
  return wrk.format(nil, nil, nil, '{"username":"' .. name .. '","email":"' .. name ..
    '@example.com","password":"flood-password-1"}')
end
response = function(status, headers, body)
  if status == 201 then created = created + 1
  elseif status == 429 then
    refused = refused + 1
    if first == 0 then first = os.time() end
  elseif status == 503 then busy = busy + 1
  else other = other + 1 end
end
done = function(summary, latency, requests)
  local c, r, b, o, f = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    c, r, b, o = c + t:get("created"), r + t:get("refused"), b + t:get("busy"), o + t:get("other")
    local tf = t:get("first")
    if tf > 0 and (f == 0 or tf < f) then f = tf end
  end
  local e = summary.errors
  io.write(string.format('BENCH_FLOOD {"requests":%d,"created":%d,"refused_429":%d,' ..
    '"busy_503":%d,"other":%d,"socket_errors":%d,"first_429_unix":%d}\n', summary.requests,
    c, r, b, o, e.connect + e.read + e.write + e.timeout, f))
end
"#;

/// One request from the user's address: its latency in ms and status.
fn post(auth: SocketAddr, path: &str, body: &serde_json::Value) -> anyhow::Result<(f64, u16)> {
    let started = Instant::now();
    let headers = [("X-Forwarded-For", USER_ADDR)];
    let r = http::request(auth, "POST", path, &headers, Some(&body.to_string()))?;
    Ok((started.elapsed().as_secs_f64() * 1000.0, r.status))
}

/// Runs the scenario against `auth` (started at the default limits), `idle` logins first.
pub fn run(
    auth: SocketAddr,
    connections: u32,
    seconds: u64,
    idle: u32,
    work: &Path,
) -> anyhow::Result<Flood> {
    let (name, email) = ("flood_bench_user", "flood_bench_user@example.com");
    let user = serde_json::json!({"username": name, "email": email, "password": PASSWORD});
    let login = serde_json::json!({"username": name, "password": PASSWORD});
    let (_, status) = post(auth, "/auth/register", &user)?;
    let mut idle_ms = Vec::new();
    for _ in 0..idle {
        let (ms, status2) = post(auth, "/auth/login", &login)?;
        if (status, status2) != (201, 200) {
            bail!("flood: the user's register {status}, idle login {status2}");
        }
        idle_ms.push(ms);
    }
    let (base, started) = (format!("http://{auth}"), SystemTime::now());
    let script = load::Script::new("POST", vec!["/auth/register".into()]);
    let args = load::WrkArgs {
        base_url: &base,
        script: &script,
        connections,
        threads: 2,
        duration: Duration::from_secs(seconds),
        work_dir: work,
        label: "register-flood".into(),
    };
    let wrk = load::spawn_lua(args, &LUA.replace("FLOOD_ADDR", FLOOD_ADDR))?;
    let (mut flood_ms, mut logins_failed, t0) = (Vec::new(), 0, Instant::now());
    while t0.elapsed() + Duration::from_millis(500) < Duration::from_secs(seconds) {
        match post(auth, "/auth/login", &login)? {
            (ms, 200) => flood_ms.push(ms),
            // A refused user waits a little, as a client honouring Retry-After would.
            _ => {
                logins_failed += 1;
                std::thread::sleep(PAUSE);
            }
        }
    }
    let counts: Counts = load::json_line(&wrk.output()?, "BENCH_FLOOD ")?;
    let start_s = started
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_secs_f64();
    let first = counts.first_429_unix as f64;
    let first_429_within_s = (first > 0.0).then(|| (first + 1.0 - start_s).ceil().max(1.0) as u64);
    let (idle_median_ms, flood_median_ms) = (median(&idle_ms), median(&flood_ms));
    let ratio = flood_median_ms / idle_median_ms;
    Ok(Flood {
        logins_failed,
        idle_median_ms,
        flood_median_ms,
        ratio,
        first_429_within_s,
        idle_ms,
        flood_ms,
        counts,
    })
}
