//! A TCP proxy that a test puts between a service and what it talks to (PostgreSQL, the auth
//! service), and breaks on demand: new connections refused, live ones reset, a partition
//! where nothing answers, added latency.
//!
//! Not a Toxiproxy-compatible server (such as the `noxious-server` crate): the faults here are
//! four switches the test flips in-process, where a server would add a process to start, an
//! HTTP API to drive and a dependency to keep, for the same four behaviours.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream, tcp::OwnedReadHalf, tcp::OwnedWriteHalf},
    sync::watch,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct Faults {
    /// New connections are reset as soon as they are accepted.
    refuse: bool,
    /// Nothing is forwarded either way (connections are accepted, then silent).
    partition: bool,
    /// Bumped to reset every live connection.
    resets: u64,
}

pub struct FaultProxy {
    /// What a client dials instead of the upstream: `127.0.0.1:<port>`.
    pub port: u16,
    faults: watch::Sender<Faults>,
    latency_ms: Arc<AtomicU64>,
    accept: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy on a free local port forwarding to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let (faults, watching) = watch::channel(Faults::default());
        let latency_ms = Arc::new(AtomicU64::new(0));
        let upstream = upstream.to_owned();
        let latency = latency_ms.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let faults = watching.clone();
                if faults.borrow().refuse {
                    reset(&client);
                    continue;
                }
                tokio::spawn(forward(client, upstream.clone(), faults, latency.clone()));
            }
        });
        Self {
            port,
            faults,
            latency_ms,
            accept,
        }
    }

    /// `url` (a `scheme://user@host:port/…` URL) with this proxy's address in place of its
    /// host and port.
    pub fn url_for(&self, url: &str) -> String {
        let mut parsed = url::Url::parse(url).expect("a URL");
        parsed.set_host(Some("127.0.0.1")).expect("a host");
        parsed.set_port(Some(self.port)).expect("a port");
        parsed.into()
    }

    /// New connections are reset at once (`true`) or forwarded again (`false`).
    pub fn refuse(&self, on: bool) {
        self.faults.send_modify(|f| f.refuse = on);
    }

    /// Resets every connection open now (the peer sees "connection reset").
    pub fn reset_all(&self) {
        self.faults.send_modify(|f| f.resets += 1);
    }

    /// Nothing passes either way while on; connections are held, not closed, as when a
    /// network path is cut.
    pub fn partition(&self, on: bool) {
        self.faults.send_modify(|f| f.partition = on);
    }

    /// Each chunk waits this long before it is passed on, both ways.
    pub fn latency(&self, delay: Duration) {
        self.latency_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Ends every forwarding task: each watches the sender.
        self.faults.send_modify(|f| f.resets += 1);
    }
}

/// Closes with RST rather than FIN, as a crashed peer or a middlebox does.
fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

async fn forward(
    client: TcpStream,
    upstream: String,
    mut faults: watch::Receiver<Faults>,
    latency: Arc<AtomicU64>,
) {
    let resets = faults.borrow_and_update().resets;
    let Ok(server) = TcpStream::connect(&upstream).await else {
        reset(&client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let (up, down) = (faults.clone(), faults.clone());
    let reset_asked = tokio::select! {
        _ = async {
            tokio::join!(
                pipe(&mut client_read, &mut server_write, up, latency.clone()),
                pipe(&mut server_read, &mut client_write, down, latency),
            )
        } => false,
        changed = faults.wait_for(|f| f.resets != resets) => changed.is_ok(),
    };
    if reset_asked {
        reset(client_read.as_ref());
        reset(server_read.as_ref());
    }
}

/// One direction of a connection, until either side closes it.
async fn pipe(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    mut faults: watch::Receiver<Faults>,
    latency: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if faults.wait_for(|f| !f.partition).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        let delay = latency.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if faults.wait_for(|f| !f.partition).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
