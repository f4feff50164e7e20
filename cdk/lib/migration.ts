// The migration step of every deployment: a one-off Fargate task running `migrate` from the new
// auth image, started and awaited by a custom resource that both ECS services depend on, so no
// service changes before the schema is migrated, and a failed migration fails the deployment
// (with the task's last log lines in the error) before anything else changes.
//
// The custom resource's properties carry the task definition (its ARN changes with the image
// digest), so every deployment of a new image runs the migration once; a deployment that changes
// nothing else leaves it alone. lambda/migration/index.js is the handler; cdk/README.md says why
// a Lambda provider with an is-complete handler rather than Step Functions.
import * as path from 'path';
import { CustomResource, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { acknowledge } from './nag';
import { APP, Arch, EnvConfig, SERVICE_DEFAULTS, plainEnvironment, resourceName } from './config';
import { containerImage } from './images';

/** The application role the migration step creates and grants (lambda/migration/app-role.sql). */
export interface AppRoleGrant {
  readonly roleName: string;
  readonly database: string;
  readonly clusterArn: string;
  /** Its secret: the initial password is read from it when the role is created. */
  readonly secret: secretsmanager.ISecret;
}

export interface MigrationProps {
  readonly config: EnvConfig;
  readonly cluster: ecs.ICluster;
  /** The image whose `migrate` runs: the auth image of this deployment. */
  readonly image: string;
  readonly arch: Arch;
  readonly subnets: ec2.SubnetSelection;
  readonly vpc: ec2.IVpc;
  /** The network identity the task runs with: the auth service's (it may reach the database). */
  readonly securityGroup: ec2.ISecurityGroup;
  /** The owner's credentials: the only secret the migration task reads. */
  readonly ownerSecret: secretsmanager.ISecret;
  readonly appRole?: AppRoleGrant;
}

export const MIGRATION_CONTAINER = 'migrate';

/** The migration task definition's family. */
export function migrationFamily(env: string): string {
  return `${APP}-${env}-migrate`;
}

export class Migration extends Construct {
  readonly resource: CustomResource;
  readonly taskDefinition: ecs.FargateTaskDefinition;

  constructor(scope: Construct, id: string, props: MigrationProps) {
    super(scope, id);
    const env = props.config.name;

    const taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Task role of the migration step: reads the database owner secret and nothing else',
    });
    taskRole.addToPolicy(
      new iam.PolicyStatement({ sid: 'ReadOwnerSecret', actions: ['secretsmanager:GetSecretValue'], resources: [props.ownerSecret.secretArn] }),
    );
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      family: migrationFamily(env),
      cpu: props.config.sizes.auth.cpu,
      memoryLimitMiB: props.config.sizes.auth.memoryMiB,
      taskRole,
      runtimePlatform: {
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        cpuArchitecture: props.arch === 'arm64' ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
      },
    });
    const logGroup = new logs.LogGroup(this, 'LogGroup', {
      logGroupName: `/ecs/${APP}-${env}-migrate`,
      retention: props.config.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // The image's entrypoint is the binary (flake.nix), so the command is its subcommand.
    this.taskDefinition.addContainer(MIGRATION_CONTAINER, {
      containerName: MIGRATION_CONTAINER,
      image: containerImage(this, 'Repository', props.image),
      command: ['migrate'],
      user: SERVICE_DEFAULTS.user,
      readonlyRootFilesystem: true,
      essential: true,
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: MIGRATION_CONTAINER }),
      environment: {
        ...plainEnvironment('auth'),
        DB_SECRET: props.ownerSecret.secretArn,
      },
      stopTimeout: Duration.seconds(30),
    });
    acknowledge(this.taskDefinition,
      {
        id: 'AwsSolutions-ECS2',
        reason: 'The environment holds only non-secret settings and the ARN of the owner secret, which the binary reads at run time with the AWS SDK.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'The CDK-generated execution role: ecr:GetAuthorizationToken has no resource-level permissions (Resource "*"); the rest is scoped to this log group and repository.',
      },
    );

    const code = lambda.Code.fromAsset(path.join(__dirname, '..', 'lambda', 'migration'));
    const handler = (name: string, entry: string, description: string) =>
      new lambda.Function(this, name, {
        runtime: lambda.Runtime.NODEJS_22_X,
        architecture: lambda.Architecture.ARM_64,
        code,
        handler: `index.${entry}`,
        timeout: Duration.minutes(1),
        description,
        logGroup: new logs.LogGroup(this, `${name}Logs`, {
          retention: props.config.logRetentionDays as logs.RetentionDays,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
      });
    const onEvent = handler('StartMigration', 'onEvent', `task-management ${env}: starts the migration task of a deployment`);
    const isComplete = handler('AwaitMigration', 'isComplete', `task-management ${env}: awaits the migration task; creates and grants the application role`);

    const stack = Stack.of(this);
    onEvent.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'RunTheMigrationTask',
        actions: ['ecs:RunTask'],
        resources: [this.taskDefinition.taskDefinitionArn],
        conditions: { ArnEquals: { 'ecs:cluster': props.cluster.clusterArn } },
      }),
    );
    onEvent.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'HandItsRoles',
        actions: ['iam:PassRole'],
        resources: [taskRole.roleArn, this.taskDefinition.obtainExecutionRole().roleArn],
      }),
    );
    isComplete.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'WatchTheMigrationTask',
        actions: ['ecs:DescribeTasks'],
        resources: [stack.formatArn({ service: 'ecs', resource: 'task', resourceName: `${props.cluster.clusterName}/*` })],
      }),
    );
    isComplete.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'ReadItsLog', actions: ['logs:GetLogEvents'], resources: [`${logGroup.logGroupArn}`] }),
    );
    if (props.appRole) {
      isComplete.addToRolePolicy(
        new iam.PolicyStatement({ sid: 'GrantTheAppRole', actions: ['rds-data:ExecuteStatement'], resources: [props.appRole.clusterArn] }),
      );
      isComplete.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'AsTheOwner',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [props.ownerSecret.secretArn, props.appRole.secret.secretArn],
        }),
      );
    }

    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: onEvent,
      isCompleteHandler: isComplete,
      queryInterval: Duration.seconds(10),
      totalTimeout: Duration.minutes(30),
    });

    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::Migration',
      properties: {
        Name: resourceName(env, 'migration'),
        Cluster: props.cluster.clusterName,
        TaskDefinition: this.taskDefinition.taskDefinitionArn,
        // Redundant with the task definition's revision, but names the trigger: a new image, a new run.
        Image: props.image,
        ContainerName: MIGRATION_CONTAINER,
        Subnets: props.vpc.selectSubnets(props.subnets).subnetIds,
        SecurityGroups: [props.securityGroup.securityGroupId],
        LogGroup: logGroup.logGroupName,
        LogStreamPrefix: MIGRATION_CONTAINER,
        ...(props.appRole
          ? {
              AppRole: {
                RoleName: props.appRole.roleName,
                Database: props.appRole.database,
                ClusterArn: props.appRole.clusterArn,
                SecretArn: props.appRole.secret.secretArn,
                OwnerSecretArn: props.ownerSecret.secretArn,
              },
            }
          : {}),
      },
    });

    // cdk-nag names a pseudo parameter `<AWS::Region>`, a pinned stack's value literally.
    const pinned = (v: string, pseudo: string) => (Token.isUnresolved(v) ? `<${pseudo}>` : v);
    const lambdaArn = (f: lambda.IFunction) => `<${stack.getLogicalId(f.node.defaultChild as lambda.CfnFunction)}.Arn>:*`;
    const framework = ['isComplete', 'onTimeout'].map((n) => provider.node.findChild(`framework-${n}`) as lambda.IFunction);
    acknowledge(this,
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'The handlers and the provider framework use AWSLambdaBasicExecutionRole (their own log streams only); nothing else is managed.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:${pinned(stack.partition, 'AWS::Partition')}:ecs:${pinned(stack.region, 'AWS::Region')}:${pinned(stack.account, 'AWS::AccountId')}:task/<${stack.getLogicalId(props.cluster.node.defaultChild as ecs.CfnCluster)}>/*]`,
        reason: 'The migration task\'s ARN is only known once it runs: DescribeTasks is limited to the tasks of this cluster.',
      },
      ...[onEvent, isComplete, ...framework].map((f) => ({
        id: `AwsSolutions-IAM5[Resource::${lambdaArn(f)}]`,
        reason: 'The provider framework invokes the versions of its own handler functions (the `:*` qualifier), nothing else.',
      })),
      {
        id: 'AwsSolutions-L1',
        reason: 'The provider framework pins its own runtime; the handlers use the Node.js runtime whose bundled AWS SDK v3 they are written against.',
      },
      {
        id: 'AwsSolutions-SF1',
        reason: 'The provider framework\'s waiter state machine: each handler invocation logs to its function\'s log group, which is where a failed migration is diagnosed.',
      },
      {
        id: 'AwsSolutions-SF2',
        reason: 'The provider framework\'s waiter state machine runs once per deployment; X-Ray tracing of it would show nothing the handler logs do not.',
      },
    );
  }
}
