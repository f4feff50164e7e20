//! Request metrics as CloudWatch Embedded Metric Format lines on stdout: the awslogs driver
//! ships them and CloudWatch extracts the metrics, so no agent or API call is needed.

use std::{
    io::Write,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

pub const NAMESPACE: &str = "TaskManagement";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// When set, lines are kept here instead of written (tests read them back).
static CAPTURED: Mutex<Option<Vec<String>>> = Mutex::new(None);

/// Metrics are written only with JSON logs: a pretty development console doesn't want them.
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

pub fn record_request(service: &str, status: u16, latency_ms: f64) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let line = emf_line(service, status, latency_ms, now_millis());
    if let Some(lines) = CAPTURED.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        lines.push(line);
        return;
    }
    let mut out = std::io::stdout().lock();
    // A metric that cannot be written is not worth failing a request over.
    let _ = writeln!(out, "{line}");
}

/// For tests: enables metrics and keeps the lines in memory instead of writing them.
pub fn capture() {
    *CAPTURED.lock().unwrap_or_else(|p| p.into_inner()) = Some(Vec::new());
    enable(true);
}

/// For tests: the lines kept since [`capture`], as JSON.
pub fn captured() -> Vec<serde_json::Value> {
    CAPTURED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .flatten()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn now_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

pub fn emf_line(service: &str, status: u16, latency_ms: f64, timestamp_ms: u128) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms as u64,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Service"]],
                "Metrics": [
                    {"Name": "RequestCount", "Unit": "Count"},
                    {"Name": "Latency", "Unit": "Milliseconds"},
                    {"Name": "Errors", "Unit": "Count"},
                ],
            }],
        },
        "Service": service,
        "StatusCode": status,
        "RequestCount": 1,
        "Latency": (latency_ms * 1000.0).round() / 1000.0,
        "Errors": u8::from(status >= 500),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_line_declares_the_metrics_it_carries() {
        let v: serde_json::Value = serde_json::from_str(&emf_line("auth", 503, 1.5, 7)).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        for m in v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
        {
            let name = m["Name"].as_str().unwrap();
            assert!(v.get(name).is_some(), "{name} declared but missing");
        }
        assert_eq!(v["Errors"], 1);
        assert_eq!(v["Service"], "auth");
        assert_eq!(v["_aws"]["Timestamp"], 7);
    }
}
