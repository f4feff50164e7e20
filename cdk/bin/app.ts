#!/usr/bin/env node
// npx cdk synth -c env=<dev|test|prod> -c authImage=<uri> -c taskImage=<uri> [-c arch=…]
//   [-c account=… -c region=…] [-c certificateArn=… -c domain=…] (prod: required)
//   [-c allowedCidrs=…] [-c allowPublicHttp=true] [-c waf=true|false] [-c pullAccounts=…]
import { App } from 'aws-cdk-lib';
import { buildStacks } from '../lib/app';
import { parseContext } from '../lib/context';

const app = new App();
let input;
try {
  input = parseContext((key) => app.node.tryGetContext(key));
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
for (const w of input.warnings) console.error(`WARNING: ${w}`);
buildStacks(app, input);
app.synth();
