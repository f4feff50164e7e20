// Contract tests: properties of the whole deployment rather than of one resource, plus the
// command-line interface and the cdk-nag gate.
import { App, Stack } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Validations } from 'aws-cdk-lib';
import { ENV_NAMES } from '../lib/config';
import { parseContext } from '../lib/context';
import { AUTH_IMAGE, TASK_IMAGE, build, contextFor, resources } from './helpers';

/** Every ingress rule of the network stack (inline and separate): [group id, rule]. */
function ingress(env: (typeof ENV_NAMES)[number]): [string, any][] {
  const { t } = build(env);
  const rules: [string, any][] = [];
  for (const [id, sg] of resources(t.network, 'AWS::EC2::SecurityGroup')) {
    for (const r of sg.Properties.SecurityGroupIngress ?? []) rules.push([id, r]);
  }
  for (const [, r] of resources(t.network, 'AWS::EC2::SecurityGroupIngress')) rules.push([r.Properties.GroupId['Fn::GetAtt'][0], r.Properties]);
  return rules;
}

const source = (r: any) => r.SourceSecurityGroupId?.['Fn::GetAtt']?.[0] ?? r.CidrIp ?? r.CidrIpv6;
const prefixOf = (id: string) => id.replace(/SecurityGroup.*$/, '');

describe.each(ENV_NAMES)('%s contract', (env) => {
  // dev: -c allowedCidrs (nothing open to the world); test: -c allowPublicHttp=true (HTTP only);
  // prod: HTTPS (80 only redirects). helpers.ts EXPOSURE, as .ci/cdk.sh synthesizes them.
  const open: Record<string, [string, number, number][]> = { dev: [], test: [['Alb', 80, 80]], prod: [['Alb', 443, 443], ['Alb', 80, 80]] };
  test(`no security group is open to the world except the load balancer on ${open[env].map((r) => r[1]).join(' and ') || 'no port'}`, () => {
    const world = ingress(env).filter(([, r]) => r.CidrIp === '0.0.0.0/0' || r.CidrIpv6 === '::/0');
    expect(world.map(([g, r]) => [prefixOf(g), r.FromPort, r.ToPort]).sort()).toEqual(open[env]);
    // and no CIDR-based rule anywhere else
    for (const [g, r] of ingress(env)) if (r.CidrIp || r.CidrIpv6) expect(prefixOf(g)).toBe('Alb');
    // nothing else in any stack adds ingress
    const { t } = build(env);
    for (const tpl of [t.secrets, t.database, t.observability, t.services, t.registry]) {
      expect(resources(tpl, 'AWS::EC2::SecurityGroupIngress')).toHaveLength(0);
      expect(resources(tpl, 'AWS::EC2::SecurityGroup')).toHaveLength(0);
    }
  });

  test('the database is reachable on 5432 only from the two services (and its rotation function)', () => {
    const db = ingress(env).filter(([g]) => prefixOf(g) === 'Database');
    expect(db.map(([, r]) => [prefixOf(source(r)), r.IpProtocol, r.FromPort, r.ToPort]).sort()).toEqual([
      ['Auth', 'tcp', 5432, 5432],
      ['DbRotation', 'tcp', 5432, 5432],
      ['Task', 'tcp', 5432, 5432],
    ]);
    const { t } = build(env);
    const [, cluster] = resources(t.database, 'AWS::RDS::DBCluster')[0];
    expect(cluster.Properties.VpcSecurityGroupIds).toHaveLength(1);
    expect(JSON.stringify(cluster.Properties.VpcSecurityGroupIds)).toMatch(/DatabaseSecurityGroup/);
  });

  test('the services are reachable only from the load balancer on 3000 (auth also from task)', () => {
    const rules = ingress(env).filter(([g]) => ['Auth', 'Task'].includes(prefixOf(g)));
    expect(rules.map(([g, r]) => [prefixOf(g), prefixOf(source(r)), r.FromPort, r.ToPort]).sort()).toEqual([
      ['Auth', 'Alb', 3000, 3000],
      ['Auth', 'Task', 3000, 3000],
      ['Task', 'Alb', 3000, 3000],
    ]);
    ingress(env)
      .filter(([g]) => prefixOf(g) === 'DbRotation')
      .forEach(() => {
        throw new Error('the rotation function takes no inbound traffic');
      });
  });

  test('cdk-nag AwsSolutions: synth passes, so nothing is unacknowledged; every acknowledgement has a reason', () => {
    const { app } = build(env); // build() synthesizes: it throws on a finding
    let count = 0;
    for (const c of app.node.findAll()) {
      for (const m of c.node.metadata) {
        if (m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY) {
          for (const [id, reason] of Object.entries(m.data as Record<string, string>)) {
            if (!id.includes('AwsSolutions-')) continue; // CDK's own acknowledgements (CloudFormation-Validate::…)
            count++;
            expect(String(reason).length).toBeGreaterThan(40);
          }
        }
      }
    }
    expect(count).toBeGreaterThan(0);
  });
});

test('cdk-nag fails the synth on an unacknowledged finding', () => {
  const app = new App();
  const stack = new Stack(app, 'Nagged');
  new sns.Topic(stack, 'PlainTopic'); // AwsSolutions-SNS2 and SNS3
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  expect(() => app.synth()).toThrow();
});

describe('the command line', () => {
  const parse = (ctx: Record<string, string>) => () => parseContext((k) => ctx[k]);

  test('prod without certificateArn and domain is refused, naming both', () => {
    const ctx = contextFor('prod');
    delete ctx.certificateArn;
    delete ctx.domain;
    expect(parse(ctx)).toThrow(/prod needs -c certificateArn=.*prod needs -c domain=/s);
    const noDomain = contextFor('prod');
    delete noDomain.domain;
    expect(parse(noDomain)).toThrow(/-c domain=/);
    expect(parse(noDomain)).not.toThrow(/prod needs -c certificateArn/);
  });

  test('missing env or images are named', () => {
    expect(parse({})).toThrow(/missing -c env=.*missing -c authImage=.*missing -c taskImage=/s);
    expect(parse({ env: 'staging', authImage: AUTH_IMAGE, taskImage: TASK_IMAGE })).toThrow(/env=staging is not one of dev, test, prod/);
    expect(parse({ env: 'test', authImage: AUTH_IMAGE, taskImage: TASK_IMAGE, arch: 'x86' })).toThrow(/arch=x86/);
    expect(parse({ env: 'test', authImage: AUTH_IMAGE, taskImage: TASK_IMAGE, account: '123456789012' })).toThrow(/account and -c region go together/);
  });

  test('the default architecture is x86_64; account and region pin the stacks', () => {
    expect(parseContext((k) => contextFor('test')[k]).arch).toBe('x86_64');
    const { stacks } = build('test', { account: '123456789012', region: 'eu-west-1' });
    expect(stacks.services.account).toBe('123456789012');
    expect(stacks.services.region).toBe('eu-west-1');
  });

  test('environment-agnostic without account/region (synth needs no credentials or lookups)', () => {
    const { stacks, app } = build('test');
    expect(stacks.network.account).toMatch(/^\$\{Token/);
    // no context lookups were attempted (they would leave missing-context entries)
    expect(app.synth().manifest.missing ?? []).toHaveLength(0);
  });
});
