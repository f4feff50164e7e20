// The migration step: a one-off `migrate` task from the new auth image, run and awaited by a
// custom resource that both services depend on.
import { ENV_NAMES } from '../lib/config';
import { MIGRATION_CONTAINER, migrationFamily } from '../lib/migration';
import { AUTH_IMAGE, build, refId, resources } from './helpers';

describe.each(ENV_NAMES)('%s migration', (env) => {
  const migration = () => {
    const { t } = build(env);
    const found = resources(t.services, 'Custom::Migration');
    expect(found).toHaveLength(1);
    return found[0];
  };

  test('each ECS service DependsOn the migration custom resource', () => {
    const { t } = build(env);
    const [id] = migration();
    const services = resources(t.services, 'AWS::ECS::Service');
    expect(services).toHaveLength(2);
    for (const [, s] of services) expect(s.DependsOn).toContain(id);
  });

  test('the migration task: `migrate` from the auth image, as the image user, read-only root, its own log group', () => {
    const { t } = build(env);
    const defs = resources(t.services, 'AWS::ECS::TaskDefinition').filter(([, d]) => d.Properties.Family === migrationFamily(env));
    expect(defs).toHaveLength(1);
    const [c] = defs[0][1].Properties.ContainerDefinitions;
    expect(c.Name).toBe(MIGRATION_CONTAINER);
    expect(c.Command).toEqual(['migrate']);
    expect(JSON.stringify(c.Image)).toContain(`task-management/auth@sha256:${'a'.repeat(64)}`);
    expect(c.User).toBe('65534');
    expect(c.ReadonlyRootFilesystem).toBe(true);
    expect(c.PortMappings).toBeUndefined();
    const envVars: Record<string, any> = Object.fromEntries(c.Environment.map((e: any) => [e.Name, e.Value]));
    expect(envVars.APP_ENV).toBe('production');
    expect(refId(envVars.DB_SECRET)).toMatch(/Database:.*ClusterSecretAttachment/); // the owner's
    expect(envVars.JWT_SIGNING_KEY_SECRET).toBeUndefined();
  });

  test('the custom resource runs that task in the auth service’s subnets and security group, and re-runs with a new image', () => {
    const { t } = build(env);
    const [, cr] = migration();
    const p = cr.Properties;
    const [tdId] = resources(t.services, 'AWS::ECS::TaskDefinition').find(([, d]) => d.Properties.Family === migrationFamily(env))!;
    expect(refId(p.TaskDefinition)).toBe(tdId);
    expect(p.Image).toBe(AUTH_IMAGE);
    expect(p.ContainerName).toBe(MIGRATION_CONTAINER);
    const [, auth] = resources(t.services, 'AWS::ECS::Service').find(([, s]) => JSON.stringify(s.Properties.ServiceRegistries ?? []).includes('Arn'))!;
    const vpc = auth.Properties.NetworkConfiguration.AwsvpcConfiguration;
    expect(p.Subnets).toEqual(vpc.Subnets);
    expect(p.SecurityGroups).toEqual(vpc.SecurityGroups);
    expect(refId(p.LogGroup)).toMatch(/^MigrationLogGroup/);
  });

  test('a new auth image changes the custom resource’s properties (so CloudFormation updates it: a new run)', () => {
    const other = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/task-management/auth@sha256:${'c'.repeat(64)}`;
    const { t } = build(env, { authImage: other });
    const [, cr] = resources(t.services, 'Custom::Migration')[0];
    expect(cr.Properties.Image).toBe(other);
    expect(cr.Properties.Image).not.toBe(migration()[1].Properties.Image);
  });

  test('the migration task role reads the owner secret only', () => {
    const { t } = build(env);
    const [tdId, td] = resources(t.services, 'AWS::ECS::TaskDefinition').find(([, d]) => d.Properties.Family === migrationFamily(env))!;
    expect(tdId).toBeTruthy();
    const roleId = refId(td.Properties.TaskRoleArn);
    const statements = resources(t.services, 'AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.Roles.some((r: any) => r.Ref === roleId))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    expect(statements).toHaveLength(1);
    expect(statements[0].Action).toBe('secretsmanager:GetSecretValue');
    expect(refId(statements[0].Resource)).toMatch(/Database:.*ClusterSecretAttachment/);
  });
});
