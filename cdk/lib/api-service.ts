// One of the API's services behind the load balancer (copilot/<svc>/manifest.yml and
// copilot/<svc>/addons/{alarms,iam}.yml): its task role, task definition and log group, the
// Fargate service with its rollback alarms, the target group and listener rule, auto scaling,
// and its alarms. auth and task are two of these, differing only in their ServiceSpec, their
// secrets and their extra variables.
import { CfnOutput, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct, IDependable } from 'constructs';
import { acknowledge } from './nag';
import { APP, Arch, EMF_DIMENSION, EMF_NAMESPACE, EnvConfig, SERVICE_DEFAULTS, ServiceSpec, plainEnvironment, resourceName, taskRoleName } from './config';
import { containerImage } from './images';

export interface ApiServiceProps {
  readonly config: EnvConfig;
  readonly spec: ServiceSpec;
  readonly image: string;
  readonly arch: Arch;
  readonly vpc: ec2.IVpc;
  readonly cluster: ecs.ICluster;
  readonly securityGroup: ec2.ISecurityGroup;
  /** Environment variable → secret: the variable holds the ARN, the task role may read the secret. */
  readonly secrets: Record<string, secretsmanager.ISecret>;
  /** Plain variables beyond `plainEnvironment(svc)`. */
  readonly environment?: Record<string, string>;
  /** Registers the service as `<name>.<namespace>` (auth, which task calls). */
  readonly discovery?: { readonly name: string; readonly namespace: servicediscovery.INamespace };
  readonly listener: elbv2.ApplicationListener;
  readonly alarmTopic: sns.ITopic;
  /** Alarm names beyond the service's own two that roll its deployment back. */
  readonly rollbackAlarmNames: string[];
  /** What must exist (and have finished) before the service changes. */
  readonly dependsOn: IDependable[];
}

/**
 * The resources are created in the parent's scope, named `<svc><What>` there: their logical ids
 * are then those of a service built directly in the stack, so a deployed stack keeps its
 * resources (a new logical id would replace them, and the fixed-name ones, the role and the log
 * group, could not be created twice).
 */
export class ApiService extends Construct {
  readonly service: ecs.FargateService;
  readonly targetGroup: elbv2.ApplicationTargetGroup;

  constructor(scope: Construct, id: string, props: ApiServiceProps) {
    super(scope, id);
    const { config, spec } = props;
    const svc = spec.name;
    const env = config.name;
    const d = SERVICE_DEFAULTS;
    const name = (s: string) => resourceName(env, `${svc}-${s}`);

    const taskRole = new iam.Role(scope, `${svc}TaskRole`, {
      roleName: taskRoleName(env, svc),
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: `Task role of the ${svc} service: reads its own secrets and nothing else`,
    });
    taskRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadOwnSecrets',
        actions: ['secretsmanager:GetSecretValue'],
        resources: Object.values(props.secrets).map((s) => s.secretArn),
      }),
    );

    const taskDefinition = new ecs.FargateTaskDefinition(scope, `${svc}TaskDefinition`, {
      family: resourceName(env, svc),
      cpu: config.sizes[svc].cpu,
      memoryLimitMiB: config.sizes[svc].memoryMiB,
      taskRole,
      runtimePlatform: {
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        cpuArchitecture: props.arch === 'arm64' ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
      },
    });
    const logGroup = new logs.LogGroup(scope, `${svc}LogGroup`, {
      logGroupName: `/ecs/${APP}-${env}-${svc}`,
      retention: config.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const hc = d.containerHealthCheck;
    taskDefinition.addContainer(svc, {
      containerName: svc,
      image: containerImage(scope, `${svc}Repository`, props.image),
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
        ...props.environment,
        ...Object.fromEntries(Object.entries(props.secrets).map(([k, s]) => [k, s.secretArn])),
      },
      stopTimeout: Duration.seconds(d.stopTimeoutSecs),
    });

    const capacity = config.capacity;
    this.service = new ecs.FargateService(scope, `${svc}Service`, {
      cluster: props.cluster,
      taskDefinition,
      desiredCount: d.desiredCount,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: false,
      securityGroups: [props.securityGroup],
      healthCheckGracePeriod: Duration.seconds(d.healthCheckGracePeriodSecs),
      circuitBreaker: { enable: true, rollback: true },
      deploymentAlarms: {
        alarmNames: [name('target-5xx'), name('error-rate'), ...props.rollbackAlarmNames],
        behavior: ecs.AlarmBehavior.ROLLBACK_ON_ALARM,
      },
      capacityProviderStrategies: [
        { capacityProvider: 'FARGATE', base: capacity.onDemandBase, weight: capacity.onDemandWeight },
        ...(capacity.spotWeight > 0 ? [{ capacityProvider: 'FARGATE_SPOT', weight: capacity.spotWeight }] : []),
      ],
      enableExecuteCommand: false,
      propagateTags: ecs.PropagatedTagSource.SERVICE,
      cloudMapOptions: props.discovery
        ? {
            name: props.discovery.name,
            cloudMapNamespace: props.discovery.namespace,
            dnsRecordType: servicediscovery.DnsRecordType.A,
            dnsTtl: Duration.seconds(d.discoveryTtlSecs),
          }
        : undefined,
    });
    const service = this.service;
    for (const dependency of props.dependsOn) service.node.addDependency(dependency);

    this.targetGroup = new elbv2.ApplicationTargetGroup(scope, `${svc}TargetGroup`, {
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
    this.targetGroup.addTarget(service.loadBalancerTarget({ containerName: svc, containerPort: d.containerPort }));
    props.listener.addTargetGroups(svc, {
      priority: spec.listenerPriority,
      conditions: [elbv2.ListenerCondition.pathPatterns([spec.path, `${spec.path}/*`])],
      targetGroups: [this.targetGroup],
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
    for (const alarm of this.addAlarms(scope, props)) service.node.addDependency(alarm);

    acknowledge(taskDefinition, {
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds only non-secret settings and the ARNs of the Secrets Manager secrets; the binaries read the secret values at run time with the AWS SDK (and re-read the database secret after a rotation), which ECS `secrets` injection cannot do.',
    });
    acknowledge(taskDefinition, {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'The CDK-generated execution role: ecr:GetAuthorizationToken has no resource-level permissions (Resource "*"); the log and image permissions are scoped to this log group and repository.',
    });

    new CfnOutput(scope, `${svc}ServiceName`, { value: service.serviceName, description: `ECS service name of ${svc}` });
  }

  /** copilot/<svc>/addons/alarms.yml, plus running tasks and p99 latency; all to the topic. Returns the deployment (rollback) alarms. */
  private addAlarms(scope: Construct, props: ApiServiceProps): cloudwatch.Alarm[] {
    const svc = props.spec.name;
    const name = (s: string) => resourceName(props.config.name, `${svc}-${s}`);
    const service = this.service;
    const m = this.targetGroup.metrics;
    const fiveMin = Duration.minutes(5);
    const oneMin = Duration.minutes(1);
    const gt = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD;
    const notBreaching = cloudwatch.TreatMissingData.NOT_BREACHING;
    const errors = m.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: fiveMin, statistic: 'Sum' });
    const insights = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: 'ECS/ContainerInsights',
        metricName,
        dimensionsMap: { ClusterName: props.cluster.clusterName, ServiceName: service.serviceName },
        statistic: 'Average',
        period: oneMin,
      });
    const alarms: cloudwatch.Alarm[] = [
      new cloudwatch.Alarm(scope, `${svc}Target5xxAlarm`, {
        alarmName: name('target-5xx'),
        alarmDescription: `More than 10 target 5XX responses of ${svc} in 5 minutes (rolls a deployment back)`,
        metric: errors,
        threshold: 10,
        comparisonOperator: gt,
        evaluationPeriods: 1,
        treatMissingData: notBreaching,
      }),
      new cloudwatch.Alarm(scope, `${svc}ErrorRateAlarm`, {
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
      new cloudwatch.Alarm(scope, `${svc}UnhealthyTargetsAlarm`, {
        alarmName: name('unhealthy-targets'),
        alarmDescription: `At least one unhealthy ${svc} target for 2 minutes`,
        metric: m.unhealthyHostCount({ period: oneMin, statistic: 'Maximum' }),
        threshold: 0,
        comparisonOperator: gt,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        treatMissingData: notBreaching,
      }),
      new cloudwatch.Alarm(scope, `${svc}NoHealthyTargetsAlarm`, {
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
      new cloudwatch.Alarm(scope, `${svc}CpuAlarm`, {
        alarmName: name('cpu'),
        alarmDescription: `CPU of ${svc} above 80 % of its reservation for 3 minutes`,
        metric: service.metricCpuUtilization({ period: oneMin, statistic: 'Average' }),
        threshold: 80,
        comparisonOperator: gt,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        treatMissingData: cloudwatch.TreatMissingData.MISSING,
      }),
      new cloudwatch.Alarm(scope, `${svc}RunningTasksAlarm`, {
        alarmName: name('running-below-desired'),
        alarmDescription: `Fewer ${svc} tasks running than desired for 5 minutes (Container Insights)`,
        metric: new cloudwatch.MathExpression({
          expression: 'desired - running',
          usingMetrics: { desired: insights('DesiredTaskCount'), running: insights('RunningTaskCount') },
          label: 'tasks missing',
          period: oneMin,
        }),
        threshold: 0,
        comparisonOperator: gt,
        evaluationPeriods: 5,
        datapointsToAlarm: 5,
        treatMissingData: cloudwatch.TreatMissingData.MISSING,
      }),
      new cloudwatch.Alarm(scope, `${svc}LatencyP99Alarm`, {
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
    const notify = new actions.SnsAction(props.alarmTopic);
    for (const alarm of alarms) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }
    return alarms.slice(0, 2);
  }
}

