import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { systemSchema } from '../../../shared/src/payload.js';
import { RecordingReport } from '../../test/helpers/report.js';
import { fixedTick } from '../../test/helpers/tick.js';
import { testEnv } from '../../test/helpers/env.js';
import { makeTree, type TempTree } from '../../test/helpers/tree.js';
import type { AgentEnv } from './types.js';
import { createSystemCollector } from './system.js';

function stat(pid: number, comm: string, start: number): string {
  const f: (string | number)[] = [pid, `(${comm})`];
  for (let n = 3; n <= 52; n++) f.push(0);
  f[2] = 'S';
  f[21] = start;
  return `${f.join(' ')}\n`;
}

const trees: TempTree[] = [];
after(() => {
  for (const t of trees) t.remove();
});

function setup(files: Record<string, string>): { tree: TempTree; env: AgentEnv } {
  const tree = makeTree({ 'proc/uptime': '12345.67 24000.00\n', 'proc/loadavg': '0.52 0.58 0.59 2/345 12345\n', ...files });
  trees.push(tree);
  const env = testEnv({ procRoot: tree.path('proc'), sysRoot: tree.path('sys'), clock: () => 0n });
  return { tree, env };
}

describe('system collector', () => {
  it('container uptime from PID 1 start time; host load and uptime labelled', () => {
    const { env } = setup({
      'proc/1/stat': stat(1, 'tini', 1_000_000),
      'proc/7/stat': stat(7, 'older?', 900_000),
    });
    const report = new RecordingReport();
    const b = createSystemCollector(env).collect(fixedTick({ pids: [1, 7] }), report);
    systemSchema.parse(b);
    assert.equal(b.uptime_seconds, Math.floor(12345.67 - 1_000_000 / 100));
    assert.equal(b.uptime_source, 'pid1', 'PID 1 wins even if another pid looks older');
    assert.deepEqual(b.host_load_average, { load1: 0.52, load5: 0.58, load15: 0.59 });
    assert.equal(b.host_uptime_seconds, 12345.67);
    assert.equal(report.failedFields.size + report.unsupportedFields.size, 0);
  });

  it('PID 1 outside the container: the oldest container process', () => {
    const { tree, env } = setup({
      'proc/1/stat': stat(1, 'systemd', 100),
      'proc/7/stat': stat(7, 'my (weird) worker', 1_000_500),
      'proc/12/stat': stat(12, 'sh', 1_001_000),
      'proc/30/stat': stat(30, 'late', 1_100_000),
    });
    const c = createSystemCollector(env);
    const b = c.collect(fixedTick({ pids: [12, 7, 30, 44] }), new RecordingReport());
    assert.equal(b.uptime_source, 'oldest-pid');
    assert.equal(b.uptime_seconds, Math.floor(12345.67 - 1_000_500 / 100), 'pid 44 is gone, pid 1 is not ours');

    // The oldest process exits: the next oldest takes over.
    tree.write('proc/uptime', '12400.00 24000.00\n');
    const b2 = c.collect(fixedTick({ pids: [12, 30] }), new RecordingReport());
    assert.equal(b2.uptime_seconds, Math.floor(12400 - 1_001_000 / 100));

    // Pid 12 is reused by a newer process: its start time changed, so the list is scanned again.
    tree.write('proc/12/stat', stat(12, 'new', 1_200_000));
    const b3 = c.collect(fixedTick({ pids: [12, 30] }), new RecordingReport());
    assert.equal(b3.uptime_seconds, Math.floor(12400 - 1_100_000 / 100));
  });

  it('no readable container process: uptime null with a reason, the rest still there', () => {
    const { env } = setup({});
    const report = new RecordingReport();
    const b = createSystemCollector(env).collect(fixedTick({ pids: [5] }), report);
    assert.equal(b.uptime_seconds, null);
    assert.equal(b.uptime_source, null);
    assert.ok(report.unsupportedFields.has('uptime_seconds'));
    assert.equal(b.host_uptime_seconds, 12345.67);
  });

  it('malformed /proc/loadavg loses only the host load', () => {
    const { env } = setup({ 'proc/loadavg': 'nope\n', 'proc/1/stat': stat(1, 'init', 500) });
    const report = new RecordingReport();
    const b = createSystemCollector(env).collect(fixedTick({ pids: [1] }), report);
    assert.equal(b.host_load_average, null);
    assert.match(report.failedFields.get('host_load_average') ?? '', /loadavg/);
    assert.equal(b.uptime_seconds, Math.floor(12345.67 - 500 / 100));
  });

  it('an empty /proc/uptime: both uptimes null and failed', () => {
    const { tree, env } = setup({ 'proc/1/stat': stat(1, 'init', 500) });
    tree.write('proc/uptime', '');
    const report = new RecordingReport();
    const b = createSystemCollector(env).collect(fixedTick({ pids: [1] }), report);
    assert.equal(b.host_uptime_seconds, null);
    assert.equal(b.uptime_seconds, null);
    assert.ok(report.failedFields.has('uptime_seconds'));
  });

  it('on the real /proc: this process has been up since it started', () => {
    const env: AgentEnv = { ...setup({}).env, procRoot: '/proc' };
    const b = createSystemCollector(env).collect(fixedTick({ pids: [process.pid] }), new RecordingReport());
    const hostUptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    assert.equal(b.uptime_source, 'oldest-pid');
    assert.ok(b.uptime_seconds !== null && Math.abs(b.uptime_seconds - process.uptime()) <= 2, `uptime ${b.uptime_seconds}, process.uptime ${process.uptime()}`);
    assert.ok(b.host_uptime_seconds !== null && Math.abs(b.host_uptime_seconds - hostUptime) < 5);
  });
});
