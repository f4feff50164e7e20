//! Tokens revoked at auth — logged out, issued before a password change or logout-all, or of
//! a deleted user — are refused by the task service within its cache bound, without task
//! asking auth; a live token is never refused. On SQLite and (with TEST_DATABASE_URL)
//! PostgreSQL.

use crate::common;

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use common::Stack;
use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use task::config::KeySettings;
use testkit::{api::Api, db::backends};

const REVOKED: &str = "Token has been revoked";
/// The cache bound the tests run task with, and how long they wait for it.
const BOUND: Duration = Duration::from_millis(300);
const PAST_BOUND: Duration = Duration::from_millis(500);

static SEQ: AtomicUsize = AtomicUsize::new(0);

async fn short_bound(backend: testkit::db::Backend) -> Stack {
    Stack::start_tuned(backend, |k| k.revocation_ttl = BOUND).await
}

/// `method path` at auth with `token` (and `body`).
async fn at_auth(s: &Stack, method: Method, path: &str, token: &str, body: Value) -> (u16, Value) {
    let body = (!body.is_null()).then_some(body);
    s.auth_api().call(method, path, Some(token), body).await
}

async fn login(auth: &Api, name: &str, password: &str) -> String {
    let (status, body) = auth.login(name, password).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// `POST /auth/validate` with `token`: the status, and the message of a refusal.
async fn validate(s: &Stack, token: &str) -> (u16, Option<String>) {
    let (status, body) = at_auth(s, Method::POST, "/auth/validate", token, Value::Null).await;
    let message = (status != 200).then(|| body["message"].as_str().unwrap_or("").to_owned());
    (status, message)
}

/// The status of `GET /tasks` at task with `token`, asserting the revoked message on 401.
async fn at_task(s: &Stack, token: &str) -> u16 {
    let (status, body) = s.get(token, "/tasks").await;
    if status == 401 {
        assert_eq!(body["message"], REVOKED, "{body}");
    }
    status
}

#[test]
fn the_default_bound_is_within_the_contracts_30_seconds() {
    let k = KeySettings::new("http://auth");
    assert!(
        k.revocation_ttl <= Duration::from_secs(25),
        "{:?}",
        k.revocation_ttl
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_way_of_revoking_a_token_reaches_task_within_the_bound() {
    for backend in backends() {
        let s = short_bound(backend).await;
        let auth = s.auth_api();
        let (a, id) = s.user("rita").await;
        let b = login(&auth, "rita", "password1").await;
        assert_eq!((at_task(&s, &a).await, at_task(&s, &b).await), (200, 200));

        // Logout by jti: only that token.
        let (status, _) = at_auth(&s, Method::POST, "/auth/logout", &a, Value::Null).await;
        assert_eq!(status, 200, "{backend:?}");
        tokio::time::sleep(PAST_BOUND).await;
        assert_eq!((at_task(&s, &a).await, at_task(&s, &b).await), (401, 200));

        // Logout-all: every token so far; a login right after works at once.
        let c = login(&auth, "rita", "password1").await;
        assert_eq!(at_task(&s, &c).await, 200);
        let (status, _) = at_auth(&s, Method::POST, "/auth/logout?all=true", &b, Value::Null).await;
        assert_eq!(status, 200);
        let d = login(&auth, "rita", "password1").await;
        assert_eq!(
            at_task(&s, &d).await,
            200,
            "a token after the logout-all is live"
        );
        tokio::time::sleep(PAST_BOUND).await;
        assert_eq!((at_task(&s, &b).await, at_task(&s, &c).await), (401, 401));
        assert_eq!(at_task(&s, &d).await, 200);

        // Password change: earlier tokens are revoked, the answered one works at once.
        let body = json!({"current_password": "password1", "new_password": "password2"});
        let (status, changed) = at_auth(&s, Method::PUT, "/auth/me/password", &d, body).await;
        assert_eq!(status, 200, "{changed}");
        let e = changed["token"].as_str().unwrap().to_owned();
        assert_eq!(at_task(&s, &e).await, 200);
        tokio::time::sleep(PAST_BOUND).await;
        assert_eq!((at_task(&s, &d).await, at_task(&s, &e).await), (401, 200));

        // Account deletion: the tasks go with the user, the token ends.
        for title in ["one", "two"] {
            assert_eq!(s.create(&e, json!({"title": title})).await.0, 201);
        }
        let (status, _) = at_auth(
            &s,
            Method::DELETE,
            "/auth/me",
            &e,
            json!({"password": "password2"}),
        )
        .await;
        assert_eq!(status, 200);
        tokio::time::sleep(PAST_BOUND).await;
        assert_eq!(at_task(&s, &e).await, 401);
        let (status, body) = s.create(&e, json!({"title": "after"})).await;
        assert_eq!((status, body["message"].as_str()), (401, Some(REVOKED)));
        let conn = s.db.connect().await;
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM tasks WHERE user_id = {id}"),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), 0, "{backend:?}");
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_well_signed_token_of_a_user_that_never_existed_is_revoked() {
    for backend in backends() {
        let s = short_bound(backend).await;
        let ring = auth::app::signing_keys::KeyRing::from_material(&s.key).unwrap();
        let now = chrono::Utc::now().timestamp();
        let token = ring
            .sign(&testkit::api::claims(424_242, now, now + 600))
            .unwrap();
        assert_eq!(at_task(&s, &token).await, 401, "{backend:?}");
        let (status, body) = s.auth_api().get("/auth/me", Some(&token)).await;
        assert_eq!((status, body["message"].as_str()), (401, Some(REVOKED)));
        s.stop().await;
    }
}

/// Within the bound task answers from what it read: proof that a cache hit reads nothing.
#[tokio::test(flavor = "multi_thread")]
async fn within_the_bound_a_cached_answer_is_served_without_a_query() {
    let s = Stack::start_tuned(testkit::db::Backend::Sqlite, |k| {
        k.revocation_ttl = Duration::from_secs(120)
    })
    .await;
    let (token, _) = s.user("cached").await;
    assert_eq!(at_task(&s, &token).await, 200);
    let (status, _) = at_auth(&s, Method::POST, "/auth/logout", &token, Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(s.auth_api().get("/auth/me", Some(&token)).await.0, 401);
    assert_eq!(
        at_task(&s, &token).await,
        200,
        "served from the entry read before the logout"
    );
    s.stop().await;
}

/// Within the bound, the cached state still says the user exists; creating a task for the
/// deleted user is then refused as the deletion's doing, in the docs' words.
#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_users_token_is_answered_revoked_even_within_the_bound() {
    for backend in backends() {
        let s = Stack::start_tuned(backend, |k| k.revocation_ttl = Duration::from_secs(120)).await;
        let (token, _) = s.user("leaver").await;
        assert_eq!(s.create(&token, json!({"title": "before"})).await.0, 201);
        let body = json!({"password": "password1"});
        let (status, _) = at_auth(&s, Method::DELETE, "/auth/me", &token, body).await;
        assert_eq!(status, 200);
        let (status, body) = s.create(&token, json!({"title": "after"})).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (401, Some(REVOKED)),
            "{backend:?}: {body}"
        );
        s.stop().await;
    }
}

/// Tokens issued before the generation claim existed (rolling release) are judged by the
/// cut-off alone: revoked by a logout-all that comes after them, not by one before them.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_without_a_generation_falls_back_to_the_cutoff() {
    for backend in backends() {
        let s = short_bound(backend).await;
        let (token, id) = s.user("legacy").await;
        let ring = auth::app::signing_keys::KeyRing::from_material(&s.key).unwrap();
        let now = chrono::Utc::now().timestamp();
        let sign = |iat: i64| {
            ring.sign(&testkit::api::claims(id, iat, iat + 600))
                .unwrap()
        };
        let before = sign(now - 5);
        assert_eq!(validate(&s, &before).await, (200, None), "{backend:?}");
        let (status, _) = at_auth(
            &s,
            Method::POST,
            "/auth/logout?all=true",
            &token,
            Value::Null,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(validate(&s, &before).await, (401, Some(REVOKED.into())));
        // Issued (by its iat) after the cut-off, which is at most two seconds ahead.
        let after = sign(now + 5);
        assert_eq!(validate(&s, &after).await, (200, None));
        tokio::time::sleep(PAST_BOUND).await;
        assert_eq!(
            (at_task(&s, &before).await, at_task(&s, &after).await),
            (401, 200)
        );
        s.stop().await;
    }
}

/// How many logins race each password change, and how many changes per database.
const RACERS: usize = 8;
const RACE_ROUNDS: usize = 8;

/// A token issued for a password that a later change replaced is refused, however the login
/// and the change interleave. Logins with the old password loop on eight connections across
/// the change, which is timed (from the previous round's duration) to commit just before a
/// second boundary, where a login that read the old password's row finishes in the next
/// second. Every token those logins got is then refused at auth at once, and at task after
/// the bound.
#[tokio::test(flavor = "multi_thread")]
async fn no_token_issued_for_the_old_password_outlives_the_change() {
    for backend in backends() {
        // Each racer logs in from its own address (behind a trusted proxy), so the failed
        // logins after the change never trip the per-address throttle.
        let s = Stack::start_tuned_both(
            backend,
            |k| k.revocation_ttl = BOUND,
            |a| {
                a.common.trusted_proxy_hops = 1;
                a.bcrypt_cost = 6;
            },
        )
        .await;
        let mut change_took = Duration::from_millis(30);
        let mut issued = Vec::new();
        for round in 0..RACE_ROUNDS {
            let name = format!("racer{round}");
            let (token, _) = s.user(&name).await;
            sleep_until_before_next_second(change_took + Duration::from_millis(60)).await;
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let racers: Vec<_> = (0..RACERS)
                .map(|w| {
                    let (http, url, name, stop) = (
                        s.http.clone(),
                        format!("{}/auth/login", s.auth_base()),
                        name.clone(),
                        stop.clone(),
                    );
                    tokio::spawn(async move {
                        let mut tokens = Vec::new();
                        while !stop.load(Ordering::Relaxed) {
                            let r = http
                                .post(&url)
                                .header("X-Forwarded-For", format!("10.{round}.{w}.1"))
                                .json(&json!({"username": name, "password": "password1"}))
                                .send()
                                .await
                                .unwrap();
                            if r.status() != 200 {
                                break;
                            }
                            let body: Value = r.json().await.unwrap();
                            tokens.push(body["token"].as_str().unwrap().to_owned());
                        }
                        tokens
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(60)).await;
            let started = std::time::Instant::now();
            let body = json!({"current_password": "password1", "new_password": "password2"});
            let (status, body) = at_auth(&s, Method::PUT, "/auth/me/password", &token, body).await;
            assert_eq!(status, 200, "{body}");
            change_took = started.elapsed();
            stop.store(true, Ordering::Relaxed);
            for r in racers {
                issued.extend(r.await.unwrap());
            }
        }
        let mut live_at_auth = 0;
        for token in &issued {
            let (status, body) =
                at_auth(&s, Method::POST, "/auth/validate", token, Value::Null).await;
            if status == 200 {
                live_at_auth += 1;
            } else {
                assert_eq!((status, body["message"].as_str()), (401, Some(REVOKED)));
            }
        }
        tokio::time::sleep(PAST_BOUND).await;
        let mut live_at_task = 0;
        for token in &issued {
            live_at_task += usize::from(at_task(&s, token).await == 200);
        }
        assert_eq!(
            (live_at_auth, live_at_task),
            (0, 0),
            "{backend:?}: of {} tokens issued for the old password",
            issued.len()
        );
        s.stop().await;
    }
}

/// Sleeps until `lead` before the clock's next whole second.
async fn sleep_until_before_next_second(lead: Duration) {
    let now = chrono::Utc::now();
    let into_second = Duration::from_nanos(u64::from(now.timestamp_subsec_nanos()));
    let to_boundary = Duration::from_secs(1) - into_second;
    let wait = if to_boundary > lead {
        to_boundary - lead
    } else {
        to_boundary + Duration::from_secs(1) - lead.min(Duration::from_secs(1))
    };
    tokio::time::sleep(wait).await;
}

/// How many logged-out tokens the user in the bound test is given by SQL.
const HOARD: i64 = 200_000;

/// A revocation check costs the same for a user with one logged-out token or 200k: the
/// statement finds the user and the one `jti` by primary key (asserted on its plan: rows
/// read on PostgreSQL, key searches only on SQLite, for a logged-out `jti` and another).
#[tokio::test(flavor = "multi_thread")]
async fn a_check_reads_the_same_rows_for_one_or_200k_logged_out_tokens() {
    for backend in backends() {
        let s = short_bound(backend).await;
        let auth = s.auth_api();
        let (live, id) = s.user("hoarder").await;
        let revoked = login(&auth, "hoarder", "password1").await;
        let ring = auth::app::signing_keys::KeyRing::from_material(&s.key).unwrap();
        let verifier = token_contract::jwt::Verifier::new(ring.jwks(), &Default::default());
        let revoked_jti = verifier.verify(&revoked).unwrap().jti;
        let conn = s.db.connect().await;
        let db = conn.get_database_backend();
        let (hoard, expiry) = match db {
            sea_orm::DbBackend::Postgres => (
                format!("SELECT 'hoard-' || n AS jti FROM generate_series(1, {HOARD}) AS n"),
                "now() + interval '1 hour'",
            ),
            _ => (
                format!(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {HOARD}) \
                     SELECT 'hoard-' || i AS jti FROM n"
                ),
                "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '+1 hour')",
            ),
        };
        conn.execute_unprepared(&format!(
            "INSERT INTO revoked_tokens (jti, user_id, expires_at) \
             SELECT jti, {id}, {expiry} FROM ({hoard} UNION ALL SELECT '{revoked_jti}') AS h"
        ))
        .await
        .unwrap();
        if db == sea_orm::DbBackend::Postgres {
            conn.execute_unprepared("ANALYZE revoked_tokens")
                .await
                .unwrap();
        }
        let rows = format!("SELECT COUNT(*) AS n FROM revoked_tokens WHERE user_id = {id}");
        assert_eq!(count(&conn, &rows).await, HOARD + 1);
        assert_eq!(
            (at_task(&s, &live).await, at_task(&s, &revoked).await),
            (200, 401)
        );
        assert_eq!(validate(&s, &live).await, (200, None));
        assert_eq!(validate(&s, &revoked).await, (401, Some(REVOKED.into())));
        for jti in [revoked_jti.as_str(), "not-logged-out"] {
            let stmt = db_schema::token_state::statement(db, id, jti);
            let cost = rows_read(&conn, stmt).await;
            assert!(cost <= 4, "{backend:?}: the check reads {cost} rows");
        }
        s.stop().await;
    }
}

/// Logging out past the per-user bound ends every token of the user and drops their rows,
/// instead of adding one more; the user logs in again as usual.
#[tokio::test(flavor = "multi_thread")]
async fn logging_out_past_the_per_user_bound_ends_every_token_and_drops_the_rows() {
    for backend in backends() {
        let s = short_bound(backend).await;
        let auth = s.auth_api();
        let (kept, id) = s.user("looper").await;
        let conn = s.db.connect().await;
        let expiry = match conn.get_database_backend() {
            sea_orm::DbBackend::Postgres => "now() + interval '1 hour'",
            _ => "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '+1 hour')",
        };
        let bound = auth::app::revocation::LOGGED_OUT_PER_USER;
        let rows: Vec<String> = (0..bound - 1)
            .map(|i| format!("('loop-{i}', {id}, {expiry})"))
            .collect();
        conn.execute_unprepared(&format!(
            "INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES {}",
            rows.join(", ")
        ))
        .await
        .unwrap();
        let on_record = format!("SELECT COUNT(*) AS n FROM revoked_tokens WHERE user_id = {id}");
        // Up to the bound, a logout ends its own token only.
        let one = login(&auth, "looper", "password1").await;
        let (status, _) = at_auth(&s, Method::POST, "/auth/logout", &one, Value::Null).await;
        assert_eq!(status, 200);
        assert_eq!(count(&conn, &on_record).await, bound as i64, "{backend:?}");
        assert_eq!(validate(&s, &kept).await, (200, None));
        // Past it, every token ends and the rows go.
        let two = login(&auth, "looper", "password1").await;
        let (status, _) = at_auth(&s, Method::POST, "/auth/logout", &two, Value::Null).await;
        assert_eq!(status, 200);
        assert_eq!(count(&conn, &on_record).await, 0, "{backend:?}");
        for token in [&kept, &one, &two] {
            assert_eq!(validate(&s, token).await, (401, Some(REVOKED.into())));
        }
        let fresh = login(&auth, "looper", "password1").await;
        assert_eq!(validate(&s, &fresh).await, (200, None));
        tokio::time::sleep(PAST_BOUND).await;
        assert_eq!(
            (at_task(&s, &kept).await, at_task(&s, &fresh).await),
            (401, 200)
        );
        s.stop().await;
    }
}

async fn count(conn: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// The rows `stmt` reads. PostgreSQL: the sum of every plan node's actual rows, executed.
/// SQLite (which does not count): 1 per table searched by key, and a failure for any table
/// it would scan.
async fn rows_read(conn: &sea_orm::DatabaseConnection, stmt: Statement) -> u64 {
    let values = stmt
        .values
        .clone()
        .unwrap_or_else(|| sea_orm::Values(vec![]));
    if stmt.db_backend == sea_orm::DbBackend::Postgres {
        let explain = Statement::from_sql_and_values(
            stmt.db_backend,
            format!("EXPLAIN (ANALYZE, FORMAT JSON) {}", stmt.sql),
            values,
        );
        let row = conn.query_one_raw(explain).await.unwrap().unwrap();
        let plan: Value = row.try_get("", "QUERY PLAN").unwrap();
        fn sum(node: &Value) -> u64 {
            let own = node["Actual Rows"].as_f64().unwrap_or(0.0)
                * node["Actual Loops"].as_f64().unwrap_or(1.0);
            let children: u64 = node["Plans"]
                .as_array()
                .map_or(0, |plans| plans.iter().map(sum).sum());
            own.ceil() as u64 + children
        }
        sum(&plan[0]["Plan"])
    } else {
        let explain = Statement::from_sql_and_values(
            stmt.db_backend,
            format!("EXPLAIN QUERY PLAN {}", stmt.sql),
            values,
        );
        let rows = conn.query_all_raw(explain).await.unwrap();
        let steps: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String>("", "detail").unwrap())
            .collect();
        assert!(
            steps.iter().all(|d| !d.starts_with("SCAN")),
            "a table is scanned: {steps:?}"
        );
        steps.iter().filter(|d| d.starts_with("SEARCH")).count() as u64
    }
}

#[derive(Debug, Clone)]
enum Op {
    Login,
    /// With the i-th token issued so far (modulo their number):
    Logout(usize),
    LogoutAll(usize),
    ChangePassword(usize),
    /// Use it at task (filling task's cache, possibly with soon-stale state).
    UseAtTask(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Login),
        2 => any::<usize>().prop_map(Op::Logout),
        1 => any::<usize>().prop_map(Op::LogoutAll),
        1 => any::<usize>().prop_map(Op::ChangePassword),
        3 => any::<usize>().prop_map(Op::UseAtTask),
    ]
}

/// For any sequence of logins, password changes, logouts and logouts-all (and maybe an
/// account deletion at the end), exactly the tokens that should work do: at auth at once,
/// at task once its bound has passed. A live token is never refused by task, even early.
#[test]
fn exactly_the_live_tokens_work() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for backend in backends() {
        let s = rt.block_on(short_bound(backend));
        let auth = s.auth_api();
        let mut runner = TestRunner::new(Config {
            cases: 12,
            ..Config::default()
        });
        let ops = (proptest::collection::vec(op(), 1..10), any::<bool>());
        runner
            .run(&ops, |(ops, delete_at_end)| {
                rt.block_on(run_case(&s, &auth, ops, delete_at_end))
            })
            .unwrap();
        rt.block_on(s.stop());
    }
}

async fn run_case(
    s: &Stack,
    auth: &Api,
    ops: Vec<Op>,
    delete_at_end: bool,
) -> Result<(), TestCaseError> {
    let name = format!("prop{}", SEQ.fetch_add(1, Ordering::Relaxed));
    let (first, _) = s.user(&name).await;
    let mut password = "password1".to_owned();
    // Every token issued, and whether it should still work.
    let mut tokens: Vec<(String, bool)> = vec![(first, true)];
    for op in ops {
        let pick = |i: usize| i % tokens.len();
        match op {
            Op::Login => tokens.push((login(auth, &name, &password).await, true)),
            Op::Logout(i) | Op::LogoutAll(i) => {
                let i = pick(i);
                let all = matches!(op, Op::LogoutAll(_));
                let path = if all {
                    "/auth/logout?all=true"
                } else {
                    "/auth/logout"
                };
                let (status, body) =
                    at_auth(s, Method::POST, path, &tokens[i].0, Value::Null).await;
                if tokens[i].1 {
                    prop_assert_eq!(status, 200, "{:?}: {}", op, body);
                    if all {
                        tokens.iter_mut().for_each(|t| t.1 = false);
                    } else {
                        tokens[i].1 = false;
                    }
                } else {
                    prop_assert_eq!((status, body["message"].as_str()), (401, Some(REVOKED)));
                }
            }
            Op::ChangePassword(i) => {
                let i = pick(i);
                let next = format!("password-{}", SEQ.fetch_add(1, Ordering::Relaxed));
                let body = json!({"current_password": password, "new_password": next});
                let (status, body) =
                    at_auth(s, Method::PUT, "/auth/me/password", &tokens[i].0, body).await;
                if tokens[i].1 {
                    prop_assert_eq!(status, 200, "{}", body);
                    tokens.iter_mut().for_each(|t| t.1 = false);
                    tokens.push((body["token"].as_str().unwrap().to_owned(), true));
                    password = next;
                } else {
                    prop_assert_eq!((status, body["message"].as_str()), (401, Some(REVOKED)));
                }
            }
            Op::UseAtTask(i) => {
                let (token, live) = &tokens[pick(i)];
                let status = at_task(s, token).await;
                if *live {
                    prop_assert_eq!(status, 200, "a live token is never refused");
                }
            }
        }
    }
    if delete_at_end && let Some((token, _)) = tokens.iter().find(|t| t.1) {
        let body = json!({"password": password});
        let (status, body) = at_auth(s, Method::DELETE, "/auth/me", token, body).await;
        prop_assert_eq!(status, 200, "{}", body);
        tokens.iter_mut().for_each(|t| t.1 = false);
    }
    for (token, live) in &tokens {
        let (status, body) = auth
            .call(Method::POST, "/auth/validate", Some(token), None)
            .await;
        let expected = if *live {
            (200, None)
        } else {
            (401, Some(REVOKED))
        };
        let got = (
            status,
            if status == 200 {
                None
            } else {
                body["message"].as_str()
            },
        );
        prop_assert_eq!(got, expected, "at auth, at once");
    }
    tokio::time::sleep(PAST_BOUND).await;
    for (token, live) in &tokens {
        let status = at_task(s, token).await;
        prop_assert_eq!(
            status,
            if *live { 200 } else { 401 },
            "at task, after the bound"
        );
    }
    Ok(())
}

/// The cost of the revocation check per request, printed (timings are not asserted): TTL 0
/// makes every request a cache miss (one query each: what the check would cost without the
/// cache); the default TTL makes (almost) every request a hit (no query). What it asserts is
/// that every request under load succeeds either way. One second per case by default;
/// `MEASURE_SECS=10` for a measurement worth quoting.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a load measurement (MEASURE_SECS sets its length): run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn measure_revocation_cost() {
    let secs: u64 = std::env::var("MEASURE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    for backend in backends() {
        for ttl in [Duration::ZERO, KeySettings::new("x").revocation_ttl] {
            let s = Stack::start_tuned(backend, |k| k.revocation_ttl = ttl).await;
            let (token, _) = s.user("load").await;
            assert_eq!(s.create(&token, json!({"title": "t"})).await.0, 201);
            let deadline = std::time::Instant::now() + Duration::from_secs(secs);
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let (api, token) = (s.api.clone(), token.clone());
                    tokio::spawn(async move {
                        let mut n = 0u64;
                        while std::time::Instant::now() < deadline {
                            assert_eq!(api.get("/tasks", Some(&token)).await.0, 200);
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            let mut total = 0;
            for w in workers {
                total += w.await.unwrap();
            }
            eprintln!(
                "{backend:?} ttl={ttl:?}: {total} GET /tasks in {secs} s = {:.0} req/s, {:.2} ms each (4 concurrent, debug build)",
                total as f64 / secs as f64,
                (secs * 4 * 1000) as f64 / total as f64
            );
            s.stop().await;
        }
    }
}
