import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentProcess, fixtureEnv } from '../../agent/test/helpers/agent-process.js';
import { freePort, RedisServer } from '../../agent/test/helpers/redis-server.js';
import { until } from '../../agent/test/helpers/until.js';
import { AlertmanagerProcess, amWebhookSchema } from './helpers/alertmanager.js';
import { Receiver } from './helpers/receiver.js';

/**
 * ALERTMANAGER_URL against a real Alertmanager (Debian's prometheus-alertmanager)
 * routing to a local webhook receiver: real agents, a real aggregator, a real redis-server.
 */

describe('alerts posted to a real Alertmanager', () => {
  let server: RedisServer;
  let rx: Receiver;
  let am: AlertmanagerProcess;
  let agg: AgentProcess;
  let base = '';
  let dir = '';
  const agents = new Map<string, AgentProcess>();

  const startAgent = (name: string): AgentProcess => {
    const a = new AgentProcess([], { ...fixtureEnv('docker-v2'), CONTAINER_NAME: name, INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}` });
    agents.set(name, a);
    return a;
  };

  /** What Alertmanager delivered to the receiver for `container`, as [status, …] in order. */
  const notified = (container: string): string[] =>
    rx.successes().flatMap((r) => {
      const b = amWebhookSchema.safeParse(r.body);
      if (!b.success) return [];
      return b.data.alerts.filter((a) => a.labels.container === container && a.labels.alertname === 'container_down').map((a) => a.status);
    });

  const firingInAggregator = async (container: string): Promise<boolean> => {
    const r = await fetch(`${base}/api/v1/alerts`);
    const body = (await r.json()) as { alerts: { container: string; rule_id: string; state: string }[] };
    return body.alerts.some((a) => a.container === container && a.rule_id === 'container_down' && a.state === 'firing');
  };

  const knownToAggregator = async (name: string): Promise<boolean> => (await fetch(`${base}/api/v1/containers/${name}`)).status === 200;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agg-am-'));
    server = new RedisServer(await freePort());
    await server.start();
    rx = new Receiver(() => 200);
    await rx.start();
    am = new AlertmanagerProcess(await freePort(), rx.url);
    await am.start();
    const rules = join(dir, 'rules.yaml');
    writeFileSync(rules, ['rules:', '  - id: container_down', '    name: Container down', '    kind: container_down', '    stale_intervals: 3', '    critical_intervals: 600'].join('\n'));
    const port = await freePort();
    agg = new AgentProcess([], {
      PORT: String(port), INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}`, ALERT_RULES_FILE: rules,
      ALERTMANAGER_URL: am.url, ALERTMANAGER_RESEND_SECONDS: '2',
    }, 'aggregator/src/main.ts');
    await agg.waitForLog(/aggregator listening/, 20_000);
    base = `http://127.0.0.1:${port}`;
  });

  after(async () => {
    for (const a of agents.values()) await a.stop();
    await agg.stop();
    await am.cleanup();
    await rx.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a killed agent's container_down reaches the receiver through Alertmanager, and resolves when the agent returns", async () => {
    const a = startAgent('am-1');
    await until('am-1 known to the aggregator', async () => ((await knownToAggregator('am-1')) ? true : null), 20_000);
    a.child.kill('SIGKILL');
    await until('firing container_down via Alertmanager', () => (notified('am-1').includes('firing') ? true : null), 30_000);
    const held = (await am.alerts()).find((x) => x.labels.container === 'am-1');
    assert.ok(held !== undefined, 'Alertmanager holds the alert');
    assert.equal(held.labels.alertname, 'container_down');
    assert.equal(held.labels.severity, 'warning');
    assert.equal(held.annotations.summary, 'Container down');
    assert.ok(Date.parse(held.endsAt) > Date.now(), `a firing alert's endsAt is in the future (${held.endsAt})`);
    startAgent('am-1');
    await until('resolved via Alertmanager', () => (notified('am-1').includes('resolved') ? true : null), 30_000);
  });

  it('a silence made in Alertmanager suppresses the notification', async () => {
    startAgent('am-2');
    await until('am-2 known to the aggregator', async () => ((await knownToAggregator('am-2')) ? true : null), 20_000);
    await am.silence({ alertname: 'container_down', container: 'am-2' }, 10);
    agents.get('am-2')?.child.kill('SIGKILL');
    await until('am-2 firing in the aggregator', async () => ((await firingInAggregator('am-2')) ? true : null), 20_000);
    const held = await until('Alertmanager holds am-2, suppressed', async () => {
      const x = (await am.alerts()).find((h) => h.labels.container === 'am-2');
      return x?.status.state === 'suppressed' ? x : null;
    }, 10_000);
    assert.equal(held.status.silencedBy.length, 1);
    // Several group intervals (1 s) and resends (2 s) later, still nothing delivered.
    await sleep(5000);
    assert.deepEqual(notified('am-2'), []);
  });

  it('an Alertmanager outage loses no alert: it is sent when Alertmanager is back', async () => {
    startAgent('am-3');
    await until('am-3 known to the aggregator', async () => ((await knownToAggregator('am-3')) ? true : null), 20_000);
    await am.stop();
    agents.get('am-3')?.child.kill('SIGKILL');
    await until('am-3 firing in the aggregator', async () => ((await firingInAggregator('am-3')) ? true : null), 20_000);
    await agg.waitForLog(/could not post alerts to Alertmanager/, 15_000);
    await sleep(2000);
    assert.deepEqual(notified('am-3'), []);
    await am.start();
    await until('am-3 firing via Alertmanager after the outage', () => (notified('am-3').includes('firing') ? true : null), 30_000);
  });
});
