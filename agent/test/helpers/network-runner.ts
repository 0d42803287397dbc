/**
 * Runs the agent's network collector against the real `/proc` of whatever
 * network namespace it is started in (`ip netns exec <ns> node --import tsx
 * network-runner.ts`). Protocol on stdio, one JSON line per reading:
 * collects, prints `{"phase":"first",...}`, waits for any line on stdin,
 * collects again, prints `{"phase":"second",...}` and exits. `beforeNs` /
 * `afterNs` are monotonic clock readings taken around each collect, so the
 * test can bound the interval the collector measured.
 */
import { createInterface } from 'node:readline';
import { createNetworkCollector } from '../../src/collectors/network.js';
import type { AgentEnv } from '../../src/collectors/types.js';
import { monoNs } from '../../src/rate.js';
import { RecordingReport } from './report.js';
import { fixedTick } from './tick.js';

const env: AgentEnv = {
  procRoot: '/proc',
  sysRoot: '/sys',
  cgroup: { mode: 'none', scope: 'container', source: 'none', unified: null, controllers: {}, v2Controllers: null, notes: [] },
  intervalMs: 100,
  minRateDeltaNs: 1_000_000n,
  diskPaths: ['/'],
  clock: monoNs,
};

const collector = createNetworkCollector(env);

function reading(phase: string): void {
  const report = new RecordingReport();
  const beforeNs = monoNs();
  const block = collector.collect(fixedTick(), report);
  const afterNs = monoNs();
  const failed = Object.fromEntries(report.failedFields);
  process.stdout.write(`${JSON.stringify({ phase, block, beforeNs: String(beforeNs), afterNs: String(afterNs), failed })}\n`);
}

reading('first');
const lines = createInterface({ input: process.stdin });
lines.once('line', () => {
  reading('second');
  lines.close();
});
