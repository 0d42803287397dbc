import { z } from 'zod';

/** The longest container name accepted (Docker's own limit is lower; Kubernetes pod names stop at 253). */
export const MAX_CONTAINER_NAME = 200;

/**
 * What a container name may be: it becomes a Valkey key suffix, a Prometheus
 * label value and a URL path segment, so no whitespace (which also rules out
 * newlines), no `:` (the key separator) and no glob characters. The agent
 * refuses a CONTAINER_NAME outside this rule at start; the aggregator refuses
 * a sample or registry entry outside it.
 */
export const CONTAINER_NAME_RULE = /^[^\s:*?[\]]+$/;

export const containerNameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_CONTAINER_NAME, `must be at most ${MAX_CONTAINER_NAME} characters`)
  .regex(CONTAINER_NAME_RULE, 'must not contain whitespace, ":" or glob characters (it becomes a Valkey key suffix)');

export function isContainerName(s: string): boolean {
  return s.length >= 1 && s.length <= MAX_CONTAINER_NAME && CONTAINER_NAME_RULE.test(s);
}
