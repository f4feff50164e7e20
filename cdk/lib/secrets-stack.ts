// The JWT signing-key secret of the auth service.
//
// The value is an Ed25519 private key in PKCS#8 PEM, which CloudFormation cannot generate: the
// secret is created EMPTY (no version) and the runbook (docs/deploy.md) fills it with
// `openssl genpkey -algorithm ed25519` + `aws secretsmanager put-secret-value` after this stack
// is deployed and before the services stack is. It is a stack of its own so that it exists, and
// is filled, before the first auth task starts (without a key auth refuses to start in
// production, the circuit breaker would roll the services stack back).
//
// Read access: only auth's task role (services stack, fixed role name) gets GetSecretValue; the
// resource policy below denies it to every other principal, as copilot's jwt-signing-key.yml does.
import { ArnFormat, CfnOutput, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledge } from './nag';
import { EnvConfig, taskRoleName } from './config';

export interface SecretsStackProps extends StackProps {
  readonly config: EnvConfig;
}

export class SecretsStack extends Stack {
  readonly jwtSigningKey: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: SecretsStackProps) {
    super(scope, id, props);
    const env = props.config.name;

    this.jwtSigningKey = new secretsmanager.Secret(this, 'JwtSigningKeySecret', {
      secretName: `task-management/${env}/jwt-signing-key`,
      description: `Ed25519 private key (PKCS#8 PEM) the task-management ${env} auth service signs tokens with`,
    });
    // An empty secret, as copilot's addon creates it: no generated placeholder that auth could
    // mistake for a key (a random password would fail its start-up just the same, but less clearly).
    (this.jwtSigningKey.node.defaultChild as secretsmanager.CfnSecret).addPropertyDeletionOverride('GenerateSecretString');
    // CloudFormation deletes a secret without a recovery window: in prod the key outlives its stack.
    this.jwtSigningKey.applyRemovalPolicy(props.config.retainSecrets ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY);

    const authRoleArn = Stack.of(this).formatArn({
      service: 'iam',
      region: '',
      resource: 'role',
      resourceName: taskRoleName(env, 'auth'),
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    this.jwtSigningKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyTheAuthTaskRoleReadsTheKey',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['secretsmanager:GetSecretValue'],
        resources: ['*'],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': authRoleArn } },
      }),
    );

    acknowledge(this.jwtSigningKey,
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'An Ed25519 signing key cannot be rotated by a Secrets Manager rotation function; it is rotated by hand ' +
          '(new key first, previous key second in the same secret, docs/deploy.md), as with the Copilot deployment.',
      }
    );

    new CfnOutput(this, 'JwtSigningKeySecretArn', {
      value: this.jwtSigningKey.secretArn,
      description: 'JWT signing key secret: fill it before the first deploy of the services stack (docs/deploy.md)',
    });
  }
}
