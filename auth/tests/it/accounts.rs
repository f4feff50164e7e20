//! The caller's own account — read it, change its password, delete it, log out — and the
//! tokens each of those revokes, refused by auth at once; on SQLite and (with
//! TEST_DATABASE_URL) PostgreSQL.

use crate::common;

use common::{TestAuth, assert_envelope};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use testkit::db::backends;

const REVOKED: &str = "Token has been revoked";

async fn call(s: &TestAuth, method: Method, path: &str, token: &str, body: Value) -> (u16, Value) {
    let body = (!body.is_null()).then_some(body);
    s.api.call(method, path, Some(token), body).await
}

async fn me(s: &TestAuth, token: &str) -> (u16, Value) {
    s.api.get("/auth/me", Some(token)).await
}

async fn change_password(s: &TestAuth, token: &str, current: &str, new: &str) -> (u16, Value) {
    let body = json!({"current_password": current, "new_password": new});
    call(s, Method::PUT, "/auth/me/password", token, body).await
}

async fn delete_me(s: &TestAuth, token: &str, password: &str) -> (u16, Value) {
    let body = json!({"password": password});
    call(s, Method::DELETE, "/auth/me", token, body).await
}

async fn logout(s: &TestAuth, token: &str, query: &str) -> (u16, Value) {
    let path = format!("/auth/logout{query}");
    call(s, Method::POST, &path, token, Value::Null).await
}

/// 401 "Token has been revoked" at every bearer route of auth.
async fn assert_revoked(s: &TestAuth, token: &str) {
    for (status, body) in [
        s.validate(token).await,
        me(s, token).await,
        logout(s, token, "").await,
        change_password(s, token, "password1", "password2").await,
        delete_me(s, token, "password1").await,
    ] {
        assert_eq!(
            (status, body["message"].as_str()),
            (401, Some(REVOKED)),
            "{body}"
        );
        assert_envelope(&body, "Unauthorized");
    }
}

async fn count(s: &TestAuth, sql: &str) -> i64 {
    let conn = s.db.connect().await;
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = row.try_get_by_index(0).unwrap();
    let _ = conn.close().await;
    n
}

async fn execute(s: &TestAuth, sql: &str) {
    let conn = s.db.connect().await;
    conn.execute_unprepared(sql).await.unwrap();
    let _ = conn.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn me_answers_the_callers_account() {
    for backend in backends() {
        let s = TestAuth::start(backend).await;
        let (token, id) = s.api.user("Maya").await;
        let (status, body) = me(&s, &token).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        let user = body["user"].as_object().unwrap();
        assert_eq!(
            user.keys().collect::<Vec<_>>(),
            ["created_at", "email", "id", "role", "username"]
        );
        assert_eq!(
            (&body["user"]["id"], &body["user"]["username"]),
            (&json!(id), &json!("Maya"))
        );
        assert_eq!(body["user"]["email"], "Maya@example.com");
        assert_eq!(body["user"]["role"], "user");
        let created = body["user"]["created_at"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(created).is_ok(),
            "{created}"
        );

        let (status, body) = s.api.get("/auth/me", None).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (401, Some("No authentication token provided"))
        );
        let (status, body) = me(&s, "not.a.token").await;
        assert_eq!(
            (status, body["message"].as_str()),
            (401, Some("Invalid token"))
        );
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn password_change_revokes_earlier_tokens_and_answers_a_working_one() {
    for backend in backends() {
        let s = TestAuth::start(backend).await;
        let (token, id) = s.api.user("pat").await;
        let (_, second) = s.login("pat", "password1").await;
        let second = second["token"].as_str().unwrap().to_owned();

        // Wrong current password: 401, nothing changes.
        let (status, body) = change_password(&s, &token, "wrong-password", "password2").await;
        assert_eq!(status, 401, "{backend:?}: {body}");
        assert_eq!(body["message"], "Current password is incorrect");
        assert_eq!(me(&s, &token).await.0, 200);

        // The new password follows the registration rules; both fields are required.
        let (status, body) = change_password(&s, &token, "password1", "short").await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            body["details"],
            json!([{"field": "new_password", "message": "must be at least 8 bytes long"}])
        );
        let (status, body) = call(&s, Method::PUT, "/auth/me/password", &token, json!({})).await;
        assert_eq!(status, 400);
        let fields = testkit::api::invalid_fields(&body);
        assert_eq!(fields, ["current_password", "new_password"]);
        let long = "x".repeat(73);
        let (status, body) = change_password(&s, &token, "password1", &long).await;
        assert_eq!(
            (status, &body["details"][0]["field"]),
            (400, &json!("new_password"))
        );

        // Success: same body as a login, with a token that works at once (issued in the same
        // second as the change), while every earlier token is revoked.
        let (status, changed) = change_password(&s, &token, "password1", "password2").await;
        assert_eq!(status, 200, "{changed}");
        assert_eq!(changed["message"], "Password changed successfully");
        assert_eq!(changed["token_type"], "Bearer");
        assert_eq!(changed["expires_in"], 3600);
        assert_eq!(
            changed["user"],
            json!({"id": id, "username": "pat", "email": "pat@example.com"})
        );
        let fresh = changed["token"].as_str().unwrap().to_owned();
        assert_eq!(s.validate(&fresh).await.0, 200);
        assert_eq!(me(&s, &fresh).await.0, 200);
        assert_revoked(&s, &token).await;
        assert_revoked(&s, &second).await;
        assert_eq!(s.login("pat", "password1").await.0, 401);
        let (status, login) = s.login("pat", "password2").await;
        assert_eq!(status, 200);
        assert_eq!(s.validate(login["token"].as_str().unwrap()).await.0, 200);

        // A second change right away revokes the token the first one answered.
        let (status, again) = change_password(&s, &fresh, "password2", "password3").await;
        assert_eq!(status, 200, "{again}");
        assert_revoked(&s, &fresh).await;
        assert_eq!(me(&s, again["token"].as_str().unwrap()).await.0, 200);
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_current_passwords_count_toward_login_throttling() {
    for backend in backends() {
        let s = TestAuth::start(backend).await;
        let (token, _) = s.api.user("quinn").await;
        for _ in 0..5 {
            let (status, _) = change_password(&s, &token, "not-my-password", "password2").await;
            assert_eq!(status, 401, "{backend:?}");
        }
        // The username is now throttled: the right password is refused too, here and at login.
        let r = s
            .http
            .put(s.url("/auth/me/password"))
            .bearer_auth(&token)
            .json(&json!({"current_password": "password1", "new_password": "password2"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429);
        assert!(r.headers().contains_key("retry-after"));
        assert_eq!(s.login("quinn", "password1").await.0, 429);
        assert_eq!(delete_me(&s, &token, "password1").await.0, 429);
        // Reading the account needs no password and is not throttled.
        assert_eq!(me(&s, &token).await.0, 200);
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_removes_the_user_and_their_tasks_and_frees_the_names() {
    for backend in backends() {
        let s = TestAuth::start(backend).await;
        // Dana has the highest id, which SQLite would hand out again without AUTOINCREMENT.
        let (other, other_id) = s.api.user("eve").await;
        let (token, id) = s.api.user("dana").await;
        for (owner, title) in [(id, "a"), (id, "b"), (other_id, "c")] {
            execute(
                &s,
                &format!(
                    "INSERT INTO tasks (user_id, title, status, priority, created_at, updated_at) \
                     VALUES ({owner}, '{title}', 'pending', 'medium', \
                     '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')"
                ),
            )
            .await;
        }
        assert_eq!(logout(&s, &token, "?all=false").await.0, 200);
        let (token, _) = {
            let (_, l) = s.login("dana", "password1").await;
            (l["token"].as_str().unwrap().to_owned(), ())
        };
        assert_eq!(
            count(
                &s,
                &format!("SELECT COUNT(*) FROM revoked_tokens WHERE user_id = {id}")
            )
            .await,
            1
        );

        let (status, body) = delete_me(&s, &token, "wrong-password").await;
        assert_eq!(
            (status, body["message"].as_str()),
            (401, Some("Current password is incorrect"))
        );
        let (status, body) = call(&s, Method::DELETE, "/auth/me", &token, json!({})).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["details"][0]["field"], "password");
        assert_eq!(
            count(
                &s,
                &format!("SELECT COUNT(*) FROM tasks WHERE user_id = {id}")
            )
            .await,
            2
        );

        let (status, body) = delete_me(&s, &token, "password1").await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body, json!({"message": "Account deleted successfully"}));
        assert_revoked(&s, &token).await;
        assert_eq!(s.login("dana", "password1").await.0, 401);
        for table in [
            "users WHERE id",
            "tasks WHERE user_id",
            "revoked_tokens WHERE user_id",
        ] {
            let sql = format!("SELECT COUNT(*) FROM {table} = {id}");
            assert_eq!(count(&s, &sql).await, 0, "{backend:?}: {sql}");
        }
        // Nobody else's rows went with them.
        assert_eq!(
            count(
                &s,
                &format!("SELECT COUNT(*) FROM tasks WHERE user_id = {other_id}")
            )
            .await,
            1
        );
        assert_eq!(me(&s, &other).await.0, 200);

        // Username and email are free again (in any case); the old token stays dead, because
        // the new account is a new user id.
        let (status, reg) = s.register("DANA", "dana@EXAMPLE.com", "password9").await;
        assert_eq!(status, 201, "{reg}");
        assert_ne!(reg["user"]["id"], json!(id));
        let (status, login) = s.login("dana", "password9").await;
        assert_eq!(status, 200);
        assert_eq!(me(&s, login["token"].as_str().unwrap()).await.0, 200);
        assert_revoked(&s, &token).await;
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_revokes_this_token_and_logout_all_every_token() {
    for backend in backends() {
        let s = TestAuth::start(backend).await;
        let (first, id) = s.api.user("lou").await;
        let (_, l) = s.login("lou", "password1").await;
        let second = l["token"].as_str().unwrap().to_owned();

        let (status, body) = logout(&s, &first, "").await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        assert_eq!(body, json!({"message": "Logged out successfully"}));
        assert_revoked(&s, &first).await;
        assert_eq!(
            me(&s, &second).await.0,
            200,
            "only the presented token is revoked"
        );

        let (status, body) = logout(&s, &second, "?all=maybe").await;
        assert_eq!(status, 400, "{body}");
        assert_envelope(&body, "Bad Request");
        assert_eq!(me(&s, &second).await.0, 200);

        let (_, l) = s.login("lou", "password1").await;
        let third = l["token"].as_str().unwrap().to_owned();
        let (status, body) = logout(&s, &second, "?all=true").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"message": "Logged out of all sessions"}));
        assert_revoked(&s, &second).await;
        assert_revoked(&s, &third).await;

        // A login right after (most likely in the same second) is not born revoked.
        let (_, l) = s.login("lou", "password1").await;
        let fourth = l["token"].as_str().unwrap().to_owned();
        assert_eq!(me(&s, &fourth).await.0, 200);
        assert_eq!(s.validate(&fourth).await.0, 200);
        // ... and logging out everything again revokes it too.
        assert_eq!(logout(&s, &fourth, "?all=true").await.0, 200);
        assert_revoked(&s, &fourth).await;
        assert_eq!(
            count(
                &s,
                &format!("SELECT COUNT(*) FROM revoked_tokens WHERE user_id = {id}")
            )
            .await,
            1
        );
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_sweeps_expired_rows_a_bounded_number_at_a_time() {
    for backend in backends() {
        let s = TestAuth::start(backend).await;
        let (token, id) = s.api.user("sam").await;
        let values: Vec<String> = (0..150)
            .map(|i| format!("('old-{i}', {id}, '2020-01-01T00:00:00Z')"))
            .collect();
        execute(
            &s,
            &format!(
                "INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES {}",
                values.join(", ")
            ),
        )
        .await;
        assert_eq!(logout(&s, &token, "").await.0, 200);
        let expired = "SELECT COUNT(*) FROM revoked_tokens WHERE jti LIKE 'old-%'";
        assert_eq!(
            count(&s, expired).await,
            50,
            "{backend:?}: at most 100 per logout"
        );
        let (_, l) = s.login("sam", "password1").await;
        assert_eq!(logout(&s, l["token"].as_str().unwrap(), "").await.0, 200);
        assert_eq!(count(&s, expired).await, 0);
        // The live ones stay.
        assert_eq!(
            count(&s, "SELECT COUNT(*) FROM revoked_tokens").await,
            2,
            "{backend:?}"
        );
        s.stop().await;
    }
}
