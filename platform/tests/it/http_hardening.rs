//! The shared HTTP plumbing against a tiny API, served in-process by `platform::http::server` on a
//! real socket with short limits: slow and silent clients, shutdown, the connection cap,
//! panics, security headers, `Allow`, duplicate `Authorization`, client address.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use platform::{
    http::deadlines::Limits,
    http::middleware::{self, Settings},
    http::server::{self, ServeOptions},
};
use poem::{Endpoint, Request};
use poem_openapi::{
    OpenApi, OpenApiService,
    param::Path,
    payload::{Json, PlainText},
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
    task::JoinHandle,
};

struct Api;

#[OpenApi]
impl Api {
    #[oai(path = "/t/ok", method = "get")]
    async fn ok(&self) -> Json<Value> {
        Json(json!({"ok": true}))
    }

    #[oai(path = "/t/echo", method = "post")]
    async fn echo(&self, body: Json<Value>) -> Json<Value> {
        body
    }

    #[oai(path = "/t/panic", method = "get")]
    async fn panic(&self) -> Json<Value> {
        panic!("secret internal detail at /srv/app/src/db.rs")
    }

    #[oai(path = "/t/token", method = "post")]
    async fn token(&self, req: &Request) -> Json<Value> {
        middleware::no_store(req);
        Json(json!({"token": "t"}))
    }

    #[oai(path = "/t/items/:id", method = "get")]
    async fn item(&self, id: Path<i64>) -> Json<i64> {
        Json(id.0)
    }

    #[oai(path = "/t/items/:id", method = "delete")]
    async fn delete_item(&self, id: Path<i64>) -> Json<i64> {
        Json(id.0)
    }

    #[oai(path = "/t/ip", method = "get")]
    async fn ip(&self, req: &Request) -> PlainText<String> {
        PlainText(
            middleware::client_ip(req)
                .map(|ip| ip.to_string())
                .unwrap_or_default(),
        )
    }
}

fn app(service: &'static str) -> impl Endpoint {
    server::service_routes(
        OpenApiService::new(Api, "test", "1"),
        "/t",
        (),
        Settings {
            service,
            cors_origins: vec!["https://app.example".into()],
            body_limit: 1024,
        },
    )
}

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(options: ServeOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(server::serve(
            listener,
            app("test"),
            async {
                let _ = stopped.await;
            },
            options,
        ));
        Self {
            addr,
            stop: Some(stop),
            handle,
        }
    }

    /// Starts shutdown and waits (bounded, so a hang fails instead of blocking) for `serve`
    /// to return.
    async fn shut_down(mut self, bound: Duration) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(bound, self.handle)
            .await
            .expect("serve returns")
            .unwrap()
            .unwrap();
    }
}

fn options(limits: Limits) -> ServeOptions {
    ServeOptions {
        grace: Duration::from_secs(60),
        drain: Duration::ZERO,
        limits,
        trusted_proxy_hops: 0,
    }
}

fn short() -> Limits {
    Limits {
        header_read: Duration::from_millis(300),
        body_read: Duration::from_millis(300),
        keep_alive_idle: Duration::from_millis(600),
        max_connections: 64,
    }
}

/// Everything the server sends until it closes the connection; panics if it never does.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "server kept the connection open");
    String::from_utf8_lossy(&out).into_owned()
}

async fn raw(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    s
}

#[tokio::test]
async fn a_half_sent_header_is_closed_after_the_header_timeout() {
    let server = Running::start(options(short())).await;
    let mut s = raw(server.addr, b"GET /t/ok HTTP/1.1\r\nHost: x\r\n").await;
    let got = read_until_closed(&mut s).await;
    assert!(!got.contains("200 OK"), "{got}");
    server.shut_down(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_client_that_sends_nothing_is_closed() {
    let server = Running::start(options(short())).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(read_until_closed(&mut s).await, "");
    server.shut_down(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_its_response() {
    let server = Running::start(options(short())).await;
    let mut s = raw(server.addr, b"GET /t/ok HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let got = read_until_closed(&mut s).await;
    assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
    assert!(
        !got.to_ascii_lowercase().contains("connection: close"),
        "{got}"
    );
    server.shut_down(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn keep_alive_outlasts_the_header_timeout() {
    let limits = Limits {
        keep_alive_idle: Duration::from_secs(30),
        ..short()
    };
    let server = Running::start(options(limits)).await;
    let mut s = raw(server.addr, b"GET /t/ok HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
    // Idle for longer than the header timeout: still open for the next request.
    tokio::time::sleep(Duration::from_millis(900)).await;
    s.write_all(b"GET /t/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let got = read_until_closed(&mut s).await;
    assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
    server.shut_down(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_body_that_never_comes_is_answered_408_and_closed() {
    let server = Running::start(options(short())).await;
    let mut s = raw(
        server.addr,
        b"POST /t/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n{",
    )
    .await;
    let got = read_until_closed(&mut s).await;
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains(r#""error":"Request Timeout""#), "{got}");
    server.shut_down(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_stalled_upload() {
    let limits = Limits {
        body_read: Duration::from_secs(120),
        ..short()
    };
    // Grace 60 s, body timeout 120 s: returning within the bound below means the upload was
    // cut off, not waited for.
    let server = Running::start(options(limits)).await;
    let mut s = raw(
        server.addr,
        b"POST /t/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"a\":",
    )
    .await;
    // Let the handler start reading the body.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = tokio::spawn(async move { read_until_closed(&mut s).await });
    server.shut_down(Duration::from_secs(20)).await;
    let got = client.await.unwrap();
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
}

#[tokio::test]
async fn shutdown_lets_a_request_in_progress_finish_and_closes_idle_connections() {
    let limits = Limits {
        keep_alive_idle: Duration::from_secs(120),
        header_read: Duration::from_secs(120),
        ..short()
    };
    let server = Running::start(options(limits)).await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let mut s = raw(
        server.addr,
        b"POST /t/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 8\r\n\r\n{\"a\":",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stop = tokio::spawn(server.shut_down(Duration::from_secs(20)));
    // The idle connection is closed at once; the other one's body was cut off (503).
    assert_eq!(read_until_closed(&mut idle).await, "");
    let got = read_until_closed(&mut s).await;
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    stop.await.unwrap();
}

#[tokio::test]
async fn connections_over_the_cap_wait_for_a_free_slot() {
    let limits = Limits {
        max_connections: 1,
        header_read: Duration::from_secs(120),
        keep_alive_idle: Duration::from_secs(120),
        ..short()
    };
    let server = Running::start(options(limits)).await;
    // A kept-alive connection that has served a request holds its slot (never shed).
    let mut first = raw(server.addr, b"GET /t/ok HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut buf = [0u8; 4096];
    let n = first.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
    let mut second = raw(
        server.addr,
        b"GET /t/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let early = tokio::time::timeout(Duration::from_millis(500), second.read(&mut buf)).await;
    assert!(early.is_err(), "answered beyond the cap");
    drop(first);
    let got = read_until_closed(&mut second).await;
    assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
    server.shut_down(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn at_the_cap_the_oldest_silent_connection_is_shed_for_a_new_client() {
    let limits = Limits {
        max_connections: 2,
        header_read: Duration::from_secs(120),
        ..short()
    };
    let server = Running::start(options(limits)).await;
    let mut oldest = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut younger = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Answered although both slots hold silent clients and their header timeout is 120 s.
    let mut client = raw(
        server.addr,
        b"GET /t/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let got = read_until_closed(&mut client).await;
    assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
    assert_eq!(
        read_until_closed(&mut oldest).await,
        "",
        "the oldest was shed"
    );
    // The younger one is still open: only one was shed.
    let mut buf = [0u8; 1];
    let still = tokio::time::timeout(Duration::from_millis(300), younger.read(&mut buf)).await;
    assert!(
        still.is_err(),
        "the younger silent connection was closed too"
    );
    server.shut_down(Duration::from_secs(10)).await;
}

// ---- in-process, without a socket ----

fn request(method: &str, path: &str) -> poem::RequestBuilder {
    Request::builder()
        .method(method.parse().unwrap())
        .uri(path.parse().unwrap())
}

async fn call(ep: &impl Endpoint, req: Request) -> (poem::Response, Value) {
    let resp = ep.get_response(req).await;
    let (parts, body) = resp.into_parts();
    let bytes = body.into_vec().await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (poem::Response::from_parts(parts, poem::Body::empty()), json)
}

/// A writer the JSON log layer can share with the test.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

#[tokio::test]
async fn a_panicking_handler_answers_500_in_the_envelope_logs_and_counts_it() {
    use tracing_subscriber::prelude::*;
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber =
        tracing_subscriber::registry().with(platform::process::telemetry::json_layer(move || {
            writer.clone()
        }));
    let _guard = tracing::subscriber::set_default(subscriber);
    platform::process::metrics::capture();

    let ep = app("panicky");
    let (resp, body) = call(
        &ep,
        request("GET", "/t/panic")
            .header("x-request-id", "req-panic-1")
            .finish(),
    )
    .await;

    assert_eq!(resp.status(), 500);
    assert_eq!(
        body,
        json!({"error": "Internal Server Error", "message": "Internal server error"})
    );
    assert_eq!(resp.headers()["x-request-id"], "req-panic-1");
    let lines = logs.lines();
    let of_request = |l: &&Value| l["span"]["request_id"] == "req-panic-1";
    assert!(
        lines
            .iter()
            .filter(of_request)
            .any(|l| l["level"] == "ERROR" && l["message"] == "handler panicked"),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .filter(of_request)
            .any(|l| l["message"] == "request completed" && l["status"] == 500),
        "{lines:#?}"
    );
    let metrics: Vec<Value> = platform::process::metrics::captured()
        .into_iter()
        .filter(|m| m["Service"] == "panicky")
        .collect();
    // One document for the interval, counting the panic as an error (a 5xx).
    assert_eq!(metrics.len(), 1, "{metrics:?}");
    assert_eq!(metrics[0]["RequestCount"], 1);
    assert_eq!(metrics[0]["Errors"], 1);
    assert_eq!(metrics[0]["StatusClasses"]["5xx"]["Count"], 1);
    assert_eq!(metrics[0]["Latency"]["Count"], 1);
}

#[tokio::test]
async fn every_response_carries_nosniff() {
    let ep = app("test");
    for req in [
        request("GET", "/t/ok").finish(),
        request("GET", "/nope").finish(),
        request("PUT", "/t/ok").finish(),
        request("GET", "/t/docs").finish(),
        request("GET", "/t/openapi.json").finish(),
        request("OPTIONS", "/t/ok")
            .header("origin", "https://app.example")
            .header("access-control-request-method", "GET")
            .finish(),
    ] {
        let path = req.uri().path().to_owned();
        let (resp, _) = call(&ep, req).await;
        assert_eq!(
            resp.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
}

#[tokio::test]
async fn only_a_response_its_handler_marked_gets_no_store() {
    let ep = app("test");
    let (resp, body) = call(&ep, request("POST", "/t/token").finish()).await;
    assert_eq!(body["token"], "t");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let (resp, _) = call(&ep, request("GET", "/t/ok").finish()).await;
    assert!(resp.headers().get("cache-control").is_none());
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow_in_the_envelope() {
    let ep = app("test");
    let cases = [
        ("PUT", "/t/ok", "GET, HEAD"),
        ("POST", "/t/items/5", "GET, HEAD, DELETE"),
        ("POST", "/t/openapi.json", "GET, HEAD"),
        ("DELETE", "/t/docs", "GET, HEAD"),
        ("TRACE", "/t/docs", "GET, HEAD"),
        ("PUT", "/t/docs/oauth-receiver.html", "GET, HEAD"),
    ];
    for (method, path, allow) in cases {
        let (resp, body) = call(&ep, request(method, path).finish()).await;
        assert_eq!(resp.status(), 405, "{method} {path}");
        assert_eq!(resp.headers()["allow"], allow, "{method} {path}");
        assert_eq!(body["error"], "Method Not Allowed", "{method} {path}");
    }
    let (resp, _) = call(&ep, request("HEAD", "/t/openapi.json").finish()).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn two_authorization_headers_are_a_400() {
    let ep = app("test");
    let (resp, body) = call(
        &ep,
        request("GET", "/t/ok")
            .header("authorization", "Bearer a")
            .header("authorization", "Bearer b")
            .finish(),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(body["error"], "Bad Request");
    assert_eq!(body["message"], "Only one Authorization header is allowed");
}

#[tokio::test]
async fn a_path_number_outside_i64_is_a_400() {
    let ep = app("test");
    let (resp, body) = call(&ep, request("GET", "/t/items/9223372036854775808").finish()).await;
    assert_eq!(resp.status(), 400, "{body}");
    assert_eq!(body["error"], "Bad Request");
    let (resp, _) = call(
        &ep,
        request("GET", "/t/items/-9223372036854775808").finish(),
    )
    .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn the_client_address_follows_trusted_proxy_hops() {
    for (hops, expected) in [(0, "127.0.0.1"), (1, "203.0.113.9")] {
        let server = Running::start(ServeOptions {
            trusted_proxy_hops: hops,
            ..options(short())
        })
        .await;
        let mut s = raw(
            server.addr,
            b"GET /t/ip HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6, 203.0.113.9\r\n\
              Connection: close\r\n\r\n",
        )
        .await;
        let got = read_until_closed(&mut s).await;
        assert!(got.ends_with(expected), "hops {hops}: {got}");
        server.shut_down(Duration::from_secs(10)).await;
    }
}

#[tokio::test]
async fn framework_errors_keep_their_specific_messages() {
    let ep = app("test");
    let (resp, body) = call(&ep, request("GET", "/t/items/abc").finish()).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        body["details"][0]["message"], "must be an integer id",
        "{body}"
    );
    let (resp, body) = call(
        &ep,
        request("POST", "/t/echo")
            .content_type("application/json")
            .body("{"),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Malformed JSON body"),
        "{body}"
    );
}
