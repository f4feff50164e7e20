//! Load at a fixed rate over a few keep-alive connections, as a load balancer sends it (an
//! ALB keeps a handful of connections per target): latency at a realistic load rather than
//! at saturation. wrk2 does this but is not packaged by Debian, so the harness does it itself.
//!
//! A pacing thread releases request `k` at `start + k / rate`; each connection takes the
//! next released request when it is free. Latency is measured from the release time, not
//! from when a connection got round to sending, so a stall counts for every request it
//! delayed (no coordinated omission). Percentiles come from every latency, sorted.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, body::Bytes};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::sync::{Mutex, mpsc};

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

pub struct RateArgs<'a> {
    pub addr: SocketAddr,
    pub path: &'a str,
    pub headers: &'a [(String, String)],
    pub connections: u32,
    pub rps: u32,
    pub duration: Duration,
}

/// GETs `path` at `rps` requests per second over `connections` keep-alive connections.
pub fn run(a: RateArgs) -> anyhow::Result<RateStats> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(drive(a))
}

async fn drive(a: RateArgs<'_>) -> anyhow::Result<RateStats> {
    let host = a.addr.to_string();
    let mut request = Request::get(a.path).header("host", &host);
    for (k, v) in a.headers {
        request = request.header(k.as_str(), v.as_str());
    }
    let template = request.body(Empty::<Bytes>::new())?;

    // Released requests, as their release times. Unbounded: when the service falls behind,
    // the backlog (and so the latency) grows, as it would for real clients.
    let (tx, rx) = mpsc::unbounded_channel::<Instant>();
    let rx = Arc::new(Mutex::new(rx));
    let mut workers = Vec::new();
    for _ in 0..a.connections.max(1) {
        let stream = tokio::net::TcpStream::connect(a.addr)
            .await
            .with_context(|| format!("cannot connect to {}", a.addr))?;
        stream.set_nodelay(true)?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let rx = rx.clone();
        let template = template.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            loop {
                let Some(released) = rx.lock().await.recv().await else {
                    break;
                };
                let ok = match sender.ready().await {
                    Ok(()) => match sender.send_request(template.clone()).await {
                        Ok(res) => {
                            let status = res.status();
                            res.into_body().collect().await.is_ok() && status.as_u16() < 400
                        }
                        Err(_) => false,
                    },
                    Err(_) => false,
                };
                latencies.push(released.elapsed().as_micros() as u64);
                if !ok {
                    errors += 1;
                    if sender.is_closed() {
                        break;
                    }
                }
            }
            (latencies, errors)
        }));
    }

    let (rps, duration) = (a.rps.max(1), a.duration);
    let pacer = std::thread::spawn(move || {
        let period = Duration::from_secs(1) / rps;
        let start = Instant::now();
        let mut k = 0u32;
        loop {
            let at = start + period * k;
            if at >= start + duration {
                break;
            }
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
            if tx.send(at).is_err() {
                break;
            }
            k += 1;
        }
        start
    });
    let start = tokio::task::spawn_blocking(move || pacer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the pacing thread panicked"))?;

    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await?;
        all.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let at = |q: f64| -> u64 {
        if all.is_empty() {
            0
        } else {
            all[((all.len() as f64 * q).ceil() as usize).clamp(1, all.len()) - 1]
        }
    };
    Ok(RateStats {
        target_rps: a.rps,
        connections: a.connections,
        requests: all.len() as u64,
        achieved_rps: all.len() as f64 / elapsed,
        errors,
        p50_us: at(0.50),
        p90_us: at(0.90),
        p99_us: at(0.99),
        p999_us: at(0.999),
        max_us: all.last().copied().unwrap_or(0),
    })
}
