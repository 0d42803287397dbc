import type { Logger } from 'pino';
import { describeValkey, type ValkeyConfig } from '../../shared/src/valkey.js';
import { VERSION } from '../../shared/src/version.js';
import { buildAgentEnv } from './agent-env.js';
import { createGpuSource } from './collectors/gpu.js';
import { createCollectors } from './collectors/index.js';
import { PidFileReader } from './collectors/pid-files.js';
import { fdCountMethod, isProcfs } from './collectors/processes-fds.js';
import type { AgentConfig } from './config.js';
import { nativePidStatsOrNull } from './procfs/native-pid-stats.js';
import { Publisher } from './publish.js';
import { dropReleaseCache, releaseStartupPages } from './release-pages.js';
import { Sampler } from './sampler.js';
import { delay, onStopSignals } from './stop-signals.js';
import { DeadlineTicker } from './ticker.js';

/**
 * Ticks after which the pages touched only by start-up are released
 * (release-pages.ts): by then the first publish, the NVML worker's start and
 * the first rates are behind, and what a tick needs faults back in.
 */
export const RELEASE_PAGES_AFTER_TICKS = 3;

/** Whole shutdown budget: the final write and the close must fit in it (issue: exit within 2 s). */
const SHUTDOWN_BUDGET_MS = 1800;

const SIGNAL_NUMBERS: Record<'SIGTERM' | 'SIGINT', number> = { SIGTERM: 15, SIGINT: 2 };

/**
 * The sidecar: sample on fixed deadlines, publish each sample, and on
 * SIGTERM/SIGINT write one last sample with `status: "exited"` and exit.
 * Valkey being down never stops it; a second signal exits at once.
 */
export async function runAgent(config: AgentConfig, valkey: ValkeyConfig, log: Logger): Promise<number> {
  const env = buildAgentEnv(config);
  const publisher = new Publisher({
    valkey,
    containerName: config.containerName,
    ttlSeconds: config.ttlSeconds,
    historyLength: config.historyLength,
    logTtlSeconds: config.logTtlSeconds,
    commandTimeoutMs: Math.min(1000, Math.max(200, config.intervalMs / 2)),
    log,
  });
  // Without a visible NVML library the worker starts after the first publish, off the start-up path.
  const gpu = createGpuSource(config, log, {}, { deferWhenAbsent: true });
  // The processes are read in JavaScript until the native reader is loaded, after the first sample.
  const files = new PidFileReader(isProcfs(env.procRoot), fdCountMethod(env.procRoot));
  const sampler = new Sampler(env, createCollectors(env, { processes: { files } }), {
    gpu,
    containerName: config.containerName,
    version: VERSION,
    log,
    publishStatus: () => publisher.status(),
    onEvent: (level, message) => {
      publisher.event(level, message);
    },
  });

  log.info(
    {
      container: config.containerName,
      interval_s: config.intervalMs / 1000,
      valkey: describeValkey(valkey),
      cgroup: env.cgroup.mode,
      ttl_s: config.ttlSeconds,
    },
    'system-monitor starting',
  );
  publisher.event('info', `system-monitor ${VERSION} started (pid ${process.pid}, cgroup ${env.cgroup.mode}, every ${config.intervalMs / 1000} s)`);
  publisher.start();

  let ticks = 0;
  const ticker = new DeadlineTicker({
    intervalMs: config.intervalMs,
    clock: env.clock,
    onTick: async () => {
      // The start-up page releases run before a tick's sample, not after it:
      // a published sample then shows the memory the container is charged
      // from then on, not the executable's pages dropped a moment later.
      if (ticks === RELEASE_PAGES_AFTER_TICKS) await releaseStartupPages(log);
      if (ticks === RELEASE_PAGES_AFTER_TICKS + 3) await dropReleaseCache();
      const sample = await sampler.sample();
      await publisher.publish(sample);
      ticks++;
      if (ticks === 1) {
        gpu.start();
        const native = await nativePidStatsOrNull(log);
        files.useNative(native);
        if (native !== null) log.info({ process_reader: native.path }, 'processes read by the native reader from the next tick');
      }
    },
    onSkip: (n) => {
      sampler.skippedTicks += n;
      log.warn({ skipped: n }, 'tick skipped: the previous one ran past its deadline');
    },
  });
  ticker.start();

  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: 'SIGTERM' | 'SIGINT'): void => {
      if (stopping) {
        // A second signal: the operator wants out now.
        log.warn({ signal }, 'second signal; exiting at once');
        process.exit(128 + SIGNAL_NUMBERS[signal]);
      }
      stopping = true;
      const hardStop = setTimeout(() => {
        log.warn('shutdown took too long; exiting without the final write');
        process.exit(0);
      }, SHUTDOWN_BUDGET_MS + 150);
      hardStop.unref();
      void shutdown(signal).then(() => {
        clearTimeout(hardStop);
        resolve(0);
      });
    };
    const shutdown = async (signal: string): Promise<void> => {
      const started = Date.now();
      log.info({ signal }, 'stopping: writing the final sample');
      // A tick in flight may be waiting on a stalled Valkey: do not wait for it past a short bound.
      await Promise.race([ticker.stop(), delay(300)]);
      publisher.event('info', `system-monitor stopping (${signal})`);
      const final = await sampler.sample();
      final.status = 'exited';
      const budget = SHUTDOWN_BUDGET_MS - (Date.now() - started) - 300;
      const written = await Promise.race([publisher.publishFinal(final, config.exitTtlSeconds), delay(Math.max(100, budget)).then(() => false)]);
      if (!written) log.warn('final sample not written (Valkey not reachable)');
      await Promise.all([publisher.close(200), Promise.race([gpu.close(), delay(200)])]);
    };
    onStopSignals(onSignal);
  });
}
