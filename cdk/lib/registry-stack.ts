// The two ECR repositories `nix run .#publish` pushes to: task-management/auth and
// task-management/task. One stack for every environment (images are promoted by digest from
// test to prod). Deploy it once, before the first publish; skip it when the repositories
// already exist (a `copilot svc init` created them).
import { CfnOutput, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import { Construct } from 'constructs';
import { APP, SERVICES } from './config';

export class RegistryStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    for (const { name } of SERVICES) {
      const repo = new ecr.Repository(this, `${name}Repository`, {
        repositoryName: `${APP}/${name}`,
        imageScanOnPush: true,
        // Kept when the stack goes: a deployed environment may still run these images.
        removalPolicy: RemovalPolicy.RETAIN,
        lifecycleRules: [{ description: 'keep the 50 newest images', maxImageCount: 50 }],
      });
      new CfnOutput(this, `${name}RepositoryUri`, { value: repo.repositoryUri });
    }
  }
}
