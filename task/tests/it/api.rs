//! Every task endpoint and error path over HTTP to the running services, on SQLite and (with
//! TEST_DATABASE_URL) PostgreSQL.

use crate::common;

use common::{Stack, assert_envelope};
use reqwest::Method;
use serde_json::{Value, json};
use testkit::db::{Backend, backends};

#[tokio::test(flavor = "multi_thread")]
async fn crud_round_trip() {
    for backend in backends() {
        let s = Stack::start(backend).await;
        let (token, uid) = s.user("owner").await;

        let (status, created) = s
            .create(&token, json!({"title": "  Write report ", "description": "Q3", "priority": "high", "due_date": "2030-05-01T12:00:00Z"}))
            .await;
        assert_eq!(status, 201, "{backend:?} {created}");
        assert_eq!(created["message"], "Task created successfully");
        let task = &created["task"];
        assert_eq!(task["title"], "Write report");
        assert_eq!(task["description"], "Q3");
        assert_eq!(task["status"], "pending");
        assert_eq!(task["priority"], "high");
        assert_eq!(task["user_id"], uid);
        assert_eq!(task["due_date"], "2030-05-01T12:00:00+00:00");
        let id = task["id"].as_i64().unwrap();

        let (status, got) = s.get(&token, &format!("/tasks/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(&got["task"], task);

        let (status, updated) = s
            .api
            .call(
                Method::PUT,
                &format!("/tasks/{id}"),
                Some(&token),
                Some(json!({"status": "in_progress", "description": null, "due_date": null})),
            )
            .await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["message"], "Task updated successfully");
        assert_eq!(updated["task"]["status"], "in_progress");
        assert_eq!(updated["task"]["description"], Value::Null);
        assert_eq!(updated["task"]["due_date"], Value::Null);
        assert_eq!(
            updated["task"]["title"], "Write report",
            "untouched fields stay"
        );
        assert_eq!(updated["task"]["priority"], "high");
        assert_eq!(updated["task"]["created_at"], task["created_at"]);

        // Only what is sent changes; an empty body changes nothing.
        let (status, same) = s
            .api
            .call(
                Method::PUT,
                &format!("/tasks/{id}"),
                Some(&token),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(same["task"], updated["task"]);

        let (status, list) = s.get(&token, "/tasks").await;
        assert_eq!(status, 200);
        assert_eq!(list["count"], 1);
        assert_eq!(list["total"], 1);
        assert_eq!(list["tasks"][0], updated["task"]);

        let (status, deleted) = s
            .api
            .call(Method::DELETE, &format!("/tasks/{id}"), Some(&token), None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(deleted, json!({"message": "Task deleted successfully"}));
        let (status, gone) = s.get(&token, &format!("/tasks/{id}")).await;
        assert_eq!(status, 404);
        assert_eq!(gone["message"], format!("Task with id {id} not found"));
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn defaults_and_html_date_inputs() {
    let s = Stack::start(Backend::Sqlite).await;
    let (token, _) = s.user("dates").await;
    let (_, t) = s.create(&token, json!({"title": "Defaults"})).await;
    assert_eq!(t["task"]["status"], "pending");
    assert_eq!(t["task"]["priority"], "medium");
    assert_eq!(t["task"]["description"], Value::Null);
    assert_eq!(t["task"]["due_date"], Value::Null);
    for (input, expected) in [
        ("2030-01-31", "2030-01-31T00:00:00+00:00"),
        ("2030-01-31T17:30", "2030-01-31T17:30:00+00:00"),
        ("2030-01-31T17:30:00+02:00", "2030-01-31T15:30:00+00:00"),
    ] {
        let (status, t) = s
            .create(&token, json!({"title": "Dated", "due_date": input}))
            .await;
        assert_eq!(status, 201, "{input}: {t}");
        assert_eq!(t["task"]["due_date"], expected, "{input}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn validation_lists_every_bad_field() {
    for backend in backends() {
        let s = Stack::start(backend).await;
        let (token, _) = s.user("validator").await;
        let (status, body) = s
            .create(&token, json!({"title": "", "description": "x".repeat(10_001), "status": "done", "priority": "urgent", "due_date": "someday"}))
            .await;
        assert_eq!(status, 400);
        assert_envelope(&body, "Bad Request");
        let fields = testkit::api::invalid_fields(&body);
        assert_eq!(fields.len(), 5, "{body}");
        for f in ["title", "description", "status", "priority", "due_date"] {
            assert!(fields.contains(&f), "{f} in {body}");
        }
        let (status, body) = s.create(&token, json!({"description": "no title"})).await;
        assert_eq!(status, 400);
        assert_eq!(
            body["details"],
            json!([{"field": "title", "message": "is required"}])
        );
        let (status, body) = s.create(&token, json!({"title": "t".repeat(201)})).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            s.create(&token, json!({"title": "t".repeat(200)})).await.0,
            201
        );

        let (_, t) = s.create(&token, json!({"title": "to update"})).await;
        let id = t["task"]["id"].as_i64().unwrap();
        let (status, body) = s
            .api
            .call(
                Method::PUT,
                &format!("/tasks/{id}"),
                Some(&token),
                Some(json!({"title": null, "status": null})),
            )
            .await;
        assert_eq!(status, 400);
        assert_eq!(body["details"].as_array().unwrap().len(), 2, "{body}");
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn authentication_errors() {
    let s = Stack::start(Backend::Sqlite).await;
    let (status, body) = s.api.call(Method::GET, "/tasks", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "No authentication token provided");
    let (status, body) = s
        .api
        .call(
            Method::POST,
            "/tasks",
            Some("garbage"),
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Invalid token");

    // Signed with auth's key but expired.
    let ring = auth::app::signing_keys::KeyRing::from_material(&s.key).unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": "1", "user_id": 1, "username": "x", "email": "x@x.io", "role": "user",
        "iat": now - 7200, "exp": now - 3600, "iss": "task-management", "aud": "task-management-api", "jti": "j"});
    let expired = ring.sign(&claims).unwrap();
    let (status, body) = s.get(&expired, "/tasks").await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Token has expired");

    // Signed by a key auth never published.
    let stranger =
        auth::app::signing_keys::KeyRing::from_material(&auth::app::signing_keys::generate_pem())
            .unwrap();
    let mut fresh = claims.clone();
    fresh["exp"] = json!(now + 600);
    let forged = stranger.sign(&fresh).unwrap();
    let (status, body) = s.get(&forged, "/tasks").await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Invalid token");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn other_users_tasks_are_forbidden_and_missing_ones_not_found() {
    for backend in backends() {
        let s = Stack::start(backend).await;
        let (alice, _) = s.user("alice").await;
        let (bob, _) = s.user("bob").await;
        let (_, t) = s.create(&alice, json!({"title": "alice's"})).await;
        let id = t["task"]["id"].as_i64().unwrap();
        for (method, body) in [
            (Method::GET, None),
            (Method::PUT, Some(json!({"title": "mine now"}))),
            (Method::DELETE, None),
        ] {
            let (status, resp) = s
                .api
                .call(method.clone(), &format!("/tasks/{id}"), Some(&bob), body)
                .await;
            assert_eq!(status, 403, "{method}");
            assert_envelope(&resp, "Forbidden");
            assert_eq!(
                resp["message"],
                "You do not have permission to access this resource"
            );
        }
        assert_eq!(s.get(&bob, "/tasks").await.1["total"], 0);
        assert_eq!(
            s.get(&alice, &format!("/tasks/{id}")).await.1["task"]["title"],
            "alice's"
        );

        for (path, status) in [
            ("/tasks/999999", 404),
            ("/tasks/-1", 404),
            ("/tasks/abc", 400),
            ("/tasks/99999999999999999999999", 400),
            ("/tasks/1.5", 400),
        ] {
            let (got, body) = s.get(&alice, path).await;
            assert_eq!(got, status, "{path}: {body}");
            assert!(body["error"].is_string(), "{path}: {body}");
        }
        let (_, body) = s.get(&alice, "/tasks/999999").await;
        assert_eq!(body["message"], "Task with id 999999 not found");
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn list_filters_paginates_newest_first() {
    for backend in backends() {
        let s = Stack::start(backend).await;
        let (token, _) = s.user("lister").await;
        let mut ids = Vec::new();
        for (i, (status, priority)) in [
            ("pending", "low"),
            ("completed", "high"),
            ("pending", "high"),
            ("in_progress", "medium"),
            ("pending", "high"),
        ]
        .into_iter()
        .enumerate()
        {
            let (_, t) = s
                .create(
                    &token,
                    json!({"title": format!("t{i}"), "status": status, "priority": priority}),
                )
                .await;
            ids.push(t["task"]["id"].as_i64().unwrap());
        }
        let ids_of = |v: &Value| -> Vec<i64> {
            v["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_i64().unwrap())
                .collect()
        };
        let (_, all) = s.get(&token, "/tasks").await;
        let mut newest_first = ids.clone();
        newest_first.reverse();
        assert_eq!(ids_of(&all), newest_first);
        assert_eq!(
            (all["count"].as_u64(), all["total"].as_u64()),
            (Some(5), Some(5))
        );

        let (_, pending_high) = s.get(&token, "/tasks?status=pending&priority=high").await;
        assert_eq!(ids_of(&pending_high), vec![ids[4], ids[2]]);
        assert_eq!(pending_high["total"], 2);

        let (_, page) = s.get(&token, "/tasks?limit=2&offset=1").await;
        assert_eq!(ids_of(&page), vec![ids[3], ids[2]]);
        assert_eq!(
            (page["count"].as_u64(), page["total"].as_u64()),
            (Some(2), Some(5))
        );
        let (_, past_end) = s.get(&token, "/tasks?offset=10").await;
        assert_eq!(
            (past_end["count"].as_u64(), past_end["total"].as_u64()),
            (Some(0), Some(5))
        );
        let (status, clamped) = s.get(&token, "/tasks?limit=100000").await;
        assert_eq!((status, clamped["count"].as_u64()), (200, Some(5)));

        for bad in [
            "/tasks?status=done",
            "/tasks?priority=urgent",
            "/tasks?limit=0",
            "/tasks?limit=-1",
            "/tasks?offset=x",
        ] {
            let (status, body) = s.get(&token, bad).await;
            assert_eq!(status, 400, "{bad}: {body}");
            assert_envelope(&body, "Bad Request");
            assert!(body["details"][0]["field"].is_string(), "{bad}: {body}");
        }
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn health_ready_docs_spec_and_framework_errors() {
    let s = Stack::start(Backend::Sqlite).await;
    let health: Value = testkit::get_json(&s.url("/tasks/health")).await;
    assert_eq!(
        health,
        json!({"status": "healthy", "service": "task-service", "version": env!("CARGO_PKG_VERSION")})
    );
    assert_eq!(s.api.get("/tasks/ready", None).await.0, 200);
    let docs = s.http.get(s.url("/tasks/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
    let spec: Value = testkit::get_json(&s.url("/tasks/openapi.json")).await;
    assert!(spec["paths"]["/tasks/{id}"]["put"].is_object());

    let (token, _) = s.user("framework").await;
    let cases = [
        (
            s.http
                .post(s.url("/tasks"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{"),
            400,
        ),
        (
            s.http
                .post(s.url("/tasks"))
                .bearer_auth(&token)
                .header("content-type", "text/plain")
                .body("x"),
            415,
        ),
        (s.http.patch(s.url("/tasks/1")).bearer_auth(&token), 405),
        (s.http.get(s.url("/tasks/1/sub")).bearer_auth(&token), 404),
        (
            s.http
                .post(s.url("/tasks"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(vec![b' '; 65 * 1024 + 1]),
            413,
        ),
    ];
    for (req, status) in cases {
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status);
        assert!(r.headers().contains_key("x-request-id"));
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{body}"
        );
    }

    let pre = s
        .http
        .request(Method::OPTIONS, s.url("/tasks/5"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "DELETE")
        .send()
        .await
        .unwrap();
    assert!(pre.status().is_success());
    assert_eq!(
        pre.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    s.stop().await;
}

#[test]
fn committed_spec_matches_the_code() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/task.json"))
            .expect("openapi/task.json is committed");
    assert!(
        committed.trim_end() == task::http::openapi_json().trim_end(),
        "openapi/task.json is stale: regenerate with `cargo run -q -p task -- openapi > openapi/task.json`"
    );
    let spec: Value = serde_json::from_str(&committed).unwrap();
    // Each operation documents exactly the errors it can answer.
    for (path, method, codes) in [
        (
            "/tasks",
            "post",
            vec!["400", "401", "409", "413", "415", "422", "500", "503"],
        ),
        ("/tasks", "get", vec!["400", "401", "500", "503"]),
        (
            "/tasks/{id}",
            "get",
            vec!["400", "401", "403", "404", "500", "503"],
        ),
        (
            "/tasks/{id}",
            "put",
            vec![
                "400", "401", "403", "404", "412", "413", "415", "500", "503",
            ],
        ),
        (
            "/tasks/{id}",
            "delete",
            vec!["400", "401", "403", "404", "412", "500", "503"],
        ),
        ("/tasks/ready", "get", vec!["500", "503"]),
    ] {
        let op = &spec["paths"][path][method];
        let errors: Vec<&str> = op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|c| c >= &"400")
            .collect();
        assert_eq!(errors, codes, "{method} {path}");
        if path != "/tasks/ready" {
            assert!(
                op["security"].is_array(),
                "{method} {path} needs a bearer token"
            );
        }
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["BearerToken"]["bearerFormat"],
        "JWT"
    );
    // Conditional requests and retries: the headers and statuses are documented.
    let etag_on = |path: &str, method: &str, status: &str| {
        spec["paths"][path][method]["responses"][status]["headers"]
            .as_object()
            .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("etag")))
    };
    assert!(etag_on("/tasks", "post", "201"));
    assert!(etag_on("/tasks/{id}", "get", "200"));
    assert!(etag_on("/tasks/{id}", "get", "304"));
    assert!(etag_on("/tasks/{id}", "put", "200"));
    let header_params = |path: &str, method: &str| -> Vec<String> {
        spec["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "header")
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(header_params("/tasks", "post"), ["Idempotency-Key"]);
    assert_eq!(header_params("/tasks/{id}", "get"), ["If-None-Match"]);
    assert_eq!(header_params("/tasks/{id}", "put"), ["If-Match"]);
    assert_eq!(header_params("/tasks/{id}", "delete"), ["If-Match"]);
    // Fields answered as null are nullable; request fields accept null only where the
    // parser does.
    let schemas = &spec["components"]["schemas"];
    for field in ["description", "due_date"] {
        assert_eq!(
            schemas["Task"]["properties"][field]["nullable"], true,
            "{field}"
        );
        for request in ["CreateTaskRequest", "UpdateTaskRequest"] {
            assert_eq!(schemas[request]["properties"][field]["nullable"], true);
        }
    }
    for request in ["CreateTaskRequest", "UpdateTaskRequest"] {
        assert!(schemas[request]["properties"]["title"]["nullable"].is_null());
        assert_eq!(schemas[request]["properties"]["title"]["maxLength"], 200);
    }
}
