import { z } from 'zod';
import { gpuSchema, payloadSchema } from './payload.js';

/**
 * The aggregator's REST shapes, defined once: the aggregator types what it
 * serves with them and the dashboard (web/) validates what it reads with
 * them, so a change on one side is a compile error on the other.
 */

/** `ok`: fresh samples; `stale`: none for 2 intervals; `offline`: key expired, still registered; `exited`: clean stop. */
export const CONTAINER_STATUSES = ['ok', 'stale', 'offline', 'exited'] as const;
export const containerStatusSchema = z.enum(CONTAINER_STATUSES);
export type ContainerStatus = z.infer<typeof containerStatusSchema>;

/** One row of `GET /api/v1/containers` (`sample` only with `?include=sample`). */
export const containerRowSchema = z.object({
  name: z.string(),
  status: containerStatusSchema,
  last_seen: z.string(),
  sample_time: z.string().nullable(),
  cpu_percent: z.number().nullable(),
  cpu_cores: z.number().nullable(),
  cpu_limit_cores: z.number().nullable(),
  memory_bytes: z.number().nullable(),
  memory_limit_bytes: z.number().nullable(),
  memory_percent: z.number().nullable(),
  gpus: z.number().int(),
  sample: payloadSchema.nullable().optional(),
});
export type ContainerRow = z.infer<typeof containerRowSchema>;

/** The fleet summary beside the list. */
export const fleetSummarySchema = z.object({
  total: z.number().int(),
  by_status: z.record(containerStatusSchema, z.number().int()),
  cpu: z.object({ cores_used: z.number(), cores_limit: z.number(), percent: z.number().nullable() }),
  memory: z.object({ used_bytes: z.number(), limit_bytes: z.number(), percent: z.number().nullable() }),
});
export type FleetSummary = z.infer<typeof fleetSummarySchema>;

export const containersResponseSchema = z.object({
  containers: z.array(containerRowSchema),
  summary: fleetSummarySchema.optional(),
});

/** `GET /api/v1/gpus`: every GPU with its container. */
export const gpuRowSchema = gpuSchema.extend({ container: z.string(), container_status: containerStatusSchema });
export type GpuRow = z.infer<typeof gpuRowSchema>;
export const gpusResponseSchema = z.object({ gpus: z.array(gpuRowSchema) });

const stats = z.object({ min: z.number(), avg: z.number(), max: z.number() });
/** `GET /api/v1/containers/:name/history`: raw points, or rollups with min/avg/max per field. */
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

/** The data of an SSE `status` event. */
export const statusEventSchema = z.object({ container: z.string(), from: containerStatusSchema.nullable(), to: containerStatusSchema, at: z.string().optional() });
export type StatusEvent = z.infer<typeof statusEventSchema>;

/** An alert instance's state (rule × container × GPU). */
export const alertStateSchema = z.enum(['inactive', 'pending', 'firing', 'resolved']);
export type AlertState = z.infer<typeof alertStateSchema>;
export const severitySchema = z.enum(['warning', 'critical']);
export type Severity = z.infer<typeof severitySchema>;

/** An alert as `GET /api/v1/alerts` lists it (webhooks and Alertmanager get the same labels). */
export const listedAlertSchema = z.object({
  fingerprint: z.string(),
  rule_id: z.string(),
  name: z.string(),
  /** Empty for alerts about the aggregator itself (Valkey unreachable). */
  container: z.string(),
  gpu: z.string().nullable(),
  state: alertStateSchema,
  severity: severitySchema.nullable(),
  value: z.number().nullable(),
  since: z.string(),
  fired_at: z.string().nullable(),
  labels: z.record(z.string(), z.string()),
  annotations: z.record(z.string(), z.string()),
  /** Ids of the active silences that match it (it sends nothing while any does). */
  silenced_by: z.array(z.string()),
  acknowledged: z.object({ by: z.string(), at: z.string(), comment: z.string() }).nullable(),
});
export type ListedAlert = z.infer<typeof listedAlertSchema>;
export const alertsResponseSchema = z.object({ alerts: z.array(listedAlertSchema) });
