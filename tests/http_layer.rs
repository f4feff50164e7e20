//! An XML body is a 415, so the XML parser poem-openapi carries (quick-xml, deny.toml) is
//! never run on a request.

use serde_json::Value;
use testkit::{
    db::{Backend, TestDb},
    process::{ServiceProcess, env, workspace_binary},
};

async fn start_auth(db: &TestDb) -> ServiceProcess {
    let vars = env(&[("DATABASE_URL", &db.url), ("BCRYPT_COST", "4")]);
    ServiceProcess::start(&workspace_binary("auth"), &vars, "/auth/health").await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_xml_body_is_a_415() {
    let db = TestDb::new(Backend::Sqlite).await;
    let auth = start_auth(&db).await;
    let xml = r#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "bbbbbbbb">]><login><username>&b;</username><password>x</password></login>"#;
    for path in ["/auth/login", "/auth/register"] {
        for content_type in ["application/xml", "text/xml"] {
            let r = testkit::http()
                .post(format!("{}{path}", auth.base))
                .header("content-type", content_type)
                .body(xml)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 415, "{path} {content_type}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"], "Unsupported Media Type", "{path}");
        }
    }
}
