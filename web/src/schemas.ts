import { z } from 'zod';
import { gpuSchema, payloadSchema } from '../../shared/src/payload.js';

/** The REST answers the page reads, checked at the boundary (a changed server is an error on screen, not NaN in a chart). */

export const statusSchema = z.enum(['ok', 'stale', 'offline', 'exited']);
export type Status = z.infer<typeof statusSchema>;

export const listedContainerSchema = z.object({
  name: z.string(),
  status: statusSchema,
  last_seen: z.string(),
  sample: payloadSchema.nullable().optional(),
});
export type ListedContainer = z.infer<typeof listedContainerSchema>;

export const containersResponseSchema = z.object({
  containers: z.array(listedContainerSchema),
});

export const gpuRowSchema = gpuSchema.extend({ container: z.string(), container_status: statusSchema });
export type GpuRow = z.infer<typeof gpuRowSchema>;
export const gpusResponseSchema = z.object({ gpus: z.array(gpuRowSchema) });

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

const stats = z.object({ min: z.number(), avg: z.number(), max: z.number() });
export const historyResponseSchema = z.union([
  z.object({
    resolution: z.literal('raw'),
    truncated: z.boolean(),
    points: z.array(z.object({ ts: z.number(), values: z.record(z.string(), z.number().nullable()) })),
  }),
  z.object({
    resolution: z.enum(['1m', '5m']),
    truncated: z.boolean(),
    points: z.array(z.object({ ts: z.number(), n: z.number(), values: z.record(z.string(), stats.nullable()) })),
  }),
]);
export type HistoryResponse = z.infer<typeof historyResponseSchema>;

export const statusEventSchema = z.object({ container: z.string(), from: statusSchema.nullable(), to: statusSchema });
