// cdk-nag (v3: a CDK policy-validation plugin). Every finding the app accepts is acknowledged
// here, on the construct it concerns, with its reason; anything else fails `cdk synth`.
import { Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

export interface Acknowledged {
  /** `AwsSolutions-<rule>`, optionally narrowed to one finding: `AwsSolutions-IAM5[Resource::*]`. */
  readonly id: string;
  readonly reason: string;
}

/** Acknowledges cdk-nag rules on `construct` and everything below it. */
export function acknowledge(construct: IConstruct, ...rules: Acknowledged[]): void {
  for (const rule of rules) {
    if (rule.reason.trim().length < 20) throw new Error(`cdk-nag acknowledgement of ${rule.id} needs a real reason`);
    Validations.of(construct).acknowledge(rule);
  }
}
