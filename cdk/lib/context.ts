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
  /** prod only (required there): the ACM certificate of `domain`, for the HTTPS listener. */
  readonly certificateArn?: string;
  readonly domain?: string;
}

export const USAGE =
  'usage: npx cdk synth|deploy -c env=<dev|test|prod> -c authImage=<image URI> -c taskImage=<image URI> ' +
  '[-c arch=<x86_64|arm64>] [-c account=<id> -c region=<name>] ' +
  '(prod also: -c certificateArn=<ACM certificate ARN> -c domain=<DNS name>)';

/** Reads and checks the context; throws an Error naming every missing or invalid value. */
export function parseContext(get: (key: string) => unknown): DeployInput {
  const str = (key: string): string | undefined => {
    const v = get(key);
    if (v === undefined || v === null) return undefined;
    const s = String(v).trim();
    return s === '' ? undefined : s;
  };
  const problems: string[] = [];
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
    else if (!/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/.+$/.test(certificateArn)) {
      problems.push(`-c certificateArn=${certificateArn} is not an ACM certificate ARN`);
    }
    if (domain === undefined) problems.push('prod needs -c domain=<DNS name the certificate covers>');
  }
  if (problems.length > 0) {
    throw new Error(`task-management CDK app: ${problems.join('; ')}\n${USAGE}`);
  }
  return {
    env: ENVIRONMENTS[envName as EnvName],
    authImage: authImage!,
    taskImage: taskImage!,
    arch: arch as Arch,
    account,
    region,
    certificateArn: envName === 'prod' ? certificateArn : undefined,
    domain: envName === 'prod' ? domain : undefined,
  };
}
