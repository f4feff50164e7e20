//! Concurrency control and safe retries: ETags and conditional requests, Idempotency-Key on
//! create, and what concurrent writers see, on SQLite and (with TEST_DATABASE_URL)
//! PostgreSQL.

use crate::common;

use std::collections::HashSet;

use common::{Stack, assert_envelope, send};
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};
use task::storage::idempotency::{Column as KeyColumn, Entity as Keys};
use testkit::db::backends;

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn etag(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("etag")
        .expect("ETag header")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn etags_and_conditional_requests() {
    for backend in backends() {
        let s = Stack::start(backend).await;
        let (token, _) = s.user("etags").await;
        let auth = bearer(&token);
        let a = [("authorization", auth.as_str())];

        let (status, h, created) = send(
            &s.http,
            Method::POST,
            &s.url("/tasks"),
            &a,
            Some(&json!({"title": "versioned"})),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let id = created["task"]["id"].as_i64().unwrap();
        let v1 = etag(&h);
        assert_eq!(v1, format!("\"{id}-1\""), "strong, quoted");
        let path = s.url(&format!("/tasks/{id}"));

        let (status, h, got) = send(&s.http, Method::GET, &path, &a, None).await;
        assert_eq!(status, 200);
        assert_eq!(etag(&h), v1);
        assert_eq!(got["task"], created["task"]);

        // If-None-Match with the current tag: 304, no body; with another: 200.
        let (status, h, body) = send(
            &s.http,
            Method::GET,
            &path,
            &[a[0], ("if-none-match", &v1)],
            None,
        )
        .await;
        assert_eq!((status, body), (304, Value::Null), "{backend:?}");
        assert_eq!(etag(&h), v1);
        let (status, _, _) = send(
            &s.http,
            Method::GET,
            &path,
            &[a[0], ("if-none-match", "\"0-0\"")],
            None,
        )
        .await;
        assert_eq!(status, 200);

        // PUT with the current tag: written, new tag; then the old tag is stale.
        let (status, h, updated) = send(
            &s.http,
            Method::PUT,
            &path,
            &[a[0], ("if-match", &v1)],
            Some(&json!({"title": "second"})),
        )
        .await;
        assert_eq!(status, 200, "{updated}");
        let v2 = etag(&h);
        assert_eq!(v2, format!("\"{id}-2\""));
        for method in [Method::PUT, Method::DELETE] {
            let (status, _, body) = send(
                &s.http,
                method.clone(),
                &path,
                &[a[0], ("if-match", &v1)],
                Some(&json!({"title": "lost update"})),
            )
            .await;
            assert_eq!(status, 412, "{method} {body}");
            assert_envelope(&body, "Precondition Failed");
        }
        // Weak tags never match If-Match; `*` and lists do.
        let weak = format!("W/{v2}");
        let (status, _, _) = send(
            &s.http,
            Method::PUT,
            &path,
            &[a[0], ("if-match", &weak)],
            Some(&json!({})),
        )
        .await;
        assert_eq!(status, 412);
        let (status, h, same) = send(
            &s.http,
            Method::PUT,
            &path,
            &[a[0], ("if-match", "*")],
            Some(&json!({})),
        )
        .await;
        assert_eq!(
            (status, etag(&h)),
            (200, v2.clone()),
            "empty PUT writes nothing"
        );
        assert_eq!(same["task"]["title"], "second");
        // Without If-Match, as before: the write happens.
        let (status, h, _) = send(
            &s.http,
            Method::PUT,
            &path,
            &a,
            Some(&json!({"priority": "high"})),
        )
        .await;
        assert_eq!((status, etag(&h)), (200, format!("\"{id}-3\"")));

        let list = format!("\"{id}-1\", \"{id}-3\"");
        let (status, _, body) = send(
            &s.http,
            Method::DELETE,
            &path,
            &[a[0], ("if-match", &list)],
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (status, _, body) = send(
            &s.http,
            Method::PUT,
            &path,
            &[a[0], ("if-match", &list)],
            Some(&json!({"title": "gone"})),
        )
        .await;
        assert_eq!(
            status, 404,
            "a missing task is 404 whatever If-Match says: {body}"
        );
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotency_key_replays_refuses_and_expires() {
    for backend in backends() {
        let s = Stack::start(backend).await;
        let (token, _) = s.user("retrier").await;
        let (other, _) = s.user("other").await;
        let auth = bearer(&token);
        let create = |key: String, body: Value, auth: String| {
            let s = &s;
            async move {
                send(
                    &s.http,
                    Method::POST,
                    &s.url("/tasks"),
                    &[("authorization", &auth), ("idempotency-key", &key)],
                    Some(&body),
                )
                .await
            }
        };
        let body = json!({"title": "pay rent", "priority": "high"});
        let (status, h1, first) = create("k-1".into(), body.clone(), auth.clone()).await;
        assert_eq!(status, 201, "{first}");
        let (status, h2, again) = create("k-1".into(), body.clone(), auth.clone()).await;
        assert_eq!(status, 201, "{again}");
        assert_eq!(again, first, "the original response");
        assert_eq!(etag(&h2), etag(&h1));
        let (_, list) = s.get(&token, "/tasks").await;
        assert_eq!(list["total"], 1, "created once");

        // The task changes; a retry still answers the original response.
        let id = first["task"]["id"].as_i64().unwrap();
        s.api
            .call(
                Method::PUT,
                &format!("/tasks/{id}"),
                Some(&token),
                Some(json!({"title": "paid"})),
            )
            .await;
        let (_, h3, replay) = create("k-1".into(), body.clone(), auth.clone()).await;
        assert_eq!((replay, etag(&h3)), (first.clone(), etag(&h1)));

        let (status, _, refused) =
            create("k-1".into(), json!({"title": "another"}), auth.clone()).await;
        assert_eq!(status, 422, "{refused}");
        assert_envelope(&refused, "Unprocessable Entity");

        // Keys are per user.
        let (status, _, theirs) = create("k-1".into(), body.clone(), bearer(&other)).await;
        assert_eq!(status, 201);
        assert_ne!(theirs["task"]["id"], first["task"]["id"]);

        for (key, expected) in [
            ("", 400),
            (&*"k".repeat(256), 400),
            (&*"k".repeat(255), 201),
        ] {
            let (status, _, answer) = create(key.into(), body.clone(), auth.clone()).await;
            assert_eq!(status, expected, "{} chars: {answer}", key.len());
            if expected == 400 {
                assert_envelope(&answer, "Bad Request");
            }
        }

        let conn = s.db.connect().await;
        let rows = Keys::find().count(&conn).await.unwrap();
        assert_eq!(rows, 3, "k-1 twice (two users) and the 255-character key");

        // An in-progress claim: a duplicate is 409 while it is fresh ...
        let now = platform::db::now();
        Keys::update_many()
            .col_expr(KeyColumn::Status, Expr::value("in_progress"))
            .col_expr(KeyColumn::ResponseBody, Expr::value(Option::<String>::None))
            .col_expr(KeyColumn::CreatedAt, Expr::value(now))
            .filter(KeyColumn::Key.eq("k-1"))
            .exec(&conn)
            .await
            .unwrap();
        let (status, _, busy) = create("k-1".into(), body.clone(), auth.clone()).await;
        assert_eq!(status, 409, "{busy}");
        assert_envelope(&busy, "Conflict");
        // ... and taken over once abandoned (its request died).
        Keys::update_many()
            .col_expr(
                KeyColumn::CreatedAt,
                Expr::value(now - chrono::TimeDelta::minutes(5)),
            )
            .filter(KeyColumn::Key.eq("k-1"))
            .exec(&conn)
            .await
            .unwrap();
        let (status, _, taken) = create("k-1".into(), body.clone(), auth.clone()).await;
        assert_eq!(status, 201, "{taken}");
        assert_ne!(taken["task"]["id"], first["task"]["id"]);

        // After 24 hours a key is forgotten: reusable with any body, and swept.
        Keys::update_many()
            .col_expr(
                KeyColumn::CreatedAt,
                Expr::value(now - chrono::TimeDelta::hours(25)),
            )
            .exec(&conn)
            .await
            .unwrap();
        let (status, _, fresh) =
            create("k-1".into(), json!({"title": "new body"}), auth.clone()).await;
        assert_eq!(status, 201, "{fresh}");
        assert_eq!(fresh["task"]["title"], "new body");
        let left = Keys::find().count(&conn).await.unwrap();
        assert!(left <= 3, "expired keys are swept or reused: {left} left");
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_duplicates_create_once() {
    for backend in backends() {
        let s = Stack::start(backend).await;
        let (token, _) = s.user("hasty").await;
        let auth = bearer(&token);
        for round in 0..5 {
            let key = format!("dup-{round}");
            let body = json!({"title": format!("once {round}")});
            let answers = futures_join(16, |_| {
                let (s, auth, key, body) = (&s, &auth, &key, &body);
                async move {
                    send(
                        &s.http,
                        Method::POST,
                        &s.url("/tasks"),
                        &[("authorization", auth), ("idempotency-key", key)],
                        Some(body),
                    )
                    .await
                }
            })
            .await;
            let created: Vec<&Value> = answers
                .iter()
                .filter(|(status, _, _)| *status == 201)
                .map(|(_, _, b)| b)
                .collect();
            for (status, _, b) in &answers {
                assert!(
                    *status == 201 || *status == 409,
                    "{backend:?}: {status} {b}"
                );
                if *status == 409 {
                    assert_envelope(b, "Conflict");
                }
            }
            assert!(!created.is_empty(), "one wins");
            assert!(
                created.iter().all(|b| *b == created[0]),
                "one task, one answer"
            );
        }
        let (_, list) = s.get(&token, "/tasks").await;
        assert_eq!(list["total"], 5, "{backend:?}");
        s.stop().await;
    }
}

/// Runs `n` futures made by `make` concurrently and collects their outputs in order.
async fn futures_join<F, Fut, T>(n: usize, make: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut set = Vec::with_capacity(n);
    for i in 0..n {
        set.push(make(i));
    }
    join_all(set).await
}

async fn join_all<Fut: std::future::Future>(futures: Vec<Fut>) -> Vec<Fut::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<Fut::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|v| v.expect("ready")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn put_racing_delete_is_404_never_5xx() {
    for backend in backends() {
        let s = Stack::start(backend).await;
        let (token, _) = s.user("racer").await;
        for attempt in 0..40 {
            let (_, t) = s
                .create(&token, json!({"title": format!("race {attempt}")}))
                .await;
            let path = format!("/tasks/{}", t["task"]["id"]);
            let put = s.api.call(
                Method::PUT,
                &path,
                Some(&token),
                Some(json!({"status": "completed"})),
            );
            let delete = s.api.call(Method::DELETE, &path, Some(&token), None);
            let ((put_status, put_body), (delete_status, delete_body)) = tokio::join!(put, delete);
            assert_eq!(delete_status, 200, "{backend:?} {delete_body}");
            assert!(
                put_status == 200 || put_status == 404,
                "{backend:?} attempt {attempt}: PUT {put_status} {put_body}"
            );
            if put_status == 404 {
                assert_envelope(&put_body, "Not Found");
            }
        }
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_puts_each_answer_their_own_write() {
    for backend in backends() {
        let s = Stack::start(backend).await;
        let (token, _) = s.user("writer").await;
        let (_, t) = s.create(&token, json!({"title": "contended"})).await;
        let path = format!("/tasks/{}", t["task"]["id"]);
        let answers = futures_join(20, |i| {
            let (s, token, path) = (&s, &token, &path);
            async move {
                let title = format!("writer {i}");
                let (status, body) = s
                    .api
                    .call(
                        Method::PUT,
                        path,
                        Some(token),
                        Some(json!({"title": title, "description": title})),
                    )
                    .await;
                (title, status, body)
            }
        })
        .await;
        let mut versions = HashSet::new();
        for (title, status, body) in &answers {
            assert_eq!(*status, 200, "{backend:?} {body}");
            assert_eq!(body["task"]["title"], *title, "its own write, as written");
            assert_eq!(body["task"]["description"], *title);
            versions.insert(body["task"]["updated_at"].to_string() + title);
        }
        assert_eq!(versions.len(), 20);
        // Every write bumped the version once: the last ETag is version 21.
        let (status, h, _) = send(
            &s.http,
            Method::GET,
            &s.url(&path),
            &[("authorization", &bearer(&token))],
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(etag(&h), format!("\"{}-21\"", t["task"]["id"]));
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_thousand_acknowledged_creates_are_two_thousand_rows() {
    const STREAMS: usize = 16;
    const TOTAL: usize = 2000;
    for backend in backends() {
        let s = Stack::start(backend).await;
        let (token, _) = s.user("bulk").await;
        let auth = bearer(&token);
        let started = std::time::Instant::now();
        let acknowledged = futures_join(STREAMS, |stream| {
            let (s, auth) = (&s, &auth);
            async move {
                let mut ok = 0;
                for i in (stream..TOTAL).step_by(STREAMS) {
                    let key = format!("bulk-{i}");
                    let (status, _, body) = send(
                        &s.http,
                        Method::POST,
                        &s.url("/tasks"),
                        &[("authorization", auth), ("idempotency-key", &key)],
                        Some(&json!({"title": format!("task {i}")})),
                    )
                    .await;
                    assert_eq!(status, 201, "{body}");
                    ok += 1;
                }
                ok
            }
        })
        .await;
        let acknowledged: usize = acknowledged.into_iter().sum();
        eprintln!(
            "{backend:?}: {acknowledged} creates in {STREAMS} streams in {:?}",
            started.elapsed()
        );
        assert_eq!(acknowledged, TOTAL);
        let (_, list) = s.get(&token, "/tasks?limit=1").await;
        assert_eq!(list["total"], TOTAL);
        let conn = s.db.connect().await;
        assert_eq!(Keys::find().count(&conn).await.unwrap(), TOTAL as u64);
        s.stop().await;
    }
}
