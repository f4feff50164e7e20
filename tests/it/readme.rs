//! The README's curl session works as written: each command runs, in order, against a fresh
//! local stack (`task-management`, what `cargo run` starts), and each output matches the
//! `# …` line under it (`…` stands for anything).

use std::process::Command;

use testkit::{
    db::{Backend, TestDb},
    process::ServiceProcess,
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
    let steps = session();
    assert!(steps.len() >= 8, "found the session");
    let db = TestDb::new(Backend::Sqlite).await;
    let exe = testkit::process::workspace_binary("task-management");
    let stack = ServiceProcess::start(
        &exe,
        &[("DATABASE_URL".into(), db.url.clone())],
        "/tasks/ready",
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let mut script = String::from("set -euo pipefail\n");
    for (i, step) in steps.iter().enumerate() {
        let command = step.command.replace("http://127.0.0.1:3000", &stack.base);
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
