import type { RenderedAlert } from "./render-alert.js";

/**
 * What the quota check needs from outside, defined here where it is used; functions/adapters
 * implements each for one AWS service (S3, SES, SNS, CloudWatch) and the composition roots
 * pass them in.
 */

export interface StoredState<T> {
  value: T;
  etag: string;
}

/**
 * Small JSON objects that hold the quota alert and enforcement state. Writes are conditional,
 * so of two concurrent runs exactly one wins.
 */
export interface QuotaStateStore {
  /** All objects under `prefix` (relative to the store's root), with their values. */
  list<T>(prefix: string): Promise<Map<string, StoredState<T>>>;
  get<T>(key: string): Promise<StoredState<T> | undefined>;
  /** Creates `key` only if it does not exist; returns the new etag, or undefined when another run created it first. */
  create<T>(key: string, value: T): Promise<string | undefined>;
  /** Replaces `key` only if it still has `etag`; returns the new etag, or undefined when another run changed it. */
  replace<T>(key: string, value: T, etag: string): Promise<string | undefined>;
  /** Unconditional write of an object that is never rewritten (audit entries have unique keys). */
  append(key: string, value: unknown): Promise<void>;
}

export interface AlertMailer {
  /** Sends one alert; returns the SES message id. */
  send(alert: RenderedAlert, to: { to: string[]; bcc: string[] }): Promise<string>;
}

export interface AlertPublisher {
  publish(subject: string, message: object): Promise<void>;
}

export interface TenantMetric {
  tenantId: string;
  usedGpuHours: number;
  /** used ÷ quota; absent for an unlimited tenant (no ratio is published, rather than 0). */
  quotaUsedRatio?: number;
}

export interface QuotaMetrics {
  put(metrics: TenantMetric[], at: Date): Promise<number>;
}
