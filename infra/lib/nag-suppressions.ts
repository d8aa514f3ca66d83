import { CfnResource, Stack, Validations } from "aws-cdk-lib";
import { GpuBillingFunction } from "./gpu-billing-function.js";
import type { DataStorage } from "./data-storage.js";

/**
 * Every cdk-nag (AwsSolutions) finding this stack accepts, each with why.
 * Acknowledgments are scoped to the construct they concern and, for IAM5, to
 * the exact wildcard finding, so a new wildcard elsewhere still fails synth.
 */
export function applyNagSuppressions(stack: Stack, storage: DataStorage, functions: GpuBillingFunction[], dataPrefix: string, asgPrefix: string): void {
  const logicalId = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as CfnResource);
  const bucketId = logicalId(storage.bucket);
  const objectFinding = (prefix: string) => `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix.replace(/\/$/, "")}/*]`;

  for (const f of functions) {
    const v = Validations.of(f);
    for (const prefix of [dataPrefix, "quota/", "audit/", "runs/"])
      v.acknowledge({
        id: objectFinding(prefix),
        reason: `Object keys under ${prefix.replace(/\/$/, "")}/ are months and tenants (month=YYYY-MM/…), unknown at deploy time; the grant is limited to that prefix of one bucket.`,
      });
    v.acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason:
        "Only actions without resource-level permissions use '*': cloudwatch:PutMetricData (bounded by a cloudwatch:namespace condition), autoscaling:DescribeAutoScalingGroups and ec2:DescribeInstances (read-only).",
    });
    v.acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:*:autoScalingGroupName/${asgPrefix}*]`,
      reason: "Terminate is limited to Auto Scaling groups named with the GPU node group prefix; the group UUID in the ARN is not known at deploy time.",
    });
    v.acknowledge({
      id: "AwsSolutions-SQS3",
      reason: "This queue is itself the dead-letter queue (Lambda on-failure destination and the schedule's DLQ); a DLQ of a DLQ adds nothing.",
    });
    v.acknowledge({
      id: "AwsSolutions-L1",
      reason: "nodejs22.x is the platform's chosen LTS runtime (tested with it); moving to a newer runtime is a deliberate, tested change.",
    });
    v.acknowledge({
      id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]",
      reason: "Functions in the VPC need ec2:CreateNetworkInterface & co. on '*'; the AWS managed policy is exactly that minimum and AWS maintains it.",
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
