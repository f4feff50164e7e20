//! A client speaking raw bytes over TCP, for what an HTTP client library will not send.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

/// Sends `bytes`, then reads until the server closes; panics if it has not within `bound`
/// (the bound only keeps a regression from hanging the run).
pub fn closed_after(port: u16, bytes: &[u8], bound: Duration) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(bound)).expect("read timeout");
    s.write_all(bytes).expect("write");
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("connection still open after {bound:?} ({e}); got {out:?}"),
    }
    String::from_utf8_lossy(&out).into_owned()
}
