/**
 * `npm run test:docker`, host mode: `system-monitor host` on this machine,
 * reading the real Docker engine through its socket, with 20 containers of
 * assorted --cpus and --memory (a CPU burner among them), one of which also
 * runs its own sidecar, so the two can be compared on the same container.
 * Containers are started and stopped while the agent runs. Every name here
 * starts with PREFIX, so cleaning up touches nothing else.
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { metricsKey } from '../../shared/src/keys.js';
import { payloadSchema, type Payload } from '../../shared/src/payload.js';
import { VERSION } from '../../shared/src/version.js';
import { AgentProcess } from '../../agent/test/helpers/agent-process.js';
import { until } from '../../agent/test/helpers/until.js';
import { burnerBinary, ensureDockerd, ensureStandIns } from './stand-ins.js';
import { startTestValkey } from './test-valkey.js';

const REPO = join(import.meta.dirname, '../..');
const PREFIX = 'smhost';
const AGENT_IMAGE = `system-monitor-agent:${VERSION}`;
const DEBIAN = 'system-monitor-test/debian:bookworm';
const MiB = 1024 * 1024;

function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${String(r.status)}`}):\n${String(r.stdout).slice(-4000)}${String(r.stderr).slice(-4000)}`);
  return String(r.stdout);
}
const docker = (...args: string[]): string => run('docker', args).trim();

function removeOurs(): void {
  const ids = docker('ps', '-aq', '--filter', `name=^${PREFIX}`).split('\n').filter((l) => l !== '');
  if (ids.length > 0) spawnSync('docker', ['rm', '-f', '-v', ...ids]);
  spawnSync('docker', ['network', 'rm', `${PREFIX}-net`]);
  spawnSync('docker', ['rmi', `${PREFIX}-twin:latest`]);
}

/** The 20 containers: [name suffix, --cpus or null, --memory in MiB or null]. The burner is the first. */
const FLEET: [string, number | null, number | null][] = Array.from({ length: 20 }, (_, i) => {
  const cpus = [0.25, 0.5, 1, 1.5, null][i % 5] ?? null;
  const mem = [32, 64, 128, 256, null, 96][i % 6] ?? null;
  return [i === 0 ? 'burner' : `c${i}`, i === 0 ? 0.5 : cpus, mem];
});

describe('host mode on a Docker engine', () => {
  let ctx: string;
  let port: number;
  let redis: Redis;
  let host: AgentProcess;

  async function sampleOf(name: string): Promise<Payload | null> {
    const raw = await redis.get(metricsKey(name));
    return raw === null ? null : payloadSchema.parse(JSON.parse(raw));
  }

  /** A sample published after `afterIso`, with a CPU rate in it. */
  function fresh(name: string, afterIso: string, ms = 30_000): Promise<Payload> {
    return until(`a sample of ${name} after ${afterIso}`, async () => {
      const s = await sampleOf(name);
      return s !== null && s.timestamp > afterIso && s.status === 'running' && s.cpu?.cores_used !== null ? s : null;
    }, ms);
  }

  before(async () => {
    await ensureDockerd();
    await ensureStandIns((line: string) => process.stdout.write(`# ${line}\n`));
    removeOurs();
    // The README's build (cached when engine.docker-test.ts built it in this run).
    run('docker', ['build', '--network', 'host', '-f', 'Dockerfile.agent', '-t', AGENT_IMAGE, '.'], { cwd: REPO, env: { ...process.env, DOCKER_BUILDKIT: '0' }, timeout: 900_000 });
    ctx = mkdtempSync(join(tmpdir(), 'smhost-ctx-'));
    copyFileSync(burnerBinary(), join(ctx, 'burner'));
    // The twin: the sidecar beside the burner in one container, as the README adds it to an image.
    writeFileSync(join(ctx, 'Dockerfile'), [`FROM ${DEBIAN}`, `COPY --from=${AGENT_IMAGE} /opt/system-monitor /opt/system-monitor`, 'COPY burner /usr/local/bin/burner', 'ENTRYPOINT ["/opt/system-monitor/start-with-monitor.sh"]', 'CMD ["/usr/local/bin/burner"]', ''].join('\n'));
    run('docker', ['build', '-q', '-t', `${PREFIX}-twin:latest`, ctx], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });

    docker('network', 'create', `${PREFIX}-net`);
    ({ port, redis } = await startTestValkey(PREFIX));
    // Half the fleet before the agent starts, half after (picked up from the event stream).
    for (const [suffix, cpus, mem] of FLEET.slice(0, 10)) startOne(suffix, cpus, mem);
    host = new AgentProcess(['host', '--interval', '1'], { VALKEY_HOST: '127.0.0.1', VALKEY_PORT: String(port), LOG_LEVEL: 'info' });
    await host.waitForLog(/host agent starting/, 30_000);
  });

  after(() => {
    void host.stop();
    redis.disconnect();
    removeOurs();
    rmSync(ctx, { recursive: true, force: true });
  });

  function startOne(suffix: string, cpus: number | null, memMiB: number | null): void {
    const limits = [...(cpus === null ? [] : ['--cpus', String(cpus)]), ...(memMiB === null ? [] : ['--memory', `${memMiB}m`])];
    const cmd = suffix === 'burner' ? ['-v', `${join(ctx, 'burner')}:/burner:ro`, DEBIAN, '/burner'] : [DEBIAN, 'sleep', 'infinity'];
    docker('run', '-d', '--name', `${PREFIX}-${suffix}`, '--network', `${PREFIX}-net`, ...limits, ...cmd);
  }

  it('20 containers, half started after the agent: each key carries the limits Docker set, the burner its cores', async () => {
    const startedAt = Date.now();
    for (const [suffix, cpus, mem] of FLEET.slice(10)) startOne(suffix, cpus, mem);
    const t0 = new Date(startedAt).toISOString();
    for (const [suffix, cpus, mem] of FLEET) {
      const s = await fresh(`${PREFIX}-${suffix}`, t0);
      // Without --cpus the limit is the CPUs the container may run on, as the sidecar says.
      assert.equal(s.cpu?.limit_cores, cpus ?? s.host.cpus, `${suffix} cpu limit`);
      if (mem !== null) assert.equal(s.memory?.limit_bytes, mem * MiB, `${suffix} memory limit`);
      assert.equal(s.process_count, 1, `${suffix} has one process`);
      assert.equal(s.system?.uptime_source, 'pid1');
      assert.equal(s.network?.scope, 'container', `${suffix} network read in its own namespace`);
    }
    // The late half was picked up from the events, within a few intervals of being started.
    const late = await sampleOf(`${PREFIX}-${FLEET[19]?.[0] ?? ''}`);
    assert.ok(late !== null && Date.parse(late.timestamp) - startedAt < 30_000);
    // The burner: held at its 0.5 quota for seconds by now.
    let last = await fresh(`${PREFIX}-burner`, new Date().toISOString());
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      last = await fresh(`${PREFIX}-burner`, last.timestamp);
      seen.push(last.cpu?.cores_used ?? NaN);
    }
    const mean = seen.reduce((a, b) => a + b, 0) / seen.length;
    assert.ok(Math.abs(mean - 0.5) <= 0.1, `burner at ${seen.join(', ')} cores (quota 0.5)`);
    assert.ok((await sampleOf(`${PREFIX}-c1`))?.cpu?.cores_used !== undefined);
  });

  it('agrees with the sidecar running inside the same container', async () => {
    docker('run', '-d', '--name', `${PREFIX}-twin`, '--network', `${PREFIX}-net`, '--cpus', '0.5', '--memory', '128m', '-e', `CONTAINER_NAME=${PREFIX}-twin-sidecar`, '-e', `VALKEY_HOST=${PREFIX}-valkey`, '-e', 'INTERVAL_SECONDS=1', `${PREFIX}-twin:latest`);
    // Past the sidecar's start-up page releases (before its 4th and 7th samples), which move the
    // container's memory counter; then a host-mode sample taken between two of the sidecar's.
    let s = await fresh(`${PREFIX}-twin-sidecar`, new Date().toISOString(), 60_000);
    while (s.seq < 8) s = await fresh(`${PREFIX}-twin-sidecar`, s.timestamp);
    const h = await fresh(`${PREFIX}-twin`, s.timestamp);
    const s2 = await fresh(`${PREFIX}-twin-sidecar`, h.timestamp);
    assert.equal(h.host.hostname, s.host.hostname);
    assert.equal(h.cpu?.limit_cores, 0.5);
    assert.equal(s.cpu?.limit_cores, 0.5);
    assert.equal(h.memory?.limit_bytes, s.memory?.limit_bytes);
    // Exactly: host mode once counted 6 against the sidecar's 5 because a kept cgroup v1 cgroup.procs descriptor,
    // read every second, served the kernel's cached list of an earlier read (issue #18); it is now opened per read.
    assert.ok(h.process_count !== null && s.process_count !== null, 'both count processes');
    assert.ok(h.process_count === s.process_count || h.process_count === s2.process_count, `the sidecar is one of the container's processes, seen by both (host mode ${h.process_count}, sidecar ${s.process_count} then ${s2.process_count})`);
    assert.equal(h.system?.uptime_source, 'pid1');
    assert.equal(s.system?.uptime_source, 'pid1');
    assert.ok(Math.abs((h.uptime_seconds ?? NaN) - (s.uptime_seconds ?? NaN)) <= 2, `uptime ${h.uptime_seconds} vs ${s.uptime_seconds}`);
    // Between the two sidecar readings around it, give or take 5 % (the interval's noise).
    const within = (what: string, v: number | null | undefined, a: number | null | undefined, b: number | null | undefined, slack: number): void => {
      const lo = Math.min(a ?? NaN, b ?? NaN);
      const hi = Math.max(a ?? NaN, b ?? NaN);
      assert.ok((v ?? NaN) >= lo - slack && (v ?? NaN) <= hi + slack, `${what}: host mode ${v}, sidecar ${a} then ${b}`);
    };
    within('cores used', h.cpu?.cores_used, s.cpu?.cores_used, s2.cpu?.cores_used, 0.05);
    within('memory', h.memory_usage_bytes, s.memory_usage_bytes, s2.memory_usage_bytes, (s.memory_usage_bytes ?? 0) * 0.05);
    assert.deepEqual(h.network?.interfaces.map((i) => i.name), s.network?.interfaces.map((i) => i.name));
    assert.equal(h.network?.scope, s.network?.scope);
    // The same namespace's counters (the sidecar's publishing is its traffic), read between the sidecar's two readings.
    within('tx bytes', h.network_tx_bytes, s.network_tx_bytes, s2.network_tx_bytes, 4096);
    within('rx bytes', h.network_rx_bytes, s.network_rx_bytes, s2.network_rx_bytes, 4096);
    assert.equal(h.disk_total_bytes, s.disk_total_bytes);
    assert.deepEqual(Object.keys(h.agent.collectors).sort(), Object.keys(s.agent.collectors).sort());
  });

  it('a stopped container gets its exited sample at once, from the event, and expires like a sidecar\'s', async () => {
    const name = `${PREFIX}-c3`;
    await fresh(name, new Date().toISOString());
    const stopped = Date.now();
    docker('stop', '-t', '1', name);
    const final = await until('the exited sample', async () => {
      const s = await sampleOf(name);
      return s?.status === 'exited' ? s : null;
    }, 10_000);
    assert.ok(Date.now() - stopped < 5000, 'written within seconds of the stop');
    assert.equal(final.memory?.limit_bytes, (FLEET[3]?.[2] ?? NaN) * MiB, 'its last values');
    const ttl = await redis.ttl(metricsKey(name));
    assert.ok(ttl > 0 && ttl <= 15, `expires in ${ttl} s (the final sample's short expiry)`);
    // Started again, it is monitored again.
    docker('start', name);
    const back = await fresh(name, new Date().toISOString());
    assert.equal(back.status, 'running');
    assert.ok(host.alive, host.stderr);
  });
});
