//! The templates `cdk synth` writes for one environment (`cdk/cdk.out/<env>/`, written by
//! `.ci/cdk.sh`), synthesized here when they are absent or older than the CDK sources: read by
//! tests/cdk_matches_copilot.rs and tests/rehearsal.rs. Never a skip: without `cdk/node_modules`
//! to synthesize them, the caller fails naming the command that installs it.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, SystemTime},
};

use serde_json::Value as Json;

pub const APP: &str = "task-management";

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// --- the synthesized templates ----------------------------------------------------------------

pub fn newest_source() -> SystemTime {
    let cdk = root().join("cdk");
    let mut files: Vec<PathBuf> = ["cdk.json", "package-lock.json", "tsconfig.json"]
        .iter()
        .map(|f| cdk.join(f))
        .collect();
    for dir in ["bin", "lib"] {
        for e in std::fs::read_dir(cdk.join(dir)).expect("cdk/bin, cdk/lib") {
            files.push(e.unwrap().path());
        }
    }
    files
        .iter()
        .filter_map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .max()
        .expect("CDK sources")
}

/// Serialises the synth between the test processes nextest runs in parallel.
pub struct Lock(PathBuf);
impl Lock {
    fn take(path: PathBuf) -> Self {
        let started = SystemTime::now();
        loop {
            match std::fs::create_dir(&path) {
                Ok(()) => return Lock(path),
                Err(_) if started.elapsed().unwrap_or_default() < Duration::from_secs(600) => {
                    std::thread::sleep(Duration::from_millis(250))
                }
                Err(e) => panic!("{} held for 10 minutes: {e}", path.display()),
            }
        }
    }
}
impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// `cdk/cdk.out/<env>/`, synthesized now unless it is already newer than every CDK source.
pub fn synthesized(env: &str) -> PathBuf {
    let cdk = root().join("cdk");
    let out = cdk.join("cdk.out").join(env);
    let fresh = || {
        std::fs::metadata(out.join("manifest.json"))
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= newest_source())
    };
    if fresh() {
        return out;
    }
    std::fs::create_dir_all(cdk.join("cdk.out")).unwrap();
    let _lock = Lock::take(cdk.join("cdk.out").join(".synth-lock"));
    if fresh() {
        return out;
    }
    assert!(
        cdk.join("node_modules/.bin/cdk").exists(),
        "{} is missing or older than the CDK sources, and cdk/node_modules is not installed to \
         synthesize it: run `npm ci --prefix cdk` (bash .ci/setup.sh does) or `bash .ci/cdk.sh`",
        out.display()
    );
    let ecr = format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/{APP}");
    let mut args = vec![
        "cdk".to_string(),
        "synth".into(),
        "--quiet".into(),
        "-c".into(),
        format!("env={env}"),
        "-c".into(),
        format!("authImage={ecr}/auth@sha256:{}", "a".repeat(64)),
        "-c".into(),
        format!("taskImage={ecr}/task@sha256:{}", "b".repeat(64)),
        "-o".into(),
        format!("cdk.out/{env}"),
    ];
    // As .ci/cdk.sh synthesizes them: test on plain HTTP open to all, prod on HTTPS.
    if env == "test" {
        args.extend(["-c".into(), "allowPublicHttp=true".into()]);
    }
    if env == "prod" {
        args.extend([
            "-c".into(),
            "certificateArn=arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100".into(),
            "-c".into(),
            "domain=api.example.com".into(),
        ]);
    }
    let status = Command::new("npx")
        .args(&args)
        .current_dir(&cdk)
        .env("CDK_DISABLE_VERSION_CHECK", "1")
        .env("CDK_DISABLE_CLI_TELEMETRY", "1")
        .status()
        .expect("run npx (Node.js and npm must be installed)");
    assert!(status.success(), "npx {} in cdk/ failed", args.join(" "));
    out
}

/// One stack's template: `TaskManagement-<env>-<concern>`.
pub fn stack(env: &str, concern: &str) -> Json {
    let path = synthesized(env).join(format!("TaskManagement-{env}-{concern}.template.json"));
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&raw).unwrap()
}

pub fn of_type<'a>(t: &'a Json, ty: &str) -> Vec<(&'a String, &'a Json)> {
    t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == ty)
        .collect()
}

/// The task definition of `svc` (family `task-management-<env>-<svc>`).
pub fn task_definition<'a>(t: &'a Json, env: &str, svc: &str) -> &'a Json {
    let family = format!("{APP}-{env}-{svc}");
    let found: Vec<_> = of_type(t, "AWS::ECS::TaskDefinition")
        .into_iter()
        .filter(|(_, r)| r["Properties"]["Family"] == family.as_str())
        .collect();
    assert_eq!(found.len(), 1, "task definition {family}");
    &found[0].1["Properties"]
}

/// The target group whose health check path is `health`, with its logical id.
pub fn target_group<'a>(t: &'a Json, health: &str) -> (&'a String, &'a Json) {
    let found: Vec<_> = of_type(t, "AWS::ElasticLoadBalancingV2::TargetGroup")
        .into_iter()
        .filter(|(_, r)| r["Properties"]["HealthCheckPath"] == health)
        .collect();
    assert_eq!(found.len(), 1, "target group checking {health}");
    (found[0].0, &found[0].1["Properties"])
}

/// The ECS service whose task definition is `svc`'s.
pub fn ecs_service<'a>(t: &'a Json, env: &str, svc: &str) -> (&'a String, &'a Json) {
    let td_id = of_type(t, "AWS::ECS::TaskDefinition")
        .into_iter()
        .find(|(_, r)| r["Properties"]["Family"] == format!("{APP}-{env}-{svc}").as_str())
        .unwrap()
        .0;
    let found: Vec<_> = of_type(t, "AWS::ECS::Service")
        .into_iter()
        .filter(|(_, r)| r["Properties"]["TaskDefinition"]["Ref"] == td_id.as_str())
        .collect();
    assert_eq!(found.len(), 1, "ECS service of {svc}");
    (found[0].0, &found[0].1["Properties"])
}

/// Which secret an ARN expression from the CDK templates names, in the Copilot exports' words.
pub fn secret_name(v: &Json) -> String {
    let s = v.to_string();
    if s.contains("JwtSigningKeySecret") {
        "JwtSigningKeySecretArn".into()
    } else if s.contains("Database") && s.contains("Secret") {
        // The CDK app's services read the application role's secret, Copilot's the owner's:
        // the same database, a narrower role (cdk/lambda/migration/app-role.sql).
        "DbSecretArn".into()
    } else {
        panic!("not a secret of this application: {s}")
    }
}
