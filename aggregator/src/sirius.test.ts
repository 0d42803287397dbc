import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { siriusResourceRowSchema } from '../../shared/src/sirius.js';
import { makePayload } from '../test/helpers/payload.js';
import { viewOf, type ViewSpec } from '../test/helpers/view.js';
import type { ContainerView } from './fleet/fleet.js';
import { formatBytes, formatUptime, siriusRow } from './sirius.js';

/**
 * SiriusScan's Go formatBytes, written again in awk: awk's printf is C's,
 * which (like Go's `%.1f`) rounds the exact binary value with ties to even.
 * An implementation independent of ours, so the comparison can fail.
 */
function goFormatBytes(values: number[]): string[] {
  const program = `{ b = $1; if (b == 0) { print "0B"; next } split("B KB MB GB TB", u, " "); i = 1; while (b >= 1024 && i < 5) { b /= 1024; i++ } printf "%.1f%s\\n", b, u[i] }`;
  return execFileSync('awk', [program], { input: values.map((v) => v.toFixed(0)).join('\n') + '\n', encoding: 'utf8' }).trim().split('\n');
}

describe('Sirius formatting', () => {
  it('bytes: base 1024, one decimal and the unit for every size (512.0B), 0B for zero or missing', () => {
    assert.equal(formatBytes(0), '0B');
    assert.equal(formatBytes(null), '0B');
    assert.equal(formatBytes(-5), '0B');
    assert.equal(formatBytes(Number.NaN), '0B');
    assert.equal(formatBytes(512), '512.0B');
    assert.equal(formatBytes(1), '1.0B');
    assert.equal(formatBytes(1536), '1.5KB');
    assert.equal(formatBytes(512 * 1024 * 1024), '512.0MB');
    assert.equal(formatBytes(1.5 * 1024 ** 3), '1.5GB');
    assert.equal(formatBytes(3 * 1024 ** 4), '3.0TB');
    assert.equal(formatBytes(5000 * 1024 ** 4), '5000.0TB', 'TB is the largest unit');
  });

  it('bytes: exact ties round to even as Go does (1280 B = 1.25 KB is 1.2KB, 1.75 KB is 1.8KB)', () => {
    assert.equal(formatBytes(1280), '1.2KB');
    assert.equal(formatBytes(1792), '1.8KB');
    assert.equal(formatBytes(0.25 * 1024 ** 3 + 1024 ** 3), '1.2GB');
  });

  it('bytes: the same strings as SiriusScan\'s algorithm run by C printf, over edges, ties and 2,000 random sizes', () => {
    const values: number[] = [1, 9, 512, 999, 1023, 1024, 1025, 1075, 1076, 1126, 1127, 1280, 1331, 1792, 10_188, 1_048_575, 1_048_576, 1_099_511_627_775, 2 ** 53 + 2, 1024 ** 5 * 3];
    for (let k = 1; k <= 4; k++) for (let t = 0; t < 40; t++) values.push(Math.round((t / 40 + 1) * 1024 ** k) + (t % 3) - 1);
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 2000; i++) values.push(Math.floor(rand() * 2 ** (1 + rand() * 50)));
    const want = goFormatBytes(values);
    const got = values.map((v) => formatBytes(v));
    const diff = values.map((v, i) => [v, got[i], want[i]]).filter(([, g, w]) => g !== w);
    assert.deepEqual(diff, [], 'every size formats as SiriusScan formats it');
  });

  it('uptime: s under a minute, m s under an hour, h m under a day, else d h', () => {
    assert.equal(formatUptime(0), '0s');
    assert.equal(formatUptime(59), '59s');
    assert.equal(formatUptime(200), '3m 20s');
    assert.equal(formatUptime(2 * 3600 + 5 * 60 + 9), '2h 5m');
    assert.equal(formatUptime(4 * 86_400 + 3 * 3600 + 1), '4d 3h');
    assert.equal(formatUptime(null), '0s');
    assert.equal(formatUptime(-5), '0s');
  });
});

describe('Sirius resource rows', () => {
  const view = (over: Partial<ViewSpec>): ContainerView => viewOf({ name: 'c', status: 'ok', last_seen_ms: Date.now(), sample: null, exited_at_ms: null, ...over });

  it('a clean stop stays "exited" with zeros after its key expired; "unknown" only when nothing is known', () => {
    const gone = siriusRow(view({ status: 'exited', sample: null, exited_at_ms: Date.now() - 60_000 }));
    siriusResourceRowSchema.parse(gone);
    assert.equal(gone.status, 'exited');
    assert.deepEqual([gone.cpu_percent, gone.memory_usage, gone.network_io, gone.process_count, gone.uptime], [0, '0B', '0B / 0B', 0, '0s']);
    assert.equal(siriusRow(view({ status: 'offline', sample: null })).status, 'unknown');
  });

  it('a row with a sample: the sample\'s figures, the aggregator\'s status when it is not ok', () => {
    const p = { ...makePayload({ name: 'c' }), memory_usage_bytes: 512, network_rx_bytes: 1280, network_tx_bytes: 0 };
    const row = siriusResourceRowSchema.parse(siriusRow(view({ sample: p })));
    assert.equal(row.memory_usage, '512.0B');
    assert.equal(row.network_io, '1.2KB / 0B');
    assert.equal(row.status, 'running');
    assert.equal(siriusRow(view({ status: 'stale', sample: p })).status, 'stale');
    assert.equal(siriusRow(view({ status: 'exited', sample: { ...p, status: 'exited' } })).status, 'exited');
  });
});
