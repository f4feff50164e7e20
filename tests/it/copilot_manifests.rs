//! The AWS Copilot application in `copilot/`: the manifests as `copilot deploy` reads them,
//! the deployment rules they must follow, and how they fit the addon templates and the
//! services' own configuration. (The templates themselves are linted by `.ci/copilot.sh`.)
//!
//! The manifest structs below hold only the fields this application uses, named as on
//! Copilot's manifest pages ("Load Balanced Web Service", "Environment"), with
//! `deny_unknown_fields`: a misspelt field, a value of the wrong type, or a Copilot feature
//! nobody has reviewed here yet fails the parse. Before parsing, `${VAR}` in string values is
//! substituted the way Copilot does it, an unset variable being an error.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_yaml::Value;

const APP: &str = "task-management";
const ENVIRONMENTS: [&str; 2] = ["test", "prod"];
const PLATFORMS: [&str; 2] = ["linux/x86_64", "linux/arm64"];
/// Each service with the path the load balancer routes to it.
const SERVICES: [(&str, &str); 2] = [("auth", "/auth"), ("task", "/tasks")];

/// Variables a service reads that the manifests deliberately do not hand it in the cloud
/// (shared with tests/it/cdk_matches_copilot.rs, which holds the CDK app to the same list).
use crate::deploy;

// --- the manifests, as far as this application uses them ------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceManifest {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    http: Http,
    image: Image,
    cpu: u32,
    memory: u32,
    platform: String,
    exec: bool,
    count: Count,
    network: Network,
    variables: BTreeMap<String, Variable>,
    logging: Logging,
    deployment: Deployment,
    #[serde(default)]
    environments: BTreeMap<String, Override>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Http {
    path: Option<String>,
    healthcheck: Option<TargetHealthCheck>,
    deregistration_delay: Option<String>,
    alias: Option<String>,
    redirect_to_https: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetHealthCheck {
    path: String,
    success_codes: String,
    healthy_threshold: u32,
    unhealthy_threshold: u32,
    interval: String,
    timeout: String,
    grace_period: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Image {
    location: String,
    port: u16,
    healthcheck: ContainerHealthCheck,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // parsed for the names and types of its fields; only `command` is a rule
struct ContainerHealthCheck {
    command: Vec<String>,
    interval: String,
    retries: u32,
    timeout: String,
    start_period: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Count {
    range: String,
    cpu_percentage: u32,
    cooldown: Cooldown,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cooldown {
    #[serde(rename = "in")]
    scale_in: String,
    #[serde(rename = "out")]
    scale_out: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Network {
    vpc: Placement,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Placement {
    placement: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Variable {
    Plain(String),
    FromCfn(FromCfn),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FromCfn {
    from_cfn: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Logging {
    retention: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Deployment {
    rolling: String,
    rollback_alarms: Vec<String>,
}

/// A per-environment override: only `http` may change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Override {
    http: Http,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvironmentManifest {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    network: EnvNetwork,
    http: Option<EnvHttp>,
    observability: Observability,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvNetwork {
    vpc: EnvVpc,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvVpc {
    id: Option<String>,
    cidr: Option<String>,
    subnets: Subnets,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Subnets {
    public: Vec<Subnet>,
    private: Vec<Subnet>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Subnet {
    id: Option<String>,
    cidr: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvHttp {
    public: PublicHttp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicHttp {
    certificates: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Observability {
    container_insights: bool,
}

// --- reading them as `copilot deploy` does ---------------------------------------------------

fn read(rel: &str) -> String {
    let path = format!("{}/copilot/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The shell a `copilot deploy` runs in (README.md, Deploy).
fn deploy_shell(platform: &str) -> BTreeMap<String, String> {
    let ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/task-management";
    [
        ("AUTH_IMAGE", format!("{ecr}/auth:0.1.0-3f2c1ab")),
        ("TASK_IMAGE", format!("{ecr}/task:0.1.0-3f2c1ab")),
        ("PLATFORM", platform.into()),
        ("API_DOMAIN", "api.example.com".into()),
        ("PROD_VPC_ID", "vpc-0123456789abcdef0".into()),
        ("PROD_PUBLIC_SUBNET_A", "subnet-0a".into()),
        ("PROD_PUBLIC_SUBNET_B", "subnet-0b".into()),
        ("PROD_PRIVATE_SUBNET_A", "subnet-0c".into()),
        ("PROD_PRIVATE_SUBNET_B", "subnet-0d".into()),
        (
            "PROD_CERTIFICATE_ARN",
            "arn:aws:acm:eu-west-1:123456789012:certificate/0".into(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// `${NAME}` in one string: the two predefined names, then the shell; unset is an error.
fn interpolate_str(s: &str, env: &str, shell: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let end = start + rest[start..].find('}').ok_or("unclosed ${")?;
        let name = &rest[start + 2..end];
        out.push_str(&rest[..start]);
        out.push_str(&match name {
            "COPILOT_APPLICATION_NAME" => APP.to_string(),
            "COPILOT_ENVIRONMENT_NAME" => env.to_string(),
            _ => shell
                .get(name)
                .cloned()
                .ok_or_else(|| format!("environment variable \"{name}\" is not defined"))?,
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Every string value of the tree (keys and comments are left alone).
fn interpolate(v: &mut Value, env: &str, shell: &BTreeMap<String, String>) -> Result<(), String> {
    match v {
        Value::String(s) => *s = interpolate_str(s, env, shell)?,
        Value::Sequence(items) => {
            for item in items {
                interpolate(item, env, shell)?;
            }
        }
        Value::Mapping(map) => {
            for (_, item) in map.iter_mut() {
                interpolate(item, env, shell)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn load<T: serde::de::DeserializeOwned>(
    raw: &str,
    env: &str,
    shell: &BTreeMap<String, String>,
) -> Result<T, String> {
    let mut value: Value = serde_yaml::from_str(raw).map_err(|e| format!("YAML: {e}"))?;
    interpolate(&mut value, env, shell)?;
    serde_yaml::from_value(value).map_err(|e| format!("schema: {e}"))
}

fn deployed(service: &str, env: &str) -> ServiceManifest {
    load(
        &read(&format!("{service}/manifest.yml")),
        env,
        &deploy_shell(PLATFORMS[0]),
    )
    .unwrap()
}

/// "30s" → 30.
fn secs(d: &str) -> Option<u32> {
    d.strip_suffix('s')?.parse().ok()
}

// --- the deployment rules --------------------------------------------------------------------

/// Every rule `m` (service `svc` routed at `path`, deployed to `env`) breaks.
fn service_rules(m: &ServiceManifest, (svc, path): (&str, &str), env: &str) -> Vec<String> {
    let var = |k: &str| match m.variables.get(k) {
        Some(Variable::Plain(s)) => Some(s.as_str()),
        _ => None,
    };
    let import = |k: &str| match m.variables.get(k) {
        Some(Variable::FromCfn(f)) => Some(f.from_cfn.as_str()),
        _ => None,
    };
    let export = |name: &str| format!("{APP}-{env}-{name}");
    let hc = m.http.healthcheck.as_ref();
    let health = format!("{path}/health");
    // Drain, then SIGTERM: the service's shutdown bound fits in the deregistration delay and
    // stays under Fargate's 30 s stop timeout.
    let shutdown = var("SHUTDOWN_TIMEOUT_SECS").and_then(|s| s.parse::<u32>().ok());
    let drain = m.http.deregistration_delay.as_deref().and_then(secs);
    let drains = matches!((shutdown, drain), (Some(s), Some(d)) if s < 30 && s <= d && d <= 60);
    let ecr_image = format!(".dkr.ecr.eu-west-1.amazonaws.com/{APP}/{svc}:");
    let probe = [
        "CMD".to_string(),
        format!("/bin/{svc}"),
        "healthcheck".to_string(),
    ];
    let cooldown = (
        secs(&m.count.cooldown.scale_out),
        secs(&m.count.cooldown.scale_in),
    );
    let alarms = [
        export(&format!("{svc}-target-5xx")),
        export(&format!("{svc}-error-rate")),
    ];
    let key = import("JWT_SIGNING_KEY_SECRET");
    let gets_a_key = m.variables.iter().any(|(k, v)| {
        k.contains("JWT_SIGNING_KEY")
            || matches!(v, Variable::FromCfn(f) if f.from_cfn.contains("JwtSigningKey"))
    });
    // Service discovery: Copilot names auth auth.<env>.<app>.local.
    let discovery = format!("http://auth.{env}.{APP}.local:3000");
    let prod_only_alias = m.environments.get("prod").is_some_and(|o| {
        let h = &o.http;
        h.alias.as_deref().is_some_and(|a| !a.is_empty())
            && h.redirect_to_https == Some(true)
            && (h.path.is_none() && h.healthcheck.is_none() && h.deregistration_delay.is_none())
    });
    let (auth, task) = (svc == "auth", svc == "task");

    #[rustfmt::skip]
    let rules = [
        (m.name == svc, "name is the service"),
        (m.kind == "Load Balanced Web Service", "type"),
        (m.http.path.as_deref() == Some(path), "http.path routes the service's prefix"),
        (m.http.alias.is_none() && m.http.redirect_to_https.is_none(), "alias only for prod"),
        (hc.is_some_and(|h| h.path == health), "health check path"),
        (hc.is_some_and(|h| h.success_codes == "200"), "health check success_codes"),
        (hc.is_some_and(|h| (h.healthy_threshold, h.unhealthy_threshold) == (2, 3)), "thresholds"),
        (hc.is_some_and(|h| (&*h.interval, &*h.timeout) == ("30s", "5s")), "health timing"),
        (hc.is_some_and(|h| h.grace_period == "30s"), "health check grace_period"),
        (drains, "deregistration_delay covers SHUTDOWN_TIMEOUT_SECS, which stays under 30"),
        (m.image.location.contains(&ecr_image), "image.location is the published image"),
        (m.image.port == 3000, "image.port 3000"),
        (m.image.healthcheck.command == probe, "container health check runs the binary"),
        ((m.cpu, m.memory) == (256, 512), "cpu/memory 256/512"),
        (PLATFORMS.contains(&m.platform.as_str()), "platform"),
        (!m.exec, "exec off: the scratch image has no shell"),
        (m.count.range == "2-10", "count.range 2-10"),
        (m.count.cpu_percentage == 70, "count.cpu_percentage 70"),
        (cooldown == (Some(60), Some(300)), "cooldown out 60s, in 300s"),
        (m.network.vpc.placement == "private", "private subnets"),
        (var("APP_ENV") == Some("production"), "APP_ENV=production"),
        (var("PORT") == Some("3000"), "PORT=3000"),
        (var("LOG_FORMAT") == Some("json"), "LOG_FORMAT=json"),
        (var("DB_POOL_MAX") == Some("5"), "DB_POOL_MAX=5"),
        (import("DB_SECRET") == Some(&export("DbSecretArn")), "DB_SECRET export"),
        (!auth || key == Some(&export("JwtSigningKeySecretArn")), "JWT_SIGNING_KEY_SECRET export"),
        (!task || !gets_a_key, "task never gets the signing key"),
        (!task || var("AUTH_SERVICE_URL") == Some(&discovery), "AUTH_SERVICE_URL"),
        (m.logging.retention == 30, "logging.retention 30"),
        (m.deployment.rollback_alarms == alarms, "rollback_alarms"),
        (m.deployment.rolling == "default", "rolling deployment"),
        (m.environments.keys().all(|k| k == "prod"), "only prod is overridden"),
        (prod_only_alias, "prod override: alias and redirect_to_https only"),
    ];
    broken(&rules)
}

/// The descriptions of the rules that do not hold.
fn broken(rules: &[(bool, &str)]) -> Vec<String> {
    rules
        .iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, what)| what.to_string())
        .collect()
}

fn check_service(raw: &str, service: (&str, &str)) -> Result<(), String> {
    for env in ENVIRONMENTS {
        for platform in PLATFORMS {
            let m: ServiceManifest = load(raw, env, &deploy_shell(platform))?;
            let broken = service_rules(&m, service, env);
            if !broken.is_empty() {
                return Err(format!("{} ({env}, {platform}): {broken:?}", service.0));
            }
        }
    }
    Ok(())
}

fn check_environment(raw: &str, env: &str) -> Result<(), String> {
    let m: EnvironmentManifest = load(raw, env, &deploy_shell(PLATFORMS[0]))?;
    let vpc = &m.network.vpc;
    let certs = m.http.map(|h| h.public.certificates).unwrap_or_default();
    let subnets = [&vpc.subnets.public, &vpc.subnets.private];
    let imported =
        |s: &Subnet| s.cidr.is_none() && s.id.as_ref().is_some_and(|id| id.starts_with("subnet-"));
    let (prod, test) = (env == "prod", env == "test");
    #[rustfmt::skip]
    let rules = [
        (m.name == env && m.kind == "Environment", "name and type"),
        (m.observability.container_insights, "Container Insights (the CPU alarms read it)"),
        (subnets.iter().all(|list| list.len() >= 2), "two subnets of each kind"),
        (!prod || vpc.id.as_ref().is_some_and(|id| id.starts_with("vpc-")), "prod imports a VPC"),
        (!prod || subnets.iter().all(|list| list.iter().all(imported)), "prod imports subnets"),
        (!prod || (certs.len() == 1 && certs[0].starts_with("arn:aws:acm:")), "prod certificate"),
        (!test || (vpc.id.is_none() && vpc.cidr.as_deref() == Some("10.0.0.0/16")), "test VPC"),
        (!test || certs.is_empty(), "no certificate in test"),
    ];
    let broken = broken(&rules);
    if broken.is_empty() {
        Ok(())
    } else {
        Err(format!("{env}: {broken:?}"))
    }
}

// --- addon templates (CloudFormation YAML with !Sub, !Ref, ...) ------------------------------

fn template(rel: &str) -> Value {
    serde_yaml::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A plain or `!Sub` string with `${App}`, `${Env}` and `${Name}` resolved.
fn sub(v: &Value, env: &str, name: &str) -> Option<String> {
    let s = match v {
        Value::Tagged(t) if t.tag == "!Sub" => t.value.as_str()?,
        other => other.as_str()?,
    };
    Some(
        s.replace("${App}", APP)
            .replace("${Env}", env)
            .replace("${Name}", name),
    )
}

fn resources(t: &Value) -> impl Iterator<Item = (&str, &Value)> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap(), v))
}

fn addon_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> =
        std::fs::read_dir(format!("{}/copilot/{dir}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yml") && n != "addons.parameters.yml")
            .map(|n| format!("{dir}/{n}"))
            .collect();
    files.sort();
    files
}

/// Copilot injects each output of a workload addon as a variable named in SCREAMING_SNAKE_CASE,
/// except outputs that are managed policies (attached to the task role instead).
fn addon_injected_vars(service: &str) -> BTreeSet<String> {
    let mut vars = BTreeSet::new();
    for file in addon_files(&format!("{service}/addons")) {
        let t = template(&file);
        let Some(outputs) = t.get("Outputs").and_then(Value::as_mapping) else {
            continue;
        };
        for (id, output) in outputs {
            let referenced = match &output["Value"] {
                Value::Tagged(tg) if tg.tag == "!Ref" => tg.value.as_str(),
                _ => None,
            };
            let is_policy = referenced.is_some_and(|r| {
                t["Resources"][r]["Type"].as_str() == Some("AWS::IAM::ManagedPolicy")
            });
            if !is_policy {
                let id = id.as_str().unwrap();
                let mut snake = String::new();
                for (i, c) in id.char_indices() {
                    if i > 0 && c.is_ascii_uppercase() {
                        snake.push('_');
                    }
                    snake.push(c.to_ascii_uppercase());
                }
                vars.insert(snake);
            }
        }
    }
    vars
}

// --- the tests --------------------------------------------------------------------------------

#[test]
fn the_workspace_names_the_application() {
    let ws: Value = serde_yaml::from_str(&read(".workspace")).unwrap();
    assert_eq!(ws["application"].as_str(), Some(APP));
}

#[test]
fn manifests_parse_strictly_and_follow_the_rules() {
    for env in ENVIRONMENTS {
        check_environment(&read(&format!("environments/{env}/manifest.yml")), env).unwrap();
    }
    for service in SERVICES {
        check_service(&read(&format!("{}/manifest.yml", service.0)), service).unwrap();
    }
}

#[test]
fn the_image_and_platform_come_from_the_deploy_shell() {
    for (svc, _) in SERVICES {
        let raw = read(&format!("{svc}/manifest.yml"));
        let image_var = format!("{}_IMAGE", svc.to_uppercase());
        let mut shell = deploy_shell(PLATFORMS[1]);
        assert_eq!(
            load::<ServiceManifest>(&raw, "test", &shell)
                .unwrap()
                .platform,
            PLATFORMS[1]
        );
        shell.remove(&image_var);
        let err = load::<ServiceManifest>(&raw, "test", &shell).unwrap_err();
        assert!(
            err.contains(&image_var),
            "an unset {image_var} must stop the deploy: {err}"
        );
    }
}

#[test]
fn handed_variables_are_exactly_the_ones_the_services_read() {
    for (svc, _) in SERVICES {
        let (reads, not_handed) = deploy::reads_and_not_handed(svc);
        for env in ENVIRONMENTS {
            let mut handed: BTreeSet<String> = deployed(svc, env).variables.into_keys().collect();
            handed.extend(addon_injected_vars(svc));
            let unread: Vec<_> = handed.difference(&reads).collect();
            assert!(
                unread.is_empty(),
                "{svc} is handed variables it never reads: {unread:?}"
            );
            let undecided: Vec<_> = reads
                .iter()
                .filter(|k| !handed.contains(*k) && !not_handed.contains(*k))
                .collect();
            assert!(
                undecided.is_empty(),
                "{svc} reads {undecided:?}: hand them or list them as not handed"
            );
            assert!(
                handed.is_disjoint(&not_handed),
                "{svc}: handed and listed as not handed"
            );
        }
    }
}

#[test]
fn imported_exports_exist_in_the_environment_addons() {
    for env in ENVIRONMENTS {
        let mut exports = BTreeSet::new();
        for file in addon_files("environments/addons") {
            let t = template(&file);
            for output in t
                .get("Outputs")
                .and_then(Value::as_mapping)
                .into_iter()
                .flat_map(|m| m.values())
            {
                exports.extend(output.get("Export").and_then(|e| sub(&e["Name"], env, "")));
            }
        }
        for (svc, _) in SERVICES {
            for (k, v) in deployed(svc, env).variables {
                if let Variable::FromCfn(f) = v {
                    assert!(
                        exports.contains(&f.from_cfn),
                        "{svc}: {k} imports {}, not exported",
                        f.from_cfn
                    );
                }
            }
        }
    }
}

#[test]
fn rollback_alarms_are_created_by_the_shared_alarm_addon() {
    assert_eq!(
        read("auth/addons/alarms.yml"),
        read("task/addons/alarms.yml")
    );
    assert_eq!(
        read("auth/addons/addons.parameters.yml"),
        read("task/addons/addons.parameters.yml")
    );
    let t = template("auth/addons/alarms.yml");
    for env in ENVIRONMENTS {
        for (svc, _) in SERVICES {
            let created: BTreeSet<String> = resources(&t)
                .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
                .filter_map(|(_, r)| sub(&r["Properties"]["AlarmName"], env, svc))
                .collect();
            for alarm in deployed(svc, env).deployment.rollback_alarms {
                assert!(
                    created.contains(&alarm),
                    "{alarm} is not created by alarms.yml"
                );
            }
        }
    }
}

/// Auth's task role may read the database secret and the signing key, task's only the
/// database secret; the key's resource policy denies it to every other principal.
#[test]
fn each_task_role_reads_only_its_own_secrets() {
    for (svc, allowed) in [
        ("auth", vec!["DbSecretArn", "JwtSigningKeySecretArn"]),
        ("task", vec!["DbSecretArn"]),
    ] {
        let t = template(&format!("{svc}/addons/iam.yml"));
        let mut granted = Vec::new();
        for (_, r) in resources(&t) {
            assert_eq!(r["Type"].as_str(), Some("AWS::IAM::ManagedPolicy"));
            for s in r["Properties"]["PolicyDocument"]["Statement"]
                .as_sequence()
                .unwrap()
            {
                assert_eq!(s["Effect"].as_str(), Some("Allow"));
                assert_eq!(s["Action"].as_str(), Some("secretsmanager:GetSecretValue"));
                let arn =
                    sub(&s["Resource"]["Fn::ImportValue"], "test", svc).expect("an imported ARN");
                granted.push(arn.trim_start_matches(&format!("{APP}-test-")).to_string());
            }
        }
        granted.sort();
        assert_eq!(granted, allowed, "{svc}");
    }
    let t = template("environments/addons/jwt-signing-key.yml");
    let policy = &t["Resources"]["JwtSigningKeySecretPolicy"]["Properties"]["ResourcePolicy"];
    let deny = &policy["Statement"][0];
    assert_eq!(deny["Effect"].as_str(), Some("Deny"));
    let except = sub(
        &deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
        "test",
        "",
    )
    .unwrap();
    assert!(
        except.ends_with(&format!(":role/{APP}-test-auth-TaskRole-*")),
        "{except}"
    );
}

/// DB_POOL_MAX × the most tasks of both services stays under the connection alarm (80 % of
/// the database's max_connections).
#[test]
fn the_connection_pools_fit_the_database() {
    let db = template("environments/addons/database.yml");
    let params = &db["Resources"]["DbInstanceParameterGroup"]["Properties"]["Parameters"];
    let max_connections: u64 = params["max_connections"].as_str().unwrap().parse().unwrap();
    let planned: u64 = SERVICES
        .iter()
        .map(|(svc, _)| {
            let m = deployed(svc, "prod");
            let Some(Variable::Plain(pool)) = m.variables.get("DB_POOL_MAX") else {
                panic!("{svc}: DB_POOL_MAX")
            };
            let max_tasks: u64 = m.count.range.split('-').nth(1).unwrap().parse().unwrap();
            pool.parse::<u64>().unwrap() * max_tasks
        })
        .sum();
    let alarm = &template("environments/addons/monitoring.yml")["Resources"]["DbConnectionsAlarm"]
        ["Properties"];
    assert_eq!(alarm["Threshold"].as_u64(), Some(max_connections * 8 / 10));
    assert!(
        planned <= max_connections * 8 / 10,
        "{planned} of {max_connections} connections"
    );
}

// --- the checks reject what they should ---------------------------------------------------------

fn mutated(rel: &str, from: &str, to: &str) -> String {
    let raw = read(rel);
    assert!(raw.contains(from), "{rel} has no {from:?}");
    raw.replacen(from, to, 1)
}

#[test]
fn unknown_fields_and_wrong_types_are_rejected() {
    let auth = SERVICES[0];
    #[rustfmt::skip]
    let cases = [
        ("healthy_threshold: 2", "healthy_treshold: 2", "unknown field `healthy_treshold`"),
        ("cpu: 256", "cpu: 256\ncpus: 2", "unknown field `cpus`"),
        ("logging:", "storage:\n  ephemeral: 30\nlogging:", "unknown field `storage`"),
        ("cpu: 256", "cpu: 'a quarter'", "schema"),
        ("  port: 3000", "  port: [3000]", "schema"),
        ("retention: 30", "retention: thirty", "schema"),
    ];
    for (from, to, want) in cases {
        let err = check_service(&mutated("auth/manifest.yml", from, to), auth).unwrap_err();
        assert!(err.contains(want), "{to:?}: {err}");
    }
    let raw = mutated(
        "environments/prod/manifest.yml",
        "container_insights",
        "container_insight",
    );
    assert!(
        check_environment(&raw, "prod")
            .unwrap_err()
            .contains("unknown field")
    );
}

#[test]
fn rule_violations_are_rejected() {
    #[rustfmt::skip]
    let cases = [
        ("auth", "path: '/auth'", "path: '/'", "http.path"),
        ("auth", "path: '/auth/health'", "path: '/health'", "health check path"),
        ("auth", "unhealthy_threshold: 3", "unhealthy_threshold: 2", "thresholds"),
        ("task", "range: 2-10", "range: 1-10", "count.range"),
        ("task", "cpu_percentage: 70", "cpu_percentage: 50", "cpu_percentage"),
        ("task", "in: 300s", "in: 60s", "cooldown"),
        ("task", "deregistration_delay: 30s", "deregistration_delay: 5s", "deregistration_delay"),
        ("task", "placement: 'private'", "placement: 'public'", "private subnets"),
        ("task", "APP_ENV: 'production'", "APP_ENV: 'development'", "APP_ENV"),
        ("task", "retention: 30", "retention: 7", "retention"),
        ("task", "exec: false", "exec: true", "exec"),
        ("task", ".local:3000", ".internal:3000", "AUTH_SERVICE_URL"),
        ("task", "task-error-rate", "task-errors", "rollback_alarms"),
        ("auth", "'/bin/auth', 'healthcheck'", "'/bin/sh', 'healthcheck'", "container health"),
        ("auth", "redirect_to_https: true", "redirect_to_https: false", "prod override"),
        ("auth", "JwtSigningKeySecretArn", "DbSecretArn", "JWT_SIGNING_KEY_SECRET"),
    ];
    for (file, from, to, want) in cases {
        let service = SERVICES.into_iter().find(|s| s.0 == file).unwrap();
        let raw = mutated(&format!("{file}/manifest.yml"), from, to);
        let err = check_service(&raw, service).unwrap_err();
        assert!(err.contains(want), "{from} -> {to}: {err}");
    }
    let raw = mutated(
        "task/manifest.yml",
        "variables:",
        "variables:\n  JWT_SIGNING_KEY_SECRET: x",
    );
    assert!(
        check_service(&raw, SERVICES[1])
            .unwrap_err()
            .contains("signing key")
    );
    let raw = mutated(
        "environments/prod/manifest.yml",
        "container_insights: true",
        "container_insights: false",
    );
    assert!(
        check_environment(&raw, "prod")
            .unwrap_err()
            .contains("Container Insights")
    );
}

#[test]
fn interpolation_behaves_like_copilot() {
    let shell = deploy_shell(PLATFORMS[0]);
    let s = interpolate_str(
        "${COPILOT_APPLICATION_NAME}-${COPILOT_ENVIRONMENT_NAME}-${PLATFORM}",
        "prod",
        &shell,
    );
    assert_eq!(s.unwrap(), "task-management-prod-linux/x86_64");
    assert!(
        interpolate_str("${NOPE}", "prod", &shell)
            .unwrap_err()
            .contains("NOPE")
    );
}
