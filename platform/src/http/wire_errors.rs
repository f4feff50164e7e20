//! The envelope for the answers hyper gives on its own.
//!
//! A request head hyper cannot parse (bad bytes in a header, two different `Content-Length`s,
//! a malformed request line, too many or too large headers) never reaches the app: hyper
//! writes `400`, `431` or `414` with `content-length: 0` itself and closes the connection, and
//! has no hook to change that response. [`EnvelopeIo`] sits between hyper and the socket and
//! swaps that one response, byte for byte recognisable, for the same status in the contract's
//! envelope.
//!
//! Why recognising the bytes is sound: hyper writes its automatic response only when nothing
//! else is being written (its writer is idle), flattened into one buffer (`writev(false)`, set
//! by the server) that it hands over whole, so the response is always the exact tail of a
//! `poll_write`; and it is the last thing written on the connection. It is a status line
//! followed directly by `content-length: 0` and `date` (with at most `connection: close`
//! before them) and nothing after, which no response of the app can be:
//! every one of those carries `x-request-id` and `x-content-type-options` first, and its error
//! bodies are JSON, which cannot hold a raw CR LF.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use poem::http::StatusCode;
use poem_openapi::types::ToJSON;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::error::ApiError;

/// The request-head limits named in the 431 message: hyper's default number of header
/// fields, and the size the server sets (the load balancer's own limit is 64 KB).
pub const MAX_HEADERS: usize = 100;
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// `Sun, 06 Nov 1994 08:49:37 GMT`
const DATE_LEN: usize = 29;

/// The answers hyper can give on its own (hyper's `Server::on_error`), by their status line,
/// and what the envelope says instead.
const AUTOMATIC: [(&[u8], StatusCode, &str); 3] = [
    (
        b"HTTP/1.1 400 Bad Request\r\n",
        StatusCode::BAD_REQUEST,
        "The request could not be parsed as HTTP/1.1: a malformed request line, a header \
         with invalid characters, or conflicting Content-Length or Transfer-Encoding headers",
    ),
    (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        // Kept in step with MAX_HEADERS and MAX_HEAD_BYTES (a unit test checks).
        "The request headers are too large: at most 100 header fields and 64 KiB for the \
         request line and headers together",
    ),
    (
        b"HTTP/1.1 414 URI Too Long\r\n",
        StatusCode::URI_TOO_LONG,
        "The request target is too long",
    ),
];

/// The headers hyper writes after the status line of an automatic response, up to the date:
/// `connection: close` when the request's connection was to be kept alive.
const HEADERS: [&[u8]; 2] = [
    b"connection: close\r\ncontent-length: 0\r\ndate: ",
    b"content-length: 0\r\ndate: ",
];

/// Where hyper's automatic response starts in `buf`, if `buf` ends with one, its status,
/// message and date.
fn automatic_response(buf: &[u8]) -> Option<(usize, StatusCode, &'static str, &[u8])> {
    const END: &[u8] = b" GMT\r\n\r\n";
    if !buf.ends_with(END) {
        return None;
    }
    let date = &buf[buf.len().checked_sub(DATE_LEN + 4)?..buf.len() - 4];
    let before_date = &buf[..buf.len() - DATE_LEN - 4];
    let headers = HEADERS.iter().find(|h| before_date.ends_with(h))?;
    let before_headers = &before_date[..before_date.len() - headers.len()];
    AUTOMATIC.iter().find_map(|&(line, status, message)| {
        before_headers
            .ends_with(line)
            .then(|| (before_headers.len() - line.len(), status, message, date))
    })
}

/// The replacement: the same status, in the envelope, closing the connection as hyper does.
fn envelope(status: StatusCode, message: &str, date: &[u8]) -> Vec<u8> {
    let body = ApiError::new(status, message).body().to_json_string();
    let request_id = uuid::Uuid::new_v4();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json; charset=utf-8\r\n\
         content-length: {}\r\nx-request-id: {request_id}\r\n\
         x-content-type-options: nosniff\r\nconnection: close\r\ndate: ",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default(),
        body.len(),
    )
    .into_bytes();
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body.as_bytes());
    tracing::info!(
        status = status.as_u16(),
        request_id = %request_id,
        "request head rejected by the HTTP parser"
    );
    out
}

/// A connection's IO with hyper's automatic error responses put in the envelope.
pub struct EnvelopeIo<T> {
    inner: T,
    /// The replacement response and how much of it is written. hyper has already been told
    /// its own response was written; flush and shutdown finish this first.
    pending: Vec<u8>,
    written: usize,
}

impl<T> EnvelopeIo<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            written: 0,
        }
    }
}

impl<T: AsyncWrite + Unpin> EnvelopeIo<T> {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for EnvelopeIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for EnvelopeIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        match automatic_response(buf) {
            // What precedes it (the end of an earlier response) goes out unchanged first.
            Some((start, ..)) if start > 0 => {
                Pin::new(&mut this.inner).poll_write(cx, &buf[..start])
            }
            Some((_, status, message, date)) => {
                this.pending = envelope(status, message, date);
                this.written = 0;
                // Best effort now; flush or shutdown finish it.
                let _ = this.poll_pending(cx)?;
                Poll::Ready(Ok(buf.len()))
            }
            None => Pin::new(&mut this.inner).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &[u8] = b"Sun, 29 Nov 2026 23:08:05 GMT";

    fn hyper_answer(status: &str) -> Vec<u8> {
        let mut b =
            format!("HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: 0\r\ndate: ")
                .into_bytes();
        b.extend_from_slice(DATE);
        b.extend_from_slice(b"\r\n\r\n");
        b
    }

    #[test]
    fn recognises_each_automatic_answer_and_only_at_the_end() {
        for (status, code) in [
            ("400 Bad Request", 400),
            ("431 Request Header Fields Too Large", 431),
            ("414 URI Too Long", 414),
        ] {
            let mut buf = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec();
            let start = buf.len();
            buf.extend(hyper_answer(status));
            let (at, found, _, date) = automatic_response(&buf).expect(status);
            assert_eq!((at, found.as_u16(), date), (start, code, DATE));
            buf.extend_from_slice(b"x");
            assert!(automatic_response(&buf).is_none());
            // Without `connection: close` (a request that was not to be kept alive).
            let mut plain =
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\ndate: ").into_bytes();
            plain.extend_from_slice(DATE);
            plain.extend_from_slice(b"\r\n\r\n");
            assert_eq!(automatic_response(&plain).map(|r| r.0), Some(0), "{status}");
        }
        // An app response: other headers come before content-length.
        let mut app =
            b"HTTP/1.1 400 Bad Request\r\nx-request-id: a\r\ncontent-length: 0\r\ndate: ".to_vec();
        app.extend_from_slice(DATE);
        app.extend_from_slice(b"\r\n\r\n");
        assert!(automatic_response(&app).is_none());
    }

    #[test]
    fn the_431_message_names_the_limits() {
        let message = AUTOMATIC[1].2;
        assert!(message.contains(&format!("at most {MAX_HEADERS} header fields")));
        assert!(message.contains(&format!("{} KiB", MAX_HEAD_BYTES / 1024)));
    }

    #[tokio::test]
    async fn replaces_the_answer_with_the_envelope_after_what_precedes_it() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, server) = tokio::io::duplex(64 * 1024);
        let mut io = EnvelopeIo::new(server);
        let mut buf = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec();
        buf.extend(hyper_answer("431 Request Header Fields Too Large"));
        io.write_all(&buf).await.unwrap();
        io.shutdown().await.unwrap();
        drop(io);
        let mut out = String::new();
        let mut client = client;
        client.read_to_string(&mut out).await.unwrap();
        let (first, second) = out.split_at(out.find("HTTP/1.1 431").unwrap());
        assert_eq!(first, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}");
        let (head, body) = second.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("connection: close"), "{head}");
        assert!(head.contains("x-request-id: "), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"], "Request Header Fields Too Large");
        assert!(body["message"].as_str().unwrap().contains("64 KiB"));
    }
}
