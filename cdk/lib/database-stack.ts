// Aurora Serverless v2 PostgreSQL shared by auth and task (copilot/environments/addons/database.yml).
//
// Encrypted, in the isolated subnets, 7-day backups, credentials generated into a Secrets
// Manager secret of the RDS JSON shape {username, password, host, port, dbname, engine} (what
// DB_SECRET expects), rotated every 30 days by the Secrets Manager hosted rotation function.
// Reachable on 5432 only from the two services' and the rotation function's security groups
// (network-stack.ts). max_connections is pinned to 200: 5 × 20 tasks = 100 planned, alarm at 160.
import { CfnOutput, Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledge } from './nag';
import { APP_ROLE, DATABASE_NAME, DB_SECRET_NAME_PREFIX, EnvConfig, SERVICE_DEFAULTS, dbClusterIdentifier, resourceName } from './config';

export interface DatabaseStackProps extends StackProps {
  readonly config: EnvConfig;
  readonly vpc: ec2.IVpc;
  readonly dbSg: ec2.ISecurityGroup;
  readonly rotationSg: ec2.ISecurityGroup;
}

/** Characters kept out of the generated passwords (they would need escaping in a URL or in SQL). */
const EXCLUDE = '"@/\\:;+%?&=#`{}[]<>|~\' $';

export class DatabaseStack extends Stack {
  readonly cluster: rds.DatabaseCluster;
  /** The owner's (master user's) credentials: the migration step only. */
  readonly secret: secretsmanager.ISecret;
  /** The application role's credentials: both services (DB_SECRET). */
  readonly appSecret: secretsmanager.ISecret;

  constructor(scope: Construct, id: string, props: DatabaseStackProps) {
    super(scope, id, props);
    const { config } = props;
    const engine = rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_13 });

    const clusterParameters = new rds.ParameterGroup(this, 'ClusterParameters', {
      engine,
      description: `${resourceName(config.name, 'db')} cluster parameters`,
      parameters: { 'rds.force_ssl': '1' },
    });
    const instanceParameters = new rds.ParameterGroup(this, 'InstanceParameters', {
      engine,
      description: `${resourceName(config.name, 'db')} instance parameters (max_connections pinned)`,
      parameters: { max_connections: String(SERVICE_DEFAULTS.dbMaxConnections) },
    });

    this.cluster = new rds.DatabaseCluster(this, 'Cluster', {
      // A fixed identifier, as in the Copilot addon: the alarms and the dashboard name it.
      clusterIdentifier: dbClusterIdentifier(config.name),
      engine,
      credentials: rds.Credentials.fromGeneratedSecret('taskadmin', {
        secretName: DB_SECRET_NAME_PREFIX(config.name),
        excludeCharacters: EXCLUDE,
      }),
      defaultDatabaseName: DATABASE_NAME,
      // The migration step creates and grants the application role through the Data API, as the
      // owner, without a database driver or a VPC placement of its own (lambda/migration).
      enableDataApi: true,
      port: 5432,
      writer: rds.ClusterInstance.serverlessV2('writer', { parameterGroup: instanceParameters, publiclyAccessible: false }),
      readers: config.dbReader
        ? [rds.ClusterInstance.serverlessV2('reader', { parameterGroup: instanceParameters, scaleWithWriter: true, publiclyAccessible: false })]
        : [],
      serverlessV2MinCapacity: config.dbMinAcu,
      serverlessV2MaxCapacity: config.dbMaxAcu,
      parameterGroup: clusterParameters,
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [props.dbSg],
      storageEncrypted: true,
      backup: { retention: Duration.days(7), preferredWindow: '03:00-04:00' },
      preferredMaintenanceWindow: 'sun:04:30-sun:05:30',
      copyTagsToSnapshot: true,
      deletionProtection: config.dbProtected,
      removalPolicy: config.dbProtected ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
      cloudwatchLogsExports: ['postgresql'],
    });
    this.secret = this.cluster.secret!;
    // The exported PostgreSQL log's group, created here with a retention (rather than by RDS,
    // without one, or by a log-retention Lambda).
    const postgresLog = new logs.LogGroup(this, 'PostgresLogGroup', {
      logGroupName: `/aws/rds/cluster/${resourceName(config.name, 'db')}/postgresql`,
      retention: config.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.cluster.node.addDependency(postgresLog);

    const secretRemoval = config.retainSecrets ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    (this.cluster.node.findChild('Secret') as secretsmanager.ISecret).applyRemovalPolicy(secretRemoval);
    const writer = this.cluster.node.findChild('writer');

    // Hosted rotation (the same Secrets Manager function the Copilot addon uses), in the
    // private subnets: it reaches Secrets Manager through the NAT and the database on 5432.
    // A schedule rotates at once when it is created: only once the writer exists.
    const rotation = (id: string, secret: secretsmanager.ISecret, hostedRotation: secretsmanager.HostedRotation, rotateImmediatelyOnUpdate: boolean) => {
      const schedule = secret.addRotationSchedule(id, { automaticallyAfter: Duration.days(30), hostedRotation, rotateImmediatelyOnUpdate });
      schedule.node.addDependency(writer);
      return schedule;
    };
    const hosted = { vpc: props.vpc, vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }, securityGroups: [props.rotationSg], excludeCharacters: EXCLUDE };
    rotation('Rotation', this.secret, secretsmanager.HostedRotation.postgreSqlSingleUser({ functionName: resourceName(config.name, 'db-rotation'), ...hosted }), true);

    // The application role: DML only (lambda/migration/app-role.sql). Its secret carries the
    // owner's ARN (`masterarn`), which multi-user rotation logs in with to set the password of
    // the role's `_clone` twin in turn, so the services never hold a password being changed.
    const appSecret = new rds.DatabaseSecret(this, 'AppSecret', {
      username: APP_ROLE,
      secretName: `${DB_SECRET_NAME_PREFIX(config.name)}-app`,
      masterSecret: this.secret,
      excludeCharacters: EXCLUDE,
    });
    appSecret.applyRemovalPolicy(secretRemoval);
    this.appSecret = appSecret.attach(this.cluster);
    // Not at once: the role exists only after the first deployment's migration step, and a
    // rotation before it could not log in with the current password (docs/deploy.md).
    rotation('AppRotation', this.appSecret, secretsmanager.HostedRotation.postgreSqlMultiUser({ functionName: resourceName(config.name, 'db-app-rotation'), masterSecret: this.secret, ...hosted }), false);

    acknowledge(this.cluster,
        { id: 'AwsSolutions-RDS6', reason: 'The services authenticate with the rotated password secret (DB_SECRET); IAM database authentication is not implemented by them.' },
        { id: 'AwsSolutions-RDS11', reason: 'PostgreSQL default port 5432, as the Copilot deployment: reachable only from three security groups, so a non-default port adds nothing.' },
        ...(config.dbProtected
          ? []
          : [{ id: 'AwsSolutions-RDS10', reason: `Deletion protection is on in prod only; ${config.name} is meant to be torn down (docs/deploy.md).` }])
    );

    new CfnOutput(this, 'DbEndpoint', { value: this.cluster.clusterEndpoint.hostname, description: 'Aurora writer endpoint' });
    new CfnOutput(this, 'DbClusterId', { value: this.cluster.clusterIdentifier });
    new CfnOutput(this, 'DbSecretArn', { value: this.secret.secretArn, description: 'The owner\'s secret: read by the migration step only' });
    new CfnOutput(this, 'DbAppSecretArn', { value: this.appSecret.secretArn, description: 'The application role\'s secret, handed to both services as DB_SECRET' });
  }
}
