//! Every auth endpoint, success and failure, over HTTP to the running service, on SQLite and
//! (with TEST_DATABASE_URL) PostgreSQL.

use crate::common;

use common::{TestAuth, assert_envelope};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use testkit::db::backends;

#[tokio::test(flavor = "multi_thread")]
async fn register_login_validate() {
    for backend in backends() {
        let s = TestAuth::start(backend).await;
        let (status, body) = s
            .register("alice", "Alice@Example.com", "correct-horse")
            .await;
        assert_eq!(status, 201, "{backend:?}: {body}");
        assert_eq!(body["message"], "User registered successfully");
        assert_eq!(body["user"]["username"], "alice");
        assert_eq!(
            body["user"]["email"], "Alice@Example.com",
            "the case the user chose is kept"
        );
        assert!(body["user"]["id"].as_i64().is_some());
        let created = body["user"]["created_at"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(created).is_ok(),
            "{created}"
        );

        let (status, login) = s.login("alice", "correct-horse").await;
        assert_eq!(status, 200, "{login}");
        assert_eq!(login["message"], "Login successful");
        assert_eq!(login["token_type"], "Bearer");
        assert_eq!(login["expires_in"], 3600);
        assert_eq!(login["user"]["id"], body["user"]["id"]);
        assert_eq!(login["user"]["email"], "Alice@Example.com");

        let (status, v) = s.validate(login["token"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            v,
            json!({"valid": true, "user": {"user_id": body["user"]["id"], "username": "alice",
                   "email": "Alice@Example.com", "role": "user"}})
        );
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn password_is_stored_only_as_bcrypt() {
    for backend in backends() {
        let s = TestAuth::start(backend).await;
        assert_eq!(s.register("hashy", "h@x.io", "plain-text-pw").await.0, 201);
        let conn = s.db.connect().await;
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT password_hash FROM users WHERE username = 'hashy'",
            ))
            .await
            .unwrap()
            .unwrap();
        let hash: String = row.try_get("", "password_hash").unwrap();
        assert!(hash.starts_with("$2b$04$"), "{hash}");
        assert!(!hash.contains("plain-text-pw"));
        assert!(bcrypt::verify("plain-text-pw", &hash).unwrap());
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_validation_lists_every_bad_field() {
    for backend in backends() {
        let s = TestAuth::start(backend).await;
        let (status, body) = s
            .post(
                "/auth/register",
                json!({"username": "a b", "email": "nope", "password": "short"}),
            )
            .await;
        assert_eq!(status, 400);
        assert_envelope(&body, "Bad Request");
        let fields = testkit::api::invalid_fields(&body);
        assert_eq!(fields, ["username", "email", "password"]);

        let (status, body) = s.post("/auth/register", json!({"username": 42})).await;
        assert_eq!(status, 400);
        assert_eq!(
            body["details"],
            json!([{"field": "username", "message": "must be a string"},
                   {"field": "email", "message": "is required"},
                   {"field": "password", "message": "is required"}])
        );

        for (username, email, password, field) in [
            ("ab", "a@b.io", "password1", "username"),
            (&"u".repeat(51) as &str, "a@b.io", "password1", "username"),
            (
                "good_name",
                &format!("{}@b.io", "a".repeat(100)) as &str,
                "password1",
                "email",
            ),
            ("good_name", "a@b.io", &"p".repeat(73) as &str, "password"),
            ("good_name", "a@b.io", "1234567", "password"),
        ] {
            let (status, body) = s.register(username, email, password).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["details"][0]["field"], field, "{body}");
        }
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_conflict() {
    for backend in backends() {
        let s = TestAuth::start(backend).await;
        assert_eq!(s.register("dup", "dup@x.io", "password1").await.0, 201);
        let (status, body) = s.register("dup", "other@x.io", "password1").await;
        assert_eq!(status, 409);
        assert_envelope(&body, "Conflict");
        assert_eq!(body["message"], "Username already exists");
        let (status, body) = s.register("other", "DUP@x.io", "password1").await;
        assert_eq!(status, 409);
        assert_eq!(body["message"], "Email already registered");
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn login_failures_look_alike_and_are_rate_limited() {
    for backend in backends() {
        let s = TestAuth::start(backend).await;
        assert_eq!(s.register("bob", "bob@x.io", "password1").await.0, 201);
        let (s1, wrong) = s.login("bob", "password2").await;
        let (s2, unknown) = s.login("nobody", "password2").await;
        assert_eq!((s1, s2), (401, 401));
        assert_eq!(wrong, unknown);
        assert_eq!(wrong["message"], "Invalid username or password");

        let (status, body) = s.post("/auth/login", json!({"username": "bob"})).await;
        assert_eq!(status, 400);
        assert_eq!(body["details"][0]["field"], "password");

        // Five failures for one username in the window, then 429 even with the right password.
        for _ in 0..4 {
            assert_eq!(s.login("bob", "bad-password").await.0, 401);
        }
        let r = s
            .http
            .post(s.url("/auth/login"))
            .json(&json!({"username": "bob", "password": "password1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429);
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=900).contains(&retry), "{retry}");
        assert_envelope(&r.json().await.unwrap(), "Too Many Requests");

        // Per address: twenty failures across many usernames block the address.
        for i in 0..20 {
            s.login(&format!("ghost{i}"), "whatever1").await;
        }
        let (status, _) = s.login("fresh-user", "whatever1").await;
        assert_eq!(status, 429);
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_rejects_missing_garbage_and_expired() {
    for backend in backends() {
        let s = TestAuth::start(backend).await;
        let r = s.http.post(s.url("/auth/validate")).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.json::<Value>().await.unwrap()["message"],
            "No authentication token provided"
        );
        let (status, body) = s.validate("not.a.token").await;
        assert_eq!(status, 401);
        assert_eq!(body["message"], "Invalid token");

        let expired = sign(&s, json!({"exp": now() - 120, "iat": now() - 4000}));
        let (status, body) = s.validate(&expired).await;
        assert_eq!(status, 401);
        assert_eq!(body["message"], "Token has expired");

        let wrong_aud = sign(&s, json!({"aud": "someone-else"}));
        assert_eq!(s.validate(&wrong_aud).await.1["message"], "Invalid token");
        let wrong_iss = sign(&s, json!({"iss": "evil"}));
        assert_eq!(s.validate(&wrong_iss).await.1["message"], "Invalid token");
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn jwks_publishes_the_signing_key() {
    let s = TestAuth::start(testkit::db::Backend::Sqlite).await;
    s.register("carol", "c@x.io", "password1").await;
    let token = s.login("carol", "password1").await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let jwks: Value = testkit::get_json(&s.url("/auth/.well-known/jwks.json")).await;
    let kid = token_contract::jwt::Verifier::kid_of(&token).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], kid.as_str());
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert_eq!(keys[0]["alg"], "EdDSA");
    assert_eq!(keys[0]["use"], "sig");
    // The published key really verifies the token.
    let set: token_contract::jwt::JwkSet = serde_json::from_value(jwks).unwrap();
    let settings = token_contract::settings::JwtSettings::default();
    assert!(
        token_contract::jwt::Verifier::new(&set, &settings)
            .verify(&token)
            .is_ok()
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_bundle_publishes_both_and_old_tokens_stay_valid() {
    let old_pem = auth::app::signing_keys::generate_pem();
    let new_pem = auth::app::signing_keys::generate_pem();
    let db = testkit::db::TestDb::new(testkit::db::Backend::Sqlite).await;
    let cfg = common::config(&db, &old_pem);
    let old = TestAuth::start_with(db, old_pem.clone(), cfg).await;
    old.register("dave", "d@x.io", "password1").await;
    let old_token = old.login("dave", "password1").await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The same database: a token of a user that does not exist there would be revoked.
    let db = old.stop_keeping_db().await;
    let bundle = json!({"current": new_pem, "previous": [old_pem]}).to_string();
    let cfg = common::config(&db, &bundle);
    let s = TestAuth::start_with(db, bundle, cfg).await;
    let jwks: Value = testkit::get_json(&s.url("/auth/.well-known/jwks.json")).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let (status, _) = s.validate(&old_token).await;
    assert_eq!(
        status, 200,
        "a token signed with the previous key still validates"
    );
    s.register("erin", "e@x.io", "password1").await;
    let new_token = s.login("erin", "password1").await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(
        token_contract::jwt::Verifier::kid_of(&new_token),
        token_contract::jwt::Verifier::kid_of(&old_token)
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_ready_docs_and_spec() {
    for backend in backends() {
        let s = TestAuth::start(backend).await;
        let health: Value = testkit::get_json(&s.url("/auth/health")).await;
        assert_eq!(
            health,
            json!({"status": "healthy", "service": "auth-service", "version": env!("CARGO_PKG_VERSION")})
        );
        let r = s.http.get(s.url("/auth/ready")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = s.http.get(s.url("/auth/docs")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("swagger"));
        let spec: Value = testkit::get_json(&s.url("/auth/openapi.json")).await;
        assert_eq!(spec["openapi"], "3.0.0");
        assert!(spec["paths"]["/auth/register"]["post"].is_object());
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "PostgreSQL only (drops the database under the service): set TEST_DATABASE_URL and run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn ready_is_503_when_the_database_goes_away() {
    let s = TestAuth::start(testkit::db::Backend::Postgres).await;
    let name = s.db.name.clone().unwrap();
    s.db.admin(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await;
    let r = s.http.get(s.url("/auth/ready")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.unwrap();
    assert_envelope(&body, "Service Unavailable");
    // Refused, not slow: readiness says which.
    assert_eq!(body["message"], "The database is unreachable", "{body}");
    // Liveness does not depend on the database.
    assert_eq!(
        s.http
            .get(s.url("/auth/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, body) = s.register("zed", "z@x.io", "password1").await;
    assert_eq!(status, 503, "{body}");
    s.stop().await;
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A token signed with the service's own key, with `overrides` applied to valid claims.
fn sign(s: &TestAuth, overrides: Value) -> String {
    let mut claims = json!({
        "sub": "1", "user_id": 1, "username": "x", "email": "x@x.io", "role": "user",
        "iat": now(), "exp": now() + 600, "iss": "task-management", "aud": "task-management-api",
        "jti": "j",
    });
    for (k, v) in overrides.as_object().unwrap() {
        claims[k] = v.clone();
    }
    let ring = auth::app::signing_keys::KeyRing::from_material(&s.key_pem).unwrap();
    ring.sign(&claims).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn names_are_one_account_regardless_of_case_and_login_input_is_bounded() {
    for backend in backends() {
        let s = TestAuth::start(backend).await;
        assert_eq!(
            s.register("Alice", "Alice@Example.com", "password1")
                .await
                .0,
            201
        );
        let (status, body) = s.register("alice", "other@example.com", "password1").await;
        assert_eq!(
            (status, body["message"].as_str()),
            (409, Some("Username already exists"))
        );
        let (status, body) = s
            .register("someone", "ALICE@example.COM", "password1")
            .await;
        assert_eq!(
            (status, body["message"].as_str()),
            (409, Some("Email already registered"))
        );
        let (status, login) = s.login("ALICE", "password1").await;
        assert_eq!(status, 200, "{backend:?}: {login}");
        assert_eq!(
            login["user"]["username"], "Alice",
            "the case chosen at registration"
        );

        // Over-long or malformed usernames are refused before any lookup; NUL is a wrong
        // password's 401.
        let (status, body) = s.login("ali\u{0}ce", "password1").await;
        assert_eq!(
            (status, body["message"].as_str()),
            (401, Some("Invalid username or password"))
        );
        for username in ["u".repeat(60_000), "a b c".into()] {
            let (status, body) = s.login(&username, "password1").await;
            assert_eq!(status, 400, "{backend:?}: {body}");
            assert_eq!(body["details"][0]["field"], "username");
        }
        let (status, _) = s.login("Alice", &"p".repeat(73)).await;
        assert_eq!(status, 400);
        let (status, body) = s.register("nul", "nul@example.com", "pass\u{0}word").await;
        assert_eq!(
            (status, body["details"][0]["field"].as_str()),
            (400, Some("password"))
        );
        s.stop().await;
    }
}
