import type { PresignedLink } from "./delivery-ports.js";

/**
 * S3 rejects a SigV4 presigned URL once the credentials that signed it expire, whatever
 * `X-Amz-Expires` says: a link signed with a role's session dies with the session (hours),
 * only long-lived IAM user keys give the full 7 days. So the link's real end is the earlier of
 * the two, and unknown when temporary credentials carry no expiry (Lambda's do not).
 */
export function presignedLinkExpiry(
  signedAt: Date,
  expiresInSeconds: number,
  credentials: { sessionToken?: string; expiration?: Date },
): Date | undefined {
  const requested = new Date(signedAt.getTime() + expiresInSeconds * 1000);
  if (credentials.expiration) return credentials.expiration < requested ? credentials.expiration : requested;
  return credentials.sessionToken ? undefined : requested;
}

/** When a message's links stop working: the first to die; "unknown" when any was signed with temporary credentials of unknown lifetime. */
export function linksEnd(links: PresignedLink[]): Date | "unknown" | undefined {
  if (!links.length) return undefined;
  if (links.some((l) => !l.expiresAt)) return "unknown";
  return new Date(Math.min(...links.map((l) => l.expiresAt!.getTime())));
}

/**
 * Links that die before the configured lifetime: recipients would find dead links days
 * before the date they were promised, so the operator is told how to sign for longer.
 */
export function linksExpiryWarning(links: PresignedLink[], now: Date, linkExpiryDays: number, what: string): string | undefined {
  const wanted = now.getTime() + linkExpiryDays * 86400_000;
  const fix = 'sign them with long-lived credentials (LINK_SIGNING_SECRET_ID; deployed: gpuBilling.reports.linkSigner "iam-user")';
  const end = linksEnd(links);
  if (end === "unknown")
    return `${what}: download links were signed with temporary credentials and may stop working within hours, not after reports.linkExpiryDays (${linkExpiryDays}); ${fix}`;
  if (end && end.getTime() < wanted - 60_000)
    return `${what}: download links stop working at ${end.toISOString()} when the signing credentials expire, before reports.linkExpiryDays (${linkExpiryDays}); ${fix}`;
  return undefined;
}
