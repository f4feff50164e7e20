//! What the two deployments (the Copilot manifests in `copilot/`, the CDK app in `cdk/`) share:
//! used by tests/it/copilot_manifests.rs and tests/it/cdk_matches_copilot.rs.

/// Variables a service reads that neither deployment hands it in the cloud, with the reason.
pub const NOT_HANDED_IN_THE_CLOUD: &[(&str, &str)] = &[
    ("DATABASE_URL", "DB_SECRET wins over it"),
    ("JWT_SIGNING_KEY", "the inline PEM is for local runs"),
    ("AWS_REGION", "Fargate sets it"),
    ("AWS_ENDPOINT_URL", "only for a local emulator"),
    ("CORS_ALLOWED_ORIGINS", "no browser origin yet"),
    ("TASK_QUOTA_PER_USER", "the default applies"),
    ("TASK_WRITES_PER_USER_PER_SEC", "the default applies"),
    ("REGISTER_PER_ADDRESS_PER_HOUR", "the default applies"),
    ("HASH_CONCURRENCY", "the default applies"),
    ("HASH_QUEUE", "the default applies"),
    (
        "SSL_CERT_FILE",
        "the image sets it (flake.nix), not the manifest",
    ),
];

/// Variables the two deployments deliberately hand differently: `(name, Copilot's value, the
/// CDK app's value if it hands it at all, why)`.
pub const DIFFERENT_BY_DESIGN: &[(&str, &str, &str, &str)] = &[(
    "DB_MIGRATIONS",
    "apply",
    // Not handing it is the same: APP_ENV=production makes verify the default.
    "verify",
    "Copilot has no step before a service update, so its tasks apply migrations at start-up; \
     the CDK app runs `migrate` as a one-off task first and its services only verify \
     (docs/release.md)",
)];

/// What `svc` ("auth" or "task") reads, and the part of it deliberately not handed in the cloud.
pub fn reads_and_not_handed(
    svc: &str,
) -> (
    std::collections::BTreeSet<String>,
    std::collections::BTreeSet<String>,
) {
    let reads: std::collections::BTreeSet<String> = match svc {
        "auth" => auth::config::env_vars(),
        _ => task::config::env_vars(),
    }
    .into_iter()
    .collect();
    let not_handed = NOT_HANDED_IN_THE_CLOUD
        .iter()
        .map(|(k, _)| k.to_string())
        .filter(|k| reads.contains(k))
        .collect();
    (reads, not_handed)
}
