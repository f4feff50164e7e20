// Every deployment rule (docs/deploy.md, "What it creates"), asserted on the synthesized
// templates of dev, test and prod.
import { Match } from 'aws-cdk-lib/assertions';
import { ENV_NAMES, ENVIRONMENTS, SERVICE_DEFAULTS, plainEnvironment } from '../lib/config';
import { build, resources, refId } from './helpers';

const SECRET_ENV = { auth: ['DB_SECRET', 'JWT_SIGNING_KEY_SECRET'], task: ['DB_SECRET'] };

describe.each(ENV_NAMES)('%s', (env) => {
  const config = ENVIRONMENTS[env];
  const prod = env === 'prod';

  describe('network', () => {
    test('a VPC over two AZs with public, private-egress and isolated subnets', () => {
      const { t } = build(env);
      t.network.resourceCountIs('AWS::EC2::VPC', 1);
      const subnets = resources(t.network, 'AWS::EC2::Subnet');
      expect(subnets).toHaveLength(6);
      const kinds = subnets.map(([, s]) => s.Properties.Tags.find((x: any) => x.Key === 'aws-cdk:subnet-type').Value).sort();
      expect(kinds).toEqual(['Isolated', 'Isolated', 'Private', 'Private', 'Public', 'Public']);
      for (const [, s] of subnets) expect(s.Properties.MapPublicIpOnLaunch).toBe(false);
      const azs = new Set(subnets.map(([, s]) => JSON.stringify(s.Properties.AvailabilityZone)));
      expect(azs.size).toBe(2);
    });

    test(`${config.natGateways} NAT gateway(s)`, () => {
      const { t } = build(env);
      t.network.resourceCountIs('AWS::EC2::NatGateway', prod ? 2 : 1);
    });
  });

  describe('database', () => {
    test('Aurora Serverless v2 PostgreSQL, encrypted, in the isolated subnets, capacity from the config', () => {
      const { t, stacks } = build(env);
      t.database.hasResourceProperties('AWS::RDS::DBCluster', {
        Engine: 'aurora-postgresql',
        StorageEncrypted: true,
        Port: 5432,
        DatabaseName: 'taskmanagement',
        ServerlessV2ScalingConfiguration: { MinCapacity: config.dbMinAcu, MaxCapacity: config.dbMaxAcu },
        DeletionProtection: config.dbProtected,
        BackupRetentionPeriod: 7,
      });
      const instances = resources(t.database, 'AWS::RDS::DBInstance');
      expect(instances).toHaveLength(config.dbReader ? 2 : 1);
      for (const [, i] of instances) {
        expect(i.Properties.DBInstanceClass).toBe('db.serverless');
        expect(i.Properties.PubliclyAccessible).toBe(false);
      }
      const [, group] = resources(t.database, 'AWS::RDS::DBSubnetGroup')[0];
      const isolated = stacks.network.vpc.isolatedSubnets.map((s) => stacks.network.resolve(s.subnetId).Ref);
      const used = group.Properties.SubnetIds.map((v: any) => refId(v));
      expect(used).toHaveLength(2);
      for (const id of isolated) expect(used.some((u: string) => u.includes(id))).toBe(true);
      t.database.hasResourceProperties('AWS::RDS::DBParameterGroup', { Parameters: { max_connections: '200' } });
      t.database.hasResourceProperties('AWS::RDS::DBClusterParameterGroup', { Parameters: { 'rds.force_ssl': '1' } });
    });

    test(prod ? 'deletion protection and a snapshot on stack deletion' : 'no deletion protection, deleted with the stack', () => {
      const { t } = build(env);
      const [, cluster] = resources(t.database, 'AWS::RDS::DBCluster')[0];
      expect(cluster.DeletionPolicy).toBe(prod ? 'Snapshot' : 'Delete');
      expect(cluster.UpdateReplacePolicy).toBe(prod ? 'Snapshot' : 'Delete');
    });

    test('credentials generated into Secrets Manager and rotated every 30 days', () => {
      const { t } = build(env);
      t.database.hasResourceProperties('AWS::SecretsManager::Secret', {
        Name: `task-management/${env}/database`,
        GenerateSecretString: Match.objectLike({ GenerateStringKey: 'password', SecretStringTemplate: '{"username":"taskadmin"}' }),
      });
      t.database.resourceCountIs('AWS::SecretsManager::SecretTargetAttachment', 2); // owner and application role
      t.database.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
        HostedRotationLambda: Match.objectLike({ RotationType: 'PostgreSQLSingleUser' }),
        RotationRules: { ScheduleExpression: 'rate(30 days)' },
      });
    });
  });

  describe('secrets', () => {
    test('the JWT signing-key secret is created empty and only auth’s task role may read it', () => {
      const { t } = build(env);
      const [, secret] = resources(t.secrets, 'AWS::SecretsManager::Secret')[0];
      expect(secret.Properties.Name).toBe(`task-management/${env}/jwt-signing-key`);
      expect(secret.Properties.GenerateSecretString).toBeUndefined();
      expect(secret.Properties.SecretString).toBeUndefined();
      const [, policy] = resources(t.secrets, 'AWS::SecretsManager::ResourcePolicy')[0];
      const [deny] = policy.Properties.ResourcePolicy.Statement;
      expect(deny.Effect).toBe('Deny');
      expect(deny.Action).toBe('secretsmanager:GetSecretValue');
      const admitted = JSON.stringify(deny.Condition.ArnNotEquals['aws:PrincipalArn']);
      expect(admitted).toContain(`:role/task-management-${env}-`);
      expect(admitted).toContain('-auth-task-role');
    });

    test('each task role may read exactly the secrets its service reads', () => {
      const { t } = build(env);
      const roles = resources(t.services, 'AWS::IAM::Role');
      const policies = resources(t.services, 'AWS::IAM::Policy');
      for (const svc of ['auth', 'task'] as const) {
        const [roleId] = roles.find(([, r]) => JSON.stringify(r.Properties.RoleName ?? '').includes(`-${svc}-task-role`))!;
        const statements = policies
          .filter(([, p]) => p.Properties.Roles.some((r: any) => r.Ref === roleId))
          .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
        expect(statements).toHaveLength(1);
        expect(statements[0].Action).toBe('secretsmanager:GetSecretValue');
        const granted = [statements[0].Resource].flat().map((r: any) => (refId(r).includes('JwtSigningKey') ? 'JWT_SIGNING_KEY_SECRET' : 'DB_SECRET'));
        expect(granted.sort()).toEqual([...SECRET_ENV[svc]].sort());
      }
      // Besides them only the migration step reads a secret (the owner's: migration.test.ts);
      // the execution roles pull images and write logs only.
      const readers = policies
        .filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes('secretsmanager:'))
        .map(([, p]) => refId(p.Properties.Roles[0]));
      const migrationReaders = readers.filter((r) => r.startsWith('Migration'));
      expect(readers.length - migrationReaders.length).toBe(2);
    });
  });

  describe('cluster and services', () => {
    test('a cluster with Container Insights and the Fargate capacity providers', () => {
      const { t } = build(env);
      t.services.hasResourceProperties('AWS::ECS::Cluster', {
        ClusterName: `task-management-${env}`,
        ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
      });
      t.services.hasResourceProperties('AWS::ECS::ClusterCapacityProviderAssociations', {
        CapacityProviders: Match.arrayWith(['FARGATE', 'FARGATE_SPOT']),
      });
    });

    test(prod ? 'the desired count on demand (base), Spot only for a share of the scale-out' : 'an on-demand base, Fargate Spot as a weighted share', () => {
      const { t } = build(env);
      for (const [, s] of resources(t.services, 'AWS::ECS::Service')) {
        const strategy = s.Properties.CapacityProviderStrategy;
        const fargate = strategy.find((x: any) => x.CapacityProvider === 'FARGATE');
        const spot = strategy.find((x: any) => x.CapacityProvider === 'FARGATE_SPOT');
        expect(fargate.Base).toBe(config.capacity.onDemandBase);
        if (prod) expect(fargate.Base).toBeGreaterThanOrEqual(SERVICE_DEFAULTS.desiredCount);
        expect(spot.Weight).toBe(config.capacity.spotWeight);
      }
    });

    test('two services: desired 2, private subnets, no public IP, circuit breaker with rollback, rollback alarms', () => {
      const { t } = build(env);
      const services = resources(t.services, 'AWS::ECS::Service');
      expect(services).toHaveLength(2);
      for (const [, s] of services) {
        const p = s.Properties;
        expect(p.DesiredCount).toBe(2);
        expect(p.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp).toBe('DISABLED');
        for (const subnet of p.NetworkConfiguration.AwsvpcConfiguration.Subnets) expect(refId(subnet)).toMatch(/privateSubnet/);
        expect(p.DeploymentConfiguration.DeploymentCircuitBreaker).toEqual({ Enable: true, Rollback: true });
        expect(p.DeploymentConfiguration.Alarms.Enable).toBe(true);
        expect(p.DeploymentConfiguration.Alarms.Rollback).toBe(true);
        expect(p.HealthCheckGracePeriodSeconds).toBe(30);
        expect(p.EnableExecuteCommand).toBe(false);
      }
      const alarmNames = services.map(([, s]) => s.Properties.DeploymentConfiguration.Alarms.AlarmNames).flat().sort();
      expect(alarmNames).toEqual(
        ['auth-error-rate', 'auth-target-5xx', 'elb-5xx', 'elb-5xx', 'task-error-rate', 'task-target-5xx'].map((n) => `task-management-${env}-${n}`),
      );
      const created = resources(t.services, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties.AlarmName);
      for (const n of alarmNames) expect(created).toContain(n);
    });

    test('autoscaling 2–10 on 70 % CPU (out 60 s, in 300 s) and on memory', () => {
      const { t } = build(env);
      const targets = resources(t.services, 'AWS::ApplicationAutoScaling::ScalableTarget');
      expect(targets).toHaveLength(2);
      for (const [, target] of targets) {
        expect(target.Properties.MinCapacity).toBe(2);
        expect(target.Properties.MaxCapacity).toBe(10);
      }
      const policies = resources(t.services, 'AWS::ApplicationAutoScaling::ScalingPolicy').map(([, p]) => p.Properties.TargetTrackingScalingPolicyConfiguration);
      const cpu = policies.filter((c) => c.PredefinedMetricSpecification.PredefinedMetricType === 'ECSServiceAverageCPUUtilization');
      const memory = policies.filter((c) => c.PredefinedMetricSpecification.PredefinedMetricType === 'ECSServiceAverageMemoryUtilization');
      expect(cpu).toHaveLength(2);
      expect(memory).toHaveLength(2);
      for (const c of cpu) {
        expect(c.TargetValue).toBe(70);
        expect(c.ScaleOutCooldown).toBe(60);
        expect(c.ScaleInCooldown).toBe(300);
      }
    });

    test.each(['auth', 'task'] as const)('%s container: port 3000, user 65534, read-only root, exec health check, awslogs, its environment', (svc) => {
      const { t } = build(env);
      const defs = resources(t.services, 'AWS::ECS::TaskDefinition').filter(([, d]) => d.Properties.Family === `task-management-${env}-${svc}`);
      expect(defs).toHaveLength(1);
      const td = defs[0][1].Properties;
      expect(td.Cpu).toBe(String(config.sizes[svc].cpu));
      expect(td.Memory).toBe(String(config.sizes[svc].memoryMiB));
      expect(td.RequiresCompatibilities).toEqual(['FARGATE']);
      expect(td.RuntimePlatform).toEqual({ CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' });
      const [c] = td.ContainerDefinitions;
      expect(c.PortMappings.map((p: any) => p.ContainerPort)).toEqual([3000]);
      expect(c.User).toBe('65534');
      expect(c.ReadonlyRootFilesystem).toBe(true);
      expect(c.HealthCheck.Command).toEqual(['CMD', `/bin/${svc}`, 'healthcheck']);
      expect(c.LogConfiguration.LogDriver).toBe('awslogs');
      expect(c.Secrets).toBeUndefined(); // ARNs in the environment, read at run time; never values
      const envVars: Record<string, any> = Object.fromEntries(c.Environment.map((e: any) => [e.Name, e.Value]));
      const expected = [...Object.keys(plainEnvironment(svc)), ...SECRET_ENV[svc], ...(svc === 'task' ? ['AUTH_SERVICE_URL'] : [])];
      expect(Object.keys(envVars).sort()).toEqual(expected.sort());
      expect(envVars.APP_ENV).toBe('production');
      expect(envVars.TRUSTED_PROXY_HOPS).toBe('1');
      expect(envVars.DB_POOL_MAX).toBe('5');
      for (const k of SECRET_ENV[svc]) expect(refId(envVars[k])).toMatch(k === 'DB_SECRET' ? /Database:.*AppSecretAttachment/ : /Secrets:.*JwtSigningKey/);
      if (svc === 'task') expect(envVars.AUTH_SERVICE_URL).toBe(`http://auth.${env}.task-management.local:3000`);
      if (svc === 'task') expect(JSON.stringify(c.Environment)).not.toMatch(/JWT_SIGNING_KEY|JwtSigningKey/);
      const groupId = refId(c.LogConfiguration.Options['awslogs-group']);
      const group = t.services.toJSON().Resources[groupId];
      expect(group.Type).toBe('AWS::Logs::LogGroup');
      expect(group.Properties.RetentionInDays).toBe(config.logRetentionDays);
    });

    test('auth is registered in the Cloud Map namespace as `auth`', () => {
      const { t } = build(env);
      t.services.hasResourceProperties('AWS::ServiceDiscovery::PrivateDnsNamespace', { Name: `${env}.task-management.local` });
      t.services.hasResourceProperties('AWS::ServiceDiscovery::Service', { Name: 'auth' });
      t.services.resourceCountIs('AWS::ServiceDiscovery::Service', 1);
    });
  });

  describe('load balancer', () => {
    test('internet-facing in the public subnets', () => {
      const { t } = build(env);
      t.services.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing', Type: 'application' });
    });

    test('/auth, /auth/* → auth and /tasks, /tasks/* → task; anything else a JSON 404', () => {
      const { t } = build(env);
      const rules = resources(t.services, 'AWS::ElasticLoadBalancingV2::ListenerRule');
      expect(rules).toHaveLength(2);
      const tgs = Object.fromEntries(resources(t.services, 'AWS::ElasticLoadBalancingV2::TargetGroup').map(([id, tg]) => [id, tg.Properties.HealthCheckPath]));
      const routes = rules.map(([, r]) => [r.Properties.Conditions[0].PathPatternConfig.Values, tgs[r.Properties.Actions[0].TargetGroupArn.Ref]]);
      expect(routes).toEqual(
        expect.arrayContaining([
          [['/auth', '/auth/*'], '/auth/health'],
          [['/tasks', '/tasks/*'], '/tasks/health'],
        ]),
      );
      const main = resources(t.services, 'AWS::ElasticLoadBalancingV2::Listener').find(([, l]) => l.Properties.Port === (prod ? 443 : 80))!;
      const [action] = main[1].Properties.DefaultActions;
      expect(action.Type).toBe('fixed-response');
      expect(action.FixedResponseConfig.StatusCode).toBe('404');
      expect(action.FixedResponseConfig.ContentType).toBe('application/json');
      const body = JSON.parse(action.FixedResponseConfig.MessageBody);
      expect(body.error).toBe('Not Found');
      expect(typeof body.message).toBe('string');
      for (const [, r] of rules) expect(r.Properties.ListenerArn.Ref).toBe(main[0]);
    });

    test('ip target groups, health checks 30 s / 5 s / 2 healthy / 3 unhealthy, deregistration 30 s', () => {
      const { t } = build(env);
      const tgs = resources(t.services, 'AWS::ElasticLoadBalancingV2::TargetGroup');
      expect(tgs.map(([, tg]) => tg.Properties.HealthCheckPath).sort()).toEqual(['/auth/health', '/tasks/health']);
      for (const [, tg] of tgs) {
        const p = tg.Properties;
        expect(p.TargetType).toBe('ip');
        expect(p.Port).toBe(3000);
        expect(p.HealthCheckIntervalSeconds).toBe(30);
        expect(p.HealthCheckTimeoutSeconds).toBe(5);
        expect(p.HealthyThresholdCount).toBe(2);
        expect(p.UnhealthyThresholdCount).toBe(3);
        expect(p.Matcher).toEqual({ HttpCode: '200' });
        expect(p.TargetGroupAttributes).toEqual(expect.arrayContaining([{ Key: 'deregistration_delay.timeout_seconds', Value: '30' }]));
      }
    });

    test(prod ? 'HTTPS on 443 with the certificate and a TLS 1.2+ policy; 80 only redirects' : 'plain HTTP on 80 only', () => {
      const { t } = build(env);
      const listeners = resources(t.services, 'AWS::ElasticLoadBalancingV2::Listener').map(([, l]) => l.Properties);
      if (prod) {
        expect(listeners.map((l) => l.Port).sort()).toEqual([443, 80]);
        const https = listeners.find((l) => l.Port === 443)!;
        expect(https.Protocol).toBe('HTTPS');
        expect(https.Certificates).toEqual([{ CertificateArn: expect.stringMatching(/^arn:aws:acm:/) }]);
        expect(https.SslPolicy).toMatch(/TLS13-1-2|TLS-1-2/);
        const http = listeners.find((l) => l.Port === 80)!;
        expect(http.DefaultActions).toEqual([{ Type: 'redirect', RedirectConfig: { Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' } }]);
      } else {
        expect(listeners).toHaveLength(1);
        expect(listeners[0].Port).toBe(80);
        expect(listeners[0].Protocol).toBe('HTTP');
      }
    });
  });

  describe('observability', () => {
    test('one SNS topic; every alarm notifies it', () => {
      const { t } = build(env);
      t.observability.resourceCountIs('AWS::SNS::Topic', 1);
      const alarms = [...resources(t.services, 'AWS::CloudWatch::Alarm'), ...resources(t.observability, 'AWS::CloudWatch::Alarm')];
      for (const [, a] of alarms) {
        expect(a.Properties.AlarmActions).toHaveLength(1);
        // The topic itself in its stack, by its fixed name elsewhere (no cross-stack reference).
        expect(JSON.stringify(a.Properties.AlarmActions)).toMatch(new RegExp(`AlarmTopic|:task-management-${env}-alarms"`));
      }
    });

    test('the alarms: unhealthy targets, target 5xx, error rate, running < desired, CPU, p99 latency per service; DB CPU and connections', () => {
      const { t } = build(env);
      const names = [...resources(t.services, 'AWS::CloudWatch::Alarm'), ...resources(t.observability, 'AWS::CloudWatch::Alarm')]
        .map(([, a]) => a.Properties.AlarmName)
        .sort();
      const perService = ['cpu', 'error-rate', 'latency-p99', 'no-healthy-targets', 'running-below-desired', 'target-5xx', 'unhealthy-targets'];
      const expected = [...['auth', 'task'].flatMap((s) => perService.map((a) => `${s}-${a}`)), 'elb-5xx', 'db-connections', 'db-cpu'].map((n) => `task-management-${env}-${n}`);
      expect(names).toEqual(expected.sort());
    });

    test('p99 latency reads the services’ EMF metric (namespace TaskManagement, dimension Service)', () => {
      const { t } = build(env);
      for (const svc of ['auth', 'task']) {
        t.services.hasResourceProperties('AWS::CloudWatch::Alarm', {
          AlarmName: `task-management-${env}-${svc}-latency-p99`,
          Namespace: 'TaskManagement',
          MetricName: 'Latency',
          ExtendedStatistic: 'p99',
          Dimensions: [{ Name: 'Service', Value: svc }],
        });
      }
    });

    test('a dashboard; the connection alarm at 80 % of max_connections', () => {
      const { t } = build(env);
      t.observability.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
      t.observability.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: `task-management-${env}-db-connections`, Threshold: 160 });
      // 5 connections × (10 auth + 10 task) stays under the alarm.
      expect(SERVICE_DEFAULTS.dbPoolMax * 2 * SERVICE_DEFAULTS.maxCapacity).toBeLessThanOrEqual(160);
    });
  });

  test('the outputs: API URL, cluster and service names, namespace, database endpoint, secret ARNs', () => {
    const { t } = build(env);
    const outputs = (tpl: any) => Object.keys(tpl.toJSON().Outputs ?? {});
    expect(outputs(t.services)).toEqual(expect.arrayContaining(['ApiUrl', 'ClusterName', 'authServiceName', 'taskServiceName', 'NamespaceName', 'LoadBalancerDnsName']));
    expect(outputs(t.database)).toEqual(expect.arrayContaining(['DbEndpoint', 'DbSecretArn']));
    expect(outputs(t.secrets)).toEqual(expect.arrayContaining(['JwtSigningKeySecretArn']));
    expect(outputs(t.observability)).toEqual(expect.arrayContaining(['AlarmTopicArn']));
    const url = t.services.toJSON().Outputs.ApiUrl.Value;
    if (prod) expect(url).toBe('https://api.example.com');
    else expect(JSON.stringify(url)).toMatch(/^\{"Fn::Join":\["",\["http:\/\//);
  });
});

test('-c arch=arm64 builds ARM64 task definitions', () => {
  const { t } = build('test', { arch: 'arm64' });
  for (const [, d] of resources(t.services, 'AWS::ECS::TaskDefinition')) {
    expect(d.Properties.RuntimePlatform.CpuArchitecture).toBe('ARM64');
  }
});

test('the images are pinned by digest and pulled from their ECR repositories', () => {
  const { t } = build('test');
  for (const [, d] of resources(t.services, 'AWS::ECS::TaskDefinition')) {
    expect(JSON.stringify(d.Properties.ContainerDefinitions[0].Image)).toMatch(/task-management\/(auth|task)@sha256:[ab]{64}/);
  }
  const pulls = resources(t.services, 'AWS::IAM::Policy').filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes('ecr:BatchGetImage'));
  expect(pulls).toHaveLength(3); // auth, task and the migration task (auth's image)
});

test('the registry stack: one ECR repository per service, kept when the stack goes', () => {
  const { t } = build('test');
  const repos = resources(t.registry, 'AWS::ECR::Repository');
  expect(repos.map(([, r]) => r.Properties.RepositoryName).sort()).toEqual(['task-management/auth', 'task-management/task']);
  for (const [, r] of repos) expect(r.DeletionPolicy).toBe('Retain');
});
