//! Lists whose cost does not grow with the user's data, and the bounds on what one user may
//! do: cursor pages, the capped total, the bounded offset, the task quota and write rate,
//! idempotency keys swept in the background and scrubbed of deleted tasks, and the path
//! parameter named `id` in its errors. On SQLite and (with TEST_DATABASE_URL) PostgreSQL;
//! the plan checks on PostgreSQL only.

use crate::common;

use std::time::{Duration, Instant};

use common::{Stack, assert_envelope, send};
use reqwest::Method;
use sea_orm::{
    ConnectionTrait, DbBackend, QueryTrait, Statement, TransactionTrait,
    sea_query::{PostgresQueryBuilder, QueryBuilder},
};
use serde_json::{Value, json};
use task::{
    config::UserLimits,
    domain::{Caller, Cursor, ListFilter, PageStart, Status},
    storage::tasks::list_query,
};
use testkit::{
    api::invalid_fields,
    db::{Backend, backends},
};

fn ids_of(page: &Value) -> Vec<i64> {
    page["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("no tasks in {page}"))
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

/// Gives the owner of task `model` `copies` more tasks like it, by SQL: what a user with
/// many tasks looks like, without creating them one request at a time. The copies share the
/// model's `created_at`, so the list's order among them is the id's.
async fn copy_task(s: &Stack, model: i64, copies: u64) {
    s.db.connect()
        .await
        .execute_unprepared(&format!(
            "INSERT INTO tasks (user_id, title, status, priority, created_at, updated_at, version) \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {copies}) \
             SELECT t.user_id, t.title, t.status, t.priority, t.created_at, t.updated_at, 1 \
             FROM n, tasks t WHERE t.id = {model}"
        ))
        .await
        .expect("copy tasks");
}

/// `GET path` with the token: status, the `Link` header, the body.
async fn list(s: &Stack, token: &str, path: &str) -> (u16, Option<String>, Value) {
    let auth = format!("Bearer {token}");
    let (status, headers, body) = send(
        &s.http,
        Method::GET,
        &s.url(path),
        &[("Authorization", &auth)],
        None,
    )
    .await;
    let link = headers
        .get("link")
        .map(|l| l.to_str().expect("ASCII Link").to_owned());
    (status, link, body)
}

/// The path a `Link: <path>; rel="next"` header names.
fn next_of(link: &str) -> &str {
    link.strip_prefix('<')
        .and_then(|l| l.strip_suffix(r#">; rel="next""#))
        .unwrap_or_else(|| panic!("not a next link: {link}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn cursor_pages_follow_each_other_and_the_link_header() {
    for backend in backends() {
        let s = Stack::start(backend).await;
        let (token, _) = s.user("pager").await;
        let mut ids = Vec::new();
        for (i, status) in ["pending", "completed", "pending", "pending", "completed"]
            .into_iter()
            .enumerate()
        {
            let (code, t) = s
                .create(&token, json!({"title": format!("t{i}"), "status": status}))
                .await;
            assert_eq!(code, 201, "{t}");
            ids.push(t["task"]["id"].as_i64().unwrap());
        }
        ids.reverse();

        let (status, link, first) = list(&s, &token, "/tasks?limit=2").await;
        assert_eq!(status, 200, "{backend:?} {first}");
        assert_eq!(ids_of(&first), ids[..2]);
        assert_eq!(
            (&first["count"], &first["total"], &first["total_capped"]),
            (&json!(2), &json!(5), &json!(false)),
            "{first}"
        );
        let cursor = first["next_cursor"]
            .as_str()
            .expect("a next page")
            .to_owned();
        let link = link.expect("Link on a page with a next one");
        assert_eq!(next_of(&link), format!("/tasks?cursor={cursor}&limit=2"));

        let (_, link, second) = list(&s, &token, next_of(&link)).await;
        assert_eq!(ids_of(&second), ids[2..4]);
        assert_eq!(second["total"], 5, "the total is of the whole list");
        let (_, link, last) = list(&s, &token, next_of(&link.expect("a third page"))).await;
        assert_eq!(ids_of(&last), ids[4..]);
        assert!(last.get("next_cursor").is_none(), "last page: {last}");
        assert_eq!(link, None, "no Link on the last page");

        // Filters ride along in the Link.
        let pending: Vec<i64> = vec![ids[1], ids[2], ids[4]];
        let mut seen = Vec::new();
        let mut path = "/tasks?status=pending&limit=1".to_owned();
        loop {
            let (status, link, page) = list(&s, &token, &path).await;
            assert_eq!(status, 200, "{path}: {page}");
            seen.extend(ids_of(&page));
            match link {
                Some(l) => {
                    assert!(l.contains("status=pending"), "{l}");
                    path = next_of(&l).to_owned();
                }
                None => break,
            }
        }
        assert_eq!(seen, pending);

        // Offsets stay for existing clients, up to a bound that names the cursor.
        let (_, _, page) = list(&s, &token, "/tasks?limit=2&offset=1").await;
        assert_eq!(ids_of(&page), ids[1..3]);
        assert!(page["next_cursor"].is_string(), "{page}");
        let (status, _, _) = list(&s, &token, "/tasks?offset=10000").await;
        assert_eq!(status, 200);
        for (bad, field, says) in [
            ("/tasks?offset=10001", "offset", "cursor"),
            ("/tasks?offset=9223372036854775807", "offset", "cursor"),
            ("/tasks?cursor=nope", "cursor", "next_cursor"),
            ("/tasks?cursor=", "cursor", "next_cursor"),
            (
                &format!("/tasks?cursor={cursor}&offset=1"),
                "offset",
                "cursor",
            ),
        ] {
            let (status, _, body) = list(&s, &token, bad).await;
            assert_eq!(status, 400, "{bad}: {body}");
            assert_envelope(&body, "Bad Request");
            assert_eq!(invalid_fields(&body), [field], "{bad}: {body}");
            let message = body["details"][0]["message"].as_str().unwrap();
            assert!(message.contains(says), "{bad}: {message}");
        }
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_total_is_capped_and_cursor_pages_cover_a_large_list_exactly_once() {
    for backend in backends() {
        let s = Stack::start(backend).await;
        let (token, _) = s.user("hoarder").await;
        let (_, model) = s.create(&token, json!({"title": "many"})).await;
        let model = model["task"]["id"].as_i64().unwrap();
        copy_task(&s, model, 1005).await;
        let (mine, _) = s.user("modest").await;
        s.create(&mine, json!({"title": "one"})).await;

        let (_, _, first) = list(&s, &token, "/tasks?limit=1").await;
        assert_eq!(
            (&first["total"], &first["total_capped"]),
            (&json!(1000), &json!(true)),
            "{backend:?}: {first}"
        );
        let (_, _, other) = list(&s, &mine, "/tasks").await;
        assert_eq!(
            (&other["total"], &other["total_capped"]),
            (&json!(1), &json!(false))
        );

        let mut seen = Vec::new();
        let mut path = "/tasks?limit=500".to_owned();
        loop {
            let (status, link, page) = list(&s, &token, &path).await;
            assert_eq!(status, 200, "{page}");
            seen.extend(ids_of(&page));
            match link {
                Some(l) => path = next_of(&l).to_owned(),
                None => break,
            }
        }
        assert_eq!(seen.len(), 1006, "every task once");
        assert!(
            seen.windows(2).all(|w| w[0] > w[1]),
            "newest first, ties by id"
        );
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_past_the_task_quota_gets_403_until_one_is_deleted() {
    for backend in backends() {
        let limits = UserLimits {
            task_quota: 3,
            ..common::unhurried()
        };
        let s = Stack::start_limited(backend, limits).await;
        let (token, _) = s.user("quota").await;
        let mut ids = Vec::new();
        for i in 0..3 {
            let (status, t) = s.create(&token, json!({"title": format!("t{i}")})).await;
            assert_eq!(status, 201, "{t}");
            ids.push(t["task"]["id"].as_i64().unwrap());
        }
        let (status, body) = s.create(&token, json!({"title": "one too many"})).await;
        assert_eq!(status, 403, "{backend:?}: {body}");
        assert_envelope(&body, "Forbidden");
        assert!(
            body["message"].as_str().unwrap().contains("quota"),
            "{body}"
        );

        // With a key, the refusal leaves the key free for a retry.
        let auth = format!("Bearer {token}");
        let keyed = |key: &'static str| {
            let (http, url, auth) = (s.http.clone(), s.url("/tasks"), auth.clone());
            async move {
                let headers = [("Authorization", auth.as_str()), ("Idempotency-Key", key)];
                send(
                    &http,
                    Method::POST,
                    &url,
                    &headers,
                    Some(&json!({"title": "k"})),
                )
                .await
            }
        };
        assert_eq!(keyed("over-quota").await.0, 403);
        let (status, _) = s
            .api
            .call(
                Method::DELETE,
                &format!("/tasks/{}", ids[0]),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, 200);
        let (status, _, body) = keyed("over-quota").await;
        assert_eq!(status, 201, "{body}");

        let (other, _) = s.user("other").await;
        assert_eq!(s.create(&other, json!({"title": "mine"})).await.0, 201);
        s.stop().await;
    }
}

/// The quota is counted and the task inserted as one step per user: creates that arrive
/// together at one below the quota, with and without idempotency keys, leave the user at
/// the quota, never past it.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_creates_at_one_below_the_quota_create_exactly_one() {
    const RACERS: usize = 16;
    for backend in backends() {
        let limits = UserLimits {
            task_quota: 3,
            ..common::unhurried()
        };
        let s = Stack::start_limited(backend, limits).await;
        let (token, _) = s.user("racer").await;
        for i in 0..2 {
            let (status, t) = s.create(&token, json!({"title": format!("t{i}")})).await;
            assert_eq!(status, 201, "{t}");
        }
        let auth = format!("Bearer {token}");
        let racers = (0..RACERS).map(|i| {
            let (http, url, auth) = (s.http.clone(), s.url("/tasks"), auth.clone());
            tokio::spawn(async move {
                let key = format!("race-{i}");
                let mut headers = vec![("Authorization", auth.as_str())];
                if i % 2 == 1 {
                    headers.push(("Idempotency-Key", key.as_str()));
                }
                let body = json!({"title": format!("racer {i}")});
                send(&http, Method::POST, &url, &headers, Some(&body)).await
            })
        });
        let mut statuses = Vec::new();
        for r in racers.collect::<Vec<_>>() {
            let (status, _, body) = r.await.unwrap();
            assert!(matches!(status, 201 | 403), "{backend:?}: {status} {body}");
            statuses.push(status);
        }
        let created = statuses.iter().filter(|s| **s == 201).count();
        assert_eq!(created, 1, "{backend:?}: {statuses:?}");
        let (status, page) = s.get(&token, "/tasks?limit=10").await;
        assert_eq!((status, page["total"].as_u64()), (200, Some(3)), "{page}");
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_past_the_per_user_rate_get_429_with_retry_after() {
    for backend in backends() {
        let limits = UserLimits {
            writes_per_sec: 2,
            ..UserLimits::default()
        };
        let s = Stack::start_limited(backend, limits).await;
        let (token, _) = s.user("hasty").await;
        let auth = format!("Bearer {token}");
        let writes = (0..20).map(|i| {
            let (http, url, auth) = (s.http.clone(), s.url("/tasks"), auth.clone());
            tokio::spawn(async move {
                let body = json!({"title": format!("burst {i}")});
                send(
                    &http,
                    Method::POST,
                    &url,
                    &[("Authorization", &auth)],
                    Some(&body),
                )
                .await
            })
        });
        let mut created = 0;
        let mut limited = 0;
        for w in writes.collect::<Vec<_>>() {
            let (status, headers, body) = w.await.unwrap();
            match status {
                201 => created += 1,
                429 => {
                    limited += 1;
                    assert_envelope(&body, "Too Many Requests");
                    assert_eq!(headers["retry-after"], "1", "the window is a second");
                }
                other => panic!("{backend:?}: {other} {body}"),
            }
        }
        assert!(
            limited > 0 && created >= 1,
            "{created} created, {limited} limited"
        );
        // Another user's writes are counted apart.
        let (other, _) = s.user("calm").await;
        assert_eq!(s.create(&other, json!({"title": "mine"})).await.0, 201);
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_task_scrubs_it_from_stored_responses_and_a_replay_says_410() {
    for backend in backends() {
        let s = Stack::start(backend).await;
        let (token, _) = s.user("scrub").await;
        let auth = format!("Bearer {token}");
        let body = json!({"title": "secret plans", "description": "launch codes"});
        let headers = [("Authorization", auth.as_str()), ("Idempotency-Key", "k-1")];
        let url = s.url("/tasks");
        let (status, _, created) = send(&s.http, Method::POST, &url, &headers, Some(&body)).await;
        assert_eq!(status, 201, "{created}");
        let id = created["task"]["id"].as_i64().unwrap();
        let (status, _, replay) = send(&s.http, Method::POST, &url, &headers, Some(&body)).await;
        assert_eq!((status, replay["task"]["id"].as_i64()), (201, Some(id)));

        let (status, _) = s
            .api
            .call(Method::DELETE, &format!("/tasks/{id}"), Some(&token), None)
            .await;
        assert_eq!(status, 200);
        let conn = s.db.connect().await;
        let stored = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT COALESCE(response_body, '') FROM idempotency_keys WHERE key = 'k-1'",
            ))
            .await
            .unwrap()
            .expect("the key stays");
        let stored: String = stored.try_get_by_index(0).unwrap();
        assert!(!stored.contains("secret"), "{backend:?}: {stored}");
        assert!(!stored.contains("launch"), "{backend:?}: {stored}");

        let (status, _, replay) = send(&s.http, Method::POST, &url, &headers, Some(&body)).await;
        assert_eq!(status, 410, "{backend:?}: {replay}");
        assert_envelope(&replay, "Gone");
        assert!(!replay.to_string().contains("secret"), "{replay}");
        let (_, _, listed) = list(&s, &token, "/tasks").await;
        assert_eq!(listed["total"], 0, "the replay created nothing");
        // Another body under the key is still a misuse of it.
        let other = json!({"title": "other"});
        assert_eq!(
            send(&s.http, Method::POST, &url, &headers, Some(&other))
                .await
                .0,
            422
        );
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_idempotency_keys_are_swept_in_the_background() {
    for backend in backends() {
        let limits = UserLimits {
            key_sweep_every: Duration::from_millis(100),
            ..common::unhurried()
        };
        let s = Stack::start_limited(backend, limits).await;
        let (token, uid) = s.user("keys").await;
        let auth = format!("Bearer {token}");
        let headers = [
            ("Authorization", auth.as_str()),
            ("Idempotency-Key", "fresh"),
        ];
        let body = json!({"title": "kept"});
        let (status, _, _) = send(
            &s.http,
            Method::POST,
            &s.url("/tasks"),
            &headers,
            Some(&body),
        )
        .await;
        assert_eq!(status, 201);
        let long_ago = match backend {
            Backend::Postgres => "TIMESTAMPTZ '2000-01-01 00:00:00+00'",
            Backend::Sqlite => "'2000-01-01T00:00:00+00:00'",
        };
        let db = s.db.connect().await;
        db.execute_unprepared(&format!(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, status, created_at) \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) \
             SELECT {uid}, 'old-' || i, 'h', 'done', {long_ago} FROM n"
        ))
        .await
        .expect("insert expired keys");
        let count = |filter: &'static str| {
            let db = &db;
            async move {
                let row = db
                    .query_one_raw(Statement::from_string(
                        db.get_database_backend(),
                        format!("SELECT COUNT(*) FROM idempotency_keys WHERE {filter}"),
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get_by_index::<i64>(0).unwrap()
            }
        };
        // No keyed request arrives meanwhile: the sweep is the background's alone.
        let deadline = Instant::now() + Duration::from_secs(30);
        while count("key LIKE 'old-%'").await > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            count("key LIKE 'old-%'").await,
            0,
            "{backend:?}: expired keys left"
        );
        assert_eq!(count("key = 'fresh'").await, 1, "a live key stays");
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_path_id_is_named_id_in_every_error() {
    let s = Stack::start(Backend::Sqlite).await;
    let (token, _) = s.user("pathy").await;
    for id in ["9223372036854775808", "abc", "1.5", "-9223372036854775809"] {
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let body = (method == Method::PUT).then(|| json!({"title": "a"}));
            let (status, answer) = s
                .api
                .call(method.clone(), &format!("/tasks/{id}"), Some(&token), body)
                .await;
            assert_eq!(status, 400, "{method} {id}: {answer}");
            assert_envelope(&answer, "Bad Request");
            assert_eq!(invalid_fields(&answer), ["id"], "{method} {id}: {answer}");
            assert!(
                answer["message"].as_str().unwrap().contains("`id`"),
                "{answer}"
            );
        }
    }
    s.stop().await;
}

/// The plan PostgreSQL runs `stmt` with for the values in it when it must use a generic
/// plan (one made without the values, as a plan cached from other users' executions is).
async fn generic_plan(db: &sea_orm::DatabaseConnection, stmt: &Statement) -> String {
    let values = stmt
        .values
        .as_ref()
        .map(|v| v.0.clone())
        .unwrap_or_default();
    let args: Vec<String> = values
        .iter()
        .map(|v| PostgresQueryBuilder.value_to_string(v))
        .collect();
    let txn = db.begin().await.unwrap();
    txn.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan")
        .await
        .unwrap();
    txn.execute_unprepared(&format!("PREPARE list_page AS {}", stmt.sql))
        .await
        .unwrap();
    let explained = txn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("EXPLAIN EXECUTE list_page({})", args.join(", ")),
        ))
        .await
        .unwrap();
    // A prepared statement outlives the transaction: the session keeps it.
    txn.execute_unprepared("DEALLOCATE list_page")
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    explained
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "PostgreSQL only (query plans): set TEST_DATABASE_URL and run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn list_statements_keep_the_index_plan_for_a_small_user_after_a_heavy_one() {
    let s = Stack::start(Backend::Postgres).await;
    let (heavy, _) = s.user("heavy").await;
    let (_, model) = s.create(&heavy, json!({"title": "bulk"})).await;
    copy_task(&s, model["task"]["id"].as_i64().unwrap(), 100_000).await;
    let (small, small_id) = s.user("small").await;
    for i in 0..20 {
        s.create(&small, json!({"title": format!("s{i}")})).await;
    }
    let db = s.db.connect().await;
    db.execute_unprepared("ANALYZE tasks").await.unwrap();

    // The heavy user pages deep, as in the report that found a generic plan chosen from
    // such executions serving everyone.
    let mut path = "/tasks?limit=500".to_owned();
    for _ in 0..12 {
        let (status, link, page) = list(&s, &heavy, &path).await;
        assert_eq!(status, 200, "{page}");
        path = next_of(&link.expect("more pages")).to_owned();
    }
    let (_, _, page) = list(&s, &heavy, "/tasks?offset=10000&limit=20").await;
    assert_eq!(page["count"], 20);

    let deep = Cursor {
        created_at: chrono::Utc::now(),
        id: i64::MAX,
    };
    for start in [
        PageStart::Offset(0),
        PageStart::Offset(40),
        PageStart::After(deep),
    ] {
        for status in [None, Some(Status::Pending)] {
            let filter = ListFilter {
                status,
                priority: None,
                limit: 20,
                start,
            };
            let stmt = list_query(Caller { user_id: small_id }, &filter).build(DbBackend::Postgres);
            let plan = generic_plan(&db, &stmt).await;
            assert!(
                plan.contains("idx_tasks_user_created"),
                "{filter:?}:\n{plan}"
            );
            for bad in ["Seq Scan", "Sort", "Bitmap"] {
                assert!(!plan.contains(bad), "{filter:?} plans a {bad}:\n{plan}");
            }
        }
    }
    s.stop().await;
}
