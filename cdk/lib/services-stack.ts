// The ECS cluster, the load balancer, service discovery, the migration step, and the auth and
// task services, one ApiService each (api-service.ts).
import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { FactName } from 'aws-cdk-lib/region-info';
import { Construct } from 'constructs';
import { acknowledge } from './nag';
import { APP_ROLE, Arch, DATABASE_NAME, EnvConfig, SERVICE_DEFAULTS, SERVICES, ServiceName, dbClusterIdentifier, ecsClusterName, namespaceName, resourceName } from './config';
import { ApiService } from './api-service';
import { Migration } from './migration';

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

    // A service changes only after this deployment's migration task exited 0.
    const dependsOn = [this.migration.resource, capacityProviders, elb5xx];
    for (const spec of SERVICES) {
      const svc = spec.name;
      const api = new ApiService(this, svc, {
        config,
        spec,
        image: props.images[svc],
        arch: props.arch,
        vpc: props.vpc,
        cluster: this.cluster,
        securityGroup: props.serviceSgs[svc],
        secrets: secretsOf[svc],
        environment: extraEnv[svc],
        discovery: svc === 'auth' ? { name: 'auth', namespace } : undefined,
        listener,
        alarmTopic,
        rollbackAlarmNames: [resourceName(env, 'elb-5xx')],
        dependsOn,
      });
      this.services[svc] = api.service;
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
}
