// The alarm topic, the database alarms and the dashboard (copilot/environments/addons/monitoring.yml).
//
// The per-service alarms live in the services stack, beside the target groups and services
// they watch, because two of them are the services' ECS deployment (rollback) alarms; they
// publish to the topic created here.
import { ArnFormat, CfnOutput, Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { acknowledge } from './nag';
import { DB_SECRET_NAME_PREFIX, EMF_DIMENSION, EMF_NAMESPACE, EnvConfig, SERVICE_DEFAULTS, SERVICES, dbClusterIdentifier, resourceName } from './config';

export interface ObservabilityStackProps extends StackProps {
  readonly config: EnvConfig;
  /** The ECS cluster's fixed name (services stack), for the dashboard's searches. */
  readonly ecsClusterName: string;
}

export class ObservabilityStack extends Stack {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: ObservabilityStackProps) {
    super(scope, id, props);
    const { config } = props;
    const name = (s: string) => resourceName(config.name, s);

    this.topic = new sns.Topic(this, 'AlarmTopic', {
      topicName: name('alarms'),
      displayName: `task-management ${config.name} alarms`,
      enforceSSL: true,
    });
    acknowledge(this.topic,
      {
        id: 'AwsSolutions-SNS2',
        reason:
          'Alarm notifications carry no sensitive data; CloudWatch alarms cannot publish to a topic encrypted with the AWS managed SNS key, and a customer managed key costs more than the risk warrants.',
      }
    );
    const notify = new actions.SnsAction(this.topic);

    const dbMetric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/RDS',
        metricName,
        // The cluster's fixed identifier (database-stack.ts), as a string: no cross-stack reference.
        dimensionsMap: { DBClusterIdentifier: dbClusterIdentifier(config.name) },
        statistic,
        period: Duration.minutes(1),
      });
    const connectionsThreshold = (SERVICE_DEFAULTS.dbMaxConnections * 8) / 10;
    const alarms = [
      new cloudwatch.Alarm(this, 'DbConnectionsAlarm', {
        alarmName: name('db-connections'),
        alarmDescription: `Database connections above 80 % of max_connections (${connectionsThreshold} of ${SERVICE_DEFAULTS.dbMaxConnections}) for 5 minutes`,
        metric: dbMetric('DatabaseConnections', 'Maximum'),
        threshold: connectionsThreshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 5,
        datapointsToAlarm: 5,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'DbCpuAlarm', {
        alarmName: name('db-cpu'),
        alarmDescription: 'Database CPU above 80 % for 5 minutes',
        metric: dbMetric('CPUUtilization', 'Average'),
        threshold: 80,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 5,
        datapointsToAlarm: 5,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
    for (const alarm of alarms) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }

    // A failed rotation of either database secret (owner or application role): CloudTrail's
    // RotationFailed event, matched by the secrets' fixed name prefix (no cross-stack reference).
    new events.Rule(this, 'DbRotationFailedRule', {
      ruleName: name('db-rotation-failed'),
      description: `A rotation of a task-management ${config.name} database secret failed`,
      eventPattern: {
        source: ['aws.secretsmanager'],
        detailType: ['AWS Service Event via CloudTrail'],
        detail: {
          eventName: ['RotationFailed'],
          additionalEventData: {
            SecretId: events.Match.prefix(
              Stack.of(this).formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: DB_SECRET_NAME_PREFIX(config.name), arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
            ),
          },
        },
      },
      targets: [new targets.SnsTopic(this.topic)],
    });

    const search = (expression: string, label: string) =>
      new cloudwatch.MathExpression({ expression, label, usingMetrics: {}, period: Duration.minutes(1) });
    const emf = (metric: string, stat: string) =>
      SERVICES.map(
        (s) =>
          new cloudwatch.Metric({
            namespace: EMF_NAMESPACE,
            metricName: metric,
            dimensionsMap: { [EMF_DIMENSION]: s.name },
            statistic: stat,
            period: Duration.minutes(1),
            label: `${s.name} ${stat}`,
          }),
      );
    const ecs = props.ecsClusterName;
    new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: name('dashboard'),
      widgets: [
        [
          new cloudwatch.GraphWidget({ title: 'Requests per minute (EMF RequestCount)', left: emf('RequestCount', 'Sum'), width: 12 }),
          new cloudwatch.GraphWidget({ title: 'Latency p50 / p99 ms (EMF Latency)', left: [...emf('Latency', 'p50'), ...emf('Latency', 'p99')], width: 12 }),
        ],
        [
          new cloudwatch.GraphWidget({ title: '5xx responses per minute (EMF Errors)', left: emf('Errors', 'Sum'), width: 12 }),
          new cloudwatch.GraphWidget({
            title: 'Running tasks',
            left: [search(`SEARCH('{ECS/ContainerInsights,ClusterName,ServiceName} ClusterName="${ecs}" MetricName="RunningTaskCount"', 'Average', 60)`, 'running')],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'CPU utilization % per service',
            left: [search(`SEARCH('{AWS/ECS,ClusterName,ServiceName} ClusterName="${ecs}" MetricName="CPUUtilization"', 'Average', 60)`, 'cpu')],
            leftYAxis: { min: 0, max: 100 },
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Memory utilization % per service',
            left: [search(`SEARCH('{AWS/ECS,ClusterName,ServiceName} ClusterName="${ecs}" MetricName="MemoryUtilization"', 'Average', 60)`, 'memory')],
            leftYAxis: { min: 0, max: 100 },
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: `Database connections (alarm at ${connectionsThreshold} of max_connections ${SERVICE_DEFAULTS.dbMaxConnections})`,
            left: [dbMetric('DatabaseConnections', 'Maximum')],
            leftAnnotations: [{ value: connectionsThreshold, label: '80 % of max_connections' }],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Database CPU % and capacity (ACU)',
            left: [dbMetric('CPUUtilization', 'Average')],
            right: [dbMetric('ServerlessDatabaseCapacity', 'Average')],
            width: 12,
          }),
        ],
      ],
    });

    new CfnOutput(this, 'AlarmTopicArn', { value: this.topic.topicArn, description: 'Subscribe to receive every alarm' });
  }
}
