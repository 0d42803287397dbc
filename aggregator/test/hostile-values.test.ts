import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { CONTAINERS_KEY, METRICS_CHANNEL, metricsKey } from '../../shared/src/keys.js';
import { payloadSchema } from '../../shared/src/payload.js';
import { AgentProcess, fixtureEnv } from '../../agent/test/helpers/agent-process.js';
import { freePort, RedisServer } from '../../agent/test/helpers/redis-server.js';
import { until } from '../../agent/test/helpers/until.js';
import { makePayload } from './helpers/payload.js';

/**
 * Any container that reaches the shared Valkey can write there. While an SSE
 * client follows the fleet and the list is read in a loop, every class of
 * hostile value is SET and published next to a real agent's valid samples;
 * the aggregator must stay up, keep taking the valid samples, refuse the rest
 * by reason, and keep /metrics parseable by Prometheus' own checker.
 */

const PROMTOOL = process.env.PROMTOOL_BIN ?? 'promtool';

function promtoolCheck(text: string): { ok: boolean; out: string } {
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw new Error(`${PROMTOOL} is needed to check /metrics (Debian package "prometheus"): ${r.error.message}`);
  // Lint findings (help texts, names) are reported too; only a parse error matters here.
  return { ok: !/error while linting|text format parsing error|parse error/i.test(`${r.stdout}${r.stderr}`), out: `${r.stdout}${r.stderr}` };
}

describe('hostile values in Valkey', () => {
  let server: RedisServer;
  let redis: Redis;
  let agg: AgentProcess;
  let agent: AgentProcess;
  let base: string;
  const sse: string[] = [];
  const abort = new AbortController();
  let listErrors = 0;
  let listRuns = 0;
  let stopLoop = false;
  let loop: Promise<void> = Promise.resolve();

  before(async () => {
    server = new RedisServer(await freePort());
    await server.start();
    redis = new Redis({ port: server.port, host: '127.0.0.1' });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    agg = new AgentProcess([], { PORT: String(port), INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}`, MAX_SAMPLE_BYTES: String(64 * 1024) }, 'aggregator/src/main.ts');
    await agg.waitForLog(/aggregator listening/, 20_000);
    agent = new AgentProcess([], { ...fixtureEnv('docker-v2'), CONTAINER_NAME: 'good-1', INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}` });
    await until('good-1 listed ok', async () => {
      const r = (await (await fetch(`${base}/api/v1/containers`)).json()) as { containers: { name: string; status: string }[] };
      return r.containers.some((c) => c.name === 'good-1' && c.status === 'ok') ? true : null;
    }, 20_000, 200);
    // An SSE client following everything, and the list read in a loop, throughout.
    void (async () => {
      const r = await fetch(`${base}/api/v1/events`, { signal: abort.signal });
      const dec = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of r.body ?? []) {
          buf += dec.decode(chunk as Uint8Array, { stream: true });
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            sse.push(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
        }
      } catch {
        // aborted at the end
      }
    })();
    loop = (async () => {
      while (!stopLoop) {
        const r = await fetch(`${base}/api/v1/containers?include=sample`).catch(() => null);
        listRuns += 1;
        if (r?.status !== 200) listErrors += 1;
        await r?.arrayBuffer().catch(() => undefined);
        await sleep(100);
      }
    })();
  });

  after(async () => {
    stopLoop = true;
    await loop;
    abort.abort();
    await agent.stop();
    await agg.stop();
    redis.disconnect();
    await server.stop();
  });

  it('every class of hostile value: the process stays up, valid samples around them are taken, each refusal is counted by reason', async () => {
    const now = () => new Date().toISOString();
    const sample = (name: string, extra: Record<string, unknown> = {}) => ({ ...makePayload({ name, timestamp: now(), interval_seconds: 1 }), seq: Date.now(), ...extra });
    const register = async (...names: string[]) => {
      for (const n of names) await redis.zadd(CONTAINERS_KEY, Date.now(), n);
    };
    const deep = '['.repeat(25_000) + ']'.repeat(25_000);
    await register('pretty', 'big', 'deep', 'proto', 'utf8', 'nan', 'html"<b>x</b>\\q', 'liar');
    // As an agent does: in the registry first, so its published samples are taken.
    await until('the new names in the fleet', async () => {
      const r = (await (await fetch(`${base}/api/v1/containers`)).json()) as { containers: { name: string }[] };
      return r.containers.some((c) => c.name === 'liar') ? true : null;
    }, 10_000, 100);
    await sleep(1200);
    // Pretty-printed: valid, but with newlines (once fatal to the SSE frame check).
    const pretty = JSON.stringify(sample('pretty'), null, 2);
    await redis.set(metricsKey('pretty'), pretty);
    await redis.publish(METRICS_CHANNEL, pretty);
    // Oversized: a valid sample padded past the 64 KiB cap set for this test.
    const big = JSON.stringify(sample('big', { pad: 'x'.repeat(80 * 1024) }));
    await redis.set(metricsKey('big'), big);
    await redis.publish(METRICS_CHANNEL, big);
    // An unknown field nested 25,000 arrays deep, under the cap (once a 500 for the whole list).
    const deepRaw = JSON.stringify(sample('deep')).slice(0, -1) + `,"nest":${deep}}`;
    await redis.set(metricsKey('deep'), deepRaw);
    await redis.publish(METRICS_CHANNEL, deepRaw);
    // __proto__ keys at the top and in a map.
    const proto = JSON.stringify(sample('proto')).slice(0, -1) + ',"__proto__":{"polluted":true},"unavailable":{"__proto__":"x"}}';
    await redis.set(metricsKey('proto'), proto);
    await redis.publish(METRICS_CHANNEL, proto);
    // Invalid UTF-8 and NaN text.
    await redis.set(metricsKey('utf8'), Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]));
    await redis.set(metricsKey('nan'), JSON.stringify(sample('nan')).replace(/"cpu_percent":[^,]+/, '"cpu_percent":NaN'));
    // A sample under another container's key.
    await redis.set(metricsKey('liar'), JSON.stringify(sample('good-1')));
    // A name with quotes, HTML and a backslash (allowed by the name rule: it must be escaped wherever it is shown).
    const html = 'html"<b>x</b>\\q';
    const htmlSample = JSON.stringify(sample(html));
    await redis.set(metricsKey(html), htmlSample);
    await redis.publish(METRICS_CHANNEL, htmlSample);
    // Registry entries: names with a newline or a space, an infinite and a far-future score.
    await redis.zadd(CONTAINERS_KEY, Date.now(), 'evil\nname', Date.now(), 'with space');
    await redis.zadd(CONTAINERS_KEY, '+inf', 'forever', Date.now() + 365 * 86_400_000, 'next-year');
    // Samples for 200 made-up names that are not in the registry.
    for (let i = 0; i < 200; i++) await redis.publish(METRICS_CHANNEL, JSON.stringify(sample(`ghost-${i}`)));

    const seqBefore = payloadSchema.parse(JSON.parse((await redis.get(metricsKey('good-1'))) ?? '{}')).seq;
    await sleep(3500);
    assert.ok(agg.alive, `the aggregator is up (stderr: ${agg.stderr.slice(-2000)})`);

    const list = (await (await fetch(`${base}/api/v1/containers?include=sample`)).json()) as { containers: { name: string; status: string; sample: { seq: number } | null }[] };
    const by = new Map(list.containers.map((c) => [c.name, c]));
    const good = by.get('good-1');
    assert.equal(good?.status, 'ok', 'the real agent is still ok');
    assert.ok((good?.sample?.seq ?? 0) > seqBefore, 'and its newer samples were taken');
    for (const n of ['pretty', 'deep', 'proto', html]) assert.notEqual(by.get(n)?.sample ?? null, null, `${n}: valid under its hostile form, taken`);
    for (const n of ['big', 'utf8', 'nan', 'liar']) assert.equal(by.get(n)?.sample ?? null, null, `${n}: refused`);
    for (const n of ['evil\nname', 'with space', 'forever', 'next-year', 'ghost-0', 'ghost-199']) assert.equal(by.has(n), false, `${JSON.stringify(n)} is not a container`);
    assert.equal(listErrors, 0, `the list answered 200 every time (${listRuns} reads)`);

    // What went on to clients is the validated object, one line, without unknown fields.
    const frames = sse.filter((f) => f.includes('event: sample'));
    const prettyFrame = frames.find((f) => f.includes('"container_name":"pretty"'));
    assert.ok(prettyFrame !== undefined, 'the pretty-printed sample reached the SSE client');
    const data = /^data: (.*)$/m.exec(prettyFrame)?.[1] ?? '';
    assert.deepEqual(payloadSchema.parse(JSON.parse(data)), JSON.parse(data));
    assert.ok(!sse.some((f) => f.includes('"nest"') || f.includes('polluted')), 'unknown fields never reach a client');
    assert.ok(!frames.some((f) => f.includes('ghost-')), 'unregistered names never reach a client');

    // Each refusal is counted by reason, and /metrics stays valid for Prometheus.
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const rejected = (reason: string) => Number(new RegExp(`^system_monitor_rejected_values_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? -1);
    for (const reason of ['too_large', 'not_json', 'schema', 'name_mismatch', 'bad_name', 'bad_score', 'unregistered']) assert.ok(rejected(reason) >= 1, `${reason} counted (${rejected(reason)})`);
    assert.ok(rejected('unregistered') >= 200, 'every ghost sample counted');
    assert.ok(rejected('bad_name') >= 2 && rejected('bad_score') >= 2);
    assert.match(metrics, /^agent_up\{container="html\\"<b>x<\/b>\\\\q"\} [01]$/m, 'the odd name is escaped as a label value');
    const check = promtoolCheck(metrics);
    assert.ok(check.ok, `promtool check metrics: ${check.out.slice(0, 2000)}`);

    // Logged once per place and reason, not once per poll.
    const liarLines = agg.said(/not a valid sample/).filter((l) => String(l.key).endsWith(':liar'));
    assert.equal(liarLines.length, 1);

    // No alert was raised for names outside the registry.
    const alerts = (await (await fetch(`${base}/api/v1/alerts`)).json()) as { alerts: { container: string }[] };
    assert.ok(!alerts.alerts.some((a) => a.container.startsWith('ghost-')), 'made-up names raise no alert');
  });

  it('a container removed from the registry is forgotten: no "down" alert, no alert state', async () => {
    await redis.zrem(CONTAINERS_KEY, 'pretty');
    await redis.del(metricsKey('pretty'));
    await until('pretty gone from the list', async () => {
      const r = (await (await fetch(`${base}/api/v1/containers`)).json()) as { containers: { name: string }[] };
      return r.containers.some((c) => c.name === 'pretty') ? null : true;
    }, 10_000, 200);
    // Its last sample is now past 3 intervals of 1 s: a container still remembered would be "down" by now.
    await sleep(6000);
    const alerts = (await (await fetch(`${base}/api/v1/alerts`)).json()) as { alerts: { container: string }[] };
    assert.ok(!alerts.alerts.some((a) => a.container === 'pretty'), 'no alert for a container that left the registry');
    assert.ok(agg.alive);
  });
});
