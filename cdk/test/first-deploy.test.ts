// The app read as CloudFormation executes it in a new account, at teardown, at the first
// rotation and months later: one test (or more) per trap, each named after what it guards.
import * as fs from 'fs';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { buildStacks } from '../lib/app';
import { ENV_NAMES, EnvName } from '../lib/config';
import { parseContext } from '../lib/context';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { appRoleStatements } = require('../lambda/migration/sql.js');
import { appContext, build, contextFor, refId, resources } from './helpers';

/** Every template of one synthesized app, by stack name. */
function templates(env: EnvName, extra: Record<string, string> = {}): Record<string, any> {
  const { stacks } = build(env, extra);
  return Object.fromEntries(Object.values(stacks).map((s) => [s.stackName, Template.fromStack(s).toJSON()]));
}

/** Every export ({Name}, value, producer) and where it is imported. */
function exportsWithConsumers(all: Record<string, any>): { name: string; producer: string; value: any; type: string; consumers: string[] }[] {
  const out = [];
  for (const [producer, t] of Object.entries(all)) {
    for (const [, o] of Object.entries<any>(t.Outputs ?? {})) {
      if (!o.Export) continue;
      const name = JSON.stringify(o.Export.Name);
      const consumers = Object.entries(all)
        .filter(([, c]) => JSON.stringify(c).includes(JSON.stringify({ 'Fn::ImportValue': o.Export.Name })))
        .map(([n]) => n);
      out.push({ name, producer, value: o.Value, type: t.Resources[refId(o.Value)]?.Type ?? '(not a resource)', consumers });
    }
  }
  return out;
}

describe('item 1: a new account’s first deploy', () => {
  test('item 1: the bootstrap step creates (or confirms) ECS’s service-linked role before the first cluster', () => {
    const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'deploy.md'), 'utf8');
    const bootstrap = doc.slice(doc.indexOf('### Step 2.'), doc.indexOf('### Step 3.'));
    expect(bootstrap).toMatch(/aws iam get-role --role-name AWSServiceRoleForECS[^\n]*\|\|[^\n]*aws iam create-service-linked-role --aws-service-name ecs\.amazonaws\.com/);
    expect(bootstrap).toMatch(/cdk bootstrap/);
  });
});

describe.each(ENV_NAMES)('%s', (env) => {
  const prod = env === 'prod';

  test('item 2: each ECS service DependsOn the cluster’s capacity-provider association (teardown order)', () => {
    const { t } = build(env);
    const [assoc] = resources(t.services, 'AWS::ECS::ClusterCapacityProviderAssociations');
    expect(assoc).toBeDefined();
    for (const [, s] of resources(t.services, 'AWS::ECS::Service')) expect(s.DependsOn ?? []).toContain(assoc[0]);
  });

  test('item 3: every rotation schedule DependsOn the writer instance', () => {
    const { t } = build(env);
    const writer = resources(t.database, 'AWS::RDS::DBInstance').find(([id]) => id.includes('writer'))!;
    const schedules = resources(t.database, 'AWS::SecretsManager::RotationSchedule');
    expect(schedules.length).toBeGreaterThan(0);
    for (const [, s] of schedules) expect(s.DependsOn ?? []).toContain(writer[0]);
  });

  test('item 3: a failed rotation of a database secret notifies the alarm topic', () => {
    const { t } = build(env);
    const [topicId] = resources(t.observability, 'AWS::SNS::Topic')[0];
    const rules = resources(t.observability, 'AWS::Events::Rule').filter(([, r]) =>
      JSON.stringify(r.Properties.EventPattern).includes('RotationFailed'),
    );
    expect(rules).toHaveLength(1);
    const p = rules[0][1].Properties;
    expect(p.EventPattern.source).toEqual(['aws.secretsmanager']);
    expect(p.EventPattern.detail.eventName).toEqual(['RotationFailed']);
    expect(JSON.stringify(p.EventPattern.detail)).toContain(`task-management/${env}/database`);
    expect(p.Targets.map((x: any) => refId(x.Arn))).toEqual([topicId]);
    const policy = resources(t.observability, 'AWS::SNS::TopicPolicy')[0][1].Properties.PolicyDocument.Statement;
    expect(policy.some((s: any) => s.Principal?.Service === 'events.amazonaws.com' && s.Action === 'sns:Publish')).toBe(true);
  });

  test('item 4: every remaining export, with its consumer: none is a security group, subnet or secret', () => {
    const listed = exportsWithConsumers(templates(env));
    const forbidden = ['AWS::EC2::SecurityGroup', 'AWS::EC2::Subnet', 'AWS::SecretsManager::Secret', 'AWS::EC2::VPC'];
    expect(listed.filter((e) => forbidden.includes(e.type))).toEqual([]);
    // The whole list, so that a new export is a decision (cdk/README.md, "Cross-stack references").
    expect(listed.map((e) => [e.producer, e.type, e.consumers])).toEqual([]);
    // Weak references keep the deploy order: each consumer still depends on its producers.
    const { stacks } = build(env);
    expect(stacks.services.dependencies.map((d) => d.stackName).sort()).toEqual(
      ['Database', 'Network', 'Observability', 'Secrets'].map((c) => `TaskManagement-${env}-${c}`),
    );
    expect(stacks.database.dependencies.map((d) => d.stackName)).toEqual([`TaskManagement-${env}-Network`]);
  });

  test('item 4: replacing a security group (changed description) changes no export a consumer imports', () => {
    const before = templates(env);
    const app = new App({ context: appContext(contextFor(env)) });
    const stacks = buildStacks(app, parseContext((k) => app.node.tryGetContext(k)));
    (stacks.network.albSg.node.defaultChild as ec2.CfnSecurityGroup).groupDescription = 'a description that forces a replacement';
    const after = Object.fromEntries(Object.values(stacks).map((s) => [s.stackName, Template.fromStack(s).toJSON()]));
    const network = `TaskManagement-${env}-Network`;
    const changed = Object.keys(after[network].Resources).filter(
      (id) => JSON.stringify(after[network].Resources[id]) !== JSON.stringify(before[network].Resources[id]),
    );
    expect(changed.length).toBeGreaterThan(0);
    const inUse = exportsWithConsumers(before).filter((e) => e.consumers.length > 0);
    const touched = inUse.filter((e) => changed.some((id) => JSON.stringify(e.value).includes(`"${id}"`)));
    expect(touched.map((e) => e.name)).toEqual([]);
    for (const e of inUse) {
      const o = Object.values<any>(after[e.producer].Outputs).find((x) => JSON.stringify(x.Export?.Name) === e.name);
      expect(o?.Value).toEqual(e.value);
    }
  });

  test('item 5: immutable tags; only untagged images expire, after some days', () => {
    const { t } = build(env);
    for (const [, r] of resources(t.registry, 'AWS::ECR::Repository')) {
      expect(r.Properties.ImageTagMutability).toBe('IMMUTABLE');
      const rules = JSON.parse(r.Properties.LifecyclePolicy.LifecyclePolicyText).rules;
      expect(rules.length).toBeGreaterThan(0);
      for (const rule of rules) {
        expect(rule.selection.tagStatus).toBe('untagged');
        expect(rule.selection.countType).toBe('sinceImagePushed');
        expect(rule.selection.countNumber).toBeGreaterThanOrEqual(7);
      }
    }
  });

  test(`item 6: the secrets are ${prod ? 'RETAINED in prod' : 'deleted with the stack'}`, () => {
    const { t } = build(env);
    const secrets = [...resources(t.secrets, 'AWS::SecretsManager::Secret'), ...resources(t.database, 'AWS::SecretsManager::Secret')];
    expect(secrets.length).toBeGreaterThanOrEqual(2);
    for (const [, s] of secrets) {
      expect(s.DeletionPolicy).toBe(prod ? 'Retain' : 'Delete');
      expect(s.UpdateReplacePolicy).toBe(prod ? 'Retain' : 'Delete');
    }
  });

  test('item 8: the services connect as the application role; only the migration step reads the owner secret', () => {
    const { t } = build(env);
    const owner = resources(t.database, 'AWS::SecretsManager::Secret').find(([, s]) => s.Properties.Name === `task-management/${env}/database`)!;
    const app = resources(t.database, 'AWS::SecretsManager::Secret').find(([, s]) => s.Properties.Name === `task-management/${env}/database-app`)!;
    expect(app).toBeDefined();
    expect(JSON.stringify(app[1].Properties.GenerateSecretString.SecretStringTemplate)).toContain('\\"username\\":\\"taskapp\\"');
    // The services read the secret through its attachment to the cluster (host, port, dbname added).
    const attachmentOf = (secretId: string) =>
      resources(t.database, 'AWS::SecretsManager::SecretTargetAttachment').find(([, a]) => refId(a.Properties.SecretId) === secretId)![0];
    for (const [, d] of resources(t.services, 'AWS::ECS::TaskDefinition')) {
      const dbSecret = d.Properties.ContainerDefinitions[0].Environment.find((e: any) => e.Name === 'DB_SECRET').Value;
      const migration = d.Properties.Family.endsWith('-migrate');
      expect(refId(dbSecret)).toBe(`TaskManagement-${env}-Database:${refId(dbSecret).split(':')[1]}`);
      expect(refId(dbSecret)).toContain(attachmentOf(migration ? owner[0] : app[0]));
    }
  });

  test('item 8: each database secret rotates, the application role’s multi-user with the owner secret', () => {
    const { t } = build(env);
    const schedules = resources(t.database, 'AWS::SecretsManager::RotationSchedule').map(([, s]) => s.Properties);
    expect(schedules.map((s) => s.HostedRotationLambda.RotationType).sort()).toEqual(['PostgreSQLMultiUser', 'PostgreSQLSingleUser']);
    const multi = schedules.find((s) => s.HostedRotationLambda.RotationType === 'PostgreSQLMultiUser')!;
    expect(multi.HostedRotationLambda.MasterSecretArn).toBeDefined();
  });

  test('item 9: alarms on ELB 5xx (a rollback alarm) and on no healthy target per target group', () => {
    const { t } = build(env);
    const alarms = resources(t.services, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const elb = alarms.find((a) => a.MetricName === 'HTTPCode_ELB_5XX_Count')!;
    expect(elb).toBeDefined();
    expect(elb.Namespace).toBe('AWS/ApplicationELB');
    const healthy = alarms.filter((a) => a.MetricName === 'HealthyHostCount');
    expect(healthy).toHaveLength(2);
    for (const a of healthy) {
      expect(a.ComparisonOperator).toBe('LessThanThreshold');
      expect(a.Threshold).toBe(1);
      expect(a.Dimensions.map((d: any) => d.Name).sort()).toEqual(['LoadBalancer', 'TargetGroup']);
    }
    for (const [, s] of resources(t.services, 'AWS::ECS::Service')) {
      expect(s.Properties.DeploymentConfiguration.Alarms.AlarmNames).toContain(elb.AlarmName);
    }
  });

  test(`item 9: ${prod ? 'prod’s load balancer logs to an encrypted, private, expiring bucket' : 'no access-log bucket outside prod'}`, () => {
    const { t } = build(env);
    const buckets = resources(t.services, 'AWS::S3::Bucket');
    const [, lb] = resources(t.services, 'AWS::ElasticLoadBalancingV2::LoadBalancer')[0];
    const attrs = Object.fromEntries(lb.Properties.LoadBalancerAttributes.map((a: any) => [a.Key, a.Value]));
    expect(buckets).toHaveLength(prod ? 1 : 0);
    expect(attrs['access_logs.s3.enabled']).toBe(prod ? 'true' : undefined);
  });

  test('item 10: at least one on-demand task per service (base), the rest FARGATE 70 : FARGATE_SPOT 30', () => {
    const { t } = build(env);
    for (const [, s] of resources(t.services, 'AWS::ECS::Service')) {
      const strategy = s.Properties.CapacityProviderStrategy;
      const fargate = strategy.find((x: any) => x.CapacityProvider === 'FARGATE');
      const spot = strategy.find((x: any) => x.CapacityProvider === 'FARGATE_SPOT');
      expect(fargate.Base).toBeGreaterThanOrEqual(1);
      expect(spot.Base ?? 0).toBe(0);
      expect(fargate.Weight / (fargate.Weight + spot.Weight)).toBeCloseTo(0.7);
    }
  });

  test('item 11: no fixed IAM role name (each is region-qualified)', () => {
    for (const t of Object.values(templates(env))) {
      for (const [, r] of Object.entries<any>(t.Resources).filter(([, r]) => r.Type === 'AWS::IAM::Role')) {
        if (r.Properties.RoleName === undefined) continue;
        expect(JSON.stringify(r.Properties.RoleName)).toContain('{"Ref":"AWS::Region"}');
      }
    }
  });
});

describe('item 7: exposure', () => {
  const parse = (ctx: Record<string, string>) => () => parseContext((k) => ctx[k]);

  test.each(['dev', 'test'] as const)('item 7: %s refuses an internet-wide plain-HTTP listener unless -c allowPublicHttp=true', (env) => {
    expect(parse(contextFor(env, {}, { exposure: false }))).toThrow(/-c allowedCidrs=.*-c allowPublicHttp=true/s);
    expect(parse(contextFor(env, { allowPublicHttp: 'true' }, { exposure: false }))).not.toThrow();
    // …and the synth says so (bin/app.ts prints each warning).
    expect(parseContext((k) => contextFor(env, { allowPublicHttp: 'true' }, { exposure: false })[k]).warnings).toEqual([
      expect.stringMatching(/^-c allowPublicHttp=true: .*plain HTTP to 0\.0\.0\.0\/0/),
    ]);
    expect(parseContext((k) => contextFor(env, { allowedCidrs: '203.0.113.0/24' }, { exposure: false })[k]).warnings).toEqual([]);
    expect(parse(contextFor(env, { allowedCidrs: '203.0.113.0/24' }, { exposure: false }))).not.toThrow();
    expect(parse(contextFor(env, { allowedCidrs: 'not-a-cidr' }, { exposure: false }))).toThrow(/allowedCidrs/);
  });

  test('item 7: with -c allowedCidrs the load balancer admits only those ranges, on HTTP', () => {
    const { t } = build('dev', { allowedCidrs: '203.0.113.0/24,198.51.100.7/32' });
    const [, sg] = resources(t.network, 'AWS::EC2::SecurityGroup').find(([id]) => id.startsWith('Alb'))!;
    const cidrs = sg.Properties.SecurityGroupIngress.map((r: any) => [r.CidrIp, r.FromPort]).sort();
    expect(cidrs).toEqual([['198.51.100.7/32', 80], ['203.0.113.0/24', 80]]);
  });

  test.each(['dev', 'test'] as const)('item 7: %s given -c certificateArn -c domain listens on HTTPS (HTTP only redirects)', (env) => {
    const { t } = build(env, { certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100', domain: 'test.example.com' });
    const listeners = resources(t.services, 'AWS::ElasticLoadBalancingV2::Listener').map(([, l]) => l.Properties);
    expect(listeners.map((l) => [l.Port, l.Protocol]).sort()).toEqual([[443, 'HTTPS'], [80, 'HTTP']]);
    expect(listeners.find((l) => l.Port === 80)!.DefaultActions[0].Type).toBe('redirect');
  });

  test('item 7: a WAF web ACL in prod (AWS managed common rules, a rate-based rule on /auth/), associated with the load balancer', () => {
    const { t } = build('prod');
    const [aclId, acl] = resources(t.services, 'AWS::WAFv2::WebACL')[0];
    expect(acl.Properties.Scope).toBe('REGIONAL');
    const rules = acl.Properties.Rules;
    expect(rules.some((r: any) => r.Statement.ManagedRuleGroupStatement?.Name === 'AWSManagedRulesCommonRuleSet')).toBe(true);
    const rate = rules.find((r: any) => r.Statement.RateBasedStatement)!;
    expect(JSON.stringify(rate.Statement.RateBasedStatement.ScopeDownStatement)).toContain('/auth/');
    const [, assoc] = resources(t.services, 'AWS::WAFv2::WebACLAssociation')[0];
    expect(refId(assoc.Properties.WebACLArn)).toBe(aclId);
  });

  test('item 7: optional elsewhere: -c waf=true', () => {
    expect(resources(build('test').t.services, 'AWS::WAFv2::WebACL')).toHaveLength(0);
    expect(resources(build('test', { waf: 'true' }).t.services, 'AWS::WAFv2::WebACL')).toHaveLength(1);
  });
});

test('item 8: the application role’s grants, read from the statements that create it: DML on tables, nothing else', () => {
  const statements: string[] = appRoleStatements('taskapp', 'a-generated-password-of-some-length');
  const grants = statements.filter((s) => /^\s*(GRANT|ALTER DEFAULT PRIVILEGES)/i.test(s));
  const privileges = grants.map((s) => /GRANT (.+?) ON (ALL TABLES|ALL SEQUENCES|TABLES|SEQUENCES|SCHEMA)/i.exec(s)!.slice(1, 3).join(' on '));
  expect([...new Set(privileges)].sort()).toEqual([
    'SELECT, INSERT, UPDATE, DELETE on ALL TABLES',
    'SELECT, INSERT, UPDATE, DELETE on TABLES',
    'USAGE on SCHEMA',
    'USAGE, SELECT on ALL SEQUENCES',
    'USAGE, SELECT on SEQUENCES',
  ]);
  const all = statements.join('\n');
  expect(all).toMatch(/CREATE ROLE taskapp LOGIN PASSWORD '/);
  expect(all).toMatch(/ALTER ROLE taskapp NOCREATEDB NOCREATEROLE;/);
  expect(all).not.toMatch(/\b(SUPERUSER|CREATEDB|CREATEROLE|BYPASSRLS|REPLICATION)\b(?<!NO\w+)/);
  expect(all).not.toMatch(/GRANT (ALL|CREATE|TRUNCATE|REFERENCES|TRIGGER)/i);
  expect(all).not.toMatch(/WITH (GRANT|ADMIN) OPTION/i);
  expect(all).toMatch(/REVOKE INSERT, UPDATE, DELETE ON public\.seaql_migrations FROM taskapp/);
});

test('item 9: prod’s access-log bucket is encrypted, private and expiring', () => {
  const { t } = build('prod');
  const buckets = resources(t.services, 'AWS::S3::Bucket');
  const [, lb] = resources(t.services, 'AWS::ElasticLoadBalancingV2::LoadBalancer')[0];
  const attrs = Object.fromEntries(lb.Properties.LoadBalancerAttributes.map((a: any) => [a.Key, a.Value]));
  const [bucketId, bucket] = buckets[0];
  expect(refId(attrs['access_logs.s3.bucket'])).toBe(bucketId);
  const p = bucket.Properties;
  expect(p.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
  expect(p.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
  expect(p.LifecycleConfiguration.Rules.some((r: any) => r.Status === 'Enabled' && r.ExpirationInDays > 0)).toBe(true);
  const policy = resources(t.services, 'AWS::S3::BucketPolicy')[0][1].Properties.PolicyDocument.Statement;
  expect(policy.some((s: any) => s.Principal?.Service === 'logdelivery.elasticloadbalancing.amazonaws.com' && s.Action === 's3:PutObject')).toBe(true);
  expect(policy.some((s: any) => s.Effect === 'Deny' && JSON.stringify(s.Condition).includes('aws:SecureTransport'))).toBe(true);
});

test('item 11: -c pullAccounts lets those accounts pull from both repositories, nothing more', () => {
  const { t } = build('test', { pullAccounts: '111111111111,222222222222' });
  for (const [, r] of resources(t.registry, 'AWS::ECR::Repository')) {
    const [statement] = r.Properties.RepositoryPolicyText.Statement;
    expect(statement.Effect).toBe('Allow');
    expect([statement.Action].flat().sort()).toEqual(['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer']);
    expect(JSON.stringify(statement.Principal)).toContain('111111111111');
    expect(JSON.stringify(statement.Principal)).toContain('222222222222');
  }
  expect(resources(build('test').t.registry, 'AWS::ECR::Repository').every(([, r]) => r.Properties.RepositoryPolicyText === undefined)).toBe(true);
});
