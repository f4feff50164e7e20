//! SIGTERM under keep-alive load, on the real auth binary: every request a client sent on an
//! open connection gets a complete response (before the signal, or after it with
//! `Connection: close`), including one sent on a connection that sat idle across the signal;
//! and the process exits 0 within its budget.

use std::{
    io::{self, Read, Write},
    net::TcpStream,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use testkit::{
    db::{Backend, TestDb},
    process::{ServiceProcess, env, workspace_binary},
};

const REQUEST: &[u8] = b"GET /auth/health HTTP/1.1\r\nHost: x\r\n\r\n";
const SHUTDOWN_TIMEOUT_SECS: u64 = 10;

/// Reads one response; whether it says `Connection: close`. An error means it was incomplete.
fn read_response(s: &mut TcpStream) -> io::Result<bool> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    if !head.starts_with("http/1.1 200") {
        return Err(io::Error::other(format!("not a 200: {head}")));
    }
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| io::Error::other("no content-length"))?;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok(head.contains("connection: close"))
}

#[derive(Debug, Default)]
struct Tally {
    answered: usize,
    answered_after_signal: usize,
    closed_by_server: usize,
    /// Requests written on an open connection that got no complete response.
    lost: Vec<String>,
}

/// Sends requests in a loop, one connection at a time, until a new connection is refused
/// after the signal.
fn client(port: u16, signalled: Arc<AtomicBool>) -> Tally {
    let mut tally = Tally::default();
    loop {
        let after = signalled.load(Ordering::SeqCst);
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            assert!(after, "connection refused before the signal");
            return tally;
        };
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        loop {
            let after = signalled.load(Ordering::SeqCst);
            let sent = s.write_all(REQUEST).and_then(|()| read_response(&mut s));
            match sent {
                Ok(close) => {
                    tally.answered += 1;
                    // `after` is read before the request is written; a loaded server may take
                    // the signal while that request waits, and a `Connection: close` answer
                    // proves it was served after the signal.
                    tally.answered_after_signal += usize::from(after || close);
                    if close {
                        tally.closed_by_server += 1;
                        break;
                    }
                }
                Err(e) => {
                    tally
                        .lost
                        .push(format!("{e} (sent after the signal: {after})"));
                    break;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_under_keep_alive_load_loses_no_request() {
    let db = TestDb::new(Backend::Sqlite).await;
    let timeout = SHUTDOWN_TIMEOUT_SECS.to_string();
    let vars = env(&[
        ("DATABASE_URL", &db.url),
        ("SHUTDOWN_TIMEOUT_SECS", &timeout),
    ]);
    let mut auth = ServiceProcess::start(&workspace_binary("auth"), &vars, "/auth/health").await;
    let port = auth.port;
    let signalled = Arc::new(AtomicBool::new(false));

    let busy: Vec<_> = (0..4)
        .map(|_| {
            let signalled = signalled.clone();
            std::thread::spawn(move || client(port, signalled))
        })
        .collect();
    // A pooled connection that is idle when the signal comes and used a second later.
    let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    idle.write_all(REQUEST).unwrap();
    assert!(
        !read_response(&mut idle).unwrap(),
        "kept alive before the signal"
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    signalled.store(true, Ordering::SeqCst);
    auth.terminate();
    tokio::time::sleep(Duration::from_secs(1)).await;
    idle.write_all(REQUEST)
        .expect("the idle connection is still open");
    let close = read_response(&mut idle).expect("the idle connection's request is answered");
    assert!(close, "answered with Connection: close");

    let status = auth
        .wait_exit(Duration::from_secs(SHUTDOWN_TIMEOUT_SECS + 1))
        .await;
    assert!(status.success(), "{status}");

    for handle in busy {
        let tally = handle.join().unwrap();
        assert!(tally.lost.is_empty(), "{tally:?}");
        assert!(tally.answered > 0, "{tally:?}");
        assert!(tally.answered_after_signal > 0, "{tally:?}");
        assert_eq!(tally.closed_by_server, 1, "{tally:?}");
    }
}
