// Builds the whole app from the checked context: one stack per concern, in dependency order
// network → secrets → database → observability → services. cdk-nag's AwsSolutions pack runs on
// every stack; a finding that is not suppressed (with its reason, beside the resource) is an
// error, so `cdk synth` fails.
import { App, Environment, Stack, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { APP, ecsClusterName } from './config';
import { DeployInput } from './context';
import { DatabaseStack } from './database-stack';
import { NetworkStack } from './network-stack';
import { ObservabilityStack } from './observability-stack';
import { RegistryStack } from './registry-stack';
import { SecretsStack } from './secrets-stack';
import { ServicesStack } from './services-stack';

export interface TaskManagementStacks {
  readonly network: NetworkStack;
  readonly secrets: SecretsStack;
  readonly database: DatabaseStack;
  readonly observability: ObservabilityStack;
  readonly services: ServicesStack;
  readonly registry: RegistryStack;
}

/** `TaskManagement-<env>-<Concern>`: the stack names `cdk deploy` takes. */
export function stackName(env: string, concern: string): string {
  return `TaskManagement-${env}-${concern}`;
}

export function buildStacks(app: App, input: DeployInput): TaskManagementStacks {
  const config = input.env;
  const env: Environment | undefined = input.account ? { account: input.account, region: input.region } : undefined;
  const common = (concern: string, description: string) => ({
    env,
    stackName: stackName(config.name, concern),
    description: `task-management ${config.name}: ${description}`,
  });

  // Shared by every environment (one name, whatever -c env says).
  const registry = new RegistryStack(app, 'TaskManagement-Registry', {
    env,
    pullAccounts: input.pullAccounts,
    description: 'task-management: ECR repositories nix run .#publish pushes to',
  });
  const network = new NetworkStack(app, stackName(config.name, 'Network'), {
    ...common('Network', 'VPC over two AZs, NAT, security groups'),
    config,
    allowedCidrs: input.allowedCidrs,
    https: input.certificateArn !== undefined,
  });
  const secrets = new SecretsStack(app, stackName(config.name, 'Secrets'), {
    ...common('Secrets', 'JWT signing key secret (fill it before deploying the services)'),
    config,
  });
  const database = new DatabaseStack(app, stackName(config.name, 'Database'), {
    ...common('Database', 'Aurora Serverless v2 PostgreSQL with a rotated credentials secret'),
    config,
    vpc: network.vpc,
    dbSg: network.dbSg,
    rotationSg: network.rotationSg,
  });
  const observability = new ObservabilityStack(app, stackName(config.name, 'Observability'), {
    ...common('Observability', 'alarm topic, database alarms, dashboard'),
    config,
    ecsClusterName: ecsClusterName(config.name),
  });
  observability.addStackDependency(database, 'the alarms and the dashboard watch the database cluster by its fixed name');
  const services = new ServicesStack(app, stackName(config.name, 'Services'), {
    ...common('Services', 'ECS cluster, load balancer, auth and task services, their alarms'),
    config,
    images: { auth: input.authImage, task: input.taskImage },
    arch: input.arch,
    vpc: network.vpc,
    albSg: network.albSg,
    serviceSgs: { auth: network.authSg, task: network.taskSg },
    ownerSecret: database.secret,
    appSecret: database.appSecret,
    jwtSigningKey: secrets.jwtSigningKey,
    certificateArn: input.certificateArn,
    domain: input.domain,
    waf: input.waf,
  });
  services.addStackDependency(observability, 'the services\' alarms notify the alarm topic (by its fixed name)');
  // The key must be filled before the first auth task starts: deploy order says so.
  services.addStackDependency(secrets, 'auth reads the JWT signing key at start-up');

  const all: Stack[] = [registry, network, secrets, database, observability, services];
  for (const stack of all) {
    Tags.of(stack).add('application', APP);
    Tags.of(stack).add('environment', config.name);
  }
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }));
  return { registry, network, secrets, database, observability, services };
}
