import * as fs from 'fs';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildStacks, TaskManagementStacks } from '../lib/app';
import { EnvName } from '../lib/config';
import { parseContext } from '../lib/context';

export const AUTH_IMAGE = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/task-management/auth@sha256:${'a'.repeat(64)}`;
export const TASK_IMAGE = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/task-management/task@sha256:${'b'.repeat(64)}`;
export const CERT = 'arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100';
export const DOMAIN = 'api.example.com';

/** The context every environment is synthesized with in CI (.ci/cdk.sh passes the same). */
export const EXPOSURE: Record<EnvName, Record<string, string>> = {
  dev: { allowedCidrs: '203.0.113.0/24' },
  test: { allowPublicHttp: 'true' },
  prod: { certificateArn: CERT, domain: DOMAIN },
};

export function contextFor(env: EnvName, extra: Record<string, string> = {}, opts: { exposure?: boolean } = {}): Record<string, string> {
  return {
    env,
    authImage: AUTH_IMAGE,
    taskImage: TASK_IMAGE,
    ...(opts.exposure === false ? {} : EXPOSURE[env]),
    ...extra,
  };
}

/** cdk.json's context (feature flags) under the given values, as the CLI hands it to the app. */
export function appContext(values: Record<string, string>): Record<string, unknown> {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'cdk.json'), 'utf8'));
  return { ...cdkJson.context, ...values };
}

export interface Built {
  readonly app: App;
  readonly stacks: TaskManagementStacks;
  readonly t: {
    network: Template;
    secrets: Template;
    database: Template;
    observability: Template;
    services: Template;
    registry: Template;
  };
}

const cache = new Map<string, Built>();

/** Builds (and synthesizes, running cdk-nag) the app as `cdk synth -c …` would. */
export function build(env: EnvName, extra: Record<string, string> = {}): Built {
  const key = JSON.stringify([env, extra]);
  const hit = cache.get(key);
  if (hit) return hit;
  const context = contextFor(env, extra);
  const app = new App({ context: appContext(context) });
  const stacks = buildStacks(app, parseContext((k) => app.node.tryGetContext(k)));
  app.synth(); // runs the policy-validation plugins (cdk-nag): throws on an unacknowledged finding
  const built: Built = {
    app,
    stacks,
    t: {
      network: Template.fromStack(stacks.network),
      secrets: Template.fromStack(stacks.secrets),
      database: Template.fromStack(stacks.database),
      observability: Template.fromStack(stacks.observability),
      services: Template.fromStack(stacks.services),
      registry: Template.fromStack(stacks.registry),
    },
  };
  cache.set(key, built);
  return built;
}

/** Resources of `type` in a template: [logical id, resource]. */
export function resources(t: Template, type: string): [string, any][] {
  return Object.entries(t.findResources(type));
}

/**
 * The logical id a `{Fn::GetAtt: [id, …]}` or `{Ref: id}` points at; for a cross-stack
 * reference (`Fn::ImportValue`, `Fn::GetStackOutput`) the export or `<stack>:<output>` it reads.
 */
export function refId(v: any): string {
  if (v && typeof v === 'object') {
    if (v['Fn::GetAtt']) return v['Fn::GetAtt'][0];
    if (v.Ref) return v.Ref;
    if (v['Fn::ImportValue']) return String(v['Fn::ImportValue']);
    if (v['Fn::GetStackOutput']) return `${v['Fn::GetStackOutput'].StackName}:${v['Fn::GetStackOutput'].OutputName}`;
  }
  return JSON.stringify(v);
}
