//! Checks of the AWS Copilot application in `copilot/` (issue 5).
//!
//! Every manifest is parsed into structs modelled field by field on Copilot's documented
//! manifest specification (the "Load Balanced Web Service" and "Environment" manifest pages,
//! cross-checked with the Go structs of copilot-cli's `internal/pkg/manifest`), with
//! `deny_unknown_fields`, so a misspelt or unsupported field, or a value of the wrong type,
//! fails. The manifests are first interpolated the way `copilot deploy` does it: `${VAR}` in
//! string values (not keys, not comments) from the shell environment, with
//! `COPILOT_APPLICATION_NAME` / `COPILOT_ENVIRONMENT_NAME` predefined, and an unset variable
//! an error. Then the rules of issue 5 are asserted, the manifests are cross-checked with the
//! addon templates (export names, alarm names, IAM policies), and the environment variables
//! each service is handed are compared with the ones its configuration code reads.
//!
//! Fields this application does not use (sidecars, storage, publish, nlb, taskdef_overrides)
//! are kept as opaque YAML and a rule requires them to be absent: using one means extending
//! the model here first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

// ---------------------------------------------------------------------------------------------
// What the services read (the contract's configuration table).
// ---------------------------------------------------------------------------------------------

/// The variables each service reads: the configuration code's own list for auth.
fn env_vars_read(service: Service) -> Vec<&'static str> {
    match service {
        Service::Auth => auth::config::env_vars(),
        Service::Task => task::config::env_vars(),
    }
}

/// Variables a service reads that the manifests deliberately do not hand it in the cloud, and
/// why. Together with what the manifest hands, this must be exactly the service's list.
const NOT_HANDED_IN_THE_CLOUD: &[(&str, &str)] = &[
    (
        "DATABASE_URL",
        "DB_SECRET wins over it; the credentials come from Secrets Manager",
    ),
    (
        "JWT_SIGNING_KEY",
        "the inline PEM is for local runs; the cloud uses JWT_SIGNING_KEY_SECRET",
    ),
    ("AWS_REGION", "Fargate sets it in every task"),
    ("AWS_ENDPOINT_URL", "only for a local AWS emulator in tests"),
    (
        "CORS_ALLOWED_ORIGINS",
        "no browser origin is configured yet (unset: no CORS headers)",
    ),
];

// ---------------------------------------------------------------------------------------------
// The Copilot manifest model. Field names and types follow the documentation pages; each
// `String or Map` / `Integer or Map` union is an untagged enum.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct FromCfn {
    from_cfn: String,
}

/// `variables.<NAME>`: a string, or `from_cfn` (an environment addon's export).
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum Variable {
    Plain(String),
    FromCfn(FromCfn),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct SecretsManagerName {
    secretsmanager: String,
}

/// `secrets.<NAME>`: an SSM parameter name / secret ARN, `secretsmanager: name`, or `from_cfn`.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum Secret {
    Plain(String),
    SecretsManager(SecretsManagerName),
    FromCfn(FromCfn),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct DockerBuildArgs {
    context: Option<String>,
    dockerfile: Option<String>,
    args: Option<BTreeMap<String, String>>,
    target: Option<String>,
    cache_from: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum BuildArgsOrString {
    Path(String),
    Args(DockerBuildArgs),
}

/// `image.healthcheck`: the container health check.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct ContainerHealthCheck {
    command: Option<Vec<String>>,
    interval: Option<String>,
    retries: Option<u32>,
    timeout: Option<String>,
    start_period: Option<String>,
}

/// `image` of a Load Balanced Web Service (image config with port and health check).
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct Image {
    build: Option<BuildArgsOrString>,
    location: Option<String>,
    credentials: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    depends_on: Option<BTreeMap<String, String>>,
    port: Option<u16>,
    healthcheck: Option<ContainerHealthCheck>,
}

/// `http.healthcheck` as a map (the target group health check).
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct HttpHealthCheckArgs {
    path: Option<String>,
    port: Option<u16>,
    success_codes: Option<String>,
    healthy_threshold: Option<u32>,
    unhealthy_threshold: Option<u32>,
    interval: Option<String>,
    timeout: Option<String>,
    grace_period: Option<String>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum HealthCheckArgsOrString {
    Path(String),
    Args(HttpHealthCheckArgs),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct AdvancedAlias {
    name: String,
    hosted_zone: Option<String>,
}

/// `http.alias`: a string, a list of strings, or a list of `{name, hosted_zone}`.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum Alias {
    One(String),
    Many(Vec<String>),
    Advanced(Vec<AdvancedAlias>),
}

/// A listener rule: the fields of `http` itself and of each `http.additional_rules` entry.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct RoutingRule {
    path: Option<String>,
    version: Option<String>,
    healthcheck: Option<HealthCheckArgsOrString>,
    stickiness: Option<bool>,
    alias: Option<Alias>,
    deregistration_delay: Option<String>,
    target_container: Option<String>,
    target_port: Option<u16>,
    allowed_source_ips: Option<Vec<String>>,
    hosted_zone: Option<String>,
    redirect_to_https: Option<bool>,
}

/// `http` as a map: a routing rule plus `alb`, `additional_rules` (and the deprecated
/// `targetContainer`). Written out rather than flattened: serde cannot combine `flatten` with
/// `deny_unknown_fields`.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct Http {
    alb: Option<String>,
    path: Option<String>,
    version: Option<String>,
    healthcheck: Option<HealthCheckArgsOrString>,
    stickiness: Option<bool>,
    alias: Option<Alias>,
    deregistration_delay: Option<String>,
    target_container: Option<String>,
    #[serde(rename = "targetContainer")]
    target_container_camel_case: Option<String>,
    target_port: Option<u16>,
    allowed_source_ips: Option<Vec<String>>,
    hosted_zone: Option<String>,
    redirect_to_https: Option<bool>,
    additional_rules: Option<Vec<RoutingRule>>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum HttpOrBool {
    Enabled(bool),
    Http(Box<Http>),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct PlatformArgs {
    osfamily: String,
    architecture: String,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum Platform {
    String(String),
    Args(PlatformArgs),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct RangeConfig {
    min: u32,
    max: u32,
    spot_from: Option<u32>,
}

/// `count.range`: `n-m`, or `{min, max, spot_from}`.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum Range {
    Band(String),
    Config(RangeConfig),
}

#[derive(Debug, Deserialize, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields)]
struct Cooldown {
    #[serde(rename = "in")]
    scale_in: Option<String>,
    #[serde(rename = "out")]
    scale_out: Option<String>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct AdvancedScaling<T> {
    value: Option<T>,
    cooldown: Option<Cooldown>,
}

/// An autoscaling field: the value itself, or `{value, cooldown}`.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum ScalingConfigOr<T> {
    Value(T),
    Advanced(AdvancedScaling<T>),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct AdvancedCount {
    spot: Option<u32>,
    range: Option<Range>,
    cooldown: Option<Cooldown>,
    cpu_percentage: Option<ScalingConfigOr<u32>>,
    memory_percentage: Option<ScalingConfigOr<u32>>,
    requests: Option<ScalingConfigOr<u32>>,
    response_time: Option<ScalingConfigOr<String>>,
}

/// `count`: an integer, or the autoscaling map.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum Count {
    Fixed(u32),
    Advanced(Box<AdvancedCount>),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct ExecuteCommandConfig {
    enable: Option<bool>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum ExecuteCommand {
    Enabled(bool),
    Config(ExecuteCommandConfig),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct SubnetArgs {
    from_tags: BTreeMap<String, StringOrList>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum SubnetListOrArgs {
    Ids(Vec<String>),
    Args(SubnetArgs),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct PlacementArgs {
    subnets: SubnetListOrArgs,
}

/// `network.vpc.placement`: `public` / `private`, or `{subnets}`.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum Placement {
    String(String),
    Args(PlacementArgs),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum StringOrFromCfn {
    Plain(String),
    FromCfn(FromCfn),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct SecurityGroupsConfig {
    groups: Option<Vec<StringOrFromCfn>>,
    deny_default: Option<bool>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum SecurityGroups {
    Ids(Vec<StringOrFromCfn>),
    Config(SecurityGroupsConfig),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct WorkloadVpc {
    placement: Option<Placement>,
    security_groups: Option<SecurityGroups>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct ServiceConnectArgs {
    alias: Option<String>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum ServiceConnect {
    Enabled(bool),
    Args(ServiceConnectArgs),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct WorkloadNetwork {
    vpc: Option<WorkloadVpc>,
    connect: Option<ServiceConnect>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct Logging {
    retention: Option<u32>,
    image: Option<String>,
    destination: Option<BTreeMap<String, String>>,
    #[serde(rename = "enableMetadata")]
    enable_metadata: Option<bool>,
    #[serde(rename = "secretOptions")]
    secret_options: Option<BTreeMap<String, Secret>>,
    #[serde(rename = "configFilePath")]
    config_file_path: Option<String>,
    variables: Option<BTreeMap<String, Variable>>,
    secrets: Option<BTreeMap<String, Secret>>,
    env_file: Option<String>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct AlarmArgs {
    cpu_utilization: Option<f64>,
    memory_utilization: Option<f64>,
}

/// `deployment.rollback_alarms`: names of existing alarms, or Copilot-created alarm thresholds.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum RollbackAlarms {
    Names(Vec<String>),
    Args(AlarmArgs),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct Deployment {
    rolling: Option<String>,
    rollback_alarms: Option<RollbackAlarms>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct Observability {
    tracing: Option<String>,
}

/// Defines a struct holding every configuration field of a Load Balanced Web Service, plus the
/// given extra fields: once for the manifest itself (with `name`, `type`, `environments`) and
/// once for an `environments.<env>` override (which has none of those three).
macro_rules! lbws_struct {
    ($name:ident { $($extra:tt)* }) => {
        #[derive(Debug, Deserialize, Clone, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct $name {
            $($extra)*
            image: Option<Image>,
            entrypoint: Option<StringOrList>,
            command: Option<StringOrList>,
            http: Option<HttpOrBool>,
            cpu: Option<u32>,
            memory: Option<u32>,
            platform: Option<Platform>,
            count: Option<Count>,
            exec: Option<ExecuteCommand>,
            variables: Option<BTreeMap<String, Variable>>,
            env_file: Option<String>,
            secrets: Option<BTreeMap<String, Secret>>,
            network: Option<WorkloadNetwork>,
            logging: Option<Logging>,
            deployment: Option<Deployment>,
            observability: Option<Observability>,
            // Documented fields this application does not use (a rule keeps them absent).
            storage: Option<Value>,
            sidecars: Option<Value>,
            publish: Option<Value>,
            nlb: Option<Value>,
            taskdef_overrides: Option<Value>,
        }
    };
}

lbws_struct!(LoadBalancedWebService {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    environments: Option<BTreeMap<String, LoadBalancedWebServiceOverride>>,
});
lbws_struct!(LoadBalancedWebServiceOverride {});

// --- the environment manifest ---

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct SubnetConfiguration {
    id: Option<String>,
    cidr: Option<String>,
    az: Option<String>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct Subnets {
    public: Option<Vec<SubnetConfiguration>>,
    private: Option<Vec<SubnetConfiguration>>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum Ports {
    Number(u16),
    Range(String),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct SecurityGroupRule {
    ip_protocol: String,
    ports: Ports,
    cidr: String,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct EnvSecurityGroup {
    ingress: Option<Vec<SecurityGroupRule>>,
    egress: Option<Vec<SecurityGroupRule>>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct FlowLogsArgs {
    retention: Option<u32>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum FlowLogs {
    Enabled(bool),
    Args(FlowLogsArgs),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct EnvVpc {
    id: Option<String>,
    cidr: Option<String>,
    subnets: Option<Subnets>,
    security_group: Option<EnvSecurityGroup>,
    flow_logs: Option<FlowLogs>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct EnvNetwork {
    vpc: Option<EnvVpc>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct AccessLogsArgs {
    bucket_name: Option<String>,
    prefix: Option<String>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum AccessLogs {
    Enabled(bool),
    Args(AccessLogsArgs),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct PublicIngress {
    cdn: Option<bool>,
    source_ips: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct PublicHttp {
    certificates: Option<Vec<String>>,
    access_logs: Option<AccessLogs>,
    ingress: Option<PublicIngress>,
    ssl_policy: Option<String>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct PrivateIngress {
    vpc: Option<bool>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct PrivateHttp {
    subnets: Option<Vec<String>>,
    certificates: Option<Vec<String>>,
    ingress: Option<PrivateIngress>,
    ssl_policy: Option<String>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct EnvHttp {
    public: Option<PublicHttp>,
    private: Option<PrivateHttp>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct CdnStaticAssets {
    location: Option<String>,
    alias: Option<String>,
    path: Option<String>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct CdnArgs {
    certificate: Option<String>,
    terminate_tls: Option<bool>,
    static_assets: Option<CdnStaticAssets>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
enum Cdn {
    Enabled(bool),
    Args(CdnArgs),
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct EnvObservability {
    container_insights: Option<bool>,
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct EnvironmentManifest {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    network: Option<EnvNetwork>,
    http: Option<EnvHttp>,
    cdn: Option<Cdn>,
    observability: Option<EnvObservability>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkspaceFile {
    application: String,
}

// ---------------------------------------------------------------------------------------------
// Loading: files, interpolation, durations.
// ---------------------------------------------------------------------------------------------

const APP: &str = "task-management";
const ENVIRONMENTS: &[&str] = &["test", "prod"];
const PLATFORMS: &[&str] = &["linux/x86_64", "linux/arm64"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Auth,
    Task,
}

impl Service {
    const ALL: [Service; 2] = [Service::Auth, Service::Task];

    fn name(self) -> &'static str {
        match self {
            Service::Auth => "auth",
            Service::Task => "task",
        }
    }

    /// The path prefix the contract gives the service behind the load balancer.
    fn path(self) -> &'static str {
        match self {
            Service::Auth => "/auth",
            Service::Task => "/tasks",
        }
    }

    fn image_var(self) -> &'static str {
        match self {
            Service::Auth => "AUTH_IMAGE",
            Service::Task => "TASK_IMAGE",
        }
    }
}

fn copilot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("copilot")
}

fn read(rel: &str) -> String {
    let path = copilot_dir().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The shell environment a `copilot deploy` of this application runs with (README.md, Deploy).
fn deploy_shell(platform: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        (
            "AUTH_IMAGE",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/task-management/auth:0.1.0".to_string(),
        ),
        (
            "TASK_IMAGE",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/task-management/task:0.1.0".to_string(),
        ),
        ("PLATFORM", platform.to_string()),
        ("API_DOMAIN", "api.example.com".to_string()),
        ("PROD_VPC_ID", "vpc-0123456789abcdef0".to_string()),
        (
            "PROD_PUBLIC_SUBNET_A",
            "subnet-0000000000000000a".to_string(),
        ),
        (
            "PROD_PUBLIC_SUBNET_B",
            "subnet-0000000000000000b".to_string(),
        ),
        (
            "PROD_PRIVATE_SUBNET_A",
            "subnet-0000000000000000c".to_string(),
        ),
        (
            "PROD_PRIVATE_SUBNET_B",
            "subnet-0000000000000000d".to_string(),
        ),
        (
            "PROD_CERTIFICATE_ARN",
            "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
                .to_string(),
        ),
    ])
}

/// Copilot's manifest interpolation of one string: `${NAME}` from the predefined variables or
/// the shell, `\${NAME}` left literal, an unset variable an error.
fn interpolate_str(s: &str, env: &str, shell: &BTreeMap<&str, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let escaped = rest[..i].ends_with('\\');
        let Some(end) = rest[i..].find('}') else {
            out.push_str(rest);
            return Ok(out);
        };
        let key = &rest[i + 2..i + end];
        let valid = key
            .chars()
            .next()
            .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
            && key.chars().all(|c| c == '_' || c.is_ascii_alphanumeric());
        if !valid {
            out.push_str(&rest[..i + end + 1]);
        } else if escaped {
            out.push_str(&rest[..i - 1]);
            out.push_str(&rest[i..i + end + 1]);
        } else {
            out.push_str(&rest[..i]);
            let value = match key {
                "COPILOT_APPLICATION_NAME" => APP.to_string(),
                "COPILOT_ENVIRONMENT_NAME" => env.to_string(),
                _ => shell
                    .get(key)
                    .cloned()
                    .ok_or_else(|| format!("environment variable \"{key}\" is not defined"))?,
            };
            out.push_str(&value);
        }
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Interpolates every string value of a YAML tree (keys are left alone, as Copilot does).
fn interpolate(value: &mut Value, env: &str, shell: &BTreeMap<&str, String>) -> Result<(), String> {
    match value {
        Value::String(s) => *s = interpolate_str(s, env, shell)?,
        Value::Sequence(items) => {
            for item in items {
                interpolate(item, env, shell)?;
            }
        }
        Value::Mapping(map) => {
            for (_, v) in map.iter_mut() {
                interpolate(v, env, shell)?;
            }
        }
        Value::Tagged(tagged) => interpolate(&mut tagged.value, env, shell)?,
        _ => {}
    }
    Ok(())
}

fn load<T: serde::de::DeserializeOwned>(
    raw: &str,
    env: &str,
    shell: &BTreeMap<&str, String>,
) -> Result<T, String> {
    let mut value: Value = serde_yaml::from_str(raw).map_err(|e| format!("YAML: {e}"))?;
    interpolate(&mut value, env, shell).map_err(|e| format!("interpolate: {e}"))?;
    serde_yaml::from_value(value).map_err(|e| format!("schema: {e}"))
}

/// A Go `time.Duration` string as Copilot accepts it ("30s", "1m30s", "500ms"), in seconds.
fn seconds(d: &str) -> Result<f64, String> {
    let mut total = 0.0;
    let mut rest = d;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("bad duration {d:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => return Err(format!("bad duration unit {other:?} in {d:?}")),
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

// ---------------------------------------------------------------------------------------------
// The rules of issue 5.
// ---------------------------------------------------------------------------------------------

/// The rules for one service manifest, as deployed to `env`. Returns every broken rule.
fn service_rules(m: &LoadBalancedWebService, service: Service, env: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let mut rule = |ok: bool, msg: String| {
        if !ok {
            errs.push(msg);
        }
    };
    let svc = service.name();

    rule(m.name == svc, format!("name is {:?}, not {svc:?}", m.name));
    rule(
        m.kind == "Load Balanced Web Service",
        format!("type is {:?}", m.kind),
    );
    for (field, present) in [
        ("storage", m.storage.is_some()),
        ("sidecars", m.sidecars.is_some()),
        ("publish", m.publish.is_some()),
        ("nlb", m.nlb.is_some()),
        ("taskdef_overrides", m.taskdef_overrides.is_some()),
        ("entrypoint", m.entrypoint.is_some()),
        ("command", m.command.is_some()),
        ("secrets", m.secrets.is_some()),
        ("env_file", m.env_file.is_some()),
    ] {
        rule(!present, format!("{field} is not used by this application"));
    }

    // http: path routing, target health check, deregistration delay.
    match &m.http {
        Some(HttpOrBool::Http(http)) => {
            rule(
                http.path.as_deref() == Some(service.path()),
                format!("http.path is {:?}, not {:?}", http.path, service.path()),
            );
            rule(
                http.additional_rules.is_none(),
                "no additional listener rules".into(),
            );
            rule(
                http.alias.is_none() && http.redirect_to_https.is_none(),
                "alias/redirect_to_https only in the prod override".into(),
            );
            let health = format!("{}/health", service.path());
            match &http.healthcheck {
                Some(HealthCheckArgsOrString::Args(hc)) => {
                    rule(
                        hc.path.as_deref() == Some(health.as_str()),
                        format!("health check path {:?}, not {health:?}", hc.path),
                    );
                    rule(
                        hc.interval.as_deref().map(seconds) == Some(Ok(30.0)),
                        format!("health check interval {:?}, not 30s", hc.interval),
                    );
                    rule(
                        hc.timeout.as_deref().map(seconds) == Some(Ok(5.0)),
                        format!("health check timeout {:?}, not 5s", hc.timeout),
                    );
                    rule(
                        hc.healthy_threshold == Some(2),
                        format!("healthy_threshold {:?}, not 2", hc.healthy_threshold),
                    );
                    rule(
                        hc.unhealthy_threshold == Some(3),
                        format!("unhealthy_threshold {:?}, not 3", hc.unhealthy_threshold),
                    );
                    rule(
                        hc.success_codes.as_deref() == Some("200"),
                        "the health endpoint answers 200".into(),
                    );
                    rule(hc.port.is_none(), "health check on the traffic port".into());
                }
                other => rule(
                    false,
                    format!("http.healthcheck must be a map, is {other:?}"),
                ),
            }
            // The graceful shutdown bound handed to the service must fit in the drain + stop
            // sequence: deregistration delay >= shutdown bound < Fargate's 30 s stop timeout.
            let shutdown: Option<f64> = match m
                .variables
                .as_ref()
                .and_then(|v| v.get("SHUTDOWN_TIMEOUT_SECS"))
            {
                Some(Variable::Plain(s)) => s.parse().ok(),
                _ => None,
            };
            match (shutdown, http.deregistration_delay.as_deref().map(seconds)) {
                (Some(shutdown), Some(Ok(delay))) => {
                    rule(
                        shutdown < 30.0,
                        format!(
                            "SHUTDOWN_TIMEOUT_SECS {shutdown} must be under the 30 s stop timeout"
                        ),
                    );
                    rule(
                        delay >= shutdown && delay <= 60.0,
                        format!(
                            "deregistration_delay {delay}s must cover the {shutdown}s shutdown and stay <= 60s"
                        ),
                    );
                }
                other => rule(
                    false,
                    format!(
                        "SHUTDOWN_TIMEOUT_SECS and http.deregistration_delay must be set: {other:?}"
                    ),
                ),
            }
        }
        other => rule(false, format!("http must be a map, is {other:?}")),
    }

    // image: from the Nix build's published URI, port 3000, exec-form health check.
    match &m.image {
        Some(image) => {
            rule(
                image.build.is_none(),
                "images are built by Nix, not by Copilot".into(),
            );
            rule(
                image
                    .location
                    .as_deref()
                    .is_some_and(|l| l.contains(".dkr.ecr.") && l.contains(&format!("/{svc}:"))),
                format!(
                    "image.location {:?} is not the published {svc} image",
                    image.location
                ),
            );
            rule(
                image.port == Some(3000),
                format!("image.port {:?}, not 3000", image.port),
            );
            let want = vec![
                "CMD".to_string(),
                format!("/bin/{svc}"),
                "healthcheck".to_string(),
            ];
            rule(
                image.healthcheck.as_ref().and_then(|h| h.command.as_ref()) == Some(&want),
                format!("container health check must be {want:?}"),
            );
        }
        None => rule(false, "image is required".into()),
    }

    rule(
        m.cpu == Some(256) && m.memory == Some(512),
        format!("cpu/memory {:?}/{:?}, not 256/512", m.cpu, m.memory),
    );
    match &m.platform {
        Some(Platform::String(p)) => rule(
            PLATFORMS.contains(&p.as_str()),
            format!("platform {p:?} is not one of {PLATFORMS:?}"),
        ),
        other => rule(false, format!("platform must be a string, is {other:?}")),
    }
    rule(
        !matches!(
            m.exec,
            Some(ExecuteCommand::Enabled(true))
                | Some(ExecuteCommand::Config(ExecuteCommandConfig {
                    enable: Some(true)
                }))
        ),
        "exec needs a shell; the scratch image has none".into(),
    );

    // count: 2-10 on 70 % CPU, out 60 s / in 300 s.
    match &m.count {
        Some(Count::Advanced(c)) => {
            rule(
                c.range == Some(Range::Band("2-10".into())),
                format!("count.range {:?}, not 2-10", c.range),
            );
            rule(
                c.cpu_percentage == Some(ScalingConfigOr::Value(70)),
                format!("count.cpu_percentage {:?}, not 70", c.cpu_percentage),
            );
            let cd = c.cooldown.clone().unwrap_or_default();
            rule(
                cd.scale_out.as_deref().map(seconds) == Some(Ok(60.0)),
                format!("count.cooldown.out {:?}, not 60s", cd.scale_out),
            );
            rule(
                cd.scale_in.as_deref().map(seconds) == Some(Ok(300.0)),
                format!("count.cooldown.in {:?}, not 300s", cd.scale_in),
            );
            rule(
                c.spot.is_none()
                    && c.memory_percentage.is_none()
                    && c.requests.is_none()
                    && c.response_time.is_none(),
                "only CPU drives the autoscaling".into(),
            );
        }
        other => rule(
            false,
            format!("count must be the autoscaling map, is {other:?}"),
        ),
    }

    // private subnets, service discovery only (no Service Connect).
    let placement = m
        .network
        .as_ref()
        .and_then(|n| n.vpc.as_ref())
        .and_then(|v| v.placement.clone());
    rule(
        placement == Some(Placement::String("private".into())),
        format!("network.vpc.placement {placement:?}, not private"),
    );

    // variables: production, the secrets' ARNs per service, discovery URL.
    let vars = m.variables.clone().unwrap_or_default();
    let plain = |k: &str| match vars.get(k) {
        Some(Variable::Plain(s)) => Some(s.clone()),
        _ => None,
    };
    let export = |k: &str| match vars.get(k) {
        Some(Variable::FromCfn(f)) => Some(f.from_cfn.clone()),
        _ => None,
    };
    rule(
        plain("APP_ENV").as_deref() == Some("production"),
        "APP_ENV=production".into(),
    );
    rule(plain("PORT").as_deref() == Some("3000"), "PORT=3000".into());
    rule(
        plain("LOG_FORMAT").as_deref() == Some("json"),
        "LOG_FORMAT=json".into(),
    );
    rule(
        plain("DB_POOL_MAX").as_deref() == Some("5"),
        "DB_POOL_MAX=5 (the capacity plan)".into(),
    );
    rule(
        export("DB_SECRET") == Some(format!("{APP}-{env}-DbSecretArn")),
        format!(
            "DB_SECRET must be the database secret's ARN export, is {:?}",
            vars.get("DB_SECRET")
        ),
    );
    for (k, v) in &vars {
        let lower = k.to_ascii_lowercase();
        if service == Service::Task {
            rule(
                !(lower.contains("jwt") && lower.contains("key")),
                format!("task must never get the signing key ({k})"),
            );
            if let Variable::FromCfn(f) = v {
                rule(
                    !f.from_cfn.contains("JwtSigningKey"),
                    format!("task must never get the signing key ({k} = {})", f.from_cfn),
                );
            }
        }
    }
    match service {
        Service::Auth => {
            rule(
                export("JWT_SIGNING_KEY_SECRET")
                    == Some(format!("{APP}-{env}-JwtSigningKeySecretArn")),
                "auth's JWT_SIGNING_KEY_SECRET must be the key secret's ARN export".into(),
            );
            rule(
                !vars.contains_key("JWT_SIGNING_KEY"),
                "no inline signing key in the cloud".into(),
            );
        }
        Service::Task => {
            rule(
                plain("AUTH_SERVICE_URL") == Some(format!("http://auth.{env}.{APP}.local:3000")),
                format!(
                    "AUTH_SERVICE_URL {:?} is not auth's service discovery name",
                    plain("AUTH_SERVICE_URL")
                ),
            );
        }
    }

    rule(
        m.logging.as_ref().and_then(|l| l.retention) == Some(30),
        "logging.retention 30".into(),
    );
    rule(
        m.logging
            .as_ref()
            .is_some_and(|l| l.image.is_none() && l.destination.is_none()),
        "awslogs driver, no FireLens sidecar (EMF lines go to CloudWatch Logs)".into(),
    );

    match m
        .deployment
        .as_ref()
        .and_then(|d| d.rollback_alarms.clone())
    {
        Some(RollbackAlarms::Names(names)) => {
            let want = vec![
                format!("{APP}-{env}-{svc}-target-5xx"),
                format!("{APP}-{env}-{svc}-error-rate"),
            ];
            rule(
                names == want,
                format!("rollback_alarms {names:?}, not {want:?}"),
            );
        }
        other => rule(
            false,
            format!("deployment.rollback_alarms must name the addon alarms, is {other:?}"),
        ),
    }

    // Per-environment overrides: prod adds the HTTPS alias and the redirect, nothing else;
    // other environments have no certificate, so no override at all.
    let overrides = m.environments.clone().unwrap_or_default();
    for name in overrides.keys() {
        rule(
            ENVIRONMENTS.contains(&name.as_str()),
            format!("override for unknown environment {name:?}"),
        );
    }
    rule(
        overrides.keys().all(|k| k == "prod"),
        "only prod is overridden".into(),
    );
    if let Some(prod) = overrides.get("prod") {
        let expected_prod = LoadBalancedWebServiceOverride {
            http: prod.http.clone(),
            ..serde_yaml::from_str("{}").expect("empty override")
        };
        rule(
            prod == &expected_prod,
            "the prod override may only change http".into(),
        );
        match &prod.http {
            Some(HttpOrBool::Http(h)) => {
                rule(
                    matches!(&h.alias, Some(Alias::One(a)) if !a.is_empty()),
                    "prod http.alias is the domain".into(),
                );
                rule(
                    h.redirect_to_https == Some(true),
                    "prod redirects HTTP to HTTPS".into(),
                );
                let only_alias = Http {
                    alias: None,
                    redirect_to_https: None,
                    ..(**h).clone()
                };
                let empty: Http = serde_yaml::from_str("{}").expect("empty http");
                rule(
                    only_alias == empty,
                    "the prod http override may only set alias and redirect_to_https".into(),
                );
            }
            other => rule(false, format!("prod http override {other:?}")),
        }
    } else {
        rule(false, "prod needs the alias/redirect override".into());
    }
    errs
}

/// Parses and checks a service manifest for every environment and platform.
fn check_service(raw: &str, service: Service) -> Result<(), String> {
    for env in ENVIRONMENTS {
        for platform in PLATFORMS {
            let m: LoadBalancedWebService = load(raw, env, &deploy_shell(platform))?;
            let errs = service_rules(&m, service, env);
            if !errs.is_empty() {
                return Err(format!(
                    "{} ({env}, {platform}): {}",
                    service.name(),
                    errs.join("; ")
                ));
            }
        }
    }
    Ok(())
}

fn env_rules(m: &EnvironmentManifest, env: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let mut rule = |ok: bool, msg: String| {
        if !ok {
            errs.push(msg);
        }
    };
    rule(m.name == env, format!("name {:?}, not {env:?}", m.name));
    rule(m.kind == "Environment", format!("type {:?}", m.kind));
    rule(
        m.observability.as_ref().and_then(|o| o.container_insights) == Some(true),
        "Container Insights on (the CPU alarms read ECS/ContainerInsights)".into(),
    );
    let vpc = m.network.as_ref().and_then(|n| n.vpc.clone());
    let subnets = vpc.as_ref().and_then(|v| v.subnets.clone());
    let certs = m
        .http
        .as_ref()
        .and_then(|h| h.public.as_ref())
        .and_then(|p| p.certificates.clone())
        .unwrap_or_default();
    match env {
        "prod" => {
            rule(
                vpc.as_ref()
                    .and_then(|v| v.id.as_deref())
                    .is_some_and(|id| id.starts_with("vpc-")),
                "prod imports a VPC by id".into(),
            );
            for (kind, list) in [
                ("public", subnets.as_ref().and_then(|s| s.public.clone())),
                ("private", subnets.as_ref().and_then(|s| s.private.clone())),
            ] {
                let list = list.unwrap_or_default();
                rule(
                    list.len() >= 2,
                    format!("prod imports at least two {kind} subnets"),
                );
                rule(
                    list.iter().all(|s| {
                        s.id.as_deref().is_some_and(|id| id.starts_with("subnet-"))
                            && s.cidr.is_none()
                    }),
                    format!("prod's {kind} subnets are imported ids"),
                );
            }
            rule(
                certs.len() == 1 && certs[0].starts_with("arn:aws:acm:"),
                format!("prod imports one ACM certificate, has {certs:?}"),
            );
        }
        _ => {
            rule(
                vpc.as_ref()
                    .is_some_and(|v| v.id.is_none() && v.cidr.as_deref() == Some("10.0.0.0/16")),
                "test uses the managed 10.0.0.0/16 VPC".into(),
            );
            rule(certs.is_empty(), "test has no certificate".into());
        }
    }
    errs
}

fn check_environment(raw: &str, env: &str) -> Result<(), String> {
    let m: EnvironmentManifest = load(raw, env, &deploy_shell(PLATFORMS[0]))?;
    let errs = env_rules(&m, env);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(format!("{env}: {}", errs.join("; ")))
    }
}

// ---------------------------------------------------------------------------------------------
// Addon templates (CloudFormation YAML with short-form tags such as !Ref, !Sub).
// ---------------------------------------------------------------------------------------------

fn template(rel: &str) -> Value {
    serde_yaml::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `!Sub 'text'` or a plain string, with `${App}`, `${Env}`, `${Name}` resolved.
fn sub(v: &Value, env: &str, name: &str) -> Option<String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Tagged(t) if t.tag == "!Sub" => t.value.as_str()?.to_string(),
        _ => return None,
    };
    Some(
        s.replace("${App}", APP)
            .replace("${Env}", env)
            .replace("${Name}", name),
    )
}

fn resources(t: &Value) -> &serde_yaml::Mapping {
    t.get("Resources")
        .and_then(Value::as_mapping)
        .expect("Resources")
}

/// The export names of an environment addon template, as deployed to `env`.
fn exports(rel: &str, env: &str) -> BTreeSet<String> {
    let t = template(rel);
    let outputs = t
        .get("Outputs")
        .and_then(Value::as_mapping)
        .cloned()
        .unwrap_or_default();
    outputs
        .values()
        .filter_map(|o| {
            o.get("Export")
                .and_then(|e| e.get("Name"))
                .and_then(|n| sub(n, env, ""))
        })
        .collect()
}

fn env_addon_templates() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(copilot_dir().join("environments/addons"))
        .expect("environments/addons")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".yml") && n != "addons.parameters.yml")
        .map(|n| format!("environments/addons/{n}"))
        .collect();
    out.sort();
    out
}

/// Copilot's SCREAMING_SNAKE_CASE of an output's logical id (the variable it injects).
fn screaming_snake(id: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = id.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let boundary = i > 0
            && c.is_ascii_uppercase()
            && (chars[i - 1].is_ascii_lowercase()
                || chars[i - 1].is_ascii_digit()
                || chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase()));
        if boundary {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The environment variables a workload addon injects: Copilot turns every output that is not
/// a `!Ref` to a managed policy or a security group into a variable (or, for a `!Ref` to a
/// Secrets Manager secret, into a secret).
fn addon_injected_vars(service: Service) -> BTreeSet<String> {
    let mut vars = BTreeSet::new();
    let dir = copilot_dir().join(service.name()).join("addons");
    for entry in std::fs::read_dir(dir).expect("addons dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if !name.ends_with(".yml") || name == "addons.parameters.yml" {
            continue;
        }
        let t = template(&format!("{}/addons/{name}", service.name()));
        let types: BTreeMap<String, String> = resources(&t)
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().unwrap().to_string(),
                    v.get("Type")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect();
        for (id, output) in t
            .get("Outputs")
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default()
        {
            let referenced = match output.get("Value") {
                Some(Value::Tagged(tg)) if tg.tag == "!Ref" => {
                    tg.value.as_str().map(str::to_string)
                }
                Some(Value::Mapping(m)) => m.get("Ref").and_then(Value::as_str).map(str::to_string),
                _ => None,
            };
            let ty = referenced
                .and_then(|r| types.get(&r).cloned())
                .unwrap_or_default();
            if ty != "AWS::IAM::ManagedPolicy" && ty != "AWS::EC2::SecurityGroup" {
                vars.insert(screaming_snake(id.as_str().unwrap()));
            }
        }
    }
    vars
}

/// A service manifest as `copilot deploy` to `env` reads it (x86_64).
fn deployed(service: Service, env: &str) -> LoadBalancedWebService {
    let raw = read(&format!("{}/manifest.yml", service.name()));
    load(&raw, env, &deploy_shell(PLATFORMS[0])).expect("manifest loads")
}

/// Every variable a manifest hands its service in `env`.
fn handed_vars(service: Service, env: &str) -> BTreeSet<String> {
    let m = deployed(service, env);
    let mut vars: BTreeSet<String> = m.variables.unwrap_or_default().into_keys().collect();
    vars.extend(m.secrets.unwrap_or_default().into_keys());
    vars.extend(addon_injected_vars(service));
    vars
}

// ---------------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------------

#[test]
fn the_workspace_names_the_application() {
    let ws: WorkspaceFile = serde_yaml::from_str(&read(".workspace")).expect(".workspace");
    assert_eq!(ws.application, APP);
}

#[test]
fn environment_manifests_follow_the_spec_and_the_rules() {
    for env in ENVIRONMENTS {
        check_environment(&read(&format!("environments/{env}/manifest.yml")), env).unwrap();
    }
}

#[test]
fn service_manifests_follow_the_spec_and_the_rules() {
    for service in Service::ALL {
        check_service(&read(&format!("{}/manifest.yml", service.name())), service).unwrap();
    }
}

#[test]
fn the_image_comes_from_the_environment_and_the_platform_is_selectable() {
    for service in Service::ALL {
        let raw = read(&format!("{}/manifest.yml", service.name()));
        let value: Value = serde_yaml::from_str(&raw).unwrap();
        assert_eq!(
            value["image"]["location"].as_str(),
            Some(format!("${{{}}}", service.image_var()).as_str())
        );
        assert_eq!(value["platform"].as_str(), Some("${PLATFORM}"));
        // Unset, `copilot deploy` refuses instead of deploying something else.
        let mut shell = deploy_shell(PLATFORMS[0]);
        shell.remove(service.image_var());
        let err = load::<LoadBalancedWebService>(&raw, "test", &shell).unwrap_err();
        assert!(err.contains(service.image_var()), "{err}");
        for platform in PLATFORMS {
            let m: LoadBalancedWebService = load(&raw, "test", &deploy_shell(platform)).unwrap();
            assert_eq!(m.platform, Some(Platform::String(platform.to_string())));
        }
    }
}

#[test]
fn handed_variables_are_exactly_the_ones_the_services_read() {
    for service in Service::ALL {
        let read: BTreeSet<String> = env_vars_read(service)
            .iter()
            .map(|s| s.to_string())
            .collect();
        let not_handed: BTreeSet<String> = NOT_HANDED_IN_THE_CLOUD
            .iter()
            .map(|(k, _)| k.to_string())
            .filter(|k| read.contains(k))
            .collect();
        for env in ENVIRONMENTS {
            let handed = handed_vars(service, env);
            let unread: Vec<_> = handed.difference(&read).collect();
            assert!(
                unread.is_empty(),
                "{} is handed variables it never reads: {unread:?}",
                service.name()
            );
            let decided: BTreeSet<String> = handed.union(&not_handed).cloned().collect();
            let undecided: Vec<_> = read.difference(&decided).collect();
            assert!(
                undecided.is_empty(),
                "{} reads {undecided:?}: hand them in the manifest or list them in NOT_HANDED_IN_THE_CLOUD",
                service.name()
            );
            assert!(
                handed.is_disjoint(&not_handed),
                "{}: handed and listed as not handed",
                service.name()
            );
        }
    }
}

#[test]
fn manifests_reference_only_exports_the_environment_addons_create() {
    for env in ENVIRONMENTS {
        let mut all = BTreeSet::new();
        for t in env_addon_templates() {
            all.extend(exports(&t, env));
        }
        for service in Service::ALL {
            let m = deployed(service, env);
            for (k, v) in m.variables.unwrap_or_default() {
                if let Variable::FromCfn(f) = v {
                    assert!(
                        all.contains(&f.from_cfn),
                        "{}: {k} imports {:?}, which no environment addon exports ({all:?})",
                        service.name(),
                        f.from_cfn
                    );
                }
            }
        }
    }
}

#[test]
fn rollback_alarms_are_alarms_the_workload_addon_creates() {
    for service in Service::ALL {
        let t = template(&format!("{}/addons/alarms.yml", service.name()));
        for env in ENVIRONMENTS {
            let names: BTreeSet<String> = resources(&t)
                .values()
                .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::CloudWatch::Alarm"))
                .filter_map(|r| {
                    r.get("Properties")
                        .and_then(|p| p.get("AlarmName"))
                        .and_then(|n| sub(n, env, service.name()))
                })
                .collect();
            let m = deployed(service, env);
            let Some(RollbackAlarms::Names(rollback)) =
                m.deployment.and_then(|d| d.rollback_alarms)
            else {
                panic!("rollback alarms by name");
            };
            for alarm in rollback {
                assert!(
                    names.contains(&alarm),
                    "{alarm} is not created by {}/addons/alarms.yml ({names:?})",
                    service.name()
                );
            }
        }
    }
}

#[test]
fn both_services_share_one_alarm_template() {
    assert_eq!(
        read("auth/addons/alarms.yml"),
        read("task/addons/alarms.yml")
    );
    assert_eq!(
        read("auth/addons/addons.parameters.yml"),
        read("task/addons/addons.parameters.yml")
    );
}

/// Each task role reads only its own secrets: auth the database secret and the signing key,
/// task only the database secret; nothing else, and no wildcard.
#[test]
fn each_task_role_reads_only_its_own_secrets() {
    for (service, allowed) in [
        (Service::Auth, vec!["DbSecretArn", "JwtSigningKeySecretArn"]),
        (Service::Task, vec!["DbSecretArn"]),
    ] {
        let t = template(&format!("{}/addons/iam.yml", service.name()));
        let mut granted = Vec::new();
        for r in resources(&t).values() {
            assert_eq!(
                r.get("Type").and_then(Value::as_str),
                Some("AWS::IAM::ManagedPolicy")
            );
            let statements = r["Properties"]["PolicyDocument"]["Statement"]
                .as_sequence()
                .expect("statements");
            for s in statements {
                assert_eq!(s["Effect"].as_str(), Some("Allow"));
                assert_eq!(
                    s["Action"].as_str(),
                    Some("secretsmanager:GetSecretValue"),
                    "{}: {s:?}",
                    service.name()
                );
                let import = sub(&s["Resource"]["Fn::ImportValue"], "test", service.name())
                    .expect("resource is an imported ARN");
                granted.push(
                    import
                        .trim_start_matches(&format!("{APP}-test-"))
                        .to_string(),
                );
            }
        }
        granted.sort();
        assert_eq!(granted, allowed, "{}", service.name());
    }
    // And the key's resource policy denies it to everyone but auth's task role.
    let t = template("environments/addons/jwt-signing-key.yml");
    let policy =
        &resources(&t)["JwtSigningKeySecretPolicy"]["Properties"]["ResourcePolicy"]["Statement"][0];
    assert_eq!(policy["Effect"].as_str(), Some("Deny"));
    let pattern = sub(
        &policy["Condition"]["ArnNotLike"]["aws:PrincipalArn"],
        "test",
        "",
    )
    .unwrap();
    assert!(
        pattern.ends_with(&format!(":role/{APP}-test-auth-TaskRole-*")),
        "{pattern}"
    );
}

#[test]
fn the_database_addon_matches_the_issue() {
    let t = template("environments/addons/database.yml");
    let r = resources(&t);
    let cluster = &r["DbCluster"]["Properties"];
    assert_eq!(cluster["Engine"].as_str(), Some("aurora-postgresql"));
    assert_eq!(cluster["StorageEncrypted"].as_bool(), Some(true));
    assert_eq!(cluster["BackupRetentionPeriod"].as_u64(), Some(7));
    assert!(cluster.get("ServerlessV2ScalingConfiguration").is_some());
    assert_eq!(
        r["DbWriterInstance"]["Properties"]["DBInstanceClass"].as_str(),
        Some("db.serverless")
    );
    // 5432 only, only from the environment security group.
    let ingress: Vec<&Value> = r
        .values()
        .filter(|v| v["Type"].as_str() == Some("AWS::EC2::SecurityGroupIngress"))
        .collect();
    assert_eq!(ingress.len(), 1);
    let rule = &ingress[0]["Properties"];
    assert_eq!(
        (rule["FromPort"].as_u64(), rule["ToPort"].as_u64()),
        (Some(5432), Some(5432))
    );
    assert_eq!(
        rule["SourceSecurityGroupId"],
        serde_yaml::from_str::<Value>("!Ref EnvironmentSecurityGroupId").unwrap()
    );
    assert!(
        r["DbSecurityGroup"]["Properties"]
            .get("SecurityGroupIngress")
            .is_none()
    );
    // Rotation is on.
    assert_eq!(
        r["DbSecretRotation"]["Type"].as_str(),
        Some("AWS::SecretsManager::RotationSchedule")
    );
    // Capacity: DB_POOL_MAX x the maximum task count of both services under max_connections.
    let max_connections: u64 =
        r["DbInstanceParameterGroup"]["Properties"]["Parameters"]["max_connections"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
    let mut planned = 0;
    for service in Service::ALL {
        let m = deployed(service, "prod");
        let Some(Variable::Plain(pool)) = m
            .variables
            .as_ref()
            .and_then(|v| v.get("DB_POOL_MAX"))
            .cloned()
        else {
            panic!()
        };
        let Some(Count::Advanced(count)) = m.count else {
            panic!()
        };
        let Some(Range::Band(band)) = count.range else {
            panic!()
        };
        let max: u64 = band.split('-').nth(1).unwrap().parse().unwrap();
        planned += pool.parse::<u64>().unwrap() * max;
    }
    assert_eq!(planned, 100);
    assert!(
        planned * 10 <= max_connections * 8,
        "{planned} connections planned, alarm at 80 % of {max_connections}"
    );
    let monitoring = template("environments/addons/monitoring.yml");
    let alarm = &resources(&monitoring)["DbConnectionsAlarm"]["Properties"];
    assert_eq!(alarm["Threshold"].as_u64(), Some(max_connections * 8 / 10));
}

// --- the checker rejects what it should ---

fn mutate(rel: &str, from: &str, to: &str) -> String {
    let raw = read(rel);
    assert!(raw.contains(from), "{rel} has no {from:?}");
    raw.replacen(from, to, 1)
}

#[test]
fn rejects_an_unknown_field() {
    let raw = mutate(
        "auth/manifest.yml",
        "    healthy_threshold: 2",
        "    healthy_treshold: 2",
    );
    let err = check_service(&raw, Service::Auth).unwrap_err();
    assert!(err.contains("schema"), "{err}");
    let raw = mutate("auth/manifest.yml", "cpu: 256", "cpu: 256\ncpus: 2");
    assert!(
        check_service(&raw, Service::Auth)
            .unwrap_err()
            .contains("unknown field `cpus`")
    );
    let raw = mutate(
        "environments/prod/manifest.yml",
        "  container_insights: true",
        "  container_insight: true",
    );
    assert!(
        check_environment(&raw, "prod")
            .unwrap_err()
            .contains("schema")
    );
}

#[test]
fn rejects_a_wrong_type() {
    let raw = mutate("task/manifest.yml", "cpu: 256", "cpu: 'a quarter'");
    assert!(
        check_service(&raw, Service::Task)
            .unwrap_err()
            .contains("schema")
    );
    let raw = mutate("task/manifest.yml", "  port: 3000", "  port: [3000]");
    assert!(
        check_service(&raw, Service::Task)
            .unwrap_err()
            .contains("schema")
    );
    let raw = mutate(
        "task/manifest.yml",
        "  retention: 30",
        "  retention: thirty",
    );
    assert!(
        check_service(&raw, Service::Task)
            .unwrap_err()
            .contains("schema")
    );
    let raw = mutate(
        "environments/test/manifest.yml",
        "container_insights: true",
        "container_insights: 'yes please'",
    );
    assert!(
        check_environment(&raw, "test")
            .unwrap_err()
            .contains("schema")
    );
}

#[test]
fn rejects_rule_violations() {
    let cases: &[(&str, Service, &str, &str, &str)] = &[
        (
            "auth/manifest.yml",
            Service::Auth,
            "path: '/auth'",
            "path: '/'",
            "http.path",
        ),
        (
            "auth/manifest.yml",
            Service::Auth,
            "path: '/auth/health'",
            "path: '/health'",
            "health check path",
        ),
        (
            "auth/manifest.yml",
            Service::Auth,
            "interval: 30s",
            "interval: 10s",
            "interval",
        ),
        (
            "auth/manifest.yml",
            Service::Auth,
            "    timeout: 5s\n    grace",
            "    timeout: 10s\n    grace",
            "timeout",
        ),
        (
            "auth/manifest.yml",
            Service::Auth,
            "unhealthy_threshold: 3",
            "unhealthy_threshold: 2",
            "unhealthy_threshold",
        ),
        (
            "task/manifest.yml",
            Service::Task,
            "range: 2-10",
            "range: 1-10",
            "count.range",
        ),
        (
            "task/manifest.yml",
            Service::Task,
            "cpu_percentage: 70",
            "cpu_percentage: 50",
            "cpu_percentage",
        ),
        (
            "task/manifest.yml",
            Service::Task,
            "in: 300s",
            "in: 60s",
            "cooldown.in",
        ),
        (
            "task/manifest.yml",
            Service::Task,
            "out: 60s",
            "out: 5m",
            "cooldown.out",
        ),
        (
            "task/manifest.yml",
            Service::Task,
            "deregistration_delay: 30s",
            "deregistration_delay: 5s",
            "deregistration_delay",
        ),
        (
            "task/manifest.yml",
            Service::Task,
            "placement: 'private'",
            "placement: 'public'",
            "placement",
        ),
        (
            "task/manifest.yml",
            Service::Task,
            "APP_ENV: 'production'",
            "APP_ENV: 'development'",
            "APP_ENV",
        ),
        (
            "task/manifest.yml",
            Service::Task,
            "memory: 512",
            "memory: 1024",
            "cpu/memory",
        ),
        (
            "task/manifest.yml",
            Service::Task,
            "  retention: 30",
            "  retention: 7",
            "retention",
        ),
        (
            "task/manifest.yml",
            Service::Task,
            ".local:3000'",
            ".local:8080'",
            "AUTH_SERVICE_URL",
        ),
        (
            "task/manifest.yml",
            Service::Task,
            "  DB_SECRET:",
            "  JWT_SIGNING_KEY_SECRET:\n    from_cfn: '${COPILOT_APPLICATION_NAME}-${COPILOT_ENVIRONMENT_NAME}-JwtSigningKeySecretArn'\n  DB_SECRET:",
            "never get the signing key",
        ),
        (
            "auth/manifest.yml",
            Service::Auth,
            "  JWT_SIGNING_KEY_SECRET:\n",
            "  JWT_SIGNING_KEY: 'pem'\n  UNUSED_KEY_SECRET:\n",
            "JWT_SIGNING_KEY",
        ),
        (
            "auth/manifest.yml",
            Service::Auth,
            "'/bin/auth', 'healthcheck'",
            "'/bin/sh', '-c', 'curl localhost'",
            "container health check",
        ),
        (
            "auth/manifest.yml",
            Service::Auth,
            "-auth-error-rate'",
            "-auth-latency'",
            "rollback_alarms",
        ),
        (
            "auth/manifest.yml",
            Service::Auth,
            "      redirect_to_https: true",
            "      redirect_to_https: false",
            "redirects",
        ),
    ];
    for (rel, service, from, to, expected) in cases {
        let raw = mutate(rel, from, to);
        match check_service(&raw, *service) {
            Ok(()) => panic!("{rel}: {from:?} -> {to:?} was accepted"),
            Err(e) => assert!(
                e.contains(expected),
                "{rel}: {from:?} -> {to:?}: expected {expected:?} in {e}"
            ),
        }
    }
    let raw = mutate(
        "environments/prod/manifest.yml",
        "  container_insights: true",
        "  container_insights: false",
    );
    assert!(
        check_environment(&raw, "prod")
            .unwrap_err()
            .contains("Container Insights")
    );
    let raw = mutate(
        "environments/prod/manifest.yml",
        "    certificates:\n      - '${PROD_CERTIFICATE_ARN}'\n",
        "",
    );
    assert!(
        check_environment(&raw, "prod")
            .unwrap_err()
            .contains("certificate")
    );
}

#[test]
fn an_unread_variable_is_caught() {
    // A variable the service does not read would show up as "handed, never read".
    let read: BTreeSet<String> = env_vars_read(Service::Task)
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(
        !read.contains("BCRYPT_COST"),
        "task does not hash passwords"
    );
    let raw = mutate(
        "task/manifest.yml",
        "  JWT_ISSUER:",
        "  BCRYPT_COST: '10'\n  JWT_ISSUER:",
    );
    let m: LoadBalancedWebService = load(&raw, "test", &deploy_shell(PLATFORMS[0])).unwrap();
    let handed: BTreeSet<String> = m.variables.unwrap().into_keys().collect();
    assert!(handed.difference(&read).any(|k| k == "BCRYPT_COST"));
}

#[test]
fn interpolation_and_durations_behave_like_copilot() {
    let shell = BTreeMap::from([("X", "1".to_string())]);
    assert_eq!(interpolate_str("a${X}b", "test", &shell).unwrap(), "a1b");
    assert_eq!(interpolate_str(r"\${X}", "test", &shell).unwrap(), "${X}");
    assert_eq!(
        interpolate_str("${COPILOT_ENVIRONMENT_NAME}", "prod", &shell).unwrap(),
        "prod"
    );
    assert!(interpolate_str("${NOPE}", "test", &shell).is_err());
    assert_eq!(seconds("1m30s"), Ok(90.0));
    assert_eq!(seconds("500ms"), Ok(0.5));
    assert!(seconds("30").is_err());
    assert_eq!(
        screaming_snake("JwtSigningKeySecret"),
        "JWT_SIGNING_KEY_SECRET"
    );
    assert_eq!(screaming_snake("DBSecretARN"), "DB_SECRET_ARN");
}
