//! Login throttling against the real database, as several instances share it: the counters
//! are one budget, a stranger elsewhere cannot lock the owner out of an address they logged
//! in from, and each address is counted on its own.

use std::net::IpAddr;

use auth::app::throttle::{Policy, Throttle};
use platform::{
    db::Database,
    process::config::{DEFAULT_STATEMENT_TIMEOUT, DatabaseSettings, DbSource},
};
use testkit::db::{TestDb, backends};

async fn database(db: &TestDb) -> Database {
    Database::connect(
        DatabaseSettings {
            source: DbSource::Url(db.url.clone()),
            pool_max: 2,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        },
        None,
    )
    .await
    .expect("database")
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().expect("an address"))
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_one_budget_per_user_and_address() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let (a, b) = (database(&db).await, database(&db).await);
        let (one, two) = (
            Throttle::new(Policy::default()),
            Throttle::new(Policy::default()),
        );
        for i in 0..5 {
            let (throttle, pool) = if i % 2 == 0 { (&one, &a) } else { (&two, &b) };
            assert_eq!(
                throttle.check(pool, "alice", ip("10.0.0.1")).await.unwrap(),
                None
            );
            throttle
                .record_failure(pool, "alice", ip("10.0.0.1"))
                .await
                .unwrap();
        }
        // Both instances now refuse the pair: the fifth failure, wherever it landed, counts.
        for (throttle, pool) in [(&one, &a), (&two, &b)] {
            let wait = throttle.check(pool, "alice", ip("10.0.0.1")).await.unwrap();
            assert!(
                wait.is_some_and(|s| (1..=900).contains(&s)),
                "{backend:?}: {wait:?}"
            );
        }
        // Another address is not blocked for alice.
        assert_eq!(one.check(&a, "alice", ip("10.0.0.2")).await.unwrap(), None);
        a.close().await;
        b.close().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stranger_cannot_lock_the_owner_out_of_a_known_address() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let pool = database(&db).await;
        let policy = Policy {
            per_user_from_unknown_addresses: 10,
            ..Policy::default()
        };
        let throttle = Throttle::new(policy);
        // The owner logged in from home before.
        throttle
            .record_success(&pool, "alice", ip("192.0.2.10"))
            .await
            .unwrap();
        // Guessing from many addresses exhausts alice's budget for unknown addresses...
        for i in 0..10 {
            let addr = ip(&format!("198.51.100.{i}"));
            throttle.record_failure(&pool, "alice", addr).await.unwrap();
        }
        let from_new = throttle
            .check(&pool, "alice", ip("203.0.113.7"))
            .await
            .unwrap();
        assert!(
            from_new.is_some(),
            "{backend:?}: distributed guessing goes on"
        );
        // ...but not at home.
        assert_eq!(
            throttle
                .check(&pool, "alice", ip("192.0.2.10"))
                .await
                .unwrap(),
            None,
            "{backend:?}: the owner is locked out"
        );
        // A success forgives the pair's own failures.
        for _ in 0..5 {
            throttle
                .record_failure(&pool, "bob", ip("192.0.2.20"))
                .await
                .unwrap();
        }
        assert!(
            throttle
                .check(&pool, "bob", ip("192.0.2.20"))
                .await
                .unwrap()
                .is_some()
        );
        throttle
            .record_success(&pool, "bob", ip("192.0.2.20"))
            .await
            .unwrap();
        assert_eq!(
            throttle
                .check(&pool, "bob", ip("192.0.2.20"))
                .await
                .unwrap(),
            None
        );
        pool.close().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_spraying_usernames_is_blocked_and_expired_windows_restart() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let pool = database(&db).await;
        let throttle = Throttle::new(Policy::default());
        for i in 0..20 {
            throttle
                .record_failure(&pool, &format!("ghost{i}"), ip("198.51.100.99"))
                .await
                .unwrap();
        }
        assert!(
            throttle
                .check(&pool, "someone", ip("198.51.100.99"))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            throttle
                .check(&pool, "someone", ip("198.51.100.98"))
                .await
                .unwrap(),
            None
        );

        // A zero-length window: every failure starts a new window, so the count never
        // passes one, which the standard policy then reads as far below its limit.
        let forgetful = Throttle::new(Policy {
            window: std::time::Duration::ZERO,
            ..Policy::default()
        });
        for _ in 0..6 {
            forgetful
                .record_failure(&pool, "carol", ip("192.0.2.30"))
                .await
                .unwrap();
        }
        assert_eq!(
            forgetful
                .check(&pool, "carol", ip("192.0.2.30"))
                .await
                .unwrap(),
            None
        );
        pool.close().await;
    }
}
