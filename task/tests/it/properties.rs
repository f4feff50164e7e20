//! Rules that must hold for all inputs, over many generated cases against the running
//! services: isolation between users, faithful round trips, exact filtering and paging.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::Stack;
use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use reqwest::Method;
use serde_json::{Value, json};
use testkit::db::backends;

static SEQ: AtomicUsize = AtomicUsize::new(0);

const STATUSES: [&str; 3] = ["pending", "in_progress", "completed"];
const PRIORITIES: [&str; 3] = ["low", "medium", "high"];

#[derive(Debug, Clone)]
struct Spec {
    title: String,
    description: Option<String>,
    status: usize,
    priority: usize,
    due_days: Option<i64>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        "[A-Za-z0-9][A-Za-z0-9 ,.!?-]{0,60}[A-Za-z0-9]",
        proptest::option::of("\\PC{0,200}"),
        0..3usize,
        0..3usize,
        proptest::option::of(-1000i64..1000),
    )
        .prop_map(|(title, description, status, priority, due_days)| Spec {
            title,
            description,
            status,
            priority,
            due_days,
        })
}

fn body(s: &Spec) -> Value {
    let due = s.due_days.map(|d| {
        let base = chrono::DateTime::parse_from_rfc3339("2030-01-01T08:15:30.123456Z").unwrap();
        (base + chrono::Duration::days(d)).to_rfc3339()
    });
    json!({"title": s.title, "description": s.description, "status": STATUSES[s.status],
           "priority": PRIORITIES[s.priority], "due_date": due})
}

fn run_cases<S: Strategy>(
    cases: u32,
    strategy: S,
    f: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    TestRunner::new(Config {
        cases,
        ..Config::default()
    })
    .run(&strategy, f)
    .unwrap();
}

#[test]
fn created_tasks_read_back_with_the_same_fields() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for backend in backends() {
        let s = rt.block_on(Stack::start(backend));
        let (token, uid) = rt.block_on(s.user("roundtrip"));
        run_cases(48, spec(), |spec| {
            rt.block_on(async {
                let sent = body(&spec);
                let (status, created) = s.create(&token, sent.clone()).await;
                prop_assert_eq!(status, 201, "{}", created);
                let task = &created["task"];
                prop_assert_eq!(&task["title"], &sent["title"]);
                prop_assert_eq!(&task["description"], &sent["description"]);
                prop_assert_eq!(&task["status"], &sent["status"]);
                prop_assert_eq!(&task["priority"], &sent["priority"]);
                prop_assert_eq!(&task["user_id"], &json!(uid));
                match sent["due_date"].as_str() {
                    None => prop_assert_eq!(&task["due_date"], &Value::Null),
                    Some(d) => {
                        let got = chrono::DateTime::parse_from_rfc3339(
                            task["due_date"].as_str().unwrap(),
                        )
                        .unwrap();
                        prop_assert_eq!(got, chrono::DateTime::parse_from_rfc3339(d).unwrap());
                    }
                }
                let (status, read) = s.get(&token, &format!("/tasks/{}", task["id"])).await;
                prop_assert_eq!(status, 200);
                prop_assert_eq!(&read["task"], task, "read back exactly as created");
                Ok(())
            })
        });
        rt.block_on(s.stop());
    }
}

#[test]
fn a_user_never_sees_changes_or_deletes_another_users_task() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for backend in backends() {
        let s = rt.block_on(Stack::start(backend));
        let users: Vec<(String, i64)> = rt.block_on(async {
            let mut v = Vec::new();
            for name in ["iso_a", "iso_b", "iso_c"] {
                v.push(s.user(name).await);
            }
            v
        });
        // Each case: some tasks for random owners, then every other user tries everything.
        run_cases(
            24,
            proptest::collection::vec((0..3usize, spec()), 1..5),
            |tasks| {
                rt.block_on(async {
                    let mut created = Vec::new();
                    for (owner, spec) in &tasks {
                        let (status, t) = s.create(&users[*owner].0, body(spec)).await;
                        prop_assert_eq!(status, 201);
                        created.push((*owner, t["task"].clone()));
                    }
                    for (owner, task) in &created {
                        let path = format!("/tasks/{}", task["id"]);
                        for (other, (token, _)) in users.iter().enumerate() {
                            if other == *owner {
                                continue;
                            }
                            prop_assert_eq!(s.get(token, &path).await.0, 403);
                            let (status, _) = s
                                .api
                                .call(
                                    Method::PUT,
                                    &path,
                                    Some(token),
                                    Some(json!({"title": "stolen"})),
                                )
                                .await;
                            prop_assert_eq!(status, 403);
                            prop_assert_eq!(
                                s.api.call(Method::DELETE, &path, Some(token), None).await.0,
                                403
                            );
                        }
                        // Untouched by all those attempts.
                        let (status, read) = s.get(&users[*owner].0, &path).await;
                        prop_assert_eq!(status, 200);
                        prop_assert_eq!(&read["task"], task);
                    }
                    for (token, uid) in &users {
                        let (_, list) = s.get(token, "/tasks?limit=500").await;
                        for t in list["tasks"].as_array().unwrap() {
                            prop_assert_eq!(
                                &t["user_id"],
                                &json!(uid),
                                "a list shows only the caller's tasks"
                            );
                        }
                    }
                    Ok(())
                })
            },
        );
        rt.block_on(s.stop());
    }
}

#[test]
fn filters_and_pagination_return_exactly_the_matching_tasks() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for backend in backends() {
        let s = rt.block_on(Stack::start(backend));
        let strategy = (
            proptest::collection::vec((0..3usize, 0..3usize), 0..12),
            proptest::option::of(0..3usize),
            proptest::option::of(0..3usize),
            proptest::option::of(1u64..8),
            proptest::option::of(0u64..14),
        );
        run_cases(24, strategy, |(tasks, status, priority, limit, offset)| {
            rt.block_on(async {
                // A fresh user per case, so the expected set is exactly what this case made.
                let (token, _) = s.user(&format!("filter{}", SEQ.fetch_add(1, Ordering::Relaxed))).await;
                let mut ids = Vec::new();
                for (i, (st, pr)) in tasks.iter().enumerate() {
                    let (_, t) = s
                        .create(&token, json!({"title": format!("t{i}"), "status": STATUSES[*st], "priority": PRIORITIES[*pr]}))
                        .await;
                    ids.push((t["task"]["id"].as_i64().unwrap(), *st, *pr));
                }
                let mut expected: Vec<i64> = ids
                    .iter()
                    .rev() // newest first
                    .filter(|(_, st, pr)| status.is_none_or(|s| s == *st) && priority.is_none_or(|p| p == *pr))
                    .map(|(id, _, _)| *id)
                    .collect();
                let total = expected.len() as u64;
                let off = offset.unwrap_or(0) as usize;
                expected = expected.into_iter().skip(off).take(limit.unwrap_or(100) as usize).collect();

                let mut query = vec![];
                if let Some(st) = status {
                    query.push(format!("status={}", STATUSES[st]));
                }
                if let Some(pr) = priority {
                    query.push(format!("priority={}", PRIORITIES[pr]));
                }
                if let Some(l) = limit {
                    query.push(format!("limit={l}"));
                }
                if let Some(o) = offset {
                    query.push(format!("offset={o}"));
                }
                let (code, list) = s.get(&token, &format!("/tasks?{}", query.join("&"))).await;
                prop_assert_eq!(code, 200);
                let got: Vec<i64> = list["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
                prop_assert_eq!(&got, &expected);
                prop_assert_eq!(list["count"].as_u64().unwrap(), expected.len() as u64);
                prop_assert_eq!(list["total"].as_u64().unwrap(), total);
                Ok(())
            })
        });
        rt.block_on(s.stop());
    }
}
