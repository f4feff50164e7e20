//! End to end through the router, with auth, task and the router as separate processes, on
//! SQLite and (with TEST_DATABASE_URL) PostgreSQL: the whole flow, then token expiry, a key
//! rotation the task service has not seen, and auth stopped while task keeps serving.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use testkit::{
    api::Api,
    db::{TestDb, backends},
    process::{ServiceProcess, env, workspace_binary},
};

/// The system behind the router, spoken to as a client would.
struct Client {
    api: Api,
}

impl std::ops::Deref for Client {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Client {
    async fn login(&self, username: &str) -> String {
        let (status, v) = self
            .call(
                Method::POST,
                "/auth/login",
                None,
                Some(json!({"username": username, "password": "password1"})),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        v["token"].as_str().unwrap().to_owned()
    }
}

fn start_auth(db: &TestDb, key: &str, port: Option<u16>) -> ServiceProcess {
    let mut vars = env(&[
        ("DATABASE_URL", &db.url),
        ("JWT_SIGNING_KEY", key),
        ("BCRYPT_COST", "4"),
    ]);
    if let Some(p) = port {
        vars.push(("PORT".into(), p.to_string()));
    }
    ServiceProcess::spawn(&workspace_binary("auth"), &vars)
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_flow_through_the_router_then_expiry_rotation_and_auth_down() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let key1 = auth::app::signing_keys::generate_pem();
        let mut auth = start_auth(&db, &key1, None);
        auth.wait_healthy("/auth/ready").await;
        let auth_port = auth.port;
        let mut task = ServiceProcess::spawn(
            &workspace_binary("task"),
            &env(&[("DATABASE_URL", &db.url), ("AUTH_SERVICE_URL", &auth.base)]),
        );
        task.wait_healthy("/tasks/ready").await;
        let router = router_process(&auth.base, &task.base).await;
        let c = Client {
            api: Api::new(router.base.clone()),
        };
        // The starting page tells a newcomer where a token comes from.
        let page = c.http.get(c.url("/docs")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        for needle in ["/auth/docs", "/tasks/docs", "POST /auth/login", "Authorize"] {
            assert!(html.contains(needle), "/docs lacks {needle}");
        }

        // The whole flow.
        let (status, reg) = c
            .call(
                Method::POST,
                "/auth/register",
                None,
                Some(json!({"username": "e2e", "email": "e2e@x.io", "password": "password1"})),
            )
            .await;
        assert_eq!(status, 201, "{backend:?} {reg}");
        let token = c.login("e2e").await;
        let (status, created) = c
            .call(
                Method::POST,
                "/tasks",
                Some(&token),
                Some(json!({"title": "ship it", "priority": "high"})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        let id = created["task"]["id"].as_i64().unwrap();
        let (status, list) = c.call(Method::GET, "/tasks", Some(&token), None).await;
        assert_eq!((status, list["total"].as_u64()), (200, Some(1)));
        let (status, got) = c
            .call(Method::GET, &format!("/tasks/{id}"), Some(&token), None)
            .await;
        assert_eq!((status, &got["task"]["title"]), (200, &json!("ship it")));
        let (status, upd) = c
            .call(
                Method::PUT,
                &format!("/tasks/{id}"),
                Some(&token),
                Some(json!({"status": "completed"})),
            )
            .await;
        assert_eq!((status, &upd["task"]["status"]), (200, &json!("completed")));
        let (status, _) = c
            .call(Method::DELETE, &format!("/tasks/{id}"), Some(&token), None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            c.call(Method::GET, &format!("/tasks/{id}"), Some(&token), None)
                .await
                .0,
            404
        );
        let (status, v) = c
            .call(Method::POST, "/auth/validate", Some(&token), None)
            .await;
        assert_eq!((status, &v["valid"]), (200, &json!(true)));
        assert_eq!(c.call(Method::GET, "/nowhere", None, None).await.0, 404);

        // Token expiry: a token signed by auth's key whose lifetime is over.
        let ring = auth::app::signing_keys::KeyRing::from_material(&key1).unwrap();
        let now = chrono::Utc::now().timestamp();
        let claims = json!({"sub": reg["user"]["id"].to_string(), "user_id": reg["user"]["id"], "username": "e2e",
            "email": "e2e@x.io", "role": "user", "iat": now - 3700, "exp": now - 100,
            "iss": "task-management", "aud": "task-management-api", "jti": "expired"});
        let expired = ring.sign(&claims).unwrap();
        let (status, body) = c.call(Method::GET, "/tasks", Some(&expired), None).await;
        assert_eq!(
            (status, &body["message"]),
            (401, &json!("Token has expired"))
        );
        let (status, body) = c
            .call(Method::POST, "/auth/validate", Some(&expired), None)
            .await;
        assert_eq!(
            (status, &body["message"]),
            (401, &json!("Token has expired"))
        );

        // Rotation: auth restarts with a new key (still publishing the old one); the task
        // service has never seen the new kid and fetches it on first sight.
        auth.terminate();
        assert!(auth.wait_exit(Duration::from_secs(30)).await.success());
        let key2 = auth::app::signing_keys::generate_pem();
        let bundle = format!("{key2}\n{key1}");
        let mut auth = start_auth(&db, &bundle, Some(auth_port));
        auth.wait_healthy("/auth/health").await;
        let new_token = c.login("e2e").await;
        assert_ne!(
            platform::jwt::Verifier::kid_of(&new_token),
            platform::jwt::Verifier::kid_of(&token)
        );
        // Refreshes are rate-limited to one every two seconds: allow for one to be due.
        let mut status = 0;
        for _ in 0..60 {
            status = c
                .call(Method::GET, "/tasks", Some(&new_token), None)
                .await
                .0;
            if status == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            status, 200,
            "task service accepts a token signed with the rotated key"
        );
        assert_eq!(
            c.call(Method::GET, "/tasks", Some(&token), None).await.0,
            200,
            "old key still published"
        );

        // auth stops: task keeps serving with the keys it has; auth's routes answer 503.
        auth.kill();
        let (status, created) = c
            .call(
                Method::POST,
                "/tasks",
                Some(&new_token),
                Some(json!({"title": "offline"})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(
            c.call(Method::GET, "/tasks", Some(&new_token), None)
                .await
                .1["total"],
            1
        );
        let (status, body) = c
            .call(
                Method::POST,
                "/auth/login",
                None,
                Some(json!({"username": "e2e", "password": "password1"})),
            )
            .await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"], "Service Unavailable");
        task.terminate();
        assert!(task.wait_exit(Duration::from_secs(30)).await.success());
    }
}

async fn router_process(auth: &str, task: &str) -> ServiceProcess {
    let mut p = ServiceProcess::spawn_args(
        &workspace_binary("task-management"),
        &["router", "--auth", auth, "--task", task],
        &[],
    );
    // The router answers its own 404 for unknown paths: that is enough to know it is up.
    let http = testkit::http();
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{}/up", p.base)).send().await
            && r.status() == 404
        {
            return p;
        }
        assert!(p.try_status().is_none(), "router exited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("router did not start");
}
