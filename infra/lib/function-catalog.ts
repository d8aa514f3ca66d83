import { Duration } from "aws-cdk-lib";
import type { BundledAsset, GpuBillingFunction } from "./gpu-billing-function.js";
import type { Settings } from "./settings.js";

/** What a function may be granted; the stack turns each into exact IAM statements. */
export type Grant =
  | { kind: "datasets-read" }
  | { kind: "datasets-write" }
  | { kind: "prefix-read-write"; prefix: "quota/" | "audit/" | "runs/" }
  | { kind: "prometheus" }
  | { kind: "put-metrics" }
  | { kind: "ses-send" }
  | { kind: "presign" }
  | { kind: "eks-describe" }
  | { kind: "asg-terminate" }
  | { kind: "invoke"; functionId: string };

/**
 * One function of the platform. The whole platform is this list: adding a
 * function is one entry (entry file, schedule, grants, VPC, assets).
 */
export interface FunctionSpec {
  id: string;
  entry: string;
  description: string;
  /** Key of `settings.schedules`; absent = invoked on demand only. */
  schedule?: keyof Settings["schedules"];
  timeout: Duration;
  memorySize: number;
  assets: BundledAsset[];
  grants: Grant[];
  /** Joins the private subnets when `settings.vpc` is set (talks to Prometheus or the EKS API). */
  inVpc: boolean;
  environment?: (s: Settings) => Record<string, string>;
  /**
   * The entry is written on another branch: skip it (with a synth-time note)
   * while the file does not exist, pick it up as soon as it does.
   */
  optional?: boolean;
}

export const FUNCTIONS: FunctionSpec[] = [
  {
    id: "Meter",
    entry: "functions/handlers/meter-handler.ts",
    description: "Meters the previous billing month from Prometheus into the chargeback dataset",
    schedule: "meter",
    timeout: Duration.minutes(15),
    memorySize: 1024,
    assets: ["queries", "config"],
    grants: [{ kind: "datasets-read" }, { kind: "datasets-write" }, { kind: "prometheus" }],
    inVpc: true,
    environment: () => ({ EXPORTS: "parquet,focus" }),
  },
  {
    id: "Monthly",
    entry: "functions/handlers/monthly-handler.ts",
    description: "Builds the month's PDF/Excel reports from the dataset and delivers them through SES",
    schedule: "monthly",
    timeout: Duration.minutes(15),
    memorySize: 2048,
    assets: ["templates", "fonts", "config", "pdfkit-data"],
    grants: [{ kind: "datasets-read" }, { kind: "datasets-write" }, { kind: "ses-send" }, { kind: "presign" }],
    inVpc: false,
    optional: true,
  },
  {
    id: "Quota",
    entry: "functions/handlers/quota-handler.ts",
    description: "Hourly month-to-date quota check: alerts, metrics, enforcement",
    schedule: "quota",
    timeout: Duration.minutes(10),
    memorySize: 1024,
    assets: ["queries", "templates", "config"],
    grants: [
      { kind: "prometheus" }, { kind: "prefix-read-write", prefix: "quota/" }, { kind: "prefix-read-write", prefix: "audit/" },
      { kind: "put-metrics" }, { kind: "ses-send" }, { kind: "eks-describe" },
    ],
    inVpc: true,
    optional: true,
  },
  {
    id: "Controller",
    entry: "functions/handlers/controller-handler.ts",
    description: "GPU node group scale/reclaim controller",
    schedule: "controller",
    timeout: Duration.minutes(4),
    memorySize: 512,
    assets: ["queries", "config"],
    grants: [
      { kind: "prometheus" }, { kind: "prefix-read-write", prefix: "audit/" }, { kind: "put-metrics" },
      { kind: "eks-describe" }, { kind: "asg-terminate" },
    ],
    inVpc: true,
    optional: true,
  },
  {
    id: "Rerun",
    entry: "functions/handlers/rerun-handler.ts",
    description: "Ops re-run of a month (validated payload), with a who/what/why record next to the dataset",
    timeout: Duration.minutes(15),
    memorySize: 1024,
    assets: ["queries", "config"],
    grants: [{ kind: "datasets-read" }, { kind: "datasets-write" }, { kind: "prometheus" }, { kind: "invoke", functionId: "Monthly" }],
    inVpc: true,
    environment: () => ({ EXPORTS: "parquet,focus" }),
  },
  {
    id: "ManifestCheck",
    entry: "functions/handlers/manifest-check-handler.ts",
    description: "On the 2nd: publishes MonthManifestMissing (1 when the previous month has no manifest)",
    schedule: "manifestCheck",
    timeout: Duration.minutes(1),
    memorySize: 256,
    assets: ["config"],
    grants: [{ kind: "datasets-read" }, { kind: "put-metrics" }],
    inVpc: false,
  },
];

/** The GpuBillingFunction of each spec that was created, by id. */
export type FunctionsById = Map<string, GpuBillingFunction>;
