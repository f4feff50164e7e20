// The app's command-line interface: `-c key=value` context values, checked before anything is built.
import { Arch, ENV_NAMES, ENVIRONMENTS, EnvConfig, EnvName } from './config';

export interface DeployInput {
  readonly env: EnvConfig;
  readonly authImage: string;
  readonly taskImage: string;
  readonly arch: Arch;
  /** Both or neither: pins the stacks to an account and region (otherwise environment-agnostic). */
  readonly account?: string;
  readonly region?: string;
  /** Both or neither (prod: required): HTTPS with the ACM certificate of `domain`, HTTP redirected. */
  readonly certificateArn?: string;
  readonly domain?: string;
  /** The only ranges the load balancer admits; absent: the whole internet. */
  readonly allowedCidrs?: readonly string[];
  /** A WAF web ACL in front of the load balancer. */
  readonly waf: boolean;
  /** Accounts that may pull the images (a second account's environment runs test's digests). */
  readonly pullAccounts: readonly string[];
  /** What the synth output must say about this deployment (a plain-HTTP listener open to all). */
  readonly warnings: readonly string[];
}

export const USAGE =
  'usage: npx cdk synth|deploy -c env=<dev|test|prod> -c authImage=<image URI> -c taskImage=<image URI> ' +
  '[-c arch=<x86_64|arm64>] [-c account=<id> -c region=<name>] ' +
  '[-c certificateArn=<ACM certificate ARN> -c domain=<DNS name>] (prod: required) ' +
  '[-c allowedCidrs=<CIDR,…>] [-c allowPublicHttp=true] [-c waf=<true|false>] [-c pullAccounts=<account id,…>]';

const CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/;
const ACCOUNT = /^\d{12}$/;

/** Reads and checks the context; throws an Error naming every missing or invalid value. */
export function parseContext(get: (key: string) => unknown): DeployInput {
  const str = (key: string): string | undefined => {
    const v = get(key);
    if (v === undefined || v === null) return undefined;
    const s = String(v).trim();
    return s === '' ? undefined : s;
  };
  const list = (key: string): string[] | undefined => str(key)?.split(',').map((x) => x.trim()).filter((x) => x !== '');
  const problems: string[] = [];
  const flag = (key: string): boolean | undefined => {
    const v = str(key);
    if (v === undefined) return undefined;
    if (v !== 'true' && v !== 'false') problems.push(`-c ${key}=${v} is not true or false`);
    return v === 'true';
  };
  const envName = str('env');
  if (envName === undefined) {
    problems.push('missing -c env=<dev|test|prod>');
  } else if (!(ENV_NAMES as readonly string[]).includes(envName)) {
    problems.push(`-c env=${envName} is not one of ${ENV_NAMES.join(', ')}`);
  }
  const authImage = str('authImage');
  const taskImage = str('taskImage');
  if (authImage === undefined) problems.push('missing -c authImage=<image URI> (nix run .#publish prints it)');
  if (taskImage === undefined) problems.push('missing -c taskImage=<image URI> (nix run .#publish prints it)');
  const arch = str('arch') ?? 'x86_64';
  if (arch !== 'x86_64' && arch !== 'arm64') problems.push(`-c arch=${arch} is not x86_64 or arm64`);
  const account = str('account');
  const region = str('region');
  if ((account === undefined) !== (region === undefined)) {
    problems.push('-c account and -c region go together (give both or neither)');
  }

  const certificateArn = str('certificateArn');
  const domain = str('domain');
  if (envName === 'prod') {
    if (certificateArn === undefined) problems.push('prod needs -c certificateArn=<ACM certificate ARN> (HTTPS listener)');
    if (domain === undefined) problems.push('prod needs -c domain=<DNS name the certificate covers>');
  } else if ((certificateArn === undefined) !== (domain === undefined)) {
    problems.push('-c certificateArn and -c domain go together (give both for HTTPS, or neither)');
  }
  if (certificateArn !== undefined && !/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/.+$/.test(certificateArn)) {
    problems.push(`-c certificateArn=${certificateArn} is not an ACM certificate ARN`);
  }
  const https = certificateArn !== undefined && domain !== undefined;

  const allowedCidrs = list('allowedCidrs');
  for (const c of allowedCidrs ?? []) if (!CIDR.test(c)) problems.push(`-c allowedCidrs: ${c} is not an IPv4 CIDR (a.b.c.d/n)`);
  if (allowedCidrs !== undefined && allowedCidrs.length === 0) problems.push('-c allowedCidrs is empty');
  const allowPublicHttp = flag('allowPublicHttp') ?? false;
  const warnings: string[] = [];
  if (!https && envName !== undefined && envName !== 'prod') {
    if (allowedCidrs === undefined && !allowPublicHttp) {
      problems.push(
        `${envName} without -c certificateArn and -c domain listens on plain HTTP: limit it with -c allowedCidrs=<CIDR,…>, ` +
          'or open it to the whole internet (passwords and tokens in clear text) with -c allowPublicHttp=true',
      );
    } else if (allowedCidrs === undefined) {
      warnings.push(`-c allowPublicHttp=true: ${envName}'s load balancer listens on plain HTTP to 0.0.0.0/0 (passwords and tokens in clear text)`);
    }
  }

  const pullAccounts = list('pullAccounts') ?? [];
  for (const a of pullAccounts) if (!ACCOUNT.test(a)) problems.push(`-c pullAccounts: ${a} is not a 12-digit account id`);
  const waf = flag('waf');

  if (problems.length > 0) {
    throw new Error(`task-management CDK app: ${problems.join('; ')}\n${USAGE}`);
  }
  const env = ENVIRONMENTS[envName as EnvName];
  return {
    env,
    authImage: authImage!,
    taskImage: taskImage!,
    arch: arch as Arch,
    account,
    region,
    certificateArn: https ? certificateArn : undefined,
    domain: https ? domain : undefined,
    allowedCidrs,
    waf: waf ?? env.waf,
    pullAccounts,
    warnings,
  };
}
