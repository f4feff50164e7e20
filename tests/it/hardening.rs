//! The real auth binary against slow, silent and odd clients, with the contract's default
//! limits: a half-sent header and a silent client are closed, SIGTERM does not wait for a
//! stalled upload, the security headers are there, and a bad DATABASE_URL is reported
//! without its password. (The keep-alive idle limit, 75 s, is covered in-process in
//! platform/tests/it/http_hardening.rs with short limits.)

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};
use testkit::{
    db::{Backend, TestDb},
    process::{ServiceProcess, env, workspace_binary},
    raw::closed_after,
};

async fn start_auth(db: &TestDb, extra: &[(&str, &str)]) -> ServiceProcess {
    let mut vars = env(&[("DATABASE_URL", &db.url), ("BCRYPT_COST", "4")]);
    vars.extend(env(extra));
    ServiceProcess::start(&workspace_binary("auth"), &vars, "/auth/health").await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_half_sent_header_and_a_silent_client_are_closed() {
    let db = TestDb::new(Backend::Sqlite).await;
    let auth = start_auth(&db, &[]).await;
    let port = auth.port;
    let bound = Duration::from_secs(30);
    let half = tokio::task::spawn_blocking(move || {
        closed_after(port, b"GET /auth/health HTTP/1.1\r\nHost: x\r\n", bound)
    });
    let silent = tokio::task::spawn_blocking(move || closed_after(port, b"", bound));
    let (half, silent) = (half.await.unwrap(), silent.await.unwrap());
    assert!(!half.contains("200"), "{half}");
    assert_eq!(silent, "");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_does_not_wait_for_a_stalled_upload() {
    let db = TestDb::new(Backend::Sqlite).await;
    // A grace far longer than the exit bound below: exiting within the bound means the
    // stalled upload was cut off rather than waited for.
    let mut auth = start_auth(&db, &[("SHUTDOWN_TIMEOUT_SECS", "120")]).await;
    let mut upload = TcpStream::connect(("127.0.0.1", auth.port)).unwrap();
    upload
        .write_all(
            b"POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{\"username\":",
        )
        .unwrap();
    // A chunked body announcing 2^64-1 bytes, stalled too.
    let mut chunked = TcpStream::connect(("127.0.0.1", auth.port)).unwrap();
    chunked
        .write_all(
            b"POST /auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n{",
        )
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    auth.terminate();
    let status = auth.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}");
    upload
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = String::new();
    let _ = upload.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn security_headers_allow_and_duplicate_authorization() {
    let db = TestDb::new(Backend::Sqlite).await;
    let auth = start_auth(&db, &[]).await;
    let http = testkit::http();
    let url = |p: &str| format!("{}{p}", auth.base);

    let r = http
        .post(url("/auth/register"))
        .json(&json!({"username": "hard", "email": "hard@x.io", "password": "password1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.headers().get("cache-control").is_none());

    let r = http
        .post(url("/auth/login"))
        .json(&json!({"username": "hard", "password": "password1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    for (method, path, allow) in [
        ("GET", "/auth/login", "POST"),
        ("POST", "/auth/docs", "GET, HEAD"),
        ("TRACE", "/auth/docs", "GET, HEAD"),
        ("DELETE", "/auth/openapi.json", "GET, HEAD"),
        ("PUT", "/auth/health", "GET, HEAD"),
    ] {
        let r = http
            .request(method.parse().unwrap(), url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method} {path}");
        assert_eq!(r.headers()["allow"], allow, "{method} {path}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "Method Not Allowed", "{method} {path}");
    }

    let r = http
        .post(url("/auth/validate"))
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", "Bearer other")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "Bad Request");
}

#[test]
fn an_unparseable_database_url_is_reported_without_its_password() {
    let out = Command::new(workspace_binary("auth"))
        .env_clear()
        .env("DATABASE_URL", "postgres://u:s3cret@[::1:bad/x")
        .env("PORT", testkit::free_port().to_string())
        .env("LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .output()
        .expect("run auth");
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("postgres://u:***@"), "{stderr}");
    assert!(
        !stdout.contains("s3cret") && !stderr.contains("s3cret"),
        "{stdout}\n{stderr}"
    );
}
