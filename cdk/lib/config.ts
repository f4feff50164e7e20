// What differs between environments, and what every environment shares: the settings, and the
// names and constants more than one stack uses (each stack imports them from here, never from
// another stack).
//
// The shared service settings mirror the Copilot manifests (copilot/<svc>/manifest.yml); the
// Rust test tests/it/cdk_matches_copilot.rs compares the synthesized templates with them.

import { Aws } from 'aws-cdk-lib';

export const APP = 'task-management';

export type EnvName = 'dev' | 'test' | 'prod';
export const ENV_NAMES: readonly EnvName[] = ['dev', 'test', 'prod'];

export type Arch = 'x86_64' | 'arm64';

export type ServiceName = 'auth' | 'task';

/** A Fargate task size: CPU units (1024 = one vCPU) and MiB. */
export interface TaskSize {
  readonly cpu: number;
  readonly memoryMiB: number;
}

export interface EnvConfig {
  readonly name: EnvName;
  /** NAT gateways: 1 (shared by both AZs) or 2 (one per AZ). */
  readonly natGateways: number;
  /** Fargate task size per service (docs/capacity.md, "Task sizes", says why these). */
  readonly sizes: Record<ServiceName, TaskSize>;
  /** Aurora Serverless v2 capacity in ACU. */
  readonly dbMinAcu: number;
  readonly dbMaxAcu: number;
  /** A serverless reader in the second AZ (fail-over target). */
  readonly dbReader: boolean;
  /** Deletion protection, and a final snapshot (rather than deletion) when the stack goes. */
  readonly dbProtected: boolean;
  /** Secrets kept (RETAIN) when their stack is deleted or they are replaced. */
  readonly retainSecrets: boolean;
  /** A WAF web ACL in front of the load balancer unless `-c waf=false` (elsewhere: `-c waf=true`). */
  readonly waf: boolean;
  /** ALB access logs to an S3 bucket of their own. */
  readonly albAccessLogs: boolean;
  /** CloudWatch Logs retention of the services' log groups and the VPC flow log, in days. */
  readonly logRetentionDays: number;
  /**
   * ECS capacity provider strategy: `onDemandBase` tasks always on FARGATE, the rest split
   * FARGATE : FARGATE_SPOT as `onDemandWeight : spotWeight`.
   */
  readonly capacity: { readonly onDemandBase: number; readonly onDemandWeight: number; readonly spotWeight: number };
}

/** Every service's size where the measured load fits 0.25 vCPU (docs/capacity.md). */
const SMALL: TaskSize = { cpu: 256, memoryMiB: 512 };
/**
 * One on-demand task per service whatever Spot does, the rest 70 : 30 on demand : Spot (the
 * seeds' plan); a reclaim then takes at most the Spot share (docs/deploy.md, "Fargate Spot").
 */
const SPOT_SHARE = { onDemandWeight: 7, spotWeight: 3 };

export const ENVIRONMENTS: Record<EnvName, EnvConfig> = {
  dev: {
    name: 'dev',
    natGateways: 1,
    sizes: { auth: SMALL, task: SMALL },
    dbMinAcu: 0.5,
    dbMaxAcu: 2,
    dbReader: false,
    dbProtected: false,
    retainSecrets: false,
    waf: false,
    albAccessLogs: false,
    logRetentionDays: 7,
    capacity: { onDemandBase: 1, ...SPOT_SHARE },
  },
  test: {
    name: 'test',
    natGateways: 1,
    sizes: { auth: SMALL, task: SMALL },
    dbMinAcu: 0.5,
    dbMaxAcu: 4,
    dbReader: false,
    dbProtected: false,
    retainSecrets: false,
    waf: false,
    albAccessLogs: false,
    logRetentionDays: 30,
    capacity: { onDemandBase: 1, ...SPOT_SHARE },
  },
  prod: {
    name: 'prod',
    natGateways: 2,
    // Login is bcrypt-bound: half a vCPU doubles the logins a task answers before it scales out.
    sizes: { auth: { cpu: 512, memoryMiB: 1024 }, task: SMALL },
    dbMinAcu: 1,
    dbMaxAcu: 16,
    dbReader: true,
    dbProtected: true,
    retainSecrets: true,
    waf: true,
    albAccessLogs: true,
    logRetentionDays: 30,
    capacity: { onDemandBase: 2, ...SPOT_SHARE },
  },
};

/** Settings both services share in every environment (the Copilot manifests' values). */
export const SERVICE_DEFAULTS = {
  containerPort: 3000,
  /** The image's non-root user (flake.nix: User = "65534:65534"). */
  user: '65534',
  desiredCount: 2,
  minCapacity: 2,
  maxCapacity: 10,
  cpuTargetPercent: 70,
  memoryTargetPercent: 80,
  scaleOutCooldownSecs: 60,
  scaleInCooldownSecs: 300,
  /** Drain, then SIGTERM; the service's SHUTDOWN_TIMEOUT_SECS (20) fits inside. */
  deregistrationDelaySecs: 30,
  /** How long ECS waits after SIGTERM before it kills a container. */
  stopTimeoutSecs: 30,
  healthCheckGracePeriodSecs: 30,
  /** TTL of the service-discovery A records (auth's, which task resolves). */
  discoveryTtlSecs: 10,
  targetHealthCheck: {
    intervalSecs: 30,
    timeoutSecs: 5,
    healthyThreshold: 2,
    unhealthyThreshold: 3,
    healthyHttpCodes: '200',
  },
  containerHealthCheck: { intervalSecs: 15, timeoutSecs: 5, retries: 3, startPeriodSecs: 10 },
  /** DB_POOL_MAX × (10 auth + 10 task) = 100 of max_connections 200 (alarm at 160). */
  dbPoolMax: 5,
  dbMaxConnections: 200,
  /** A statement past it is cancelled by PostgreSQL and answered 503 with Retry-After. */
  dbStatementTimeoutMs: 5000,
} as const;


export interface ServiceSpec {
  readonly name: ServiceName;
  /** The path prefix the load balancer routes to it. */
  readonly path: string;
  readonly healthPath: string;
  readonly listenerPriority: number;
}

export const SERVICES: readonly ServiceSpec[] = [
  { name: 'auth', path: '/auth', healthPath: '/auth/health', listenerPriority: 10 },
  { name: 'task', path: '/tasks', healthPath: '/tasks/health', listenerPriority: 20 },
];

/** The plain settings each service is handed (the secrets' ARNs and AUTH_SERVICE_URL are added by the stack). */
export function plainEnvironment(service: ServiceName): Record<string, string> {
  const common: Record<string, string> = {
    APP_ENV: 'production',
    PORT: String(SERVICE_DEFAULTS.containerPort),
    LOG_FORMAT: 'json',
    RUST_LOG: 'info',
    SHUTDOWN_TIMEOUT_SECS: '20',
    // The load balancer appends the client's address to X-Forwarded-For: trust that one entry.
    TRUSTED_PROXY_HOPS: '1',
    DB_POOL_MAX: String(SERVICE_DEFAULTS.dbPoolMax),
    DB_STATEMENT_TIMEOUT_MS: String(SERVICE_DEFAULTS.dbStatementTimeoutMs),
    JWT_EXPIRATION: '3600',
    JWT_ISSUER: 'task-management',
    JWT_AUDIENCE: 'task-management-api',
  };
  return service === 'auth' ? { ...common, BCRYPT_COST: '10' } : common;
}

/** `${APP}-${env}-${suffix}`: fixed names (alarms, dashboard, secrets) as the Copilot addons have them. */
export function resourceName(env: EnvName, suffix: string): string {
  return `${APP}-${env}-${suffix}`;
}

/** The ECS cluster's fixed name (the dashboard searches by it). */
export function ecsClusterName(env: string): string {
  return `${APP}-${env}`;
}

/** The Cloud Map namespace: auth is `auth.<namespace>`, as Copilot names it. */
export function namespaceName(env: string): string {
  return `${env}.${APP}.local`;
}

/**
 * The task role name of service `svc`: fixed, so that the key's resource policy can name it
 * before the role exists, and region-qualified, since IAM names are global to the account and
 * the same environment may be deployed to a second region.
 */
export function taskRoleName(env: string, svc: string): string {
  return resourceName(env as EnvName, `${Aws.REGION}-${svc}-task-role`);
}

/** The database cluster's fixed identifier (the alarms and the dashboard name it). */
export function dbClusterIdentifier(env: string): string {
  return resourceName(env as EnvName, 'db');
}

/** The name both database secrets start with: `…/database` (owner) and `…/database-app`. */
export function DB_SECRET_NAME_PREFIX(env: string): string {
  return `task-management/${env}/database`;
}

/** The application role the services connect as (lambda/migration/app-role.sql creates it). */
export const APP_ROLE = 'taskapp';
export const DATABASE_NAME = 'taskmanagement';

/** The namespace and dimension of the services' Embedded Metric Format lines (platform/src/process/metrics.rs). */
export const EMF_NAMESPACE = 'TaskManagement';
export const EMF_DIMENSION = 'Service';
