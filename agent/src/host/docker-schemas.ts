import { z } from 'zod';

/**
 * The parts of Docker Engine API answers the host agent reads. Everything
 * from the socket is validated here first; fields Docker leaves out or sets
 * to null (labels of a container without any, an empty env) are normalised.
 */

const labels = z
  .record(z.string(), z.string())
  .nullish()
  .transform((l) => l ?? {});

/** One entry of `GET /containers/json`. */
export const listedContainerSchema = z.object({
  Id: z.string().regex(/^[0-9a-f]{64}$/, 'a 64-hex container id'),
  Names: z.array(z.string()).nullish().transform((n) => n ?? []),
  Labels: labels,
  State: z.string(),
});
export type ListedContainer = z.infer<typeof listedContainerSchema>;
export const containerListSchema = z.array(listedContainerSchema).max(100_000);

const deviceRequestSchema = z.object({
  Driver: z.string().nullish(),
  Count: z.number().int().nullish(),
  DeviceIDs: z.array(z.string()).nullish(),
  Capabilities: z.array(z.array(z.string())).nullish(),
});

/** `GET /containers/<id>/json`. */
export const inspectSchema = z.object({
  Id: z.string().regex(/^[0-9a-f]{64}$/, 'a 64-hex container id'),
  /** `/name`: Docker keeps the leading slash. */
  Name: z.string(),
  State: z.object({
    Status: z.string(),
    Running: z.boolean(),
    /** Host PID of the container's first process; 0 when it is not running. */
    Pid: z.number().int().nonnegative(),
    ExitCode: z.number().int().nullish(),
  }),
  Config: z.object({
    Hostname: z.string().nullish(),
    Labels: labels,
    Env: z.array(z.string()).nullish().transform((e) => e ?? []),
  }),
  HostConfig: z
    .object({
      CgroupParent: z.string().nullish(),
      DeviceRequests: z.array(deviceRequestSchema).nullish(),
    })
    .nullish(),
});
export type InspectedContainer = z.infer<typeof inspectSchema>;

/** `GET /info`: how this engine places container cgroups. */
export const engineInfoSchema = z.object({
  CgroupDriver: z.enum(['cgroupfs', 'systemd', 'none']).catch('cgroupfs'),
  /** "1" or "2"; absent before API 1.40. */
  CgroupVersion: z.string().nullish(),
});
export type EngineInfo = z.infer<typeof engineInfoSchema>;

/** One line of `GET /events` (container events only, by the request's filter). */
export const engineEventSchema = z.object({
  Type: z.string(),
  Action: z.string(),
  Actor: z.object({ ID: z.string(), Attributes: z.record(z.string(), z.string()).nullish() }),
  time: z.number().int().nullish(),
});
export type EngineEvent = z.infer<typeof engineEventSchema>;

/** The events the host agent acts on. */
export const WATCHED_ACTIONS = ['start', 'stop', 'die', 'destroy'] as const;
