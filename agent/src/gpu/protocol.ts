import { z } from 'zod';
import { gpuSchema } from '../../../shared/src/payload.js';

/**
 * The agent ↔ NVML worker protocol: one JSON document per line, requests on
 * the worker's stdin, messages on its stdout. The worker is the C program
 * agent/native/nvml-worker.c, which checks each request; the agent validates
 * every message against these schemas, so a confused or crashed worker is an
 * error, never a bad sample.
 */

const ms = z.number().int().nonnegative();

export const workerConfigSchema = z.object({
  op: z.literal('config'),
  /** NVML_LIBRARY_PATH, or null for the default search. */
  library_path: z.string().nullable(),
  retry_base_ms: ms,
  retry_max_ms: ms,
  lost_retry_ms: ms,
});
export type WorkerConfig = z.infer<typeof workerConfigSchema>;

export const workerRequestSchema = z.discriminatedUnion('op', [
  workerConfigSchema,
  z.object({ op: z.literal('collect'), id: z.number().int() }),
  z.object({ op: z.literal('shutdown') }),
]);
export type WorkerRequest = z.infer<typeof workerRequestSchema>;

export const nvmlInfoSchema = z.object({
  library_path: z.string(),
  driver_version: z.string().nullable(),
  nvml_version: z.string().nullable(),
  cuda_driver_version: z.string().nullable(),
});
export type NvmlInfo = z.infer<typeof nvmlInfoSchema>;

export const readerResultSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('ok'),
    gpus: z.array(gpuSchema),
    /** `gpus.<uuid>.<field>` → why it is null. */
    reasons: z.record(z.string(), z.string()),
    info: nvmlInfoSchema,
  }),
  z.object({
    status: z.literal('failed'),
    reason: z.string(),
    /** What an operator should do (driver not loaded, version mismatch). */
    hint: z.string().nullable(),
    retry_in_ms: ms.nullable(),
  }),
  z.object({ status: z.literal('no-library'), reason: z.string(), searched: z.array(z.string()) }),
]);
export type ReaderResult = z.infer<typeof readerResultSchema>;

export const workerMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), pid: z.number().int().positive() }),
  z.object({ type: z.literal('result'), id: z.number().int(), result: readerResultSchema }),
]);
export type WorkerMessage = z.infer<typeof workerMessageSchema>;
