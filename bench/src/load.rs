//! Load from wrk (a separate process): one Lua script per scenario sets the method, headers
//! and body, rotates ids, and prints wrk's own summary as one JSON line at the end.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// What one wrk run measured. Latencies in microseconds, as wrk keeps them.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct WrkStats {
    pub requests: u64,
    pub duration_us: u64,
    pub bytes: u64,
    /// Responses with status >= 400 (wrk's "Non-2xx or 3xx").
    pub status_errors: u64,
    pub connect_errors: u64,
    pub read_errors: u64,
    pub write_errors: u64,
    pub timeouts: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl WrkStats {
    pub fn rps(&self) -> f64 {
        self.requests as f64 * 1e6 / self.duration_us.max(1) as f64
    }

    pub fn socket_errors(&self) -> u64 {
        self.connect_errors + self.read_errors + self.write_errors + self.timeouts
    }

    pub fn errors(&self) -> u64 {
        self.status_errors + self.socket_errors()
    }
}

/// One scripted request shape.
#[derive(Clone, Debug)]
pub struct Script {
    pub method: &'static str,
    /// Paths to rotate through (one is a fixed path).
    pub paths: Vec<String>,
    pub headers: Vec<(String, String)>,
    /// JSON bodies to rotate through (none: no body).
    pub bodies: Vec<String>,
    /// Milliseconds to wait before each request (a low-rate prober); 0 = closed loop.
    pub delay_ms: u64,
}

/// A Lua string (JSON's escapes are Lua's for the ASCII the scripts hold).
fn lua_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn lua_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| lua_str(s)).collect();
    format!("{{{}}}", inner.join(", "))
}

impl Script {
    /// `method` on `paths` (rotated), no extra headers, no body, closed loop.
    pub fn new(method: &'static str, paths: Vec<String>) -> Self {
        let (headers, bodies, delay_ms) = (vec![], vec![], 0);
        Self {
            method,
            paths,
            headers,
            bodies,
            delay_ms,
        }
    }

    pub fn delay_ms(self, delay_ms: u64) -> Self {
        Self { delay_ms, ..self }
    }

    pub fn lua(&self) -> String {
        let mut headers = String::new();
        for (k, v) in &self.headers {
            headers.push_str(&format!("wrk.headers[{}] = {}\n", lua_str(k), lua_str(v)));
        }
        if !self.bodies.is_empty() {
            headers.push_str("wrk.headers[\"Content-Type\"] = \"application/json\"\n");
        }
        let delay = match self.delay_ms {
            0 => String::new(),
            ms => format!("delay = function() return {ms} end\n"),
        };
        format!(
            r#"wrk.method = {}
{headers}local paths = {}
local bodies = {}
local i = 0
-- Each wrk thread has its own Lua state; start the threads at different places.
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("offset", threads * 7919)
end
init = function(args) i = offset or 0 end
request = function()
  i = i + 1
  local body = nil
  if #bodies > 0 then body = bodies[(i % #bodies) + 1] end
  return wrk.format(nil, paths[(i % #paths) + 1], nil, body)
end
{delay}done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {{"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"max_us":%.0f,"mean_us":%.3f}}\n',
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"#,
            lua_str(self.method),
            lua_list(&self.paths),
            lua_list(&self.bodies),
        )
    }
}

/// A wrk process started in the background.
pub struct WrkRun {
    child: Child,
    out_path: PathBuf,
}

pub struct WrkArgs<'a> {
    pub base_url: &'a str,
    pub script: &'a Script,
    pub connections: u32,
    pub threads: u32,
    pub duration: Duration,
    pub work_dir: &'a Path,
    pub label: String,
}

pub fn spawn(a: WrkArgs) -> anyhow::Result<WrkRun> {
    let lua = a.script.lua();
    spawn_lua(a, &lua)
}

/// wrk with `lua` as its script instead of the one `a.script` makes (its first path is the URL).
pub fn spawn_lua(a: WrkArgs, lua: &str) -> anyhow::Result<WrkRun> {
    let script_path = a.work_dir.join(format!("{}.lua", a.label));
    std::fs::write(&script_path, lua)?;
    let out_path = a.work_dir.join(format!("{}.wrk.txt", a.label));
    let threads = a.threads.min(a.connections).max(1);
    let child = Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{}", a.connections))
        .arg(format!("-d{}s", a.duration.as_secs().max(1)))
        .args(["--latency", "--timeout", "10s", "-s"])
        .arg(&script_path)
        .arg(format!("{}{}", a.base_url, a.script.paths[0]))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run wrk (apt-get install wrk)")?;
    Ok(WrkRun { child, out_path })
}

impl WrkRun {
    pub fn wait(self) -> anyhow::Result<WrkStats> {
        json_line(&self.output()?, "BENCH_JSON ")
    }

    /// wrk's standard output, once it has exited successfully.
    pub fn output(self) -> anyhow::Result<String> {
        let out = self.child.wait_with_output()?;
        let text = std::fs::read_to_string(&self.out_path).unwrap_or_default();
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            bail!("wrk failed ({}): {err}\n{text}", out.status);
        }
        Ok(text)
    }
}

/// The JSON after `prefix` on a line of a script's output.
pub fn json_line<T: serde::de::DeserializeOwned>(text: &str, prefix: &str) -> anyhow::Result<T> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .with_context(|| format!("no {prefix}line in wrk output:\n{text}"))?;
    serde_json::from_str(line).with_context(|| format!("bad wrk summary {line}"))
}

pub fn run(a: WrkArgs) -> anyhow::Result<WrkStats> {
    spawn(a)?.wait()
}
