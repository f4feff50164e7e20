//! The CDK app (`cdk/`) and the Copilot manifests (`copilot/`) deploy the same system: what
//! `cdk synth` writes for test and prod is compared with the manifests and addon templates of
//! the same environment: target and container health checks, routing, scaling, task size, the
//! variables each service is handed (which must be exactly those its configuration reads, minus
//! the shared not-handed list), the secrets each task role may read, rollback alarms, database
//! capacity and connections.
//!
//! The templates come from `cdk/cdk.out/<env>/` (written by `.ci/cdk.sh`). When they are absent or
//! older than the CDK sources, this test runs the synth itself (`npx cdk synth` in `cdk/`, which
//! needs `cdk/node_modules`: `npm ci --prefix cdk`, done by `.ci/setup.sh`); it never skips.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, SystemTime},
};

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use crate::deploy;

const APP: &str = "task-management";
/// The environments both deployments define.
const ENVIRONMENTS: [&str; 2] = ["test", "prod"];
const SERVICES: [&str; 2] = ["auth", "task"];

// --- where the two deliberately differ ------------------------------------------------------------
//
// Migrations: the CDK app runs `migrate` once per deployment as its own step (a one-off task
// awaited by a custom resource, logical ids starting with `Migration`, cdk/lib/migration.ts), and
// the services start in the production default of the migrations setting (verify: never change
// the schema). Copilot has no such step, so its manifests set the setting to apply and every
// task migrates at start-up; variables handed differently on purpose are declared with the
// others in tests/it/deploy/mod.rs. The services connect as the application role (DB_SECRET names
// its secret), Copilot's as the owner: `secret_name` maps both to the database secret.
const MIGRATION_STEP: &str = "Migration";
/// Rollback alarms only the CDK app has: 5xx the load balancer answers itself (no healthy
/// target, resets); one alarm for both services.
const CDK_ONLY_ROLLBACK_ALARMS: &[&str] = &["elb-5xx"];
/// Task sizes the CDK app chose per environment from the measured cost (docs/capacity.md):
/// (env, service, cpu, memory). Copilot's manifests keep 256 / 512 everywhere.
const CDK_SIZES: &[(&str, &str, u64, u64)] = &[("prod", "auth", 512, 1024)];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// --- the synthesized templates ----------------------------------------------------------------

fn newest_source() -> SystemTime {
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
struct Lock(PathBuf);
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
fn synthesized(env: &str) -> PathBuf {
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
fn stack(env: &str, concern: &str) -> Json {
    let path = synthesized(env).join(format!("TaskManagement-{env}-{concern}.template.json"));
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&raw).unwrap()
}

fn of_type<'a>(t: &'a Json, ty: &str) -> Vec<(&'a String, &'a Json)> {
    t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == ty)
        .collect()
}

/// The task definition of `svc` (family `task-management-<env>-<svc>`).
fn task_definition<'a>(t: &'a Json, env: &str, svc: &str) -> &'a Json {
    let family = format!("{APP}-{env}-{svc}");
    let found: Vec<_> = of_type(t, "AWS::ECS::TaskDefinition")
        .into_iter()
        .filter(|(_, r)| r["Properties"]["Family"] == family.as_str())
        .collect();
    assert_eq!(found.len(), 1, "task definition {family}");
    &found[0].1["Properties"]
}

/// The target group whose health check path is `health`, with its logical id.
fn target_group<'a>(t: &'a Json, health: &str) -> (&'a String, &'a Json) {
    let found: Vec<_> = of_type(t, "AWS::ElasticLoadBalancingV2::TargetGroup")
        .into_iter()
        .filter(|(_, r)| r["Properties"]["HealthCheckPath"] == health)
        .collect();
    assert_eq!(found.len(), 1, "target group checking {health}");
    (found[0].0, &found[0].1["Properties"])
}

/// The ECS service whose task definition is `svc`'s.
fn ecs_service<'a>(t: &'a Json, env: &str, svc: &str) -> (&'a String, &'a Json) {
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
fn secret_name(v: &Json) -> String {
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

// --- the Copilot side ---------------------------------------------------------------------------

fn yaml(rel: &str) -> Yaml {
    let path = root().join("copilot").join(rel);
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&raw).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn manifest(svc: &str) -> Yaml {
    yaml(&format!("{svc}/manifest.yml"))
}

/// "30s" → 30.
fn secs(v: &Yaml) -> u64 {
    v.as_str()
        .and_then(|s| s.strip_suffix('s'))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a duration in seconds: {v:?}"))
}

fn num(v: &Yaml) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("a whole number: {v:?}"))
}

/// The predefined Copilot names, as `copilot deploy` substitutes them.
fn copilot_subst(s: &str, env: &str) -> String {
    s.replace("${COPILOT_APPLICATION_NAME}", APP)
        .replace("${COPILOT_ENVIRONMENT_NAME}", env)
}

// --- the comparisons ----------------------------------------------------------------------------

#[test]
fn target_health_checks_routing_and_draining_match() {
    for env in ENVIRONMENTS {
        let t = stack(env, "Services");
        for svc in SERVICES {
            let m = manifest(svc);
            let hc = &m["http"]["healthcheck"];
            let path = hc["path"].as_str().unwrap();
            let (tg_id, tg) = target_group(&t, path);
            let what = format!("{env}/{svc} target group");
            assert_eq!(
                tg["HealthCheckIntervalSeconds"],
                secs(&hc["interval"]),
                "{what}: interval"
            );
            assert_eq!(
                tg["HealthCheckTimeoutSeconds"],
                secs(&hc["timeout"]),
                "{what}: timeout"
            );
            assert_eq!(
                tg["HealthyThresholdCount"],
                num(&hc["healthy_threshold"]),
                "{what}"
            );
            assert_eq!(
                tg["UnhealthyThresholdCount"],
                num(&hc["unhealthy_threshold"]),
                "{what}"
            );
            assert_eq!(
                tg["Matcher"]["HttpCode"],
                hc["success_codes"].as_str().unwrap(),
                "{what}"
            );
            assert_eq!(tg["TargetType"], "ip", "{what}");
            assert_eq!(tg["Port"], num(&m["image"]["port"]), "{what}: port");
            let delay = tg["TargetGroupAttributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["Key"] == "deregistration_delay.timeout_seconds")
                .map(|a| a["Value"].as_str().unwrap().to_string());
            assert_eq!(
                delay,
                Some(secs(&m["http"]["deregistration_delay"]).to_string()),
                "{what}: deregistration delay"
            );
            let (_, service) = ecs_service(&t, env, svc);
            assert_eq!(
                service["HealthCheckGracePeriodSeconds"],
                secs(&hc["grace_period"]),
                "{env}/{svc}: grace period"
            );
            // http.path: the listener rule that forwards to this target group matches the prefix.
            let prefix = m["http"]["path"].as_str().unwrap();
            let rules: Vec<_> = of_type(&t, "AWS::ElasticLoadBalancingV2::ListenerRule")
                .into_iter()
                .filter(|(_, r)| {
                    r["Properties"]["Actions"][0]["TargetGroupArn"]["Ref"] == tg_id.as_str()
                })
                .collect();
            assert_eq!(rules.len(), 1, "{env}/{svc}: one listener rule");
            let patterns =
                &rules[0].1["Properties"]["Conditions"][0]["PathPatternConfig"]["Values"];
            assert_eq!(
                patterns,
                &serde_json::json!([prefix, format!("{prefix}/*")]),
                "{env}/{svc}: routed paths"
            );
        }
    }
}

#[test]
fn container_definition_matches() {
    for env in ENVIRONMENTS {
        let t = stack(env, "Services");
        for svc in SERVICES {
            let m = manifest(svc);
            let td = task_definition(&t, env, svc);
            let what = format!("{env}/{svc}");
            let (cpu, memory) = CDK_SIZES
                .iter()
                .find(|(e, s, _, _)| *e == env && *s == svc)
                .map(|(_, _, c, m)| (*c, *m))
                .unwrap_or((num(&m["cpu"]), num(&m["memory"])));
            assert_eq!(td["Cpu"], cpu.to_string(), "{what}: cpu");
            assert_eq!(td["Memory"], memory.to_string(), "{what}: memory");
            let c = &td["ContainerDefinitions"][0];
            assert_eq!(
                c["PortMappings"][0]["ContainerPort"],
                num(&m["image"]["port"]),
                "{what}"
            );
            let hc = &m["image"]["healthcheck"];
            let command: Vec<&str> = hc["command"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(
                c["HealthCheck"]["Command"],
                serde_json::json!(command),
                "{what}"
            );
            assert_eq!(
                c["HealthCheck"]["Interval"],
                secs(&hc["interval"]),
                "{what}"
            );
            assert_eq!(c["HealthCheck"]["Timeout"], secs(&hc["timeout"]), "{what}");
            assert_eq!(c["HealthCheck"]["Retries"], num(&hc["retries"]), "{what}");
            assert_eq!(
                c["HealthCheck"]["StartPeriod"],
                secs(&hc["start_period"]),
                "{what}"
            );
            // Copilot's image runs as the image's user; the CDK app says so explicitly.
            assert_eq!(c["User"], "65534", "{what}: user");
            assert_eq!(c["ReadonlyRootFilesystem"], true, "{what}: read-only root");
            // logging.retention
            let group = c["LogConfiguration"]["Options"]["awslogs-group"]["Ref"]
                .as_str()
                .unwrap();
            assert_eq!(
                t["Resources"][group]["Properties"]["RetentionInDays"],
                num(&m["logging"]["retention"]),
                "{what}: log retention"
            );
        }
    }
}

#[test]
fn scaling_matches() {
    for env in ENVIRONMENTS {
        let t = stack(env, "Services");
        for svc in SERVICES {
            let m = manifest(svc);
            let count = &m["count"];
            let (lo, hi) = count["range"].as_str().unwrap().split_once('-').unwrap();
            let (service_id, service) = ecs_service(&t, env, svc);
            let what = format!("{env}/{svc}");
            let targets: Vec<_> = of_type(&t, "AWS::ApplicationAutoScaling::ScalableTarget")
                .into_iter()
                .filter(|(_, r)| {
                    r["Properties"]["ResourceId"]
                        .to_string()
                        .contains(service_id.as_str())
                })
                .collect();
            assert_eq!(targets.len(), 1, "{what}: one scalable target");
            let (target_id, target) = targets[0];
            assert_eq!(
                target["Properties"]["MinCapacity"].to_string(),
                lo,
                "{what}: min"
            );
            assert_eq!(
                target["Properties"]["MaxCapacity"].to_string(),
                hi,
                "{what}: max"
            );
            assert_eq!(
                service["DesiredCount"].to_string(),
                lo,
                "{what}: desired count"
            );
            let cpu: Vec<_> = of_type(&t, "AWS::ApplicationAutoScaling::ScalingPolicy")
                .into_iter()
                .map(|(_, p)| &p["Properties"])
                .filter(|p| p["ScalingTargetId"]["Ref"] == target_id.as_str())
                .map(|p| &p["TargetTrackingScalingPolicyConfiguration"])
                .filter(|c| {
                    c["PredefinedMetricSpecification"]["PredefinedMetricType"]
                        == "ECSServiceAverageCPUUtilization"
                })
                .collect();
            assert_eq!(cpu.len(), 1, "{what}: one CPU target-tracking policy");
            assert_eq!(
                cpu[0]["TargetValue"],
                num(&count["cpu_percentage"]),
                "{what}: CPU target"
            );
            assert_eq!(
                cpu[0]["ScaleOutCooldown"],
                secs(&count["cooldown"]["out"]),
                "{what}"
            );
            assert_eq!(
                cpu[0]["ScaleInCooldown"],
                secs(&count["cooldown"]["in"]),
                "{what}"
            );
        }
    }
}

/// The variables each service is handed: the same names in both deployments, and exactly the
/// ones its configuration reads except the shared not-handed list; the same plain values.
#[test]
fn handed_variables_match_and_are_exactly_what_the_services_read() {
    for env in ENVIRONMENTS {
        let t = stack(env, "Services");
        for svc in SERVICES {
            let (reads, not_handed) = deploy::reads_and_not_handed(svc);
            let expected: BTreeSet<String> = reads.difference(&not_handed).cloned().collect();

            let c = &task_definition(&t, env, svc)["ContainerDefinitions"][0];
            assert!(
                c.get("Secrets").is_none(),
                "{env}/{svc}: secrets go as ARNs, not ECS secrets"
            );
            let cdk: BTreeMap<String, &Json> = c["Environment"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| (e["Name"].as_str().unwrap().to_string(), &e["Value"]))
                .collect();
            let cdk_names: BTreeSet<String> = cdk.keys().cloned().collect();
            assert_eq!(
                cdk_names, expected,
                "{env}/{svc}: the CDK app hands these; the binary reads {reads:?} of which \
                 {not_handed:?} are not handed"
            );

            let m = manifest(svc);
            let copilot = m["variables"].as_mapping().unwrap();
            let copilot_names: BTreeSet<String> = copilot
                .keys()
                .map(|k| k.as_str().unwrap().to_string())
                .collect();
            assert_eq!(
                cdk_names, copilot_names,
                "{env}/{svc}: CDK vs Copilot variables"
            );

            for (k, v) in copilot {
                let k = k.as_str().unwrap();
                let ours = cdk[k];
                match v {
                    Yaml::String(s) => assert_eq!(
                        ours.as_str(),
                        Some(copilot_subst(s, env).as_str()),
                        "{env}/{svc}: {k}"
                    ),
                    Yaml::Mapping(_) => {
                        let export = v["from_cfn"].as_str().unwrap();
                        assert_eq!(
                            export.rsplit('-').next().unwrap(),
                            secret_name(ours),
                            "{env}/{svc}: {k} names the same secret"
                        );
                    }
                    other => panic!("{svc}: {k}: {other:?}"),
                }
            }
        }
    }
}

/// Each task role may read exactly the secrets the Copilot addon (copilot/<svc>/addons/iam.yml)
/// lets it read; the signing key's resource policy admits auth's task role only.
#[test]
fn each_task_role_reads_the_same_secrets() {
    for env in ENVIRONMENTS {
        let t = stack(env, "Services");
        for svc in SERVICES {
            let addon = yaml(&format!("{svc}/addons/iam.yml"));
            let mut copilot: Vec<String> = Vec::new();
            for (_, r) in addon["Resources"].as_mapping().unwrap() {
                for s in r["Properties"]["PolicyDocument"]["Statement"]
                    .as_sequence()
                    .unwrap()
                {
                    assert_eq!(s["Action"].as_str(), Some("secretsmanager:GetSecretValue"));
                    let Yaml::Tagged(sub) = &s["Resource"]["Fn::ImportValue"] else {
                        panic!("{svc}: an imported ARN")
                    };
                    let name = sub.value.as_str().unwrap();
                    copilot.push(name.rsplit('-').next().unwrap().to_string());
                }
            }
            copilot.sort();

            // Region-qualified: task-management-<env>-<region>-<svc>-task-role.
            let role = format!("{APP}-{env}-…-{svc}-task-role");
            let role_id = of_type(&t, "AWS::IAM::Role")
                .into_iter()
                .find(|(_, r)| {
                    let name = r["Properties"]["RoleName"].to_string();
                    name.contains(&format!("{APP}-{env}-"))
                        && name.contains(&format!("-{svc}-task-role"))
                })
                .unwrap_or_else(|| panic!("{role}"))
                .0;
            let mut cdk: Vec<String> = Vec::new();
            for (_, p) in of_type(&t, "AWS::IAM::Policy") {
                let attached = p["Properties"]["Roles"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["Ref"] == role_id.as_str());
                if !attached {
                    continue;
                }
                for s in p["Properties"]["PolicyDocument"]["Statement"]
                    .as_array()
                    .unwrap()
                {
                    assert_eq!(s["Action"], "secretsmanager:GetSecretValue", "{role}: {s}");
                    let resources = match &s["Resource"] {
                        Json::Array(a) => a.clone(),
                        one => vec![one.clone()],
                    };
                    cdk.extend(resources.iter().map(secret_name));
                }
            }
            cdk.sort();
            assert_eq!(cdk, copilot, "{env}/{svc}: secrets the task role may read");
        }
        // Nothing else in the services stack may read a secret, except the CDK app's migration
        // step (a deliberate difference: Copilot has no migration step, see MIGRATION_STEP).
        let readers = of_type(&t, "AWS::IAM::Policy")
            .into_iter()
            .filter(|(id, p)| {
                p.to_string().contains("secretsmanager:") && !id.starts_with(MIGRATION_STEP)
            })
            .count();
        assert_eq!(
            readers,
            SERVICES.len(),
            "{env}: only the two task roles read secrets"
        );

        let secrets = stack(env, "Secrets");
        let policy = of_type(&secrets, "AWS::SecretsManager::ResourcePolicy");
        let deny = &policy[0].1["Properties"]["ResourcePolicy"]["Statement"][0];
        assert_eq!(deny["Effect"], "Deny");
        let admitted = deny["Condition"].to_string();
        assert!(
            admitted.contains(&format!(":role/{APP}-{env}-"))
                && admitted.contains("-auth-task-role"),
            "{env}: the signing key admits auth's task role only: {deny}"
        );
    }
}

#[test]
fn rollback_alarms_and_circuit_breaker_match() {
    for env in ENVIRONMENTS {
        let t = stack(env, "Services");
        let created: BTreeSet<&str> = of_type(&t, "AWS::CloudWatch::Alarm")
            .into_iter()
            .map(|(_, a)| a["Properties"]["AlarmName"].as_str().unwrap())
            .collect();
        for svc in SERVICES {
            let m = manifest(svc);
            let copilot: Vec<String> = m["deployment"]["rollback_alarms"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|a| copilot_subst(a.as_str().unwrap(), env))
                .collect();
            let (_, service) = ecs_service(&t, env, svc);
            let dc = &service["DeploymentConfiguration"];
            let cdk_only: Vec<String> = CDK_ONLY_ROLLBACK_ALARMS
                .iter()
                .map(|a| format!("{APP}-{env}-{a}"))
                .collect();
            let cdk: Vec<&Json> = dc["Alarms"]["AlarmNames"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| !cdk_only.iter().any(|c| a.as_str() == Some(c.as_str())))
                .collect();
            assert_eq!(
                serde_json::json!(cdk),
                serde_json::json!(copilot),
                "{env}/{svc}"
            );
            for a in &cdk_only {
                assert!(created.contains(a.as_str()), "{env}: {a} is not created");
            }
            assert_eq!(dc["Alarms"]["Rollback"], true);
            assert_eq!(
                dc["DeploymentCircuitBreaker"],
                serde_json::json!({"Enable": true, "Rollback": true})
            );
            for a in &copilot {
                assert!(created.contains(a.as_str()), "{env}: {a} is not created");
            }
        }
    }
}

#[test]
fn database_and_cluster_match() {
    let db_addon = yaml("environments/addons/database.yml");
    let monitoring = yaml("environments/addons/monitoring.yml");
    for env in ENVIRONMENTS {
        let t = stack(env, "Database");
        let config = &db_addon["Mappings"]["EnvConfig"][env];
        let cluster = &of_type(&t, "AWS::RDS::DBCluster")[0].1["Properties"];
        let scaling = &cluster["ServerlessV2ScalingConfiguration"];
        assert_eq!(
            scaling["MinCapacity"].as_f64(),
            config["MinCapacity"].as_f64(),
            "{env}: min ACU"
        );
        assert_eq!(
            scaling["MaxCapacity"].as_f64(),
            config["MaxCapacity"].as_f64(),
            "{env}: max ACU"
        );
        assert_eq!(cluster["StorageEncrypted"], true);
        assert_eq!(cluster["Engine"], "aurora-postgresql");
        assert_eq!(
            cluster["DeletionProtection"].as_bool(),
            Some(config["DeletionProtection"].as_str() == Some("true")),
            "{env}: deletion protection"
        );
        let instances = of_type(&t, "AWS::RDS::DBInstance").len();
        let reader = config["ReaderInstance"].as_str() == Some("true");
        assert_eq!(
            instances,
            1 + usize::from(reader),
            "{env}: writer (+ reader)"
        );
        let copilot_max = &db_addon["Resources"]["DbInstanceParameterGroup"]["Properties"]["Parameters"]
            ["max_connections"];
        let cdk_max = &of_type(&t, "AWS::RDS::DBParameterGroup")[0].1["Properties"]["Parameters"]["max_connections"];
        assert_eq!(
            cdk_max.as_str(),
            copilot_max.as_str(),
            "{env}: max_connections"
        );
        let rotation = &of_type(&t, "AWS::SecretsManager::RotationSchedule")[0].1["Properties"];
        let days = num(
            &db_addon["Resources"]["DbSecretRotation"]["Properties"]["RotationRules"]["AutomaticallyAfterDays"],
        );
        assert_eq!(
            rotation["RotationRules"]["ScheduleExpression"],
            format!("rate({days} days)")
        );

        let o = stack(env, "Observability");
        let threshold = &monitoring["Resources"]["DbConnectionsAlarm"]["Properties"]["Threshold"];
        let ours = of_type(&o, "AWS::CloudWatch::Alarm")
            .into_iter()
            .find(|(_, a)| {
                a["Properties"]["AlarmName"] == format!("{APP}-{env}-db-connections").as_str()
            })
            .expect("db-connections alarm");
        assert_eq!(
            ours.1["Properties"]["Threshold"].as_u64(),
            threshold.as_u64(),
            "{env}"
        );

        let s = stack(env, "Services");
        let insights = yaml(&format!("environments/{env}/manifest.yml"))["observability"]
            ["container_insights"]
            .as_bool();
        let cluster = &of_type(&s, "AWS::ECS::Cluster")[0].1["Properties"];
        assert_eq!(
            cluster["ClusterSettings"],
            serde_json::json!([{"Name": "containerInsights", "Value": if insights == Some(true) { "enabled" } else { "disabled" }}]),
            "{env}: Container Insights"
        );
    }
}

/// prod: HTTPS with the certificate, HTTP redirected (Copilot: http.alias + redirect_to_https).
#[test]
fn prod_redirects_to_https_like_copilot() {
    for svc in SERVICES {
        let m = manifest(svc);
        assert_eq!(
            m["environments"]["prod"]["http"]["redirect_to_https"].as_bool(),
            Some(true)
        );
    }
    let t = stack("prod", "Services");
    let ports: BTreeMap<u64, &Json> = of_type(&t, "AWS::ElasticLoadBalancingV2::Listener")
        .into_iter()
        .map(|(_, l)| (l["Properties"]["Port"].as_u64().unwrap(), &l["Properties"]))
        .collect();
    assert_eq!(ports[&443]["Protocol"], "HTTPS");
    assert_eq!(ports[&80]["DefaultActions"][0]["Type"], "redirect");
    let t = stack("test", "Services");
    let listeners = of_type(&t, "AWS::ElasticLoadBalancingV2::Listener");
    assert_eq!(listeners.len(), 1);
    assert_eq!(listeners[0].1["Properties"]["Port"], 80);
}
