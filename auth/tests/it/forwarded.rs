//! The login throttle's client address behind a trusted proxy (`TRUSTED_PROXY_HOPS=1`): an
//! `X-Forwarded-For` line the service cannot read (non-ASCII bytes) is never skipped, so a
//! client cannot shift the count from the right and pick its own throttle key. On SQLite
//! and (with TEST_DATABASE_URL) PostgreSQL.

use crate::common;

use common::TestAuth;
use reqwest::header::HeaderValue;
use serde_json::json;
use testkit::db::{TestDb, backends};

async fn start(db: TestDb) -> TestAuth {
    let key = auth::app::signing_keys::generate_pem();
    let mut cfg = common::config(&db, &key);
    cfg.common.trusted_proxy_hops = 1;
    TestAuth::start_with(db, key, cfg).await
}

/// A failed login for `victim` with these `X-Forwarded-For` lines: its status.
async fn wrong_password(s: &TestAuth, forwarded: &[&[u8]]) -> u16 {
    let mut req = s
        .http
        .post(s.url("/auth/login"))
        .json(&json!({"username": "victim", "password": "wrong-password"}));
    for line in forwarded {
        req = req.header("x-forwarded-for", HeaderValue::from_bytes(line).unwrap());
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_forwarded_line_does_not_pick_the_throttle_key() {
    for backend in backends() {
        let s = start(TestDb::new(backend).await).await;
        let (status, body) = s
            .register("victim", "victim@example.com", "right-password")
            .await;
        assert_eq!(status, 201, "{body}");

        // The load balancer appended 203.0.113.5: five failures from there block the pair.
        for _ in 0..5 {
            assert_eq!(wrong_password(&s, &[b"203.0.113.5"]).await, 401);
        }
        assert_eq!(
            wrong_password(&s, &[b"203.0.113.5"]).await,
            429,
            "{backend:?}"
        );

        // The client wrote a first line and an unreadable start of the second, to which the
        // load balancer appended its entry: still 203.0.113.5, still blocked.
        let lines: [&[u8]; 2] = [b"198.51.100.77", b"caf\xc3\xa9, 203.0.113.5"];
        assert_eq!(wrong_password(&s, &lines).await, 429, "{backend:?}");
        let lines: [&[u8]; 2] = [b"198.51.100.78", b"\xff, 203.0.113.5"];
        assert_eq!(wrong_password(&s, &lines).await, 429, "{backend:?}");

        // The entry the proxy should have written is unreadable: the socket's peer counts,
        // one key for all of them, not one per made-up value.
        for n in 0..5u8 {
            let line = [b"caf\xc3\xa9-".as_slice(), &[b'0' + n]].concat();
            assert_eq!(wrong_password(&s, &[&line]).await, 401, "{backend:?}");
        }
        assert_eq!(
            wrong_password(&s, &[b"caf\xc3\xa9-9"]).await,
            429,
            "{backend:?}"
        );
        s.stop().await;
    }
}
