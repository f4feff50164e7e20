// The migration custom resource's handler (lambda/migration/index.js) against mocked AWS clients.
import { mockClient } from 'aws-sdk-client-mock';
import { DescribeTasksCommand, ECSClient, RunTaskCommand } from '@aws-sdk/client-ecs';
import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { ExecuteStatementCommand, RDSDataClient } from '@aws-sdk/client-rds-data';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const handler = require('../lambda/migration/index.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { appRoleStatements } = require('../lambda/migration/sql.js');

const ecs = mockClient(ECSClient);
const logs = mockClient(CloudWatchLogsClient);
const rdsData = mockClient(RDSDataClient);
const secrets = mockClient(SecretsManagerClient);

const TASK_ARN = 'arn:aws:ecs:eu-west-1:123456789012:task/task-management-test/0123456789abcdef';
const props = {
  ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:provider',
  Name: 'task-management-test-migration',
  Cluster: 'task-management-test',
  TaskDefinition: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/task-management-test-migrate:7',
  Image: 'example/auth@sha256:aaaa',
  ContainerName: 'migrate',
  Subnets: ['subnet-1', 'subnet-2'],
  SecurityGroups: ['sg-1'],
  LogGroup: '/ecs/task-management-test-migrate',
  LogStreamPrefix: 'migrate',
};
const appRole = {
  RoleName: 'taskapp',
  Database: 'taskmanagement',
  ClusterArn: 'arn:aws:rds:eu-west-1:123456789012:cluster:task-management-test-db',
  SecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:app',
  OwnerSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:owner',
};
const event = (RequestType: string, extra: Record<string, unknown> = {}) => ({ RequestType, ResourceProperties: props, ...extra });
const stopped = (exitCode: number | undefined, stoppedReason = 'Essential container in task exited') => ({
  tasks: [{ taskArn: TASK_ARN, lastStatus: 'STOPPED', stoppedReason, containers: [{ name: 'migrate', exitCode }] }],
});

beforeEach(() => {
  ecs.reset();
  logs.reset();
  rdsData.reset();
  secrets.reset();
});

describe('onEvent', () => {
  test.each(['Create', 'Update'])('%s starts one migration task in the given subnets and security groups, without a public IP', async (type) => {
    ecs.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK_ARN }], failures: [] });
    const out = await handler.onEvent(event(type, type === 'Update' ? { PhysicalResourceId: 'kept' } : {}));
    expect(out.Data.TaskArn).toBe(TASK_ARN);
    expect(out.PhysicalResourceId).toBe(type === 'Update' ? 'kept' : props.Name);
    const calls = ecs.commandCalls(RunTaskCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toMatchObject({
      cluster: props.Cluster,
      taskDefinition: props.TaskDefinition,
      count: 1,
      launchType: 'FARGATE',
      networkConfiguration: { awsvpcConfiguration: { subnets: props.Subnets, securityGroups: props.SecurityGroups, assignPublicIp: 'DISABLED' } },
    });
  });

  test('Delete runs nothing', async () => {
    const out = await handler.onEvent(event('Delete', { PhysicalResourceId: 'kept' }));
    expect(out).toEqual({ PhysicalResourceId: 'kept' });
    expect(ecs.commandCalls(RunTaskCommand)).toHaveLength(0);
  });

  test('a task that cannot be placed fails the deployment with ECS’s reason', async () => {
    ecs.on(RunTaskCommand).resolves({ tasks: [], failures: [{ arn: 'x', reason: 'RESOURCE:ENI' }] });
    await expect(handler.onEvent(event('Create'))).rejects.toThrow(/did not start: .*RESOURCE:ENI/);
  });
});

describe('isComplete', () => {
  const started = (extra: Record<string, unknown> = {}) => event('Update', { PhysicalResourceId: 'kept', Data: { TaskArn: TASK_ARN }, ...extra });

  test('not complete while the task runs', async () => {
    ecs.on(DescribeTasksCommand).resolves({ tasks: [{ taskArn: TASK_ARN, lastStatus: 'RUNNING', containers: [{ name: 'migrate' }] }] });
    await expect(handler.isComplete(started())).resolves.toEqual({ IsComplete: false });
    expect(ecs.commandCalls(DescribeTasksCommand)[0].args[0].input).toEqual({ cluster: props.Cluster, tasks: [TASK_ARN] });
  });

  test('complete when the migration exited 0', async () => {
    ecs.on(DescribeTasksCommand).resolves(stopped(0));
    await expect(handler.isComplete(started())).resolves.toMatchObject({ IsComplete: true });
    expect(logs.commandCalls(GetLogEventsCommand)).toHaveLength(0);
  });

  test('a non-zero exit fails with the task’s last log lines, read from its log stream', async () => {
    ecs.on(DescribeTasksCommand).resolves(stopped(1));
    logs.on(GetLogEventsCommand).resolves({
      events: [{ message: '{"level":"INFO","msg":"applying m0012"}' }, { message: '{"level":"ERROR","msg":"relation \\"tasks\\" is locked"}\n' }],
    });
    await expect(handler.isComplete(started())).rejects.toThrow(/failed \(exit code 1: Essential container in task exited\).*\n.*applying m0012.*\n.*relation \\"tasks\\" is locked/);
    expect(logs.commandCalls(GetLogEventsCommand)[0].args[0].input).toMatchObject({
      logGroupName: props.LogGroup,
      logStreamName: 'migrate/migrate/0123456789abcdef',
      startFromHead: false,
    });
    expect(rdsData.commandCalls(ExecuteStatementCommand)).toHaveLength(0);
  });

  test('a task that never ran its container (no exit code) fails naming ECS’s reason, even when the log cannot be read', async () => {
    ecs.on(DescribeTasksCommand).resolves(stopped(undefined, 'CannotPullContainerError: pull image manifest has been retried'));
    logs.on(GetLogEventsCommand).rejects(Object.assign(new Error('The specified log stream does not exist.'), { name: 'ResourceNotFoundException' }));
    await expect(handler.isComplete(started())).rejects.toThrow(/exit code none: CannotPullContainerError.*\n\(could not read .*ResourceNotFoundException/s);
  });

  test('a long log is cut to the newest lines within the budget', async () => {
    ecs.on(DescribeTasksCommand).resolves(stopped(2));
    logs.on(GetLogEventsCommand).resolves({ events: Array.from({ length: 20 }, (_, i) => ({ message: `line ${i} ${'x'.repeat(400)}` })) });
    const err: Error = await handler.isComplete(started()).catch((e: Error) => e);
    expect(err.message.length).toBeLessThan(3500);
    expect(err.message).toContain('line 19');
    expect(err.message).not.toContain('line 0 ');
  });

  test('after a successful migration the application role statements run as the owner, through the Data API', async () => {
    ecs.on(DescribeTasksCommand).resolves(stopped(0));
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ username: 'taskapp', password: 'p4ssw0rd-generated-long' }) });
    rdsData.on(ExecuteStatementCommand).resolves({});
    const e = started({ ResourceProperties: { ...props, AppRole: appRole } });
    await expect(handler.isComplete(e)).resolves.toMatchObject({ IsComplete: true });
    expect(secrets.commandCalls(GetSecretValueCommand)[0].args[0].input).toEqual({ SecretId: appRole.SecretArn });
    const sql = rdsData.commandCalls(ExecuteStatementCommand).map((c) => c.args[0].input);
    expect(sql.map((s) => s.sql)).toEqual(appRoleStatements('taskapp', 'p4ssw0rd-generated-long'));
    for (const s of sql) {
      expect(s.resourceArn).toBe(appRole.ClusterArn);
      expect(s.secretArn).toBe(appRole.OwnerSecretArn);
      expect(s.database).toBe('taskmanagement');
    }
  });

  test('a failed grant fails the deployment', async () => {
    ecs.on(DescribeTasksCommand).resolves(stopped(0));
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ username: 'taskapp', password: 'p4ssw0rd-generated-long' }) });
    rdsData.on(ExecuteStatementCommand).rejects(new Error('permission denied for schema public'));
    await expect(handler.isComplete(started({ ResourceProperties: { ...props, AppRole: appRole } }))).rejects.toThrow(/permission denied/);
  });

  test('Delete completes at once', async () => {
    await expect(handler.isComplete(event('Delete', { PhysicalResourceId: 'kept' }))).resolves.toEqual({ IsComplete: true });
    expect(ecs.commandCalls(DescribeTasksCommand)).toHaveLength(0);
  });
});
