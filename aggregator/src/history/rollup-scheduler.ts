import type { Logger } from 'pino';
import type { Fleet } from '../fleet/fleet.js';
import type { RollupWriter } from './rollup-writer.js';

export interface RollupScheduler {
  stop(): void;
}

/**
 * Once a minute, on the leader only, rolls each container's raw history
 * into its 1 m and 5 m streams, one container after another (a round never
 * overlaps the previous one). A failure is logged for that container and the
 * round goes on.
 */
export function scheduleRollups(fleet: Fleet, writer: RollupWriter, isLeader: () => boolean, log: Logger, everyMs = 60_000): RollupScheduler {
  let rolling = false;
  const timer = setInterval(() => {
    if (!isLeader() || rolling) return;
    rolling = true;
    void (async () => {
      // A copy of the names: the list may change while the round awaits.
      for (const name of fleet.list().map((c) => c.name)) {
        await writer.roll(name).catch((err: unknown) => {
          log.warn({ container: name, err: err instanceof Error ? err.message : String(err) }, 'rollup failed');
        });
      }
    })().finally(() => {
      rolling = false;
    });
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
    },
  };
}
