//! Rules that must hold for all inputs, checked over many generated cases against the
//! running service.

use crate::common;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use common::{EXPIRATION, TestAuth};
use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use testkit::db::backends;

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn registration() -> impl Strategy<Value = (String, String, String)> {
    (
        "[A-Za-z0-9_.-]{3,40}",
        "[a-z0-9][a-z0-9_+-]{0,10}(\\.[a-z0-9_+-]{1,8})?@[a-z0-9]{1,15}\\.(com|io|example)",
        // 8 to 18 non-control characters: at most 72 bytes in UTF-8.
        "\\PC{8,18}",
    )
        .prop_map(|(u, e, p)| (u, e, p))
}

#[test]
fn any_valid_registration_logs_in_with_correct_claims() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for backend in backends() {
        // The per-case X-Forwarded-For below stands for what a trusted load balancer appends.
        let s = rt.block_on(async {
            let db = testkit::db::TestDb::new(backend).await;
            let key = auth::app::signing_keys::generate_pem();
            let mut cfg = common::config(&db, &key);
            cfg.common.trusted_proxy_hops = 1;
            TestAuth::start_with(db, key, cfg).await
        });
        let conn = rt.block_on(s.db.connect());
        let mut runner = TestRunner::new(Config {
            cases: 24,
            ..Config::default()
        });
        runner
            .run(&registration(), |(username, email, password)| {
                rt.block_on(async {
                    // Distinct per case so generated duplicates do not turn into 409s.
                    let n = SEQ.fetch_add(1, Ordering::Relaxed);
                    let username = format!("{username}{n}");
                    let email = format!("{n}{email}");
                    let (status, reg) = s.register(&username, &email, &password).await;
                    prop_assert_eq!(status, 201, "{}", reg);
                    let (status, login) = s.login(&username, &password).await;
                    prop_assert_eq!(status, 200, "{}", login);
                    let token = login["token"].as_str().unwrap();
                    let (status, v) = s.validate(token).await;
                    prop_assert_eq!(status, 200);
                    prop_assert_eq!(&v["user"]["username"], &json!(username));
                    prop_assert_eq!(&v["user"]["email"], &json!(email.to_ascii_lowercase()));
                    prop_assert_eq!(&v["user"]["user_id"], &reg["user"]["id"]);

                    let claims = decode_claims(token);
                    prop_assert_eq!(
                        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
                        EXPIRATION as i64
                    );
                    prop_assert_eq!(
                        &claims["sub"],
                        &json!(reg["user"]["id"].as_i64().unwrap().to_string())
                    );
                    prop_assert_eq!(&claims["role"], &json!("user"));
                    prop_assert_eq!(&claims["iss"], &json!("task-management"));
                    prop_assert_eq!(&claims["aud"], &json!("task-management-api"));
                    prop_assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));

                    let row = conn
                        .query_one_raw(Statement::from_sql_and_values(
                            conn.get_database_backend(),
                            match conn.get_database_backend() {
                                sea_orm::DbBackend::Postgres => {
                                    "SELECT password_hash FROM users WHERE username = $1"
                                }
                                _ => "SELECT password_hash FROM users WHERE username = ?",
                            },
                            [username.clone().into()],
                        ))
                        .await
                        .unwrap()
                        .unwrap();
                    let hash: String = row.try_get("", "password_hash").unwrap();
                    prop_assert!(hash.starts_with("$2b$"));
                    prop_assert!(hash != password && !hash.contains(&password));
                    // Wrong password never logs in.
                    // (From a distinct address per case, so the per-address failure limit
                    // does not end the run.)
                    let wrong = s
                        .http
                        .post(s.url("/auth/login"))
                        .header("x-forwarded-for", format!("10.9.{}.{}", n / 250, n % 250))
                        .json(&json!({"username": username, "password": format!("{password}x")}))
                        .send()
                        .await
                        .unwrap();
                    prop_assert_eq!(wrong.status().as_u16(), 401);
                    Ok::<(), TestCaseError>(())
                })
            })
            .unwrap();
        rt.block_on(s.stop());
    }
}

#[test]
fn tampered_expired_none_and_hs256_tokens_are_rejected() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = rt.block_on(TestAuth::start(testkit::db::Backend::Sqlite));
    let token = rt.block_on(async {
        s.register("victim", "v@x.io", "password1").await;
        s.login("victim", "password1").await.1["token"]
            .as_str()
            .unwrap()
            .to_owned()
    });
    assert_eq!(rt.block_on(s.validate(&token)).0, 200);
    let parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    let alphabet: Vec<char> = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        .chars()
        .collect();

    // Any single-character change anywhere in the token.
    runner
        .run(&(0..token.len(), 0..alphabet.len()), |(pos, ch)| {
            let original = token.as_bytes()[pos] as char;
            let replacement = alphabet[ch];
            if original == '.' || original == replacement {
                return Ok(());
            }
            let mut bad = token.clone();
            bad.replace_range(pos..pos + 1, &replacement.to_string());
            let (status, body) = rt.block_on(s.validate(&bad));
            prop_assert_eq!(status, 401, "accepted a token changed at {}", pos);
            prop_assert_eq!(&body["message"], &json!("Invalid token"));
            Ok(())
        })
        .unwrap();

    // Any claims re-encoded under the original signature, `alg: none`, or HS256 keyed with
    // the public key.
    let jwks = rt.block_on(testkit::get_json(&s.url("/auth/.well-known/jwks.json")));
    let public_x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    runner
        .run(&(1i64..100_000, any::<bool>()), |(offset, elevate)| {
            let now = chrono::Utc::now().timestamp();
            let mut claims = decode_claims(&token);
            if elevate {
                claims["role"] = json!("admin");
            } else {
                claims["user_id"] = json!(offset);
                claims["sub"] = json!(offset.to_string());
            }
            let payload = URL_SAFE_NO_PAD.encode(claims.to_string());

            let forged = format!("{}.{}.{}", parts[0], payload, parts[2]);
            prop_assert_eq!(rt.block_on(s.validate(&forged)).0, 401);

            let none_header = URL_SAFE_NO_PAD
                .encode(json!({"alg": "none", "typ": "JWT", "kid": kid}).to_string());
            prop_assert_eq!(
                rt.block_on(s.validate(&format!("{none_header}.{payload}.")))
                    .0,
                401
            );

            let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
            hs.kid = Some(kid.clone());
            for secret in [
                public_x.as_bytes().to_vec(),
                URL_SAFE_NO_PAD.decode(&public_x).unwrap(),
            ] {
                let hs_token = jsonwebtoken::encode(
                    &hs,
                    &claims,
                    &jsonwebtoken::EncodingKey::from_secret(&secret),
                )
                .unwrap();
                prop_assert_eq!(rt.block_on(s.validate(&hs_token)).0, 401);
            }

            // Properly signed but expired by more than the leeway.
            let mut expired = decode_claims(&token);
            expired["exp"] = json!(now - 6 - offset);
            expired["iat"] = json!(now - 6 - offset - 3600);
            let ring = auth::app::signing_keys::KeyRing::from_material(&s.key_pem).unwrap();
            let old = ring.sign(&expired).unwrap();
            let (status, body) = rt.block_on(s.validate(&old));
            prop_assert_eq!(status, 401);
            prop_assert_eq!(&body["message"], &json!("Token has expired"));
            Ok(())
        })
        .unwrap();
    rt.block_on(s.stop());
}

fn decode_claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}
