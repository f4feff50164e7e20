//! A real browser: headless Chromium opens the task service's Swagger UI through the router
//! of the local stack (`task-management`, as `cargo run` starts it), authorizes with a token,
//! runs "Try it out" on GET /tasks and sees a 200 with the user's tasks. On the way it checks
//! that the page and the Authorize dialog say where a token comes from and how to paste it
//! (screenshots: target/task-docs.png, target/task-authorize.png).
//!
//! Needs Debian's chromium and `npm ci --prefix tests/browser` (both done by `.ci/setup.sh`).

use std::{path::PathBuf, process::Command};

use serde_json::{Value, json};
use testkit::{
    db::{Backend, TestDb},
    process::ServiceProcess,
};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Chromium and `npm ci --prefix tests/browser` (bash .ci/setup.sh installs both); run with --run-ignored all"]
async fn swagger_ui_try_it_out_lists_the_users_tasks() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/browser/swagger.mjs");
    assert!(
        root.join("tests/browser/node_modules/playwright-core")
            .exists(),
        "run `npm ci --prefix tests/browser` (or bash .ci/setup.sh) first"
    );
    let db = TestDb::new(Backend::Sqlite).await;
    let exe = testkit::process::workspace_binary("task-management");
    let vars = vec![
        ("DATABASE_URL".to_owned(), db.url.clone()),
        ("BCRYPT_COST".to_owned(), "4".to_owned()),
    ];
    let stack = ServiceProcess::start(&exe, &vars, "/tasks/ready").await;

    let http = testkit::http();
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut req = http.post(format!("{}{path}", stack.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    assert_eq!(
        post(
            "/auth/register",
            None,
            json!({"username": "browser", "email": "b@x.io", "password": "password1"})
        )
        .await
        .unwrap()
        .status(),
        201
    );
    let login: Value = post(
        "/auth/login",
        None,
        json!({"username": "browser", "password": "password1"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    for title in ["Buy milk", "Book flights"] {
        assert_eq!(
            post("/tasks", Some(&token), json!({"title": title}))
                .await
                .unwrap()
                .status(),
            201
        );
    }
    // Someone else's task must not show up.
    post(
        "/auth/register",
        None,
        json!({"username": "other", "email": "o@x.io", "password": "password1"}),
    )
    .await
    .unwrap();
    let other: Value = post(
        "/auth/login",
        None,
        json!({"username": "other", "password": "password1"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    post(
        "/tasks",
        Some(other["token"].as_str().unwrap()),
        json!({"title": "Not yours"}),
    )
    .await
    .unwrap();

    let shot = root.join("target/swagger-try-it-out.png");
    let out = Command::new("node")
        .arg(&script)
        .arg(format!("{}/tasks/docs", stack.base))
        .arg(&token)
        .args(["Buy milk", "Book flights"])
        .env("SCREENSHOT", &shot)
        .env("SHOTS", root.join("target"))
        .output()
        .expect("node is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser run failed:\n{stdout}\n{stderr}"
    );
    let result: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(result["status"], 200);
    assert_eq!(result["total"], 2);
}
