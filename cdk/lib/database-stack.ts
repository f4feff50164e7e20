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
import { EnvConfig, SERVICE_DEFAULTS, resourceName } from './config';

export interface DatabaseStackProps extends StackProps {
  readonly config: EnvConfig;
  readonly vpc: ec2.IVpc;
  readonly dbSg: ec2.ISecurityGroup;
  readonly rotationSg: ec2.ISecurityGroup;
}

/** Characters kept out of the generated password (they would need escaping in a URL). */
const EXCLUDE = '"@/\\:;+%?&=#`{}[]<>|~\' ';

export class DatabaseStack extends Stack {
  readonly cluster: rds.DatabaseCluster;
  readonly secret: secretsmanager.ISecret;

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
      clusterIdentifier: resourceName(config.name, 'db'),
      engine,
      credentials: rds.Credentials.fromGeneratedSecret('taskadmin', {
        secretName: `task-management/${config.name}/database`,
        excludeCharacters: EXCLUDE,
      }),
      defaultDatabaseName: 'taskmanagement',
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

    // Hosted rotation (the same Secrets Manager function the Copilot addon uses), in the
    // private subnets: it reaches Secrets Manager through the NAT and the database on 5432.
    this.secret.addRotationSchedule('Rotation', {
      automaticallyAfter: Duration.days(30),
      hostedRotation: secretsmanager.HostedRotation.postgreSqlSingleUser({
        functionName: resourceName(config.name, 'db-rotation'),
        vpc: props.vpc,
        vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        securityGroups: [props.rotationSg],
        excludeCharacters: EXCLUDE,
      }),
    });

    acknowledge(this.cluster,
        { id: 'AwsSolutions-RDS6', reason: 'The services authenticate with the rotated password secret (DB_SECRET); IAM database authentication is not implemented by them.' },
        { id: 'AwsSolutions-RDS11', reason: 'PostgreSQL default port 5432, as the Copilot deployment: reachable only from three security groups, so a non-default port adds nothing.' },
        ...(config.dbProtected
          ? []
          : [{ id: 'AwsSolutions-RDS10', reason: `Deletion protection is on in prod only; ${config.name} is meant to be torn down (docs/deploy.md).` }])
    );

    new CfnOutput(this, 'DbEndpoint', { value: this.cluster.clusterEndpoint.hostname, description: 'Aurora writer endpoint' });
    new CfnOutput(this, 'DbClusterId', { value: this.cluster.clusterIdentifier });
    new CfnOutput(this, 'DbSecretArn', { value: this.secret.secretArn, description: 'Database secret, handed to both services as DB_SECRET' });
  }
}
