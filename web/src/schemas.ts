import { z } from 'zod';

/**
 * The REST answers the page reads, checked at the boundary (a changed server
 * is an error on screen, not NaN in a chart). The shapes are the aggregator's
 * own, from shared/src/api.ts.
 */

import { containerRowSchema } from '../../shared/src/api.js';

export {
  alertsResponseSchema,
  containerStatusSchema as statusSchema,
  gpuRowSchema,
  gpusResponseSchema,
  historyResponseSchema,
  statusEventSchema,
  type ContainerStatus as Status,
  type GpuRow,
  type HistoryResponse,
  type ListedAlert as Alert,
} from '../../shared/src/api.js';

/** The part of a list row the page uses. */
export const listedContainerSchema = containerRowSchema.pick({ name: true, status: true, last_seen: true, sample: true });
export type ListedContainer = z.infer<typeof listedContainerSchema>;
export const containersResponseSchema = z.object({ containers: z.array(listedContainerSchema) });
