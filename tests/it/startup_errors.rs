//! `cargo run`'s binary with a broken setting: it must exit non-zero, and the last line it
//! prints must name the cause (the variable, the database, the host and port) — not "see
//! the log above".

use std::process::Command;

use testkit::process::workspace_binary;

/// An RSA key (PKCS#8): valid PEM, wrong algorithm for an EdDSA signer.
const RSA_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIICdwIBADANBgkqhkiG9w0BAQEFAASCAmEwggJdAgEAAoGBAL65D5CFnMesEV8H
Zb5kyTa7aSHK0giqDNYgEAAsjqOw0bhdfitmlO07qdum52EaDH486gz7HshjBooO
Psf7iJ2+igkyopb8sF5gT1ezB1NwCyCXtWviEkYgyKuIlmZzpNMyez7Y+7Jz+hbA
EANChTLoTSCk6VFiNdE9HPDix+l3AgMBAAECgYA31BQqSfJKwKOVHaU6xmXgD5wG
uEgjISQAygHlCyX15Jx/S17TdYPCreRa19CDLAzcJxicFCY+oj4Xy3O1NnwWrmku
SbBvLBH5fWL1WzOsCr8W9uafOOk1b+C1Z6d8er+BfH24a61mDuKpot/lazabc9Ej
Glqe9MzPKMl+vf21gQJBAPu5s9k69QpOuTz6QiN9iqfOnE6G0Ie74m0LzavklM6c
N5pIlpWxrzetGsu7ov2ZhkhkuGuTm1buLJm2RcZFbMsCQQDB9is/zO6k3I2pCa2a
8oWMF1fLq23hl1GlWboYF5vPXMgO67S8Dw90jSMqpdOhbIvRfOsqogYeVr/knrit
GqyFAkEA9wggGk/Eh9AH83J5E5ExUErvlBSzcnEM3QzXUxhofHZMDsmrlc4g8Ned
U1CZvJw8brEBVvktWds0w8hfoxsgjwJARExPfF7IJas4Aq7Sv73oQqUxmBkcTxR+
fm/y9GrTxZfRJlffQ102Pv83w9uygqP7M9/92vxElUhMt88gDmxXFQJBAMNt6/5J
aVJTz8X0CoATr/bKzN9myOj6Oo06Tz+NrcK6wI9pgVxftOqk27jD314cuAwveR7y
8+LGsvSOUg1tlmc=
-----END PRIVATE KEY-----";

/// Runs the local stack with `env` (on a fresh temporary directory, on free ports) and
/// returns its exit code and the last non-empty line of its output.
fn start_broken(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = testkit::free_port().to_string();
    let out = Command::new("timeout")
        .arg("60")
        .arg(workspace_binary("task-management"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", &port)
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .output()
        .expect("run task-management");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_owned();
    (out.status.code(), last)
}

fn assert_fails_naming(env: &[(&str, &str)], words: &[&str]) {
    let (code, last) = start_broken(env);
    assert!(
        code.is_some_and(|c| c != 0 && c != 124),
        "exit {code:?} (124 = hung until timeout); last line: {last}"
    );
    for w in words {
        assert!(
            last.to_lowercase().contains(&w.to_lowercase()),
            "the last line should name {w:?}: {last}"
        );
    }
}

#[test]
fn a_refused_database_port_names_host_and_port() {
    let port = testkit::free_port().to_string();
    let url = format!("postgres://postgres@127.0.0.1:{port}/x");
    assert_fails_naming(
        &[("DATABASE_URL", &url)],
        &[&format!("127.0.0.1:{port}"), "refused"],
    );
}

#[test]
fn an_unsupported_database_url_names_the_variable() {
    assert_fails_naming(
        &[("DATABASE_URL", "mysql://root@127.0.0.1/x")],
        &["DATABASE_URL"],
    );
}

#[test]
fn a_missing_sqlite_directory_is_named_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir");
    let url = format!("sqlite://{}/x.db?mode=rwc", missing.display());
    assert_fails_naming(&[("DATABASE_URL", &url)], &["directory", "no/such/dir"]);
    assert!(!missing.exists(), "the directory was created");
}

#[test]
fn a_bad_signing_key_names_the_variable() {
    assert_fails_naming(&[("JWT_SIGNING_KEY", "not-a-key")], &["JWT_SIGNING_KEY"]);
    assert_fails_naming(
        &[("JWT_SIGNING_KEY", RSA_KEY)],
        &["JWT_SIGNING_KEY", "Ed25519"],
    );
}

#[test]
fn production_without_a_key_is_refused_not_downgraded() {
    assert_fails_naming(&[("APP_ENV", "production")], &["JWT_SIGNING_KEY"]);
}

#[test]
fn a_port_in_use_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    assert_fails_naming(&[("PORT", &port)], &[&port, "in use"]);
}

#[test]
#[ignore = "PostgreSQL only: set TEST_DATABASE_URL and run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
fn a_database_that_does_not_exist_is_named() {
    let admin = testkit::db::postgres_admin_url().expect("TEST_DATABASE_URL");
    let url = testkit::db::replace_db_name(&admin, "no_such_database_tm");
    // The fix, and none of the server's internals (sqlx prints PostgreSQL's C source line).
    let (_, last) = start_broken(&[("DATABASE_URL", &url)]);
    assert!(!last.contains(" at line "), "{last}");
    assert_fails_naming(
        &[("DATABASE_URL", &url)],
        &["no_such_database_tm", "createdb no_such_database_tm"],
    );
}

/// Every connection slot taken: sqlx retries that refusal until its pool times out, and
/// the server's reason must not be lost to "pool timed out". A role of its own with no
/// slots at all stands in for a full server (the real server's slots are shared).
#[test]
#[ignore = "PostgreSQL only: set TEST_DATABASE_URL and run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
fn a_role_out_of_connection_slots_names_the_servers_reason() {
    let admin = testkit::db::postgres_admin_url().expect("TEST_DATABASE_URL");
    let role = format!("tm_no_slots_{}", std::process::id());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let admin_sql = |sql: String| {
        let admin = admin.clone();
        rt.block_on(async move {
            use sea_orm::ConnectionTrait;
            let conn = sea_orm::Database::connect(&admin).await.expect("admin");
            conn.execute_unprepared(&sql).await.expect("admin SQL");
            let _ = conn.close().await;
        })
    };
    admin_sql(format!("DROP ROLE IF EXISTS {role}"));
    admin_sql(format!("CREATE ROLE {role} LOGIN CONNECTION LIMIT 0"));
    let mut url = url::Url::parse(&admin).expect("TEST_DATABASE_URL is a URL");
    url.set_username(&role).unwrap();
    url.set_password(None).unwrap();
    let (code, last) = start_broken(&[("DATABASE_URL", url.as_str())]);
    admin_sql(format!("DROP ROLE {role}"));
    assert!(
        code.is_some_and(|c| c != 0 && c != 124),
        "exit {code:?}; last line: {last}"
    );
    for w in ["too many connections", "53300", "DB_POOL_MAX"] {
        assert!(last.contains(w), "the last line should name {w:?}: {last}");
    }
    assert!(!last.contains("pool timed out"), "{last}");
}
