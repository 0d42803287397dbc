import { z } from 'zod';

/**
 * SiriusScan's contract outside the metrics key: the log entries agents write
 * under `system:logs:<name>:<nanos>`, and the JSON its web UI (sirius-ui)
 * parses from `/api/v1/system/*`. The aggregator serves these shapes so that
 * UI can point at it unchanged; tests validate responses against them.
 */

/** Levels as SiriusScan's Go agent wrote them; the UI colours `WARN` yellow and `ERROR` red, anything else as info. */
export const SIRIUS_LOG_LEVELS = ['INFO', 'WARN', 'ERROR'] as const;
export type SiriusLogLevel = (typeof SIRIUS_LOG_LEVELS)[number];

/**
 * A level in SiriusScan's spelling: upper case, with `warning` shortened to
 * `WARN` (the UI's resources page knows only `WARN`). Entries written by older
 * agents in lower case are read through this too.
 */
export function siriusLevel(level: string): string {
  const up = level.trim().toUpperCase();
  return up === 'WARNING' ? 'WARN' : up;
}

/** One log entry, as stored in Valkey and as listed by `/api/v1/system/logs`. */
export const siriusLogEntrySchema = z.object({
  container_name: z.string(),
  timestamp: z.string(),
  level: z.string().transform(siriusLevel),
  message: z.string(),
});
export type SiriusLogEntry = z.output<typeof siriusLogEntrySchema>;

/** A row of `GET /api/v1/system/resources` (the UI calls `.toFixed()` on the numbers and shows the strings as they are). */
export const siriusResourceRowSchema = z.strictObject({
  name: z.string(),
  cpu_percent: z.number(),
  memory_usage: z.string(),
  memory_percent: z.number(),
  network_io: z.string(),
  block_io: z.string(),
  disk_usage: z.string(),
  disk_percent: z.number(),
  process_count: z.number().int(),
  file_descriptors: z.number().int(),
  load_average_1m: z.number(),
  load_average_5m: z.number(),
  load_average_15m: z.number(),
  uptime: z.string(),
  /** `running` and `exited` as the agent wrote them; `stale`/`offline` when the aggregator knows better; `unknown` when nothing is known. */
  status: z.string(),
});
export type SiriusResourceRow = z.infer<typeof siriusResourceRowSchema>;

export const siriusResourcesSchema = z.strictObject({
  message: z.string(),
  timestamp: z.string(),
  containers: z.array(siriusResourceRowSchema),
  summary: z.strictObject({
    total_containers: z.number().int(),
    running_containers: z.number().int(),
    total_cpu_percent: z.number(),
    total_memory_usage: z.string(),
    total_memory_percent: z.number(),
  }),
});

export const siriusLogsSchema = z.strictObject({
  message: z.string(),
  timestamp: z.string(),
  container: z.string(),
  lines: z.number().int(),
  logs: z.array(z.strictObject({ container_name: z.string(), timestamp: z.string(), level: z.string(), message: z.string() })),
  summary: z.strictObject({ total_logs: z.number().int(), containers: z.array(z.string()) }),
});

/** One service of `GET /api/v1/system/health`; the UI counts `up` and `down`. `port` is omitted when unknown (Go's omitempty). */
export const siriusServiceHealthSchema = z.strictObject({
  status: z.enum(['up', 'down']),
  message: z.string().optional(),
  timestamp: z.string(),
  port: z.number().int().positive().optional(),
});
export type SiriusServiceHealth = z.infer<typeof siriusServiceHealthSchema>;

/** `status` and `overall` are `healthy` (HTTP 200) or `degraded` (HTTP 503, which the UI still reads). */
export const siriusHealthSchema = z.strictObject({
  status: z.enum(['healthy', 'degraded']),
  timestamp: z.string(),
  service: z.string(),
  version: z.string(),
  services: z.record(z.string(), siriusServiceHealthSchema),
  overall: z.enum(['healthy', 'degraded']),
  /** Not in SiriusScan's shape (extra fields are ignored by its UI): why the whole view is degraded, e.g. Valkey unreachable. */
  error: z.string().optional(),
});
export type SiriusHealth = z.infer<typeof siriusHealthSchema>;

/** `POST /api/v1/admin/command`, as SiriusScan's UI sends it for its restart button. */
export const siriusAdminCommandSchema = z.object({
  action: z.string().min(1, 'is required').max(100),
  container_name: z.string().min(1, 'is required').max(200),
});
