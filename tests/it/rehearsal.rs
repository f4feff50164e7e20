//! A rehearsal of the `test` environment's deployment on this machine, driven by what `cdk synth`
//! wrote (`cdk/cdk.out/test/`, read through tests/synth), not by a second copy of the settings.
//!
//! From the templates: each container's command, environment, health check, user, read-only
//! root and stop timeout; the migration task; each target group's health check and
//! deregistration delay; the listener's rules and default action; the Cloud Map names; each
//! service's desired count and deployment configuration. Then, as ECS and the load balancer would:
//! - every task is its own process in its own network namespace (`10.213.0.<slot>`, the
//!   container's port), as the container's user with `setpriv`, its root remounted read-only
//!   when the template says so, with exactly the container's environment (secrets in the
//!   `moto_server` Secrets Manager emulator, the database a fresh PostgreSQL one);
//! - HAProxy is the load balancer, its configuration generated from the listener rules and
//!   target groups: active health checks with the synthesized path, interval, timeout and
//!   thresholds; deregistration drains a target for the deregistration delay;
//! - a Cloud Map name (task's `AUTH_SERVICE_URL`) resolves, through the namespace's own
//!   /etc/hosts (bind-mounted in the task's mount namespace; the machine's is untouched), to the
//!   bridge address where HAProxy forwards to the service's healthy targets, as Cloud Map
//!   answers with its healthy instances;
//! - the database and the emulator are reached through HAProxy TCP forwards on the bridge
//!   address, since they listen on the host's loopback.
//!
//! Time runs at `TIME_SCALE` of the templates' (intervals, timeouts, thresholds' durations,
//! delays, stop timeouts, the services' shutdown grace): the ratios hold. Scenarios, under a
//! steady bounded load through the load balancer (the README's curl session, keep-alive and fresh
//! connections): a) first deploy on an empty database, b) a rolling update to a next release
//! whose migration adds a table and a column, c) a rollback to the previous release on that
//! schema, d) scale-out and back, e) a Fargate Spot interruption, f) a task whose container
//! health check starts failing is replaced. (b)-(f) must not fail one request.
//!
//! `REHEARSAL_PREVIOUS_RELEASE=<dir holding auth and task>` runs the previous release (a, c) from
//! other binaries, e.g. an older commit's; by default both releases are this build.
//! `REHEARSAL_SCENARIOS=a,c` runs a subset ((a) always runs; (c) applies (b)'s migration itself).

use crate::synth;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::ConnectionTrait;
use serde_json::{Value as Json, json};
use testkit::{
    db::{Backend, TestDb, postgres_admin_url},
    moto::Moto,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::UnixStream,
    process::Child,
    task::JoinHandle,
};

use synth::{of_type, secret_name, stack};

const ENV: &str = "test";
/// Deployment time runs at a tenth of the templates'.
const TIME_SCALE: f64 = 0.1;
const SUBNET: &str = "10.213.0";
/// The host's address on the rehearsal's bridge: HAProxy's Cloud Map, database and emulator
/// forwards listen here.
const GATEWAY: &str = "10.213.0.1";
const BRIDGE: &str = "rhbr0";
const NETNS_PREFIX: &str = "rehearsal-";
/// Task slots per service: enough for a doubled scale-out during a deployment.
const SLOTS: u8 = 10;
const RATE_PER_SEC: u64 = 50;
/// A request not answered within this counts as failed.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
const USERS: usize = 16;
/// How long any one task may take to become healthy, or a one-off task to finish.
const TASK_DEADLINE: Duration = Duration::from_secs(90);

fn scaled(secs: f64) -> Duration {
    Duration::from_secs_f64(secs * TIME_SCALE)
}

fn seconds(v: &Json, default: f64) -> Duration {
    scaled(v.as_f64().unwrap_or(default))
}

// --- what the templates say -----------------------------------------------------------------

#[derive(Clone, Debug)]
struct HealthCheck {
    /// The exec form's arguments after the image's binary.
    args: Vec<String>,
    interval: Duration,
    timeout: Duration,
    retries: u32,
    start_period: Duration,
}

#[derive(Clone, Debug)]
struct Container {
    /// The image's one binary (`auth` or `task`), at `/bin/<binary>` in the image.
    binary: String,
    command: Vec<String>,
    environment: Vec<(String, Json)>,
    health: Option<HealthCheck>,
    /// `uid[:gid]`.
    user: String,
    read_only_root: bool,
    stop_timeout: Duration,
    port: u16,
}

impl Container {
    fn from_template(c: &Json) -> Self {
        let image = c["Image"].to_string();
        let binary = ["auth", "task"]
            .into_iter()
            .find(|b| image.contains(&format!("/{b}@")))
            .unwrap_or_else(|| panic!("an image of neither service: {image}"))
            .to_string();
        let words = |v: &Json| -> Vec<String> {
            v.as_array()
                .map(|a| a.iter().map(|w| w.as_str().unwrap().to_string()).collect())
                .unwrap_or_default()
        };
        let health = c.get("HealthCheck").map(|h| {
            let command = words(&h["Command"]);
            assert_eq!(
                command.first().map(String::as_str),
                Some("CMD"),
                "the image has no shell: the health check is the exec form"
            );
            assert_eq!(
                command.get(1),
                Some(&format!("/bin/{binary}")),
                "the health check runs the image's binary"
            );
            // ECS's defaults where the template leaves one out.
            HealthCheck {
                args: command[2..].to_vec(),
                interval: seconds(&h["Interval"], 30.0),
                timeout: seconds(&h["Timeout"], 5.0),
                retries: h["Retries"].as_u64().unwrap_or(3) as u32,
                start_period: seconds(&h["StartPeriod"], 0.0),
            }
        });
        Self {
            command: words(&c["Command"]),
            environment: c["Environment"]
                .as_array()
                .expect("Environment")
                .iter()
                .map(|e| (e["Name"].as_str().unwrap().to_string(), e["Value"].clone()))
                .collect(),
            health,
            user: c["User"]
                .as_str()
                .expect("a User: the image's processes never run as root")
                .to_string(),
            read_only_root: c["ReadonlyRootFilesystem"].as_bool().unwrap_or(false),
            stop_timeout: seconds(&c["StopTimeout"], 30.0),
            port: c["PortMappings"][0]["ContainerPort"]
                .as_u64()
                .unwrap_or(3000) as u16,
            binary,
        }
    }
}

#[derive(Clone, Debug)]
struct TargetGroup {
    health_path: String,
    matcher: String,
    interval: Duration,
    timeout: Duration,
    healthy_threshold: u64,
    unhealthy_threshold: u64,
    deregistration_delay: Duration,
}

#[derive(Clone, Debug)]
struct Service {
    name: String,
    container: Container,
    target_group: TargetGroup,
    desired: usize,
    min_healthy_percent: usize,
    max_percent: usize,
    /// The first of this service's task slots.
    slot_base: u8,
}

#[derive(Debug)]
struct Rule {
    priority: u64,
    path_patterns: Vec<String>,
    service: String,
}

#[derive(Debug)]
struct Deployment {
    services: Vec<Service>,
    rules: Vec<Rule>,
    /// The listener's default action: a fixed response (status, content type, body).
    default_response: (u64, String, String),
    /// Cloud Map name -> service.
    cloud_map: BTreeMap<String, String>,
    migration: Option<Container>,
}

impl Deployment {
    fn read() -> Self {
        let t = stack(ENV, "Services");
        let resource = |id: &Json| -> &Json {
            let id = id.as_str().unwrap_or_else(|| panic!("a logical id: {id}"));
            &t["Resources"][id]["Properties"]
        };
        let mut services = Vec::new();
        let mut cloud_map = BTreeMap::new();
        let mut service_task_definitions = Vec::new();
        for (i, (_, s)) in of_type(&t, "AWS::ECS::Service").into_iter().enumerate() {
            let s = &s["Properties"];
            service_task_definitions.push(s["TaskDefinition"]["Ref"].clone());
            let containers = resource(&s["TaskDefinition"]["Ref"])["ContainerDefinitions"]
                .as_array()
                .unwrap();
            assert_eq!(containers.len(), 1, "one container per task");
            let container = Container::from_template(&containers[0]);
            let name = containers[0]["Name"].as_str().unwrap().to_string();
            let lb = &s["LoadBalancers"][0];
            assert_eq!(lb["ContainerPort"], container.port, "{name}: target port");
            let tg = resource(&lb["TargetGroupArn"]["Ref"]);
            let attribute = |key: &str| {
                tg["TargetGroupAttributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|a| a["Key"] == key)
                    .and_then(|a| a["Value"].as_str()?.parse::<f64>().ok())
            };
            // The target group's defaults where the template leaves one out.
            let target_group = TargetGroup {
                health_path: tg["HealthCheckPath"].as_str().unwrap_or("/").to_string(),
                matcher: tg["Matcher"]["HttpCode"]
                    .as_str()
                    .unwrap_or("200")
                    .to_string(),
                interval: seconds(&tg["HealthCheckIntervalSeconds"], 30.0),
                timeout: seconds(&tg["HealthCheckTimeoutSeconds"], 5.0),
                healthy_threshold: tg["HealthyThresholdCount"].as_u64().unwrap_or(5),
                unhealthy_threshold: tg["UnhealthyThresholdCount"].as_u64().unwrap_or(2),
                deregistration_delay: scaled(
                    attribute("deregistration_delay.timeout_seconds").unwrap_or(300.0),
                ),
            };
            for registry in s["ServiceRegistries"].as_array().into_iter().flatten() {
                let cm = resource(&registry["RegistryArn"]["Fn::GetAtt"][0]);
                let namespace = resource(&cm["NamespaceId"]["Fn::GetAtt"][0]);
                cloud_map.insert(
                    format!(
                        "{}.{}",
                        cm["Name"].as_str().unwrap(),
                        namespace["Name"].as_str().unwrap()
                    ),
                    name.clone(),
                );
            }
            let dc = &s["DeploymentConfiguration"];
            services.push(Service {
                desired: s["DesiredCount"].as_u64().expect("DesiredCount") as usize,
                min_healthy_percent: dc["MinimumHealthyPercent"].as_u64().unwrap_or(100) as usize,
                max_percent: dc["MaximumPercent"].as_u64().unwrap_or(200) as usize,
                slot_base: 10 * (i as u8 + 1),
                name,
                container,
                target_group,
            });
        }
        assert!(!services.is_empty(), "no ECS service in the templates");
        let service_of_tg = |tg: &Json| -> String {
            let (id, _) = of_type(&t, "AWS::ECS::Service")
                .into_iter()
                .find(|(_, s)| &s["Properties"]["LoadBalancers"][0]["TargetGroupArn"] == tg)
                .unwrap_or_else(|| panic!("no service behind target group {tg}"));
            let td = resource(&t["Resources"][id]["Properties"]["TaskDefinition"]["Ref"]);
            td["ContainerDefinitions"][0]["Name"]
                .as_str()
                .unwrap()
                .to_string()
        };

        let listeners = of_type(&t, "AWS::ElasticLoadBalancingV2::Listener");
        assert_eq!(listeners.len(), 1, "{ENV}: one listener");
        let (listener_id, listener) = listeners[0];
        let default = &listener["Properties"]["DefaultActions"][0];
        assert_eq!(default["Type"], "fixed-response", "the default action");
        let fixed = &default["FixedResponseConfig"];
        let default_response = (
            fixed["StatusCode"].as_str().unwrap().parse().unwrap(),
            fixed["ContentType"]
                .as_str()
                .unwrap_or("text/plain")
                .to_string(),
            fixed["MessageBody"].as_str().unwrap_or("").to_string(),
        );
        let mut rules: Vec<Rule> = of_type(&t, "AWS::ElasticLoadBalancingV2::ListenerRule")
            .into_iter()
            .map(|(_, r)| &r["Properties"])
            .filter(|r| r["ListenerArn"]["Ref"] == listener_id.as_str())
            .map(|r| {
                let conditions = r["Conditions"].as_array().unwrap();
                assert_eq!(conditions.len(), 1, "a rule on paths only: {r}");
                assert_eq!(conditions[0]["Field"], "path-pattern", "{r}");
                let action = &r["Actions"][0];
                assert_eq!(action["Type"], "forward", "{r}");
                Rule {
                    priority: r["Priority"].as_u64().unwrap(),
                    path_patterns: conditions[0]["PathPatternConfig"]["Values"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().to_string())
                        .collect(),
                    service: service_of_tg(&action["TargetGroupArn"]),
                }
            })
            .collect();
        rules.sort_by_key(|r| r.priority);

        // The migration task: the one task definition no service runs.
        let one_off: Vec<Container> = of_type(&t, "AWS::ECS::TaskDefinition")
            .into_iter()
            .filter(|(id, _)| !service_task_definitions.contains(&json!(id)))
            .map(|(_, td)| {
                let containers = td["Properties"]["ContainerDefinitions"].as_array().unwrap();
                assert_eq!(containers.len(), 1, "one container per task");
                Container::from_template(&containers[0])
            })
            .collect();
        assert!(one_off.len() <= 1, "one one-off task: {one_off:?}");
        let migration = one_off.into_iter().next();
        if let Some(m) = &migration {
            assert!(
                m.command.iter().any(|w| w == "migrate"),
                "the one-off task runs `migrate`: {:?}",
                m.command
            );
        }

        // Services others reach by a Cloud Map name start first.
        services.sort_by_key(|s| !cloud_map.values().any(|v| v == &s.name));
        Self {
            services,
            rules,
            default_response,
            cloud_map,
            migration,
        }
    }

    fn service(&self, name: &str) -> &Service {
        self.services
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no service {name}"))
    }
}

// --- the machine's stand-ins for the VPC --------------------------------------------------------

fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip_quiet(args: &[&str]) {
    let _ = std::process::Command::new("ip").args(args).output();
}

/// The rehearsal's subnet: a bridge the task namespaces' veths join, the host at `GATEWAY`.
struct Bridge;

impl Bridge {
    fn create() -> Self {
        // What an interrupted run left behind goes first.
        let out = std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip netns list (iproute2)");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(name) = line.split_whitespace().next()
                && name.starts_with(NETNS_PREFIX)
            {
                ip_quiet(&["netns", "del", name]);
            }
        }
        ip_quiet(&["link", "del", BRIDGE]);
        ip(&["link", "add", BRIDGE, "type", "bridge"]);
        ip(&["addr", "add", &format!("{GATEWAY}/24"), "dev", BRIDGE]);
        ip(&["link", "set", BRIDGE, "up"]);
        Bridge
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        ip_quiet(&["link", "del", BRIDGE]);
    }
}

/// One task's network namespace, `SUBNET.<slot>` on the bridge.
struct Netns {
    name: String,
    slot: u8,
}

impl Netns {
    fn create(slot: u8) -> Self {
        let ns = Netns {
            name: format!("{NETNS_PREFIX}{slot}"),
            slot,
        };
        let (host, peer) = (format!("rhv{slot}"), format!("rhp{slot}"));
        ip(&["netns", "add", &ns.name]);
        ip(&[
            "link", "add", &host, "type", "veth", "peer", "name", &peer, "netns", &ns.name,
        ]);
        ip(&["link", "set", &host, "master", BRIDGE, "up"]);
        ip(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            &format!("{SUBNET}.{slot}/24"),
            "dev",
            &peer,
        ]);
        ip(&["-n", &ns.name, "link", "set", &peer, "up"]);
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ip(&["-n", &ns.name, "route", "add", "default", "via", GATEWAY]);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        ip_quiet(&["netns", "del", &self.name]);
        ip_quiet(&["link", "del", &format!("rhv{}", self.slot)]);
    }
}

/// The command that runs `args` of `c`'s image in `ns` as the container would: as its user,
/// the root read-only when the template says so, the namespace's /etc/hosts answering the Cloud
/// Map names, and exactly `env` as the environment.
fn in_container(
    ns: &Netns,
    c: &Container,
    bin: &Path,
    args: &[String],
    env: &[(String, String)],
    hosts: &Path,
) -> tokio::process::Command {
    // `ip netns exec` runs it in a mount namespace of its own (slave to the host's), so the
    // bind mount and the read-only remount are the task's alone.
    const SETUP: &str = r#"mount --bind "$1" /etc/hosts && if [ "$2" = ro ]; then mount -o remount,bind,ro /; fi && shift 2 && exec "$@""#;
    let (uid, gid) = c.user.split_once(':').unwrap_or((&c.user, &c.user));
    let mut cmd = tokio::process::Command::new("ip");
    cmd.args(["netns", "exec", &ns.name, "sh", "-c", SETUP, "sh"])
        .arg(hosts)
        .arg(if c.read_only_root { "ro" } else { "rw" })
        .args(["setpriv", "--reuid", uid, "--regid", gid, "--clear-groups"])
        .args(["--", "/usr/bin/env", "-i"])
        .args(env.iter().map(|(k, v)| format!("{k}={v}")))
        .arg(bin)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

// --- HAProxy, the load balancer -------------------------------------------------------------------

struct Haproxy {
    child: std::process::Child,
    socket: PathBuf,
    port: u16,
}

/// An ALB path pattern (`*` any run of characters, `?` one) as an anchored regular expression.
fn path_regex(pattern: &str) -> String {
    let mut re = String::from("^");
    for ch in pattern.chars() {
        match ch {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c if c.is_ascii_alphanumeric() || "/-_~".contains(c) => re.push(c),
            c => {
                re.push('\\');
                re.push(c);
            }
        }
    }
    re.push('$');
    re
}

fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

impl Haproxy {
    fn config(dep: &Deployment, dir: &Path, port: u16, database: &str, emulator: &str) -> String {
        let mut c = format!(
            "global\n  stats socket {}/admin.sock mode 600 level admin\n\n\
             defaults\n  mode http\n  option forwardfor\n  retries 0\n  \
             timeout connect 10s\n  timeout client 60s\n  timeout server 60s\n  \
             timeout http-keep-alive 60s\n\n\
             frontend load_balancer\n  bind 127.0.0.1:{port}\n",
            dir.display()
        );
        for r in &dep.rules {
            for p in &r.path_patterns {
                c += &format!("  acl rule{} path_reg {}\n", r.priority, path_regex(p));
            }
            c += &format!("  use_backend {} if rule{}\n", r.service, r.priority);
        }
        let (status, content_type, body) = &dep.default_response;
        let body_file = dir.join("default-action.body");
        std::fs::write(&body_file, body).unwrap();
        c += &format!(
            "  default_backend default_action\n\nbackend default_action\n  \
             http-request return status {status} content-type \"{content_type}\" file {}\n\n",
            body_file.display()
        );
        for (name, svc) in &dep.cloud_map {
            let s = dep.service(svc);
            c += &format!(
                "frontend cloud_map_{svc}\n  # {name}\n  bind {GATEWAY}:{}\n  default_backend {svc}\n\n",
                s.container.port
            );
        }
        for s in &dep.services {
            let tg = &s.target_group;
            assert!(
                tg.matcher.chars().all(|c| c.is_ascii_digit() || c == '-'),
                "{}: a status or a range of statuses: {}",
                s.name,
                tg.matcher
            );
            c += &format!(
                "backend {}\n  balance roundrobin\n  option httpchk GET {}\n  http-check expect status {}\n  \
                 timeout check {}\n  default-server inter {} rise {} fall {}\n",
                s.name,
                tg.health_path,
                tg.matcher,
                millis(tg.timeout),
                millis(tg.interval),
                tg.healthy_threshold,
                tg.unhealthy_threshold
            );
            for slot in s.slot_base..s.slot_base + SLOTS {
                c += &format!(
                    "  server t{slot} {SUBNET}.{slot}:{} check disabled\n",
                    s.container.port
                );
            }
            c += "\n";
        }
        for (name, bind, to) in [
            ("database", format!("{GATEWAY}:5432"), database),
            ("secrets_manager", format!("{GATEWAY}:4566"), emulator),
        ] {
            c += &format!(
                "listen {name}\n  mode tcp\n  timeout client 1h\n  timeout server 1h\n  bind {bind}\n  server {name} {to}\n\n"
            );
        }
        c
    }

    async fn start(dep: &Deployment, dir: &Path, database: &str, emulator: &str) -> Self {
        let port = testkit::free_port();
        let config = dir.join("haproxy.cfg");
        std::fs::write(&config, Self::config(dep, dir, port, database, emulator)).unwrap();
        let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
        let child = std::process::Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("haproxy must be installed (Debian package haproxy; .ci/setup.sh installs it)");
        let mut proxy = Haproxy {
            child,
            socket: dir.join("admin.sock"),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&proxy.socket).await.is_err() {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!(
                    "haproxy exited with {status}: {}",
                    std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "haproxy did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        proxy
    }

    /// One line for the runtime API; its answer.
    async fn command(&self, line: &str) -> String {
        let mut s = UnixStream::connect(&self.socket)
            .await
            .expect("haproxy's admin socket");
        s.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// Each server's status (`UP`, `DOWN 1/2`, `DRAIN`, `MAINT`, ...) by backend and server.
    async fn statuses(&self) -> BTreeMap<(String, String), String> {
        let csv = self.command("show stat").await;
        let mut lines = csv.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let col = header.iter().position(|h| *h == "status").unwrap();
        lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| f.len() > col)
            .map(|f| ((f[0].to_string(), f[1].to_string()), f[col].to_string()))
            .collect()
    }

    async fn status(&self, svc: &str, slot: u8) -> String {
        self.statuses()
            .await
            .remove(&(svc.to_string(), format!("t{slot}")))
            .unwrap_or_default()
    }

    /// Registers a target as an ALB does: in service only once it passed the healthy threshold.
    async fn register(&self, svc: &str, slot: u8) {
        self.command(&format!(
            "set server {svc}/t{slot} state ready; set server {svc}/t{slot} health down"
        ))
        .await;
    }

    /// Deregistration begins: no new requests; those in flight finish.
    async fn drain(&self, svc: &str, slot: u8) {
        self.command(&format!("set server {svc}/t{slot} state drain"))
            .await;
    }

    /// The deregistration delay is over: the target is gone, its connections closed.
    async fn remove(&self, svc: &str, slot: u8) {
        self.command(&format!(
            "set server {svc}/t{slot} state maint; shutdown sessions server {svc}/t{slot}"
        ))
        .await;
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- ECS --------------------------------------------------------------------------------------------

const UNKNOWN: u8 = 0;
const HEALTHY: u8 = 1;
const UNHEALTHY: u8 = 2;

#[derive(Clone, Debug)]
struct Release {
    name: &'static str,
    bin_dir: PathBuf,
}

impl Release {
    fn binary(&self, name: &str) -> PathBuf {
        let path = self.bin_dir.join(name);
        assert!(path.exists(), "{} missing", path.display());
        path
    }
}

/// A running task: its process, its container health, its namespace.
struct Task {
    child: Child,
    health: Arc<AtomicU8>,
    checker: Option<JoinHandle<()>>,
    log: PathBuf,
    release: &'static str,
    ns: Netns,
}

impl Task {
    fn slot(&self) -> u8 {
        self.ns.slot
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(c) = self.checker.take() {
            c.abort();
        }
        let _ = self.child.start_kill();
    }
}

/// Runs the container health check as ECS does: every interval, failures during the start
/// period not counted, unhealthy after `retries` failures in a row.
fn health_checker(
    ns_name: String,
    command: tokio::process::Command,
    hc: HealthCheck,
    health: Arc<AtomicU8>,
) -> JoinHandle<()> {
    let mut command = command;
    command.stdout(Stdio::null()).stderr(Stdio::null());
    // The check spawns three processes (`ip netns exec`, `setpriv`, the binary), whose start-up
    // time does not scale with the rest.
    let timeout = hc.timeout.max(Duration::from_secs(2));
    tokio::spawn(async move {
        let started = Instant::now();
        let mut failures = 0;
        loop {
            tokio::time::sleep(hc.interval).await;
            let ok = match command.spawn() {
                Ok(mut child) => matches!(
                    tokio::time::timeout(timeout, child.wait()).await,
                    Ok(Ok(s)) if s.success()
                ),
                Err(e) => panic!("health check in {ns_name}: {e}"),
            };
            if ok {
                failures = 0;
                health.store(HEALTHY, Ordering::SeqCst);
            } else if started.elapsed() >= hc.start_period
                || health.load(Ordering::SeqCst) != UNKNOWN
            {
                failures += 1;
                if failures >= hc.retries {
                    health.store(UNHEALTHY, Ordering::SeqCst);
                }
            }
        }
    })
}

struct Ecs {
    dep: Deployment,
    proxy: Haproxy,
    /// Each service's resolved container environment.
    env: BTreeMap<String, Vec<(String, String)>>,
    tasks: BTreeMap<String, Vec<Task>>,
    hosts: PathBuf,
    dir: PathBuf,
    runs: u64,
}

impl Ecs {
    fn free_slot(&self, svc: &Service) -> u8 {
        let used: Vec<u8> = self.tasks[&svc.name].iter().map(Task::slot).collect();
        (svc.slot_base..svc.slot_base + SLOTS)
            .find(|s| !used.contains(s))
            .unwrap_or_else(|| panic!("{}: all {SLOTS} slots taken", svc.name))
    }

    /// Starts one task of `svc` from `release` and registers it with the load balancer.
    async fn launch(&mut self, svc: &str, release: &Release) -> u8 {
        let s = self.dep.service(svc).clone();
        let slot = self.free_slot(&s);
        let ns = Netns::create(slot);
        self.runs += 1;
        let log = self.dir.join(format!("{svc}-{slot}-{}.log", self.runs));
        let file = std::fs::File::create(&log).unwrap();
        let bin = release.binary(&s.container.binary);
        let env = &self.env[svc];
        let child = in_container(
            &ns,
            &s.container,
            &bin,
            &s.container.command,
            env,
            &self.hosts,
        )
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("ip netns exec");
        let health = Arc::new(AtomicU8::new(UNKNOWN));
        let checker = s.container.health.clone().map(|hc| {
            let command = in_container(&ns, &s.container, &bin, &hc.args, env, &self.hosts);
            health_checker(ns.name.clone(), command, hc, health.clone())
        });
        if checker.is_none() {
            health.store(HEALTHY, Ordering::SeqCst);
        }
        self.proxy.register(svc, slot).await;
        self.tasks.get_mut(svc).unwrap().push(Task {
            child,
            health,
            checker,
            log,
            release: release.name,
            ns,
        });
        slot
    }

    /// Waits until the tasks in `slots` are healthy: their container health check, and the
    /// load balancer's target health.
    async fn healthy(&mut self, svc: &str, slots: &[u8]) {
        let deadline = Instant::now() + TASK_DEADLINE;
        loop {
            let statuses = self.proxy.statuses().await;
            let mut all = true;
            for t in self.tasks.get_mut(svc).unwrap() {
                if !slots.contains(&t.slot()) {
                    continue;
                }
                if let Ok(Some(status)) = t.child.try_wait() {
                    panic!(
                        "{svc} task {} ({} release) exited with {status} before it was healthy:\n{}",
                        t.slot(),
                        t.release,
                        t.log_tail()
                    );
                }
                let target = statuses
                    .get(&(svc.to_string(), format!("t{}", t.slot())))
                    .cloned()
                    .unwrap_or_default();
                all &= t.health.load(Ordering::SeqCst) == HEALTHY && target == "UP";
            }
            if all {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{svc} tasks {slots:?} not healthy in {TASK_DEADLINE:?}: {statuses:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn launch_healthy(&mut self, svc: &str, release: &Release, n: usize) {
        let mut slots = Vec::new();
        for _ in 0..n {
            slots.push(self.launch(svc, release).await);
        }
        self.healthy(svc, &slots).await;
    }

    fn take(&mut self, svc: &str, slots: &[u8]) -> Vec<Task> {
        let tasks = self.tasks.get_mut(svc).unwrap();
        let (gone, kept) = std::mem::take(tasks)
            .into_iter()
            .partition(|t| slots.contains(&t.slot()));
        *tasks = kept;
        gone
    }

    /// Stops tasks as ECS does: deregistered, the deregistration delay, SIGTERM, SIGKILL after
    /// the stop timeout.
    async fn stop(proxy: &Haproxy, s: &Service, tasks: Vec<Task>) {
        for t in &tasks {
            proxy.drain(&s.name, t.slot()).await;
        }
        tokio::time::sleep(s.target_group.deregistration_delay).await;
        for mut t in tasks {
            proxy.remove(&s.name, t.slot()).await;
            if let Some(pid) = t.child.id() {
                // SAFETY: a plain kill(2) on our own child's pid.
                unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            }
            if tokio::time::timeout(s.container.stop_timeout, t.child.wait())
                .await
                .is_err()
            {
                t.child.kill().await.unwrap();
            }
        }
    }

    /// A rolling update of `svc` to `release`, as its deployment configuration allows.
    async fn deploy(&mut self, svc: &str, release: &Release) {
        let s = self.dep.service(svc).clone();
        let desired = self.tasks[svc].len();
        let max = desired * s.max_percent / 100;
        let min_healthy = (desired * s.min_healthy_percent).div_ceil(100);
        let mut old: Vec<u8> = self.tasks[svc].iter().map(Task::slot).collect();
        let mut new = 0;
        while !old.is_empty() || new < desired {
            let launch = max.saturating_sub(old.len() + new).min(desired - new);
            self.launch_healthy(svc, release, launch).await;
            new += launch;
            let stop = (old.len() + new).saturating_sub(min_healthy).min(old.len());
            assert!(
                launch + stop > 0,
                "{svc}: the deployment configuration allows no progress"
            );
            let stopping: Vec<u8> = old.drain(..stop).collect();
            let tasks = self.take(svc, &stopping);
            Self::stop(&self.proxy, &s, tasks).await;
        }
    }

    /// Sets `svc`'s desired count to `n`.
    async fn scale(&mut self, svc: &str, release: &Release, n: usize) {
        let running = self.tasks[svc].len();
        if n > running {
            self.launch_healthy(svc, release, n - running).await;
        } else {
            let extra: Vec<u8> = self.tasks[svc][n..].iter().map(Task::slot).collect();
            let tasks = self.take(svc, &extra);
            let s = self.dep.service(svc).clone();
            Self::stop(&self.proxy, &s, tasks).await;
        }
    }

    /// A Fargate Spot interruption: the task is stopped as ECS stops any task while the
    /// service starts its replacement.
    async fn interrupt(&mut self, svc: &str, release: &Release) {
        let s = self.dep.service(svc).clone();
        let victim = self.tasks[svc][0].slot();
        let replacement = self.launch(svc, release).await;
        let victim = self.take(svc, &[victim]);
        let stopping = Self::stop(&self.proxy, &s, victim);
        tokio::join!(stopping, async {
            let deadline = Instant::now() + TASK_DEADLINE;
            while self.proxy.status(svc, replacement).await != "UP" {
                assert!(Instant::now() < deadline, "{svc}: replacement not healthy");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        self.healthy(svc, &[replacement]).await;
    }

    /// A task's container health check starts failing (its loopback goes down: the check
    /// reaches `127.0.0.1:$PORT`, the load balancer its own address); ECS replaces it.
    async fn break_health(&mut self, svc: &str, release: &Release) {
        let s = self.dep.service(svc).clone();
        let t = &self.tasks[svc][0];
        let victim = t.slot();
        ip(&["-n", &t.ns.name, "link", "set", "lo", "down"]);
        let deadline = Instant::now() + TASK_DEADLINE;
        while t.health.load(Ordering::SeqCst) != UNHEALTHY {
            assert!(
                Instant::now() < deadline,
                "{svc}: the health check did not fail"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.launch_healthy(svc, release, 1).await;
        let tasks = self.take(svc, &[victim]);
        Self::stop(&self.proxy, &s, tasks).await;
    }

    /// Runs a one-off task (the migration) to completion; its exit status and output.
    async fn run_once(
        &mut self,
        c: &Container,
        release: &Release,
        env: &[(String, String)],
    ) -> (bool, String) {
        let ns = Netns::create(2);
        let bin = release.binary(&c.binary);
        let out = tokio::time::timeout(
            TASK_DEADLINE,
            in_container(&ns, c, &bin, &c.command, env, &self.hosts).output(),
        )
        .await
        .expect("the one-off task did not finish")
        .expect("ip netns exec");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

// --- the load -------------------------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    failures: Mutex<Vec<String>>,
    unexpected: Mutex<Vec<String>>,
    longest: Mutex<Duration>,
}

struct User {
    username: String,
    token: Option<String>,
}

/// The README's curl session from `USERS` clients, half on keep-alive connections and half on a
/// fresh connection per request, `RATE_PER_SEC` requests a second between them.
struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<User>>,
    tally: Arc<Tally>,
    started: Instant,
}

const PASSWORD: &str = "rehearsal-password";
/// A login costs a bcrypt hash at the template's cost, far more CPU than the other calls: one
/// pass in this many logs in again, so the hashes stay a small share of the load.
const LOGIN_EVERY: u64 = 10;

async fn call(
    tally: &Tally,
    pace: &tokio::sync::Mutex<tokio::time::Interval>,
    what: &str,
    req: reqwest::RequestBuilder,
    expect: u16,
) -> Option<Json> {
    pace.lock().await.tick().await;
    let started = Instant::now();
    let answer = tokio::time::timeout(REQUEST_DEADLINE, async {
        let r = req.send().await?;
        let status = r.status().as_u16();
        let body = r.bytes().await?;
        Ok::<_, reqwest::Error>((status, body))
    })
    .await;
    let took = started.elapsed();
    tally.requests.fetch_add(1, Ordering::SeqCst);
    {
        let mut longest = tally.longest.lock().unwrap();
        *longest = (*longest).max(took);
    }
    let failed = |why: String| {
        tally
            .failures
            .lock()
            .unwrap()
            .push(format!("{what}: {why}"));
        None
    };
    match answer {
        Err(_) => failed(format!("no answer in {REQUEST_DEADLINE:?}")),
        Ok(Err(e)) => failed(format!("{e:?}")),
        Ok(Ok((status, body))) if status >= 500 => {
            failed(format!("{status} {}", String::from_utf8_lossy(&body)))
        }
        Ok(Ok((status, body))) if status != expect => {
            tally.unexpected.lock().unwrap().push(format!(
                "{what}: {status} {}",
                String::from_utf8_lossy(&body)
            ));
            None
        }
        Ok(Ok((_, body))) => Some(serde_json::from_slice(&body).unwrap_or(Json::Null)),
    }
}

impl Load {
    fn start(base: &str, users: Vec<User>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let mut interval = tokio::time::interval(Duration::from_millis(1000 / RATE_PER_SEC));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let pace = Arc::new(tokio::sync::Mutex::new(interval));
        let workers = users
            .into_iter()
            .enumerate()
            .map(|(i, mut user)| {
                let (stop, tally, pace, base) =
                    (stop.clone(), tally.clone(), pace.clone(), base.to_string());
                let mut client = reqwest::Client::builder();
                if i % 2 == 1 {
                    client = client.pool_max_idle_per_host(0);
                }
                let http = client.build().unwrap();
                tokio::spawn(async move {
                    let mut round = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        session(&http, &base, &mut user, round, &tally, &pace).await;
                        round += 1;
                    }
                    user
                })
            })
            .collect();
        Self {
            stop,
            workers,
            tally,
            started: Instant::now(),
        }
    }

    /// Stops the load, prints the scenario's line, and hands back the users and the tally.
    async fn finish(self, scenario: &str) -> (Vec<User>, Arc<Tally>) {
        self.stop.store(true, Ordering::SeqCst);
        let mut users = Vec::new();
        for w in self.workers {
            users.push(w.await.unwrap());
        }
        let t = &self.tally;
        println!(
            "rehearsal {scenario}: {} requests in {:.0} s, {} failures, {} unexpected answers, longest request {} ms",
            t.requests.load(Ordering::SeqCst),
            self.started.elapsed().as_secs_f64(),
            t.failures.lock().unwrap().len(),
            t.unexpected.lock().unwrap().len(),
            t.longest.lock().unwrap().as_millis()
        );
        for f in t.failures.lock().unwrap().iter().take(5) {
            println!("  failed: {f}");
        }
        for f in t.unexpected.lock().unwrap().iter().take(5) {
            println!("  unexpected: {f}");
        }
        (users, self.tally)
    }
}

/// One pass of the README's curl session: login (every `LOGIN_EVERY`th pass), create, list, get,
/// update, me, delete.
async fn session(
    http: &reqwest::Client,
    base: &str,
    user: &mut User,
    round: u64,
    tally: &Tally,
    pace: &tokio::sync::Mutex<tokio::time::Interval>,
) {
    if user.token.is_none() || round.is_multiple_of(LOGIN_EVERY) {
        let login = http
            .post(format!("{base}/auth/login"))
            .json(&json!({"username": user.username, "password": PASSWORD}));
        if let Some(b) = call(tally, pace, "login", login, 200).await {
            user.token = b["token"].as_str().map(str::to_string);
        }
    }
    let Some(token) = user.token.clone() else {
        return;
    };
    let bearer = format!("Bearer {token}");
    let create = http
        .post(format!("{base}/tasks"))
        .header("Authorization", &bearer)
        .json(&json!({"title": format!("rehearsal {round}"), "priority": "high"}));
    let Some(created) = call(tally, pace, "create", create, 201).await else {
        return;
    };
    let id = created["task"]["id"].as_i64().unwrap_or_default();
    let task = format!("{base}/tasks/{id}");
    let steps = [
        ("list", http.get(format!("{base}/tasks?limit=20")), 200),
        ("get", http.get(&task), 200),
        (
            "update",
            http.put(&task).json(&json!({"status": "in_progress"})),
            200,
        ),
        ("me", http.get(format!("{base}/auth/me")), 200),
        ("delete", http.delete(&task), 200),
    ];
    for (what, req, expect) in steps {
        call(
            tally,
            pace,
            what,
            req.header("Authorization", &bearer),
            expect,
        )
        .await;
    }
}

// --- the rehearsal ----------------------------------------------------------------------------------

/// The next release's migration, as its migration task would apply it: a table, a nullable
/// column, and its row in the migrations table this release's binaries do not know.
const NEXT_RELEASE_MIGRATION: &str = "
    CREATE TABLE rehearsal_next_release (id BIGSERIAL PRIMARY KEY, note TEXT);
    ALTER TABLE tasks ADD COLUMN rehearsal_next_note TEXT;
    INSERT INTO seaql_migrations (version, applied_at)
        VALUES ('m0099_rehearsal_next_release', extract(epoch from now())::bigint);
";

fn scenarios() -> String {
    std::env::var("REHEARSAL_SCENARIOS").unwrap_or_else(|_| "a,b,c,d,e,f".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs root (network namespaces, mounts, setpriv), HAProxy, PostgreSQL (TEST_DATABASE_URL) and cdk/cdk.out (bash .ci/cdk.sh) or cdk/node_modules; about 3 minutes: run with `--run-ignored all` (cargo nextest) or `-- --include-ignored` (cargo test)"]
async fn deployment_rehearsal_from_the_synthesized_templates() {
    // SAFETY: geteuid(2) has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "the rehearsal runs as root (CI does): it creates network namespaces and mounts"
    );
    let haproxy = std::process::Command::new("haproxy").arg("-v").output();
    assert!(
        haproxy.is_ok_and(|o| o.status.success()),
        "haproxy must be installed (Debian package haproxy; .ci/setup.sh installs it)"
    );
    let admin = postgres_admin_url().expect(
        "the rehearsal runs on PostgreSQL, as the cloud does: set TEST_DATABASE_URL \
         (e.g. postgres://postgres@127.0.0.1:5432/test)",
    );
    let dep = Deployment::read();
    let wanted = scenarios();
    let current = Release {
        name: "next",
        bin_dir: Path::new(&testkit::process::workspace_binary("auth"))
            .parent()
            .unwrap()
            .to_path_buf(),
    };
    let previous = Release {
        name: "previous",
        bin_dir: std::env::var_os("REHEARSAL_PREVIOUS_RELEASE")
            .map(PathBuf::from)
            .unwrap_or_else(|| current.bin_dir.clone()),
    };

    let dir = tempfile::tempdir().unwrap();
    // The task's user reads the hosts file through its bind mount.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let _bridge = Bridge::create();
    let moto = Moto::start();
    let db = TestDb::new(Backend::Postgres).await;
    let pg = url::Url::parse(&admin).expect("TEST_DATABASE_URL");
    let database = format!(
        "{}:{}",
        pg.host_str().unwrap_or("127.0.0.1"),
        pg.port().unwrap_or(5432)
    );
    let db_secret = json!({
        "engine": "postgres", "host": GATEWAY, "port": 5432,
        "username": if pg.username().is_empty() { "postgres" } else { pg.username() },
        "password": pg.password().unwrap_or("unused-with-trust"),
        "dbname": db.name.clone().unwrap(),
    });
    let db_arn = moto
        .create_secret("task-management/test/db", &db_secret.to_string())
        .await;
    let key_arn = moto
        .create_secret(
            "task-management/test/jwt-signing-key",
            &auth::app::signing_keys::generate_pem(),
        )
        .await;
    let emulator = moto.endpoint.trim_start_matches("http://").to_string();
    let proxy = Haproxy::start(&dep, dir.path(), &database, &emulator).await;
    let hosts = dir.path().join("hosts");
    let mut names = String::from("127.0.0.1 localhost\n");
    for name in dep.cloud_map.keys() {
        names += &format!("{GATEWAY} {name}\n");
    }
    std::fs::write(&hosts, names).unwrap();

    // Each container's environment, its secrets' ARNs those of the emulator; what Fargate adds
    // (the region) and what reaches the emulator (its endpoint and credentials) besides.
    let resolve = |c: &Container| -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = moto
            .env()
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "AWS_ENDPOINT_URL" => (k, format!("http://{GATEWAY}:4566")),
                _ => (k, v),
            })
            .collect();
        for (k, v) in &c.environment {
            let value = match v {
                Json::String(s) if k == "SHUTDOWN_TIMEOUT_SECS" => {
                    let secs: f64 = s.parse().expect("SHUTDOWN_TIMEOUT_SECS");
                    (secs * TIME_SCALE).ceil().to_string()
                }
                Json::String(s) => s.clone(),
                other => match secret_name(other).as_str() {
                    "DbSecretArn" => db_arn.clone(),
                    _ => key_arn.clone(),
                },
            };
            env.push((k.clone(), value));
        }
        env
    };
    let env: BTreeMap<String, Vec<(String, String)>> = dep
        .services
        .iter()
        .map(|s| (s.name.clone(), resolve(&s.container)))
        .collect();
    let migration_env = dep.migration.as_ref().map(resolve);
    let mut ecs = Ecs {
        tasks: dep
            .services
            .iter()
            .map(|s| (s.name.clone(), Vec::new()))
            .collect(),
        env,
        proxy,
        hosts,
        dir: dir.path().to_path_buf(),
        runs: 0,
        dep,
    };
    let base = format!("http://127.0.0.1:{}", ecs.proxy.port);
    let names: Vec<String> = ecs.dep.services.iter().map(|s| s.name.clone()).collect();
    let started = Instant::now();

    // a) First deploy on an empty database: the migration task, then each service.
    // Templates without a migration task (the CDK app before it had one): the first service's
    // container running `migrate` stands in for it.
    let (migration, migration_env) = match (ecs.dep.migration.clone(), migration_env) {
        (Some(m), Some(env)) => (m, env),
        _ => {
            let first = &ecs.dep.services[0];
            println!(
                "rehearsal a) the templates carry no migration task: `{} migrate` in {0}'s container stands in",
                first.name
            );
            let mut m = first.container.clone();
            m.command = vec!["migrate".into()];
            (m, ecs.env[&first.name].clone())
        }
    };
    let (ok, out) = ecs.run_once(&migration, &current, &migration_env).await;
    println!(
        "rehearsal a) migration task `{}`:\n{}",
        migration.command.join(" "),
        out.trim_end()
    );
    assert!(ok, "the migration task failed:\n{out}");
    for svc in &names {
        let desired = ecs.dep.service(svc).desired;
        ecs.launch_healthy(svc, &previous, desired).await;
    }
    let mut users = Vec::new();
    let stamp = format!(
        "{}{}",
        std::process::id(),
        started.elapsed().as_nanos() % 100_000
    );
    let http = reqwest::Client::new();
    for i in 0..USERS {
        let username = format!("rehearsal{stamp}u{i}");
        let r = http
            .post(format!("{base}/auth/register"))
            .json(&json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD}))
            .send()
            .await
            .expect("register through the load balancer");
        assert_eq!(r.status(), 201, "register: {}", r.text().await.unwrap());
        users.push(User {
            username,
            token: None,
        });
    }
    let load = Load::start(&base, users);
    tokio::time::sleep(scaled(30.0)).await;
    let (mut users, _) = load.finish("a) first deploy, all targets healthy").await;

    let mut results: Vec<(&str, Arc<Tally>)> = Vec::new();
    let mut migrated = false;
    macro_rules! scenario {
        ($key:literal, $title:literal, $body:expr) => {
            if wanted.split(',').any(|s| s.trim() == $key) {
                let load = Load::start(&base, std::mem::take(&mut users));
                $body;
                let (back, tally) = load.finish(concat!($key, ") ", $title)).await;
                users = back;
                results.push(($key, tally));
            }
        };
    }
    scenario!(
        "b",
        "rolling update to the next release (a table and a column)",
        {
            db.connect()
                .await
                .execute_unprepared(NEXT_RELEASE_MIGRATION)
                .await
                .expect("the next release's migration");
            migrated = true;
            for svc in &names {
                ecs.deploy(svc, &current).await;
            }
        }
    );
    scenario!(
        "c",
        "rollback to the previous release on the next schema",
        {
            if !migrated {
                db.connect()
                    .await
                    .execute_unprepared(NEXT_RELEASE_MIGRATION)
                    .await
                    .expect("the next release's migration");
            }
            for svc in &names {
                ecs.deploy(svc, &previous).await;
            }
        }
    );
    scenario!("d", "scale-out 2 -> 4 and back", {
        for svc in &names {
            let desired = ecs.dep.service(svc).desired;
            ecs.scale(svc, &previous, desired * 2).await;
            ecs.scale(svc, &previous, desired).await;
        }
    });
    scenario!("e", "Fargate Spot interruption of one task", {
        for svc in &names {
            ecs.interrupt(svc, &previous).await;
        }
    });
    scenario!("f", "a task whose health check fails is replaced", {
        let svc = names.last().unwrap().clone();
        ecs.break_health(&svc, &previous).await;
    });
    println!("rehearsal: {:.0} s in all", started.elapsed().as_secs_f64());
    drop(users);

    for (key, tally) in &results {
        let failures = tally.failures.lock().unwrap();
        let unexpected = tally.unexpected.lock().unwrap();
        assert!(
            failures.is_empty() && unexpected.is_empty(),
            "scenario {key}: {} failed requests, {} unexpected answers: {:?} {:?}",
            failures.len(),
            unexpected.len(),
            failures.iter().take(5).collect::<Vec<_>>(),
            unexpected.iter().take(5).collect::<Vec<_>>()
        );
    }
}
