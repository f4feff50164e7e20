// The migration step of a deployment, as a CloudFormation custom resource (cdk custom_resources
// Provider with an is-complete handler; cdk/README.md says why not Step Functions).
//
// onEvent (Create, Update): starts the one-off `migrate` task from the new image.
// isComplete: polls it; exit 0 → the application role is created or re-granted (app-role.sql,
// through the RDS Data API as the owner) and the resource completes, so the services that depend
// on it update; any other end → an error carrying the task's last log lines, which fails the
// deployment before any service changes.
// Delete: nothing (the schema stays with the database).
//
// Written in plain JavaScript against the AWS SDK v3 the Lambda Node.js runtime ships, so the
// asset needs no bundling step at synth time.
const { ECSClient, RunTaskCommand, DescribeTasksCommand } = require('@aws-sdk/client-ecs');
const { CloudWatchLogsClient, GetLogEventsCommand } = require('@aws-sdk/client-cloudwatch-logs');
const { RDSDataClient, ExecuteStatementCommand } = require('@aws-sdk/client-rds-data');
const { SecretsManagerClient, GetSecretValueCommand } = require('@aws-sdk/client-secrets-manager');
const { appRoleStatements } = require('./sql');

const ecs = new ECSClient({});
const logs = new CloudWatchLogsClient({});
const rdsData = new RDSDataClient({});
const secrets = new SecretsManagerClient({});

/** How many of the task's last log lines go into the failure, and their byte budget (CloudFormation truncates a status reason). */
const LOG_LINES = 20;
const REASON_BUDGET = 3000;

exports.onEvent = async (event) => {
  const p = event.ResourceProperties;
  if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId };
  const out = await ecs.send(
    new RunTaskCommand({
      cluster: p.Cluster,
      taskDefinition: p.TaskDefinition,
      count: 1,
      launchType: 'FARGATE',
      startedBy: 'cfn-migration',
      networkConfiguration: {
        awsvpcConfiguration: { subnets: p.Subnets, securityGroups: p.SecurityGroups, assignPublicIp: 'DISABLED' },
      },
    }),
  );
  const task = out.tasks && out.tasks[0];
  if (!task || (out.failures && out.failures.length > 0)) {
    const why = (out.failures || []).map((f) => `${f.arn || ''} ${f.reason || ''} ${f.detail || ''}`.trim()).join('; ');
    throw new Error(`the migration task did not start: ${why || 'RunTask returned no task'}`);
  }
  return { PhysicalResourceId: event.PhysicalResourceId || p.Name, Data: { TaskArn: task.taskArn } };
};

exports.isComplete = async (event) => {
  if (event.RequestType === 'Delete') return { IsComplete: true };
  const p = event.ResourceProperties;
  const taskArn = event.Data && event.Data.TaskArn;
  const out = await ecs.send(new DescribeTasksCommand({ cluster: p.Cluster, tasks: [taskArn] }));
  const task = out.tasks && out.tasks[0];
  if (!task) throw new Error(`the migration task ${taskArn} is gone: ${JSON.stringify(out.failures || [])}`);
  if (task.lastStatus !== 'STOPPED') return { IsComplete: false };

  const container = (task.containers || []).find((c) => c.name === p.ContainerName);
  const exitCode = container ? container.exitCode : undefined;
  if (exitCode === 0) {
    if (p.AppRole) await grantAppRole(p.AppRole);
    return { IsComplete: true, Data: { TaskArn: taskArn } };
  }
  const taskId = taskArn.split('/').pop();
  const lines = await lastLogLines(p.LogGroup, `${p.LogStreamPrefix}/${p.ContainerName}/${taskId}`);
  const why = [task.stoppedReason, container && container.reason].filter(Boolean).join('; ');
  throw new Error(
    `migration task ${taskId} failed (exit code ${exitCode === undefined || exitCode === null ? 'none' : exitCode}${why ? `: ${why}` : ''}); ` +
      `last log lines of ${p.LogGroup}:\n${lines.length > 0 ? lines.join('\n') : '(no log lines)'}`,
  );
};

/** The last LOG_LINES lines of one stream, newest last, within REASON_BUDGET characters. */
async function lastLogLines(logGroupName, logStreamName) {
  let events;
  try {
    const out = await logs.send(new GetLogEventsCommand({ logGroupName, logStreamName, limit: LOG_LINES, startFromHead: false }));
    events = out.events || [];
  } catch (e) {
    return [`(could not read ${logStreamName}: ${e.name || 'error'}: ${e.message})`];
  }
  const lines = events.map((e) => String(e.message).trimEnd());
  while (lines.join('\n').length > REASON_BUDGET && lines.length > 1) lines.shift();
  return lines.map((l) => (l.length > REASON_BUDGET ? `${l.slice(0, REASON_BUDGET)}…` : l));
}

/** Creates the application role if it is missing and (re-)grants it DML on every table. */
async function grantAppRole(a) {
  const secret = await secrets.send(new GetSecretValueCommand({ SecretId: a.SecretArn }));
  const { password } = JSON.parse(secret.SecretString);
  for (const sql of appRoleStatements(a.RoleName, password)) {
    await rdsData.send(
      new ExecuteStatementCommand({ resourceArn: a.ClusterArn, secretArn: a.OwnerSecretArn, database: a.Database, sql }),
    );
  }
}
