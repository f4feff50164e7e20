//! The README's curl session works as written: each command runs, in order, against a fresh
//! local stack (`task-management`, what `cargo run` starts), and each output matches the
//! `# …` line under it (`…` stands for anything). It works as well on a database a newer
//! release has migrated (docs/release.md).

use std::process::Command;

use testkit::{
    db::{Backend, TestDb, backends},
    process::{ServiceProcess, workspace_binary},
    schema::FUTURE_MIGRATION,
};

struct Step {
    command: String,
    expected: Option<String>,
}

fn session() -> Vec<Step> {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("<!-- readme-session")
        .expect("README marks its curl session");
    let block = &readme[start..];
    let body_start = block
        .find("```sh\n")
        .expect("a sh block follows the marker")
        + 6;
    let body = &block[body_start..body_start + block[body_start..].find("```").unwrap()];
    let mut steps: Vec<Step> = Vec::new();
    let mut pending = String::new();
    for line in body.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            if let Some(last) = steps.last_mut() {
                last.expected = Some(comment.to_owned());
            }
            continue;
        }
        if line.trim().is_empty() && pending.is_empty() {
            continue;
        }
        pending.push_str(line);
        pending.push('\n');
        if !line.ends_with('\\') {
            steps.push(Step {
                command: std::mem::take(&mut pending),
                expected: None,
            });
        }
    }
    steps
}

/// `pattern` with `…` as a wildcard, matched against the whole of `text`.
fn matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first)
        || !text.ends_with(last)
        || text.len() < first.len() + last.len() && parts.len() > 1
    {
        return false;
    }
    if parts.len() == 1 {
        return text == pattern;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_curl_session_works_as_written() {
    let db = TestDb::new(Backend::Sqlite).await;
    let stack = ServiceProcess::start(
        &workspace_binary("task-management"),
        &[("DATABASE_URL".into(), db.url.clone())],
        "/tasks/ready",
    )
    .await;
    run_session(&stack.base);
}

/// A rollback, or a service not updated yet, runs on the schema of the release after it:
/// this release's binaries, on a database a newer release migrated additively, start in
/// either `DB_MIGRATIONS` mode, say once that they see a newer schema, and serve the session.
#[tokio::test(flavor = "multi_thread")]
async fn the_session_works_on_a_database_a_newer_release_migrated() {
    let stack_bin = workspace_binary("task-management");
    for backend in backends() {
        for mode in ["verify", "apply"] {
            let db = TestDb::new(backend).await;
            let url = ("DATABASE_URL".to_owned(), db.url.clone());
            let migrated = migrate(&stack_bin, &db.url);
            assert!(
                migrated.contains("applied m0001_users"),
                "{backend:?}: {migrated}"
            );
            testkit::schema::apply_future_release(&db).await;
            let again = migrate(&stack_bin, &db.url);
            assert!(
                again.contains("nothing to apply") && again.contains(FUTURE_MIGRATION),
                "{backend:?}: {again}"
            );

            let log_path = tempfile::NamedTempFile::new().unwrap();
            let mut stack = ServiceProcess::spawn_logging_to(
                &stack_bin,
                &[
                    url,
                    ("DB_MIGRATIONS".into(), mode.into()),
                    ("RUST_LOG".into(), "info".into()),
                ],
                log_path.reopen().unwrap(),
            );
            stack.wait_healthy("/tasks/ready").await;
            run_session(&stack.base);
            let log = std::fs::read_to_string(log_path.path()).unwrap();
            let told = log.lines().filter(|l| l.contains(FUTURE_MIGRATION)).count();
            // auth and task each, once.
            assert_eq!(told, 2, "{backend:?} {mode}: {log}");
        }
    }
}

/// `task-management migrate` on `url`: its output, after asserting it exited 0.
fn migrate(bin: &str, url: &str) -> String {
    let out = Command::new(bin)
        .arg("migrate")
        .env_clear()
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run migrate");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "migrate: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Runs the README's session against the stack at `base` and checks every output.
fn run_session(base: &str) {
    let steps = session();
    assert!(steps.len() >= 8, "found the session");
    let dir = tempfile::tempdir().unwrap();
    let mut script = String::from("set -euo pipefail\n");
    for (i, step) in steps.iter().enumerate() {
        let command = step.command.replace("http://127.0.0.1:3000", base);
        match step.expected {
            Some(_) => script.push_str(&format!(
                "{} > {}/out_{i}\n",
                command.trim_end(),
                dir.path().display()
            )),
            None => script.push_str(&command),
        }
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "session failed:\n{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (i, step) in steps.iter().enumerate() {
        if let Some(expected) = &step.expected {
            let got = std::fs::read_to_string(dir.path().join(format!("out_{i}"))).unwrap();
            assert!(
                matches(expected, got.trim()),
                "{}\nexpected: {expected}\n     got: {got}",
                step.command
            );
        }
    }
}

#[test]
fn wildcard_matching() {
    assert!(matches("{\"a\":\"…\",\"b\":1}", "{\"a\":\"xyz\",\"b\":1}"));
    assert!(!matches("{\"a\":\"…\",\"b\":1}", "{\"a\":\"xyz\",\"b\":2}"));
    assert!(matches("abc", "abc"));
    assert!(!matches("abc", "abcd"));
    assert!(matches("a…c…e", "abcde"));
    assert!(!matches("a…c…e", "abde"));
}
