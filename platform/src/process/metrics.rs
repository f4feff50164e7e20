//! Request metrics as CloudWatch Embedded Metric Format documents on stdout: the awslogs
//! driver ships them and CloudWatch extracts the metrics, so no agent or API call is needed.
//!
//! A request costs a handful of relaxed atomic additions ([`Recorder::record`]); nothing is
//! formatted or written on the request's path. Every [`INTERVAL`] (and at shutdown) a
//! background thread writes one document per service that served requests: `RequestCount`,
//! `Errors` (5xx) and `Latency` as a distribution (EMF `Values`/`Counts`, at most 100 bins,
//! so CloudWatch still computes p50/p99), plus the counts per status class as properties.

use std::{
    io::Write,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

pub const NAMESPACE: &str = "TaskManagement";

/// How often the aggregates are written: CloudWatch's standard resolution.
pub const INTERVAL: Duration = Duration::from_secs(60);

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Every service's recorder in this process (one in production; the local stack and the
/// tests run several).
static RECORDERS: Mutex<Vec<Arc<Recorder>>> = Mutex::new(Vec::new());

/// When set, documents are kept here instead of written (tests read them back).
static CAPTURED: Mutex<Option<Vec<String>>> = Mutex::new(None);

/// Metrics are written only with JSON logs: a pretty development console doesn't want them.
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// The recorder of `service`, created on first use; the middleware asks once per service.
pub fn recorder(service: &'static str) -> Arc<Recorder> {
    let mut all = RECORDERS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(r) = all.iter().find(|r| r.service == service) {
        return r.clone();
    }
    let r = Arc::new(Recorder::new(service));
    all.push(r.clone());
    r
}

/// Latency bins: bin `i` holds latencies in `[MIN_MS·G^i, MIN_MS·G^(i+1))` ms with G = 1.2,
/// i.e. ±10 % around its midpoint; 100 bins span 10 µs to about 11 minutes (EMF takes at
/// most 100 values per metric). Faster requests fall in bin 0, slower ones in the last.
const BINS: usize = 100;
const MIN_MS: f64 = 0.01;
const GROWTH: f64 = 1.2;

fn bin_of(latency_ms: f64) -> usize {
    if latency_ms <= MIN_MS || latency_ms.is_nan() {
        return 0;
    }
    let i = ((latency_ms / MIN_MS).ln() / GROWTH.ln()) as usize;
    i.min(BINS - 1)
}

/// The value a bin stands for: the geometric middle of its range, in ms.
fn bin_value(i: usize) -> f64 {
    MIN_MS * GROWTH.powf(i as f64 + 0.5)
}

/// Status classes 1xx to 5xx.
const CLASSES: usize = 5;

/// One status class's counters since the last document.
struct ClassStats {
    bins: [AtomicU64; BINS],
    sum_us: AtomicU64,
    min_us: AtomicU64,
    max_us: AtomicU64,
}

impl ClassStats {
    fn new() -> Self {
        Self {
            bins: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
            min_us: AtomicU64::new(u64::MAX),
            max_us: AtomicU64::new(0),
        }
    }
}

/// A service's request counters, per status class, since the last document.
pub struct Recorder {
    service: &'static str,
    classes: [ClassStats; CLASSES],
}

impl Recorder {
    fn new(service: &'static str) -> Self {
        Self {
            service,
            classes: std::array::from_fn(|_| ClassStats::new()),
        }
    }

    /// Counts one request: a few relaxed atomic operations, no allocation, no I/O.
    pub fn record(&self, status: u16, latency_ms: f64) {
        if !ENABLED.load(Ordering::Relaxed) {
            return;
        }
        let class = &self.classes[usize::from(status / 100).clamp(1, CLASSES) - 1];
        let us = (latency_ms * 1000.0).round() as u64;
        class.bins[bin_of(latency_ms)].fetch_add(1, Ordering::Relaxed);
        class.sum_us.fetch_add(us, Ordering::Relaxed);
        class.min_us.fetch_min(us, Ordering::Relaxed);
        class.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// Takes the counters (leaving them at zero) and renders them as one EMF document; `None`
    /// when no request was recorded. A request recorded while this runs lands in this
    /// document or the next: its bin, sum and extremes are taken separately, so the `Max` of
    /// one document may reflect a request its `Counts` leave to the next.
    fn drain(&self, timestamp_ms: u64) -> Option<String> {
        let mut bins = [0u64; BINS];
        let mut by_class = serde_json::Map::new();
        let (mut total, mut errors, mut sum_us) = (0u64, 0u64, 0u64);
        let (mut min_us, mut max_us) = (u64::MAX, 0u64);
        for (c, class) in self.classes.iter().enumerate() {
            let mut count = 0;
            for (i, bin) in class.bins.iter().enumerate() {
                let n = bin.swap(0, Ordering::Relaxed);
                bins[i] += n;
                count += n;
            }
            let class_sum = class.sum_us.swap(0, Ordering::Relaxed);
            let class_min = class.min_us.swap(u64::MAX, Ordering::Relaxed);
            let class_max = class.max_us.swap(0, Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            total += count;
            sum_us += class_sum;
            min_us = min_us.min(class_min);
            max_us = max_us.max(class_max);
            if c == 4 {
                errors = count;
            }
            by_class.insert(
                format!("{}xx", c + 1),
                serde_json::json!({
                    "Count": count,
                    "LatencySumMs": ms(class_sum),
                    "LatencyMaxMs": ms(class_max),
                }),
            );
        }
        if total == 0 {
            return None;
        }
        let (values, counts): (Vec<f64>, Vec<u64>) = bins
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (round3(bin_value(i)), *n))
            .unzip();
        Some(
            serde_json::json!({
                "_aws": {
                    "Timestamp": timestamp_ms,
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
                "Service": self.service,
                "RequestCount": total,
                "Errors": errors,
                "Latency": {
                    "Values": values,
                    "Counts": counts,
                    "Max": ms(max_us),
                    "Min": ms(min_us),
                    "Count": total,
                    "Sum": ms(sum_us),
                },
                "StatusClasses": by_class,
            })
            .to_string(),
        )
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Writes one document per service with requests since the last call (to the capture buffer
/// when capturing). The emitter calls it every [`INTERVAL`] and once more when it stops.
pub fn flush() {
    let recorders = RECORDERS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let now = now_millis();
    let docs: Vec<String> = recorders.iter().filter_map(|r| r.drain(now)).collect();
    if docs.is_empty() {
        return;
    }
    if let Some(lines) = CAPTURED.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        lines.extend(docs);
        return;
    }
    let mut out = std::io::stdout().lock();
    for doc in docs {
        // A metric that cannot be written is not worth failing over.
        let _ = writeln!(out, "{doc}");
    }
    let _ = out.flush();
}

/// The background writer of the documents; stopping it (or dropping it) writes the last
/// interval's.
pub struct Emitter {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Emitter {
    /// Flushes every `interval` on a thread of its own (the runtime's workers never write).
    pub fn start(interval: Duration) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("metrics".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    flush();
                }
                flush();
            })
            .ok();
        Self {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Emitter {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// For tests: enables metrics and keeps the documents in memory instead of writing them.
pub fn capture() {
    *CAPTURED.lock().unwrap_or_else(|p| p.into_inner()) = Some(Vec::new());
    enable(true);
}

/// For tests: flushes, then returns the documents kept since [`capture`], as JSON.
pub fn captured() -> Vec<serde_json::Value> {
    flush();
    CAPTURED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .flatten()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_their_values() {
        assert_eq!(bin_of(0.0), 0);
        assert_eq!(bin_of(f64::NAN), 0);
        assert_eq!(bin_of(1e9), BINS - 1);
        for ms in [0.02, 0.5, 1.0, 3.3, 12.0, 250.0, 9_000.0] {
            let v = bin_value(bin_of(ms));
            assert!((v / ms - 1.0).abs() < 0.1, "{ms} ms in a bin worth {v}");
        }
    }

    #[test]
    fn a_document_aggregates_the_interval_and_declares_its_metrics() {
        enable(true);
        let r = Recorder::new("unit");
        for _ in 0..3 {
            r.record(200, 1.0);
        }
        r.record(404, 2.0);
        r.record(503, 1500.0);
        let v: serde_json::Value = serde_json::from_str(&r.drain(7).unwrap()).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        for m in v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
        {
            let name = m["Name"].as_str().unwrap();
            assert!(v.get(name).is_some(), "{name} declared but missing");
        }
        assert_eq!(v["_aws"]["Timestamp"], 7);
        assert_eq!(v["Service"], "unit");
        assert_eq!(v["RequestCount"], 5);
        assert_eq!(v["Errors"], 1);
        let latency = &v["Latency"];
        let counts: u64 = latency["Counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .sum();
        assert_eq!(counts, 5);
        assert_eq!(latency["Values"].as_array().unwrap().len(), 3);
        assert_eq!(latency["Count"], 5);
        assert_eq!(latency["Max"], 1500.0);
        assert_eq!(latency["Min"], 1.0);
        assert_eq!(latency["Sum"], 1505.0);
        assert_eq!(v["StatusClasses"]["2xx"]["Count"], 3);
        assert_eq!(v["StatusClasses"]["4xx"]["Count"], 1);
        assert_eq!(v["StatusClasses"]["5xx"]["Count"], 1);
        // Drained: the next interval starts empty.
        assert!(r.drain(8).is_none());
    }
}
