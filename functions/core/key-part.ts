/**
 * A tenant or cluster id becomes a part of S3 keys and local paths (`tenant=<id>/`,
 * `cluster=<id>/`): lower-case letters, digits and '-', starting with a letter or digit, at
 * most 63 characters. One pattern, so config, events and paths accept the same ids.
 */
export const KEY_PART_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
