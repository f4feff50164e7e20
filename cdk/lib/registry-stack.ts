// The two ECR repositories `nix run .#publish` pushes to: task-management/auth and
// task-management/task. One stack for every environment (images are promoted by digest from
// test to prod). Deploy it once, before the first publish; skip it when the repositories
// already exist (a `copilot svc init` created them).
//
// Tags are immutable and every release is pushed under a tag of its own (`publish`: version and
// commit), so the image a deployment runs by digest stays tagged and no rule can expire it: the
// lifecycle rule removes only untagged images (a push that never got its tag). Release images are
// kept until someone deletes them (docs/deploy.md, "The registry").
import { Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import { CfnOutput } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { APP, SERVICES } from './config';

export interface RegistryStackProps extends StackProps {
  /** Accounts whose environments pull these images (`-c pullAccounts=…`). */
  readonly pullAccounts: readonly string[];
}

/** Days an untagged image is kept. */
export const UNTAGGED_DAYS = 14;

export class RegistryStack extends Stack {
  constructor(scope: Construct, id: string, props: RegistryStackProps) {
    super(scope, id, props);
    for (const { name } of SERVICES) {
      const repo = new ecr.Repository(this, `${name}Repository`, {
        repositoryName: `${APP}/${name}`,
        imageScanOnPush: true,
        imageTagMutability: ecr.TagMutability.IMMUTABLE,
        // Kept when the stack goes: a deployed environment may still run these images.
        removalPolicy: RemovalPolicy.RETAIN,
        lifecycleRules: [
          { description: `untagged images, ${UNTAGGED_DAYS} days after their push`, tagStatus: ecr.TagStatus.UNTAGGED, maxImageAge: Duration.days(UNTAGGED_DAYS) },
        ],
      });
      if (props.pullAccounts.length > 0) {
        repo.addToResourcePolicy(
          new iam.PolicyStatement({
            sid: 'PullFromTheGivenAccounts',
            principals: props.pullAccounts.map((a) => new iam.AccountPrincipal(a)),
            actions: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
          }),
        );
      }
      new CfnOutput(this, `${name}RepositoryUri`, { value: repo.repositoryUri });
    }
  }
}
