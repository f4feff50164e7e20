//! End to end through the router, with auth, task and the router as separate processes, on
//! SQLite and (with TEST_DATABASE_URL) PostgreSQL: the whole flow, then token expiry, a key
//! rotation the task service has not seen, and auth stopped while task keeps serving.

use std::time::Duration;

use client::{
    Error, ResponseValue,
    auth::{self, types as auth_types},
    task::{self, types as task_types},
};
use serde_json::json;
use testkit::{
    api::Api,
    db::{TestDb, backends},
    process::{ServiceProcess, env, workspace_binary},
};

/// The system behind the router, spoken to through the clients generated from the specs.
struct Client {
    api: Api,
    auth: auth::Client,
}

impl Client {
    fn new(base: &str) -> Self {
        Self {
            api: Api::new(base),
            auth: auth::Client::new(base),
        }
    }

    /// The task service as the holder of `token` speaks to it.
    fn tasks(&self, token: &str) -> task::Client {
        task::Client::new_with_client(&self.api.base, client::bearer(token).expect("a token"))
    }

    /// The auth service's account operations, as the holder of `token`.
    fn account(&self, token: &str) -> auth::Client {
        auth::Client::new_with_client(&self.api.base, client::bearer(token).expect("a token"))
    }

    async fn register(&self, username: &str) -> auth_types::RegisterResponse {
        self.auth
            .register()
            .body(
                auth_types::RegisterRequest::builder()
                    .username(username)
                    .email(format!("{username}@x.io"))
                    .password("password1"),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("register {username}: {e:?}"))
            .into_inner()
    }

    async fn login(&self, username: &str) -> String {
        self.auth
            .login()
            .body(
                auth_types::LoginRequest::builder()
                    .username(username)
                    .password("password1"),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("login {username}: {e:?}"))
            .into_inner()
            .token
    }

    async fn create(&self, token: &str, title: &str) -> task_types::Task {
        self.tasks(token)
            .create_task()
            .body(task_types::CreateTaskRequest::builder().title(title))
            .send()
            .await
            .unwrap_or_else(|e| panic!("create {title}: {e:?}"))
            .into_inner()
            .task
    }

    async fn total(&self, token: &str) -> Result<u64, (u16, String)> {
        self.tasks(token)
            .list_tasks()
            .send()
            .await
            .map(|list| list.total)
            .map_err(|e| refused(e, |b: task_types::ErrorBody| b.message))
    }
}

/// The status and message of an answer the spec declares as an error.
fn refused<E: std::fmt::Debug>(e: Error<E>, message: impl FnOnce(E) -> String) -> (u16, String) {
    match e {
        Error::ErrorResponse(r) => (r.status().as_u16(), message(r.into_inner())),
        other => panic!("expected an error the spec declares, got {other:?}"),
    }
}

/// The answer of an operation expected to fail, as [`refused`] reads it.
fn failure<T: std::fmt::Debug, E: std::fmt::Debug>(
    r: Result<ResponseValue<T>, Error<E>>,
    message: impl FnOnce(E) -> String,
) -> (u16, String) {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => refused(e, message),
    }
}

fn auth_message(b: auth_types::ErrorBody) -> String {
    b.message
}

fn task_message(b: task_types::ErrorBody) -> String {
    b.message
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
        let key1 = ::auth::app::signing_keys::generate_pem();
        let mut auth = start_auth(&db, &key1, None);
        auth.wait_healthy("/auth/ready").await;
        let auth_port = auth.port;
        let mut task = ServiceProcess::spawn(
            &workspace_binary("task"),
            &env(&[("DATABASE_URL", &db.url), ("AUTH_SERVICE_URL", &auth.base)]),
        );
        task.wait_healthy("/tasks/ready").await;
        let router = router_process(&auth.base, &task.base).await;
        let c = Client::new(&router.base);
        // The starting page tells a newcomer where a token comes from.
        let page = c.api.http.get(c.api.url("/docs")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        for needle in ["/auth/docs", "/tasks/docs", "POST /auth/login", "Authorize"] {
            assert!(html.contains(needle), "/docs lacks {needle}");
        }

        // The whole flow.
        let reg = c.register("e2e").await;
        let token = c.login("e2e").await;
        let tasks = c.tasks(&token);
        let created = tasks
            .create_task()
            .body(
                task_types::CreateTaskRequest::builder()
                    .title("ship it")
                    .priority(task_types::Priority::High),
            )
            .send()
            .await
            .expect("create");
        assert_eq!(created.status(), 201);
        let id = created.task.id;
        let etag = created.headers()["etag"]
            .to_str()
            .expect("an ETag")
            .to_owned();
        assert_eq!(c.total(&token).await, Ok(1));
        let got = tasks.get_task().id(id).send().await.expect("get");
        assert_eq!(got.task.title, "ship it");
        let upd = tasks
            .update_task()
            .id(id)
            .if_match(etag)
            .body(task_types::UpdateTaskRequest::builder().status(task_types::Status::Completed))
            .send()
            .await
            .expect("update");
        assert_eq!(upd.task.status, task_types::Status::Completed);
        tasks.delete_task().id(id).send().await.expect("delete");
        let (status, message) = failure(tasks.get_task().id(id).send().await, task_message);
        assert_eq!(
            (status, message),
            (404, format!("Task with id {id} not found"))
        );
        let v = c
            .account(&token)
            .validate_token()
            .send()
            .await
            .expect("validate");
        assert!(v.valid);
        assert_eq!(c.api.get("/nowhere", None).await.0, 404);

        // Token expiry: a token signed by auth's key whose lifetime is over.
        let ring = ::auth::app::signing_keys::KeyRing::from_material(&key1).unwrap();
        let now = chrono::Utc::now().timestamp();
        let user_id = reg.user.id;
        let claims = json!({"sub": user_id.to_string(), "user_id": user_id, "username": "e2e",
            "email": "e2e@x.io", "role": "user", "iat": now - 3700, "exp": now - 100,
            "iss": "task-management", "aud": "task-management-api", "jti": "expired"});
        let expired = ring.sign(&claims).unwrap();
        assert_eq!(
            c.total(&expired).await,
            Err((401, "Token has expired".into()))
        );
        let answer = c.account(&expired).validate_token().send().await;
        assert_eq!(
            failure(answer, auth_message),
            (401, "Token has expired".into())
        );

        // Rotation: auth restarts with a new key (still publishing the old one); the task
        // service has never seen the new kid and fetches it on first sight.
        auth.terminate();
        assert!(auth.wait_exit(Duration::from_secs(30)).await.success());
        let key2 = ::auth::app::signing_keys::generate_pem();
        let bundle = format!("{key2}\n{key1}");
        let mut auth = start_auth(&db, &bundle, Some(auth_port));
        auth.wait_healthy("/auth/health").await;
        let new_token = c.login("e2e").await;
        assert_ne!(
            token_contract::jwt::Verifier::kid_of(&new_token),
            token_contract::jwt::Verifier::kid_of(&token)
        );
        // Refreshes are rate-limited to one every two seconds: allow for one to be due.
        let mut listed = c.total(&new_token).await;
        for _ in 0..60 {
            if listed.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            listed = c.total(&new_token).await;
        }
        assert_eq!(
            listed,
            Ok(0),
            "task service accepts a token signed with the rotated key"
        );
        assert_eq!(c.total(&token).await, Ok(0), "old key still published");

        // auth stops: task keeps serving with the keys it has; auth's routes answer 503.
        auth.kill();
        c.create(&new_token, "offline").await;
        assert_eq!(c.total(&new_token).await, Ok(1));
        let answer = c
            .auth
            .login()
            .body(
                auth_types::LoginRequest::builder()
                    .username("e2e")
                    .password("password1"),
            )
            .send()
            .await;
        let Err(Error::ErrorResponse(down)) = answer else {
            panic!("login with auth down: {answer:?}");
        };
        assert_eq!(down.status(), 503);
        assert_eq!(down.error, "Service Unavailable");
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
        match c.total(token).await {
            Err((401, message)) => {
                assert_eq!(message, "Token has been revoked");
                return start.elapsed();
            }
            answer => assert!(answer.is_ok(), "{answer:?}"),
        }
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
        let key = ::auth::app::signing_keys::generate_pem();
        let mut auth = start_auth(&db, &key, None);
        auth.wait_healthy("/auth/ready").await;
        let mut task = ServiceProcess::spawn(
            &workspace_binary("task"),
            &env(&[("DATABASE_URL", &db.url), ("AUTH_SERVICE_URL", &auth.base)]),
        );
        task.wait_healthy("/tasks/ready").await;
        let router = router_process(&auth.base, &task.base).await;
        let c = Client::new(&router.base);
        for name in ["stays", "leaves"] {
            c.register(name).await;
        }
        let (logged_out, kept) = (c.login("stays").await, c.login("stays").await);
        let leaver = c.login("leaves").await;
        for token in [&kept, &leaver, &leaver] {
            c.create(token, "t").await;
        }
        // Task has seen every token (its cache holds both users' state).
        for token in [&logged_out, &kept, &leaver] {
            assert!(c.total(token).await.is_ok());
        }

        c.account(&logged_out)
            .logout()
            .send()
            .await
            .expect("logout");
        c.account(&leaver)
            .delete_me()
            .body(auth_types::DeleteAccountRequest::builder().password("password1"))
            .send()
            .await
            .expect("delete the account");
        // At auth at once.
        for token in [&logged_out, &leaver] {
            let answer = c.account(token).validate_token().send().await;
            assert_eq!(
                failure(answer, auth_message),
                (401, "Token has been revoked".into())
            );
        }
        // At task within the bound (its cache's TTL, 15 s by default).
        let (a, b) = tokio::join!(
            until_revoked_at_task(&c, &logged_out),
            until_revoked_at_task(&c, &leaver)
        );
        eprintln!("{backend:?}: refused at task after {a:?} (logout) and {b:?} (deletion)");
        assert_eq!(c.total(&kept).await, Ok(1), "the other token lives");

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
        c.register("leaves").await;
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
