// The ECS cluster, the load balancer, service discovery, the auth and task services and their
// alarms (copilot/<svc>/manifest.yml and copilot/<svc>/addons/{alarms,iam}.yml).
import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { FactName } from 'aws-cdk-lib/region-info';
import { Construct } from 'constructs';
import { acknowledge } from './nag';
import { APP, Arch, EnvConfig, SERVICE_DEFAULTS, SERVICES, ServiceName, ServiceSpec, plainEnvironment, resourceName } from './config';
import { EMF_DIMENSION, EMF_NAMESPACE } from './observability-stack';
import { containerImage } from './images';
import { taskRoleName } from './secrets-stack';
import { Migration } from './migration';
import { APP_ROLE, DATABASE_NAME, dbClusterIdentifier } from './database-stack';

/** Days the prod load balancer's access logs are kept. */
const ACCESS_LOG_DAYS = 90;
/** Requests per client address to /auth/ in WAF's 5-minute window (the services throttle logins themselves, per account). */
const WAF_AUTH_LIMIT_PER_5_MIN = 300;

export interface ServicesStackProps extends StackProps {
  readonly config: EnvConfig;
  readonly images: Record<ServiceName, string>;
  readonly arch: Arch;
  readonly vpc: ec2.IVpc;
  readonly albSg: ec2.ISecurityGroup;
  readonly serviceSgs: Record<ServiceName, ec2.ISecurityGroup>;
  /** The database owner's credentials: the migration step only. */
  readonly ownerSecret: secretsmanager.ISecret;
  /** The application role's credentials: both services. */
  readonly appSecret: secretsmanager.ISecret;
  readonly jwtSigningKey: secretsmanager.ISecret;
  /** HTTPS with this certificate, HTTP redirected (prod always; elsewhere when given). */
  readonly certificateArn?: string;
  readonly domain?: string;
  /** A WAF web ACL in front of the load balancer. */
  readonly waf: boolean;
}

/** The ECS cluster's fixed name (the dashboard searches by it). */
export function ecsClusterName(env: string): string {
  return `${APP}-${env}`;
}

/** The Cloud Map namespace: auth is `auth.<namespace>`, as Copilot names it. */
export function namespaceName(env: string): string {
  return `${env}.${APP}.local`;
}

export class ServicesStack extends Stack {
  readonly cluster: ecs.Cluster;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly services: Record<string, ecs.FargateService> = {};
  readonly migration: Migration;
  private readonly envName: EnvConfig['name'];

  constructor(scope: Construct, id: string, props: ServicesStackProps) {
    super(scope, id, props);
    const { config } = props;
    const env = config.name;
    this.envName = env;
    const d = SERVICE_DEFAULTS;

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      clusterName: ecsClusterName(env),
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    // The Fargate capacity providers, associated here rather than by the cluster's own aspect so
    // that the services can depend on the association: `cdk destroy` then removes them first
    // (otherwise "The specified capacity provider is in use").
    const capacityProviders = new ecs.CfnClusterCapacityProviderAssociations(this, 'CapacityProviders', {
      cluster: this.cluster.clusterName,
      capacityProviders: ['FARGATE', 'FARGATE_SPOT'],
      defaultCapacityProviderStrategy: [{ capacityProvider: 'FARGATE', base: config.capacity.onDemandBase, weight: config.capacity.onDemandWeight }],
    });
    // The alarm topic by its fixed name (observability-stack.ts): no cross-stack reference.
    const alarmTopic = sns.Topic.fromTopicArn(this, 'AlarmTopic', this.formatArn({ service: 'sns', resource: resourceName(env, 'alarms') }));
    const namespace = new servicediscovery.PrivateDnsNamespace(this, 'Namespace', {
      name: namespaceName(env),
      vpc: props.vpc,
      description: `Service discovery of task-management ${env}`,
    });

    // --- the load balancer -------------------------------------------------------------
    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroup: props.albSg,
      dropInvalidHeaderFields: true,
      deletionProtection: env === 'prod',
    });
    if (config.albAccessLogs) {
      this.logAccessLogs(this.accessLogBucket(env), 'alb');
    } else {
      acknowledge(this.loadBalancer, {
        id: 'AwsSolutions-ELB2',
        reason: `No access-log bucket in ${env} (prod has one): every request that reaches a task is logged by the services (one JSON access line with the request id) and counted in the EMF metrics.`,
      });
    }
    if (props.waf) this.addWebAcl(env);
    const notFound = elbv2.ListenerAction.fixedResponse(404, {
      contentType: 'application/json',
      messageBody: JSON.stringify({ error: 'Not Found', message: 'No route matches this path; the API lives under /auth and /tasks' }),
    });
    let listener: elbv2.ApplicationListener;
    if (props.certificateArn) {
      listener = this.loadBalancer.addListener('HttpsListener', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn)],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        open: false,
        defaultAction: notFound,
      });
      this.loadBalancer.addListener('HttpRedirect', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        open: false,
        defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }),
      });
    } else {
      listener = this.loadBalancer.addListener('HttpListener', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        open: false,
        defaultAction: notFound,
      });
    }

    // --- the migration step: runs before either service changes -----------------------------
    this.migration = new Migration(this, 'Migration', {
      config,
      cluster: this.cluster,
      image: props.images.auth,
      arch: props.arch,
      vpc: props.vpc,
      subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroup: props.serviceSgs.auth,
      ownerSecret: props.ownerSecret,
      appRole: {
        roleName: APP_ROLE,
        database: DATABASE_NAME,
        clusterArn: this.formatArn({ service: 'rds', resource: 'cluster', resourceName: dbClusterIdentifier(env), arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
        secret: props.appSecret,
      },
    });
    // A 5xx the load balancer answers itself (no healthy target, a target that reset or timed
    // out): one alarm for both services, among each one's rollback alarms.
    const elb5xx = this.addElb5xxAlarm(alarmTopic);

    // --- the services ----------------------------------------------------------------------
    const secretsOf: Record<ServiceName, Record<string, secretsmanager.ISecret>> = {
      auth: { DB_SECRET: props.appSecret, JWT_SIGNING_KEY_SECRET: props.jwtSigningKey },
      task: { DB_SECRET: props.appSecret },
    };
    const extraEnv: Record<ServiceName, Record<string, string>> = {
      auth: {},
      // Service discovery: auth registers as `auth` in the namespace, on its container port.
      task: { AUTH_SERVICE_URL: `http://auth.${namespaceName(env)}:${d.containerPort}` },
    };

    for (const spec of SERVICES) {
      const svc = spec.name;
      const name = (s: string) => resourceName(env, `${svc}-${s}`);

      const taskRole = new iam.Role(this, `${svc}TaskRole`, {
        roleName: taskRoleName(env, svc),
        assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
        description: `Task role of the ${svc} service: reads its own secrets and nothing else`,
      });
      const secrets = secretsOf[svc];
      taskRole.addToPolicy(
        new iam.PolicyStatement({
          sid: 'ReadOwnSecrets',
          actions: ['secretsmanager:GetSecretValue'],
          resources: Object.values(secrets).map((s) => s.secretArn),
        }),
      );

      const taskDefinition = new ecs.FargateTaskDefinition(this, `${svc}TaskDefinition`, {
        family: resourceName(env, svc),
        cpu: config.sizes[svc].cpu,
        memoryLimitMiB: config.sizes[svc].memoryMiB,
        taskRole,
        runtimePlatform: {
          operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
          cpuArchitecture: props.arch === 'arm64' ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
        },
      });
      const logGroup = new logs.LogGroup(this, `${svc}LogGroup`, {
        logGroupName: `/ecs/${APP}-${env}-${svc}`,
        retention: config.logRetentionDays as logs.RetentionDays,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const hc = d.containerHealthCheck;
      taskDefinition.addContainer(svc, {
        containerName: svc,
        image: containerImage(this, `${svc}Repository`, props.images[svc]),
        portMappings: [{ containerPort: d.containerPort, protocol: ecs.Protocol.TCP, name: 'http' }],
        user: d.user,
        readonlyRootFilesystem: true,
        essential: true,
        // The scratch image has no shell: exec form, the binary's own probe (flake.nix: /bin/<svc>).
        healthCheck: {
          command: ['CMD', `/bin/${svc}`, 'healthcheck'],
          interval: Duration.seconds(hc.intervalSecs),
          timeout: Duration.seconds(hc.timeoutSecs),
          retries: hc.retries,
          startPeriod: Duration.seconds(hc.startPeriodSecs),
        },
        logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: svc }),
        // Secrets Manager ARNs, not secret values: the binary reads them with the AWS SDK at run
        // time (and re-reads the database secret after a rotation), so no ECS `secrets`.
        environment: {
          ...plainEnvironment(svc),
          ...extraEnv[svc],
          ...Object.fromEntries(Object.entries(secrets).map(([k, s]) => [k, s.secretArn])),
        },
        stopTimeout: Duration.seconds(30),
      });

      const capacity = config.capacity;
      const service = new ecs.FargateService(this, `${svc}Service`, {
        cluster: this.cluster,
        taskDefinition,
        desiredCount: d.desiredCount,
        minHealthyPercent: 100,
        maxHealthyPercent: 200,
        vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        assignPublicIp: false,
        securityGroups: [props.serviceSgs[svc]],
        healthCheckGracePeriod: Duration.seconds(d.healthCheckGracePeriodSecs),
        circuitBreaker: { enable: true, rollback: true },
        deploymentAlarms: {
          alarmNames: [name('target-5xx'), name('error-rate'), resourceName(env, 'elb-5xx')],
          behavior: ecs.AlarmBehavior.ROLLBACK_ON_ALARM,
        },
        capacityProviderStrategies: [
          { capacityProvider: 'FARGATE', base: capacity.onDemandBase, weight: capacity.onDemandWeight },
          ...(capacity.spotWeight > 0 ? [{ capacityProvider: 'FARGATE_SPOT', weight: capacity.spotWeight }] : []),
        ],
        enableExecuteCommand: false,
        propagateTags: ecs.PropagatedTagSource.SERVICE,
        cloudMapOptions:
          svc === 'auth'
            ? {
                name: 'auth',
                cloudMapNamespace: namespace,
                dnsRecordType: servicediscovery.DnsRecordType.A,
                dnsTtl: Duration.seconds(10),
              }
            : undefined,
      });
      this.services[svc] = service;
      // A service changes only after this deployment's migration task exited 0.
      service.node.addDependency(this.migration.resource);
      service.node.addDependency(capacityProviders);
      service.node.addDependency(elb5xx);

      const targetGroup = new elbv2.ApplicationTargetGroup(this, `${svc}TargetGroup`, {
        vpc: props.vpc,
        targetType: elbv2.TargetType.IP,
        port: d.containerPort,
        protocol: elbv2.ApplicationProtocol.HTTP,
        deregistrationDelay: Duration.seconds(d.deregistrationDelaySecs),
        healthCheck: {
          path: spec.healthPath,
          protocol: elbv2.Protocol.HTTP,
          interval: Duration.seconds(d.targetHealthCheck.intervalSecs),
          timeout: Duration.seconds(d.targetHealthCheck.timeoutSecs),
          healthyThresholdCount: d.targetHealthCheck.healthyThreshold,
          unhealthyThresholdCount: d.targetHealthCheck.unhealthyThreshold,
          healthyHttpCodes: d.targetHealthCheck.healthyHttpCodes,
        },
      });
      targetGroup.addTarget(service.loadBalancerTarget({ containerName: svc, containerPort: d.containerPort }));
      listener.addTargetGroups(svc, {
        priority: spec.listenerPriority,
        conditions: [elbv2.ListenerCondition.pathPatterns([spec.path, `${spec.path}/*`])],
        targetGroups: [targetGroup],
      });

      const scaling = service.autoScaleTaskCount({ minCapacity: d.minCapacity, maxCapacity: d.maxCapacity });
      scaling.scaleOnCpuUtilization('Cpu', {
        targetUtilizationPercent: d.cpuTargetPercent,
        scaleOutCooldown: Duration.seconds(d.scaleOutCooldownSecs),
        scaleInCooldown: Duration.seconds(d.scaleInCooldownSecs),
      });
      scaling.scaleOnMemoryUtilization('Memory', {
        targetUtilizationPercent: d.memoryTargetPercent,
        scaleOutCooldown: Duration.seconds(d.scaleOutCooldownSecs),
        scaleInCooldown: Duration.seconds(d.scaleInCooldownSecs),
      });

      // The two rollback alarms exist before the service that names them.
      for (const alarm of this.addAlarms(spec, targetGroup, service, alarmTopic)) service.node.addDependency(alarm);

      acknowledge(taskDefinition,
        {
          id: 'AwsSolutions-ECS2',
          reason:
            'The environment holds only non-secret settings and the ARNs of the Secrets Manager secrets; the binaries read the secret values at run time with the AWS SDK (and re-read the database secret after a rotation), which ECS `secrets` injection cannot do.',
        }
    );
      acknowledge(taskDefinition,
          {
            id: 'AwsSolutions-IAM5[Resource::*]',
            reason:
              'The CDK-generated execution role: ecr:GetAuthorizationToken has no resource-level permissions (Resource "*"); the log and image permissions are scoped to this log group and repository.',
          }
    );

      new CfnOutput(this, `${svc}ServiceName`, { value: service.serviceName, description: `ECS service name of ${svc}` });
    }

    // --- outputs -------------------------------------------------------------------------
    const url = props.domain ? `https://${props.domain}` : `http://${this.loadBalancer.loadBalancerDnsName}`;
    new CfnOutput(this, 'ApiUrl', { value: url, description: 'Base URL of the API (scripts/smoke.sh takes it)' });
    new CfnOutput(this, 'LoadBalancerDnsName', {
      value: this.loadBalancer.loadBalancerDnsName,
      description: props.domain ? `Point ${props.domain} (CNAME or Route 53 alias) here` : 'The load balancer',
    });
    new CfnOutput(this, 'ClusterName', { value: this.cluster.clusterName });
    new CfnOutput(this, 'NamespaceName', { value: namespace.namespaceName, description: 'Cloud Map namespace (auth is auth.<namespace>)' });
  }

  /** copilot/<svc>/addons/alarms.yml, plus running tasks and p99 latency; all to the topic. */
  /** Returns the deployment (rollback) alarms. */
  private addAlarms(spec: ServiceSpec, targetGroup: elbv2.ApplicationTargetGroup, service: ecs.FargateService, topic: sns.ITopic): cloudwatch.Alarm[] {
    const svc = spec.name;
    const name = (s: string) => resourceName(this.envName, `${svc}-${s}`);
    const m = targetGroup.metrics;
    const fiveMin = Duration.minutes(5);
    const oneMin = Duration.minutes(1);
    const gt = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD;
    const notBreaching = cloudwatch.TreatMissingData.NOT_BREACHING;
    const errors = m.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: fiveMin, statistic: 'Sum' });
    const alarms: cloudwatch.Alarm[] = [
      new cloudwatch.Alarm(this, `${svc}Target5xxAlarm`, {
        alarmName: name('target-5xx'),
        alarmDescription: `More than 10 target 5XX responses of ${svc} in 5 minutes (rolls a deployment back)`,
        metric: errors,
        threshold: 10,
        comparisonOperator: gt,
        evaluationPeriods: 1,
        treatMissingData: notBreaching,
      }),
      new cloudwatch.Alarm(this, `${svc}ErrorRateAlarm`, {
        alarmName: name('error-rate'),
        alarmDescription: `More than 5 % of ${svc} requests answered 5XX over 5 minutes (rolls a deployment back)`,
        metric: new cloudwatch.MathExpression({
          expression: 'IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)',
          usingMetrics: { errors, requests: m.requestCount({ period: fiveMin, statistic: 'Sum' }) },
          label: '5XX percentage',
          period: fiveMin,
        }),
        threshold: 5,
        comparisonOperator: gt,
        evaluationPeriods: 1,
        treatMissingData: notBreaching,
      }),
      new cloudwatch.Alarm(this, `${svc}UnhealthyTargetsAlarm`, {
        alarmName: name('unhealthy-targets'),
        alarmDescription: `At least one unhealthy ${svc} target for 2 minutes`,
        metric: m.unhealthyHostCount({ period: oneMin, statistic: 'Maximum' }),
        threshold: 0,
        comparisonOperator: gt,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        treatMissingData: notBreaching,
      }),
      new cloudwatch.Alarm(this, `${svc}NoHealthyTargetsAlarm`, {
        alarmName: name('no-healthy-targets'),
        alarmDescription: `No healthy ${svc} target for 2 minutes: the load balancer answers its requests 503 itself`,
        metric: m.healthyHostCount({ period: oneMin, statistic: 'Minimum' }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        // No data points: no target registered at all, the case this alarm is for.
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
      new cloudwatch.Alarm(this, `${svc}CpuAlarm`, {
        alarmName: name('cpu'),
        alarmDescription: `CPU of ${svc} above 80 % of its reservation for 3 minutes`,
        metric: service.metricCpuUtilization({ period: oneMin, statistic: 'Average' }),
        threshold: 80,
        comparisonOperator: gt,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        treatMissingData: cloudwatch.TreatMissingData.MISSING,
      }),
      new cloudwatch.Alarm(this, `${svc}RunningTasksAlarm`, {
        alarmName: name('running-below-desired'),
        alarmDescription: `Fewer ${svc} tasks running than desired for 5 minutes (Container Insights)`,
        metric: new cloudwatch.MathExpression({
          expression: 'desired - running',
          usingMetrics: {
            desired: this.insights('DesiredTaskCount', service, oneMin),
            running: this.insights('RunningTaskCount', service, oneMin),
          },
          label: 'tasks missing',
          period: oneMin,
        }),
        threshold: 0,
        comparisonOperator: gt,
        evaluationPeriods: 5,
        datapointsToAlarm: 5,
        treatMissingData: cloudwatch.TreatMissingData.MISSING,
      }),
      new cloudwatch.Alarm(this, `${svc}LatencyP99Alarm`, {
        alarmName: name('latency-p99'),
        alarmDescription: `p99 latency of ${svc} above 1000 ms for 5 minutes (the services' EMF Latency metric)`,
        metric: new cloudwatch.Metric({
          namespace: EMF_NAMESPACE,
          metricName: 'Latency',
          dimensionsMap: { [EMF_DIMENSION]: svc },
          statistic: 'p99',
          period: oneMin,
        }),
        threshold: 1000,
        comparisonOperator: gt,
        evaluationPeriods: 5,
        datapointsToAlarm: 5,
        treatMissingData: notBreaching,
      }),
    ];
    const notify = new actions.SnsAction(topic);
    for (const alarm of alarms) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }
    return alarms.slice(0, 2);
  }

  private addElb5xxAlarm(topic: sns.ITopic): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, 'Elb5xxAlarm', {
      alarmName: resourceName(this.envName, 'elb-5xx'),
      alarmDescription: 'More than 10 5XX responses the load balancer answered itself in 5 minutes (no healthy target, resets, timeouts; rolls a deployment back)',
      metric: this.loadBalancer.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 10,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const notify = new actions.SnsAction(topic);
    alarm.addAlarmAction(notify);
    alarm.addOkAction(notify);
    return alarm;
  }

  /** prod's access logs: encrypted (SSE-S3, the only kind ALB delivery supports), private, expiring. */
  private accessLogBucket(env: string): s3.Bucket {
    const bucket = new s3.Bucket(this, 'AccessLogBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: false,
      lifecycleRules: [{ id: 'expire', expiration: Duration.days(ACCESS_LOG_DAYS), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(bucket, {
      id: 'AwsSolutions-S1',
      reason: `The bucket holds the load balancer's own access logs; logging access to it in turn would need another bucket, for ${env}'s ops team only.`,
    });
    return bucket;
  }

  /**
   * `ApplicationLoadBalancer.logAccessLogs` needs a pinned region; this stack is environment-
   * agnostic, so the attributes and the delivery grant are written here: to ELB's log-delivery
   * service principal (regions from August 2022 on) and to the region's ELB account (older
   * regions; a region-keyed mapping, us-east-1's account where a region has none).
   */
  private logAccessLogs(bucket: s3.Bucket, prefix: string): void {
    const lb = this.loadBalancer;
    lb.setAttribute('access_logs.s3.enabled', 'true');
    lb.setAttribute('access_logs.s3.bucket', bucket.bucketName);
    lb.setAttribute('access_logs.s3.prefix', prefix);
    const objects = bucket.arnForObjects(`${prefix}/AWSLogs/${this.account}/*`);
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({ sid: 'ElbLogDelivery', actions: ['s3:PutObject'], principals: [new iam.ServicePrincipal('logdelivery.elasticloadbalancing.amazonaws.com')], resources: [objects] }),
    );
    const elbAccount = this.regionalFact(FactName.ELBV2_ACCOUNT, '127311923021');
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({ sid: 'ElbAccountLogDelivery', actions: ['s3:PutObject'], principals: [new iam.AccountPrincipal(elbAccount)], resources: [objects] }),
    );
    lb.node.addDependency(bucket);
  }

  /** AWS managed common rules and a per-address rate limit on /auth/ (login, register). */
  private addWebAcl(env: string): void {
    const visibility = (metricName: string) => ({ cloudWatchMetricsEnabled: true, metricName, sampledRequestsEnabled: true });
    const acl = new wafv2.CfnWebACL(this, 'WebAcl', {
      name: resourceName(env as EnvConfig['name'], 'web-acl'),
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(resourceName(env as EnvConfig['name'], 'web-acl')),
      rules: [
        {
          name: 'AWSManagedRulesCommonRuleSet',
          priority: 10,
          overrideAction: { none: {} },
          statement: {
            managedRuleGroupStatement: {
              vendorName: 'AWS',
              name: 'AWSManagedRulesCommonRuleSet',
              // Its 8 KB body limit would block a task with a long description (the API takes 64 KiB).
              ruleActionOverrides: [{ name: 'SizeRestrictions_BODY', actionToUse: { count: {} } }],
            },
          },
          visibilityConfig: visibility('common-rules'),
        },
        {
          name: 'AuthRateLimit',
          priority: 20,
          action: { block: {} },
          statement: {
            rateBasedStatement: {
              limit: WAF_AUTH_LIMIT_PER_5_MIN,
              aggregateKeyType: 'IP',
              scopeDownStatement: {
                byteMatchStatement: {
                  fieldToMatch: { uriPath: {} },
                  positionalConstraint: 'STARTS_WITH',
                  searchString: '/auth/',
                  textTransformations: [{ priority: 0, type: 'NONE' }],
                },
              },
            },
          },
          visibilityConfig: visibility('auth-rate-limit'),
        },
      ],
    });
    new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', { resourceArn: this.loadBalancer.loadBalancerArn, webAclArn: acl.attrArn });
  }

  private insights(metricName: string, service: ecs.FargateService, period: Duration): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'ECS/ContainerInsights',
      metricName,
      dimensionsMap: { ClusterName: this.cluster.clusterName, ServiceName: service.serviceName },
      statistic: 'Average',
      period,
    });
  }
}
