// The VPC and every security group with all of its rules, in one place.
//
// The groups live here rather than beside what they protect so that the database stack can let
// the services in and the services stack can reach the database without a reference cycle, and
// so that the whole network policy can be read (and tested) in one template.
import { RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from './nag';
import { EnvConfig, SERVICE_DEFAULTS } from './config';

export interface NetworkStackProps extends StackProps {
  readonly config: EnvConfig;
  /** Who may reach the load balancer: these IPv4 ranges, or (absent) the whole internet. */
  readonly allowedCidrs?: readonly string[];
  /** HTTPS on 443 (80 only redirects); otherwise plain HTTP on 80 alone. */
  readonly https: boolean;
}

export class NetworkStack extends Stack {
  readonly vpc: ec2.Vpc;
  readonly albSg: ec2.SecurityGroup;
  readonly authSg: ec2.SecurityGroup;
  readonly taskSg: ec2.SecurityGroup;
  readonly dbSg: ec2.SecurityGroup;
  /** The Secrets Manager hosted rotation function of the database secret. */
  readonly rotationSg: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: NetworkStackProps) {
    super(scope, id, props);
    const { config } = props;

    // Two AZs; public (load balancer, NAT), private with egress (tasks, rotation function),
    // isolated (database). Environment-agnostic stacks pick the first two AZs of the region at
    // deploy time (Fn::GetAZs), so synth needs no lookup.
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.0.0.0/16'),
      maxAzs: 2,
      natGateways: config.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        { name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
    });
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogGroup', {
      retention: config.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });

    const port = ec2.Port.tcp(SERVICE_DEFAULTS.containerPort);
    const sg = (id: string, description: string, allowAllOutbound: boolean) =>
      new ec2.SecurityGroup(this, id, { vpc: this.vpc, description, allowAllOutbound });

    const ports = props.https ? [80, 443] : [80];
    const peers = props.allowedCidrs ? props.allowedCidrs.map((c) => ec2.Peer.ipv4(c)) : [ec2.Peer.anyIpv4()];
    const from = props.allowedCidrs ? 'the allowed ranges (-c allowedCidrs)' : 'anywhere';
    this.albSg = sg('AlbSecurityGroup', `Load balancer: ${ports.join('/')} from ${from}; to the services on 3000 only`, false);
    for (const peer of peers) {
      for (const p of ports) {
        const what = p === 443 ? 'HTTPS' : props.https ? 'HTTP (redirected to HTTPS)' : 'HTTP';
        this.albSg.addIngressRule(peer, ec2.Port.tcp(p), `${what} from ${props.allowedCidrs ? peer.uniqueId : 'anywhere'}`);
      }
    }
    if (!props.allowedCidrs) {
      acknowledge(this.albSg, {
        id: 'AwsSolutions-EC23',
        reason: `The internet-facing load balancer of a public API: ${ports.join(' and ')} only${props.https ? ' (80 only redirects)' : ' (plain HTTP only when the synth was told -c allowPublicHttp=true)'}; nothing else is open to the world.`,
      });
    }

    // The tasks reach ECR, CloudWatch Logs, Secrets Manager (443 through the NAT) and the
    // database (5432); outbound stays open, inbound is only what is listed.
    this.authSg = sg('AuthSecurityGroup', 'auth service: 3000 from the load balancer and the task service', true);
    this.taskSg = sg('TaskSecurityGroup', 'task service: 3000 from the load balancer', true);
    this.authSg.addIngressRule(this.albSg, port, 'from the load balancer');
    this.albSg.addEgressRule(this.authSg, port, 'to the auth service');
    this.authSg.addIngressRule(this.taskSg, port, 'task service fetches the JWK Set (AUTH_SERVICE_URL)');
    this.taskSg.addIngressRule(this.albSg, port, 'from the load balancer');
    this.albSg.addEgressRule(this.taskSg, port, 'to the task service');

    this.rotationSg = sg('DbRotationSecurityGroup', 'Database secret rotation function: no inbound', true);
    this.dbSg = sg('DatabaseSecurityGroup', 'PostgreSQL: 5432 from the two services and the rotation function only', false);
    const pg = ec2.Port.tcp(5432);
    this.dbSg.addIngressRule(this.authSg, pg, 'PostgreSQL from the auth service');
    this.dbSg.addIngressRule(this.taskSg, pg, 'PostgreSQL from the task service');
    this.dbSg.addIngressRule(this.rotationSg, pg, 'PostgreSQL from the secret rotation function');
  }
}
