//! Steady load on the task service while a fault comes and goes: clients each looping a
//! keyed `POST /tasks` (a key retried, as a careful client does, until it is answered) and a
//! `GET /tasks?limit=5`, every answer noted with when it came.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::watch;

/// What one request got.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When it was sent, from the start of the load.
    pub sent: Duration,
    pub method: &'static str,
    /// The status, or the transport error (a reset, a timeout) as text.
    pub answer: Result<u16, String>,
    pub retry_after: Option<String>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        matches!(self.answer, Ok(s) if (200..300).contains(&s))
    }
}

/// A keyed write the service acknowledged: the key (also the task's title) and the task id.
#[derive(Debug, Clone)]
pub struct Acked {
    pub key: String,
    pub id: i64,
}

pub struct Load {
    started: Instant,
    stop: watch::Sender<bool>,
    clients: Vec<tokio::task::JoinHandle<(Vec<Outcome>, Vec<Acked>)>>,
}

/// How long a client waits for an answer before it counts the request as hung.
pub const HANG_AFTER: Duration = Duration::from_secs(10);

impl Load {
    /// `clients` loops against the task service at `base` with `token`; keys start with
    /// `prefix`.
    pub fn start(base: &str, token: &str, clients: usize, prefix: &str) -> Self {
        let (stop, stopped) = watch::channel(false);
        let started = Instant::now();
        let http = reqwest::Client::builder()
            .timeout(HANG_AFTER)
            .build()
            .expect("HTTP client");
        let clients = (0..clients)
            .map(|c| {
                let client = Client {
                    http: http.clone(),
                    base: base.to_owned(),
                    token: token.to_owned(),
                    started,
                };
                let prefix = format!("{prefix}-{c}");
                tokio::spawn(client.run(prefix, stopped.clone()))
            })
            .collect();
        Self {
            started,
            stop,
            clients,
        }
    }

    /// Time since the load started (the clock of [`Outcome::sent`]).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops the clients after their current request; every outcome and acknowledged write.
    pub async fn finish(self) -> (Vec<Outcome>, Vec<Acked>) {
        let _ = self.stop.send(true);
        let mut outcomes = Vec::new();
        let mut acked = Vec::new();
        for c in self.clients {
            let (o, a) = c.await.expect("load client");
            outcomes.extend(o);
            acked.extend(a);
        }
        outcomes.sort_by_key(|o| o.sent);
        (outcomes, acked)
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    started: Instant,
}

impl Client {
    async fn run(
        self,
        prefix: String,
        mut stop: watch::Receiver<bool>,
    ) -> (Vec<Outcome>, Vec<Acked>) {
        let mut outcomes = Vec::new();
        let mut acked = Vec::new();
        let mut written = 0u64;
        let mut pending: Option<String> = None;
        while !*stop.borrow() {
            let key = pending.take().unwrap_or_else(|| {
                written += 1;
                format!("{prefix}-{written}")
            });
            let (outcome, id) = self.post(&key).await;
            let wait = match id {
                Some(id) => {
                    acked.push(Acked { key, id });
                    Duration::ZERO
                }
                None => {
                    pending = Some(key);
                    // A Retry-After is honoured; otherwise a short pause.
                    outcome
                        .retry_after
                        .as_deref()
                        .and_then(|s| s.parse().ok())
                        .map_or(Duration::from_millis(100), Duration::from_secs)
                }
            };
            outcomes.push(outcome);
            outcomes.push(self.list().await);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
        (outcomes, acked)
    }

    async fn post(&self, key: &str) -> (Outcome, Option<i64>) {
        let sent = self.started.elapsed();
        let result = self
            .http
            .post(format!("{}/tasks", self.base))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", key)
            .json(&json!({"title": key}))
            .send()
            .await;
        match result {
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = retry_after(&r);
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                let id = (status == 200 || status == 201)
                    .then(|| body["task"]["id"].as_i64())
                    .flatten();
                (
                    Outcome {
                        sent,
                        method: "POST",
                        answer: Ok(status),
                        retry_after,
                    },
                    id,
                )
            }
            Err(e) => (transport_error(sent, "POST", &e), None),
        }
    }

    async fn list(&self) -> Outcome {
        let sent = self.started.elapsed();
        match self
            .http
            .get(format!("{}/tasks?limit=5", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
        {
            Ok(r) => Outcome {
                sent,
                method: "GET",
                answer: Ok(r.status().as_u16()),
                retry_after: retry_after(&r),
            },
            Err(e) => transport_error(sent, "GET", &e),
        }
    }
}

fn retry_after(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn transport_error(sent: Duration, method: &'static str, e: &reqwest::Error) -> Outcome {
    let what = if e.is_timeout() {
        format!("no answer within {} s", HANG_AFTER.as_secs())
    } else {
        format!("{e:?}")
    };
    Outcome {
        sent,
        method,
        answer: Err(what),
        retry_after: None,
    }
}
