import { z } from 'zod';

/**
 * The REST answers the page reads, checked at the boundary (a changed server
 * is an error on screen, not NaN in a chart). The shapes are the aggregator's
 * own, from shared/src/api.ts; alerts are described here.
 */

import { containerRowSchema } from '../../shared/src/api.js';

export {
  containerStatusSchema as statusSchema,
  gpuRowSchema,
  gpusResponseSchema,
  historyResponseSchema,
  statusEventSchema,
  type ContainerStatus as Status,
  type GpuRow,
  type HistoryResponse,
} from '../../shared/src/api.js';

/** The part of a list row the page uses. */
export const listedContainerSchema = containerRowSchema.pick({ name: true, status: true, last_seen: true, sample: true });
export type ListedContainer = z.infer<typeof listedContainerSchema>;
export const containersResponseSchema = z.object({ containers: z.array(listedContainerSchema) });

export const alertSchema = z.object({
  fingerprint: z.string(),
  rule_id: z.string(),
  name: z.string(),
  container: z.string(),
  gpu: z.string().nullable(),
  state: z.string(),
  severity: z.string().nullable(),
  value: z.number().nullable(),
  since: z.string(),
  fired_at: z.string().nullable(),
  annotations: z.record(z.string(), z.string()).optional(),
  /** Ids of the silences that hold it back (absent from older aggregators). */
  silenced_by: z.array(z.string()).optional(),
  acknowledged: z.object({ by: z.string(), at: z.string(), comment: z.string() }).nullable().optional(),
});
export type Alert = z.infer<typeof alertSchema>;
export const alertsResponseSchema = z.object({ alerts: z.array(alertSchema) });
