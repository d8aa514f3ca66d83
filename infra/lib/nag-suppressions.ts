import { CfnResource, Stack, Validations } from "aws-cdk-lib";
import type { Construct } from "constructs";
import type { GpuBillingFunction } from "./gpu-billing-function.js";
import type { DataStorage } from "./data-storage.js";

/** What the stack granted a function with a wildcard, recorded as it granted it (gpu-billing-stack.ts). */
export interface FunctionFindings {
  /** Top-level bucket prefixes whose objects (`<prefix>/*`) the role may touch. */
  objectPrefixes: string[];
  /** Actions granted on `*` (no resource-level permissions), each with why. */
  starActions: string[];
  /** Auto Scaling group names whose ARN (with `*` for the group's UUID) the role may act on. */
  asgNames: string[];
}

/**
 * Every cdk-nag (AwsSolutions) finding this stack accepts, each with why.
 * Acknowledgments are scoped to the construct they concern and, for IAM5, to
 * the exact wildcard the stack granted that function, so a new wildcard
 * (another prefix, another `*` action) fails synth until it is justified here.
 */
export function applyNagSuppressions(stack: Stack, storage: DataStorage, functions: Map<GpuBillingFunction, FunctionFindings>): void {
  const logicalId = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as CfnResource);
  const bucketId = logicalId(storage.bucket);

  for (const [f, found] of functions) {
    const v = Validations.of(f);
    for (const prefix of new Set(found.objectPrefixes.map((p) => p.replace(/\/$/, ""))))
      v.acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix}/*]`,
        reason: `Object keys under ${prefix}/ name months, tenants and runs (month=YYYY-MM/…), unknown at deploy time; the grant is that one prefix of one bucket.`,
      });
    if (found.starActions.length)
      v.acknowledge({
        id: "AwsSolutions-IAM5[Resource::*]",
        reason: `Only actions AWS offers no resource-level permission for use '*': ${found.starActions.join("; ")}.`,
      });
    for (const name of new Set(found.asgNames))
      v.acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:*:autoScalingGroupName/${name}]`,
        reason: `Terminate/SetDesiredCapacity on the controller policy's Auto Scaling group ${name} only; the '*' is the group's UUID, which is not known at deploy time.`,
      });
    v.acknowledge({
      id: "AwsSolutions-SQS3",
      reason:
        "This queue is itself the dead-letter queue (Lambda on-failure destination and the schedule's DLQ); a DLQ of a DLQ adds nothing.",
    });
    v.acknowledge({
      id: "AwsSolutions-L1",
      reason: "nodejs22.x is the platform's chosen LTS runtime (tested with it); moving to a newer runtime is a deliberate, tested change.",
    });
    v.acknowledge({
      id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]",
      reason:
        "Functions in the VPC need ec2:CreateNetworkInterface & co. on '*'; the AWS managed policy is exactly that minimum and AWS maintains it.",
    });
    // The scheduler's invoke role may call the function and its versions (`<arn>:*`), nothing else.
    Validations.of(stack).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalId(f.fn)}.Arn>:*]`,
      reason: "EventBridge Scheduler's role for this target may invoke this one function and its versions/aliases only.",
    });
  }
  Validations.of(storage.accessLogs).acknowledge({
    id: "AwsSolutions-S1",
    reason: "This is the server access log bucket itself; logging it into itself would loop.",
  });
}

/** The report-link signer (an IAM user whose key signs presigned report links) and its secret. */
export function acknowledgeReportLinkSigner(
  stack: Stack,
  storage: DataStorage,
  user: Construct,
  secret: Construct,
  reportsPrefix: string,
): void {
  const bucketId = stack.getLogicalId(storage.bucket.node.defaultChild as CfnResource);
  Validations.of(user).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${reportsPrefix}/*]`,
    reason: `Report files are named by month and tenant (unknown at deploy time); the user may only GetObject under ${reportsPrefix}/, the reports the Monthly function uploads for download links.`,
  });
  Validations.of(secret).acknowledge({
    id: "AwsSolutions-SMG4",
    reason:
      "The secret is an IAM access key created by this stack; it is rotated by changing gpuBilling.reports.linkSignerKeySerial and deploying (README runbook). A rotation Lambda would gain nothing: links already sent die with the old key either way.",
  });
}
