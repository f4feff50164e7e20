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
            token_contract::jwt::Verifier::kid_of(&new_token),
            token_contract::jwt::Verifier::kid_of(&token)
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

/// How long a token ended at auth may keep working at task: the contract's bound.
const REVOCATION_BOUND: Duration = Duration::from_secs(30);

/// Polls `GET /tasks` with `token` until task refuses it as revoked; how long that took.
async fn until_revoked_at_task(c: &Client, token: &str) -> Duration {
    let start = std::time::Instant::now();
    loop {
        let (status, body) = c.call(Method::GET, "/tasks", Some(token), None).await;
        if status == 401 {
            assert_eq!(body["message"], "Token has been revoked", "{body}");
            return start.elapsed();
        }
        assert_eq!(status, 200, "{body}");
        assert!(
            start.elapsed() < REVOCATION_BOUND,
            "task still accepts a token ended at auth"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_ended_at_auth_are_refused_by_task_within_the_bound_and_deleted_tasks_are_gone() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let key = auth::app::signing_keys::generate_pem();
        let mut auth = start_auth(&db, &key, None);
        auth.wait_healthy("/auth/ready").await;
        let mut task = ServiceProcess::spawn(
            &workspace_binary("task"),
            &env(&[("DATABASE_URL", &db.url), ("AUTH_SERVICE_URL", &auth.base)]),
        );
        task.wait_healthy("/tasks/ready").await;
        let router = router_process(&auth.base, &task.base).await;
        let c = Client {
            api: Api::new(router.base.clone()),
        };
        for name in ["stays", "leaves"] {
            let (status, body) = c.register(name, &format!("{name}@x.io"), "password1").await;
            assert_eq!(status, 201, "{backend:?} {body}");
        }
        let (logged_out, kept) = (c.login("stays").await, c.login("stays").await);
        let leaver = c.login("leaves").await;
        for token in [&kept, &leaver, &leaver] {
            let (status, _) = c
                .call(
                    Method::POST,
                    "/tasks",
                    Some(token),
                    Some(json!({"title": "t"})),
                )
                .await;
            assert_eq!(status, 201);
        }
        // Task has seen every token (its cache holds both users' state).
        for token in [&logged_out, &kept, &leaver] {
            assert_eq!(
                c.call(Method::GET, "/tasks", Some(token), None).await.0,
                200
            );
        }

        let (status, _) = c
            .call(Method::POST, "/auth/logout", Some(&logged_out), None)
            .await;
        assert_eq!(status, 200);
        let (status, body) = c
            .call(
                Method::DELETE,
                "/auth/me",
                Some(&leaver),
                Some(json!({"password": "password1"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        // At auth at once.
        for token in [&logged_out, &leaver] {
            let (status, body) = c
                .call(Method::POST, "/auth/validate", Some(token), None)
                .await;
            assert_eq!(
                (status, &body["message"]),
                (401, &json!("Token has been revoked"))
            );
        }
        // At task within the bound (its cache's TTL, 15 s by default).
        let (a, b) = tokio::join!(
            until_revoked_at_task(&c, &logged_out),
            until_revoked_at_task(&c, &leaver)
        );
        eprintln!("{backend:?}: refused at task after {a:?} (logout) and {b:?} (deletion)");
        let (status, list) = c.call(Method::GET, "/tasks", Some(&kept), None).await;
        assert_eq!(
            (status, &list["total"]),
            (200, &json!(1)),
            "the other token lives"
        );

        // The deleted account's tasks are gone; its names are free again.
        let conn = db.connect().await;
        use sea_orm::ConnectionTrait;
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                "SELECT COUNT(*) AS n FROM tasks",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.try_get::<i64>("", "n").unwrap(),
            1,
            "only the kept user's task"
        );
        let _ = conn.close().await;
        let (status, _) = c.register("leaves", "leaves@x.io", "password1").await;
        assert_eq!(status, 201);
        task.terminate();
        assert!(task.wait_exit(Duration::from_secs(30)).await.success());
        auth.kill();
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
