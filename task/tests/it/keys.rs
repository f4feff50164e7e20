//! Token verification against the auth service's JWK Set: cached, refreshed on an unknown
//! `kid`, kept when auth goes away, and 503 when there are no keys at all.

use crate::common;

use common::{Stack, key_settings, start_auth_on, start_task};
use serde_json::json;
use testkit::db::{Backend, TestDb};
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread")]
async fn keeps_serving_with_cached_keys_when_auth_is_down() {
    let mut s = Stack::start(Backend::Sqlite).await;
    let (token, _) = s.user("resilient").await;
    s.auth.take().unwrap().stop().await.unwrap();
    let (status, body) = s.create(&token, json!({"title": "still works"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(s.get(&token, "/tasks").await.1["total"], 1);
    assert_eq!(s.api.get("/tasks/ready", None).await.0, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_keys_at_all_means_503_until_auth_appears() {
    let db = TestDb::new(Backend::Sqlite).await;
    // Reserve a port for auth but start nothing there yet.
    let reserved = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = reserved.local_addr().unwrap();
    drop(reserved);
    let task = start_task(&db, key_settings(&format!("http://{addr}"))).await;
    let http = testkit::http();
    let r = http
        .get(format!("{}/tasks", task.base))
        .bearer_auth("x.y.z")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "Service Unavailable");
    assert_eq!(
        http.get(format!("{}/tasks/ready", task.base))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    assert_eq!(
        http.get(format!("{}/tasks/health", task.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Auth comes up: the next token is verified after an on-demand refresh.
    let key = auth::app::signing_keys::generate_pem();
    let auth = start_auth_on(TcpListener::bind(addr).await.unwrap(), &db, &key).await;
    let (token, _) = testkit::api::Api::new(auth.base.clone()).user("late").await;
    let token = token.as_str();
    let mut status = 0;
    for _ in 0..50 {
        status = http
            .get(format!("{}/tasks", task.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    assert_eq!(
        http.get(format!("{}/tasks/ready", task.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    task.stop().await.unwrap();
    auth.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_key_is_picked_up_on_first_sight() {
    let db = TestDb::new(Backend::Sqlite).await;
    let old_key = auth::app::signing_keys::generate_pem();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let auth_old = start_auth_on(listener, &db, &old_key).await;
    let task = start_task(&db, key_settings(&auth_old.base)).await;
    let http = testkit::http();
    http.post(format!("{}/auth/register", auth_old.base))
        .json(&json!({"username": "rotor", "email": "r@x.io", "password": "password1"}))
        .send()
        .await
        .unwrap();
    let login = |base: String| {
        let http = http.clone();
        async move {
            let v: serde_json::Value = http
                .post(format!("{base}/auth/login"))
                .json(&json!({"username": "rotor", "password": "password1"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["token"].as_str().unwrap().to_owned()
        }
    };
    let old_token = login(auth_old.base.clone()).await;
    assert_eq!(
        http.get(format!("{}/tasks", task.base))
            .bearer_auth(&old_token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // auth restarts on the same address with a new key, still publishing the old one.
    auth_old.stop().await.unwrap();
    let new_key = auth::app::signing_keys::generate_pem();
    let bundle = json!({"current": new_key, "previous": [old_key]}).to_string();
    let auth_new = start_auth_on(TcpListener::bind(addr).await.unwrap(), &db, &bundle).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // past the refresh rate limit
    let new_token = login(auth_new.base.clone()).await;
    assert_ne!(
        token_contract::jwt::Verifier::kid_of(&new_token),
        token_contract::jwt::Verifier::kid_of(&old_token)
    );
    let r = http
        .get(format!("{}/tasks", task.base))
        .bearer_auth(&new_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "new kid fetched on demand");
    let r = http
        .get(format!("{}/tasks", task.base))
        .bearer_auth(&old_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "previous key still published during rotation"
    );
    task.stop().await.unwrap();
    auth_new.stop().await.unwrap();
}
