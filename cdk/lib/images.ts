// An image URI as `nix run .#publish` prints it (…dkr.ecr.<region>.amazonaws.com/<repo>@sha256:…
// or :<tag>) becomes an ECR image the execution role may pull, and nothing else; any other
// registry is taken as a public one.
import { Arn, Stack } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { Construct } from 'constructs';

const ECR_URI = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([a-z0-9._\/-]+)(?:@(sha256:[0-9a-f]{64})|:([\w.-]+))$/;

export interface EcrImageRef {
  readonly account: string;
  readonly region: string;
  readonly repository: string;
  /** `sha256:…` or a tag. */
  readonly tagOrDigest: string;
}

export function parseEcrUri(uri: string): EcrImageRef | undefined {
  const m = ECR_URI.exec(uri);
  if (!m) return undefined;
  return { account: m[1], region: m[2], repository: m[3], tagOrDigest: m[4] ?? m[5] };
}

export function containerImage(scope: Construct, id: string, uri: string): ecs.ContainerImage {
  const ref = parseEcrUri(uri);
  if (!ref) return ecs.ContainerImage.fromRegistry(uri);
  const partition = Stack.of(scope).partition;
  const repository = ecr.Repository.fromRepositoryAttributes(scope, id, {
    repositoryArn: Arn.format({ partition, service: 'ecr', account: ref.account, region: ref.region, resource: 'repository', resourceName: ref.repository }),
    repositoryName: ref.repository,
  });
  return ecs.ContainerImage.fromEcrRepository(repository, ref.tagOrDigest);
}
