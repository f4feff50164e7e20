//! Requests the HTTP parser rejects before any handler runs, sent over raw TCP to the real
//! auth binary: each answer is the contract's JSON envelope, never an empty body. And an XML
//! body is a 415, so the XML parser poem-openapi carries (quick-xml, deny.toml) is never run.

use std::time::Duration;

use serde_json::Value;
use testkit::{
    db::{Backend, TestDb},
    process::{ServiceProcess, env, workspace_binary},
    raw::closed_after,
};

async fn start_auth(db: &TestDb) -> ServiceProcess {
    let vars = env(&[("DATABASE_URL", &db.url), ("BCRYPT_COST", "4")]);
    ServiceProcess::start(&workspace_binary("auth"), &vars, "/auth/health").await
}

/// Sends `bytes` and reads until the server closes the connection.
fn exchange(port: u16, bytes: &[u8]) -> String {
    closed_after(port, bytes, Duration::from_secs(20))
}

/// The responses in `raw`, in order: (status, lower-cased head, body).
fn responses(raw: &str) -> Vec<(u16, String, String)> {
    let mut rest = raw;
    let mut out = Vec::new();
    while let Some((head, after)) = rest.split_once("\r\n\r\n") {
        let head = head.to_ascii_lowercase();
        let status = head[9..12].parse().expect("status");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.trim().parse().expect("content-length"));
        let (body, next) = after.split_at(len);
        out.push((status, head, body.to_owned()));
        rest = next;
    }
    assert!(rest.is_empty(), "trailing bytes: {rest:?}");
    out
}

/// One response with `status` and the envelope whose `error` is `reason`; its message.
fn assert_envelope(raw: &str, status: u16, reason: &str) -> String {
    let all = responses(raw);
    assert_eq!(all.len(), 1, "{raw}");
    let (got, head, body) = &all[0];
    assert_eq!(*got, status, "{raw}");
    assert!(head.contains("content-type: application/json"), "{raw}");
    assert!(head.contains("x-request-id: "), "{raw}");
    assert!(head.contains("x-content-type-options: nosniff"), "{raw}");
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {raw}"));
    assert_eq!(body["error"], reason, "{raw}");
    body["message"].as_str().expect("message").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_the_parser_rejects_get_the_envelope() {
    let db = TestDb::new(Backend::Sqlite).await;
    let auth = start_auth(&db).await;
    let port = auth.port;
    let get = |headers: &str| format!("GET /auth/health HTTP/1.1\r\nHost: x\r\n{headers}\r\n");

    let two_lengths = "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                       Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}";
    let control = get("X-Note: a\x01b\r\n");
    let bad_line = "GET /auth/health HTTP/9.9\r\nHost: x\r\n\r\n";
    let not_http = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n";
    for (name, request) in [
        (
            "two different Content-Lengths",
            two_lengths.as_bytes().to_vec(),
        ),
        (
            "a control character in a header value",
            control.into_bytes(),
        ),
        ("a malformed request line", bad_line.as_bytes().to_vec()),
        ("a TLS handshake", not_http.to_vec()),
    ] {
        let raw = tokio::task::spawn_blocking(move || exchange(port, &request))
            .await
            .unwrap();
        let message = assert_envelope(&raw, 400, "Bad Request");
        assert!(message.contains("could not be parsed"), "{name}: {message}");
    }

    // 200 small headers (8 kB), then one header of 70 kB: over the field count, over the size.
    let many: String = (0..200)
        .map(|i| format!("X-H{i:03}: {:032}\r\n", i))
        .collect();
    let huge = format!("X-Big: {}\r\n", "a".repeat(70 * 1024));
    for headers in [many, huge] {
        let request = get(&headers);
        let raw = tokio::task::spawn_blocking(move || exchange(port, request.as_bytes()))
            .await
            .unwrap();
        let message = assert_envelope(&raw, 431, "Request Header Fields Too Large");
        assert!(
            message.contains("100 header fields") && message.contains("64 KiB"),
            "{message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_request_after_a_served_one_on_the_same_connection() {
    let db = TestDb::new(Backend::Sqlite).await;
    let auth = start_auth(&db).await;
    let port = auth.port;
    // Pipelined: the first is answered as usual, the second in the envelope, then the close.
    let raw = tokio::task::spawn_blocking(move || {
        exchange(
            port,
            b"GET /auth/health HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /auth/health HTTP/1.1\r\nHost: x\r\nX-Note: a\x7fb\r\n\r\n",
        )
    })
    .await
    .unwrap();
    let all = responses(&raw);
    assert_eq!(all.len(), 2, "{raw}");
    assert_eq!(all[0].0, 200, "{raw}");
    assert!(all[0].2.contains("healthy"), "{raw}");
    assert_eq!(all[1].0, 400, "{raw}");
    let body: Value = serde_json::from_str(&all[1].2).unwrap();
    assert_eq!(body["error"], "Bad Request");
    assert!(all[1].1.contains("connection: close"), "{raw}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_xml_body_is_a_415() {
    let db = TestDb::new(Backend::Sqlite).await;
    let auth = start_auth(&db).await;
    let xml = r#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "bbbbbbbb">]><login><username>&b;</username><password>x</password></login>"#;
    for path in ["/auth/login", "/auth/register"] {
        for content_type in ["application/xml", "text/xml"] {
            let r = testkit::http()
                .post(format!("{}{path}", auth.base))
                .header("content-type", content_type)
                .body(xml)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 415, "{path} {content_type}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "Unsupported Media Type", "{path}");
        }
    }
}
