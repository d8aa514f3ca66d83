import { randomUUID } from "node:crypto";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { normalizeState, type ControllerState } from "../controller/snapshot.js";
import { UnavailableError } from "../core/errors.js";
import { conditionalPut, isS3NotFound } from "./s3-objects.js";

/**
 * The controller's lease and its memory in ONE S3 object, every write
 * conditional (If-None-Match: * to create, If-Match: <our ETag> after that).
 * Two overlapping invocations both read the object, but only one conditional
 * write wins; the loser gets 412 and stops before acting. Saving state is a
 * write conditional on the ETag of our own lease, so a run whose lease was
 * taken over (it ran past its expiry) cannot overwrite the newer run's state.
 */
export interface LeaseDocument {
  holder: string;
  acquiredAtMs: number;
  expiresAtMs: number;
  state: ControllerState;
}

export interface HeldLease {
  holder: string;
  etag: string;
  state: ControllerState;
}

export class LeaseLostError extends UnavailableError {
  constructor(message: string) {
    super(message);
    this.name = "LeaseLostError";
  }
}

export class ControllerLease {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly key: string,
  ) {}

  private async read(): Promise<{ doc: LeaseDocument; etag: string } | undefined> {
    try {
      const r = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key }));
      // GetObject always answers with a body and an ETag; a missing one is a broken store, not "no lease".
      if (!r.Body || !r.ETag) throw new Error(`GetObject ${this.key}: answer without a body or an ETag`);
      return { doc: JSON.parse(await r.Body.transformToString()) as LeaseDocument, etag: r.ETag };
    } catch (e) {
      if (isS3NotFound(e)) return undefined;
      throw e;
    }
  }

  private async write(doc: LeaseDocument, cond: { IfMatch: string } | { IfNoneMatch: string }): Promise<string | undefined> {
    const written = await conditionalPut(this.s3, {
      Bucket: this.bucket,
      Key: this.key,
      Body: JSON.stringify(doc),
      ContentType: "application/json",
      ...cond,
    });
    return written?.etag;
  }

  /** Takes the lease for `ttlMs`, or returns undefined when another run holds it (or won the race). */
  async acquire(now: Date, ttlMs: number, holder: string = randomUUID()): Promise<HeldLease | undefined> {
    const nowMs = now.getTime();
    const cur = await this.read();
    if (cur && cur.doc.expiresAtMs > nowMs && cur.doc.holder !== holder) return undefined;
    const state = normalizeState(cur?.doc.state);
    const etag = await this.write(
      { holder, acquiredAtMs: nowMs, expiresAtMs: nowMs + ttlMs, state },
      cur ? { IfMatch: cur.etag } : { IfNoneMatch: "*" },
    );
    return etag ? { holder, etag, state } : undefined;
  }

  /** Saves state and releases (expiresAt = now) in one conditional write; throws if the lease was lost. */
  async release(lease: HeldLease, state: ControllerState, now: Date): Promise<void> {
    const nowMs = now.getTime();
    const etag = await this.write({ holder: lease.holder, acquiredAtMs: nowMs, expiresAtMs: nowMs, state }, { IfMatch: lease.etag });
    if (!etag) throw new LeaseLostError(`lease ${this.key} was taken over while ${lease.holder} held it; its state was not saved`);
  }

  /** Saves state and keeps holding the lease (after each action, so a crash loses at most one step of memory). */
  async checkpoint(lease: HeldLease, state: ControllerState, now: Date, ttlMs: number): Promise<HeldLease> {
    const nowMs = now.getTime();
    const etag = await this.write(
      { holder: lease.holder, acquiredAtMs: nowMs, expiresAtMs: nowMs + ttlMs, state },
      { IfMatch: lease.etag },
    );
    if (!etag) throw new LeaseLostError(`lease ${this.key} was taken over while ${lease.holder} held it; stop acting`);
    return { ...lease, etag, state };
  }

  /** The stored state, read-only (the CLI plan). */
  async peekState(): Promise<ControllerState> {
    return normalizeState((await this.read())?.doc.state);
  }
}
