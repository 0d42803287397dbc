import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Browser } from 'playwright-core';
import { CONTAINERS_KEY, METRICS_CHANNEL, metricsKey } from '../../shared/src/keys.js';
import { AgentProcess } from '../../agent/test/helpers/agent-process.js';
import { freePort, RedisServer } from '../../agent/test/helpers/redis-server.js';
import { launchChromium } from './helpers/browser.js';
import { makePayload } from './helpers/payload.js';

/** The dashboard's alerts view in headless Chromium: an admin token gets Silence, Acknowledge and Expire; a viewer gets none. */

const ADMIN = 'admin-token-0123456789abcdef';
const VIEWER = 'viewer-token-0123456789abcdef';

describe('dashboard alerts view: silences and acknowledgements', () => {
  let server: RedisServer;
  let redis: Redis;
  let agg: AgentProcess;
  let browser: Browser;
  let base = '';
  let dir = '';
  let feeder: NodeJS.Timeout | null = null;

  const publish = async (): Promise<void> => {
    const now = Date.now();
    const json = JSON.stringify(makePayload({ name: 'ui-1', memory_percent: 95, interval_seconds: 1, timestamp: new Date(now).toISOString() }));
    await redis.set(metricsKey('ui-1'), json, 'EX', 10);
    await redis.zadd(CONTAINERS_KEY, now, 'ui-1');
    await redis.publish(METRICS_CHANNEL, json);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agg-alerts-ui-'));
    server = new RedisServer(await freePort());
    await server.start();
    redis = new Redis({ port: server.port, host: '127.0.0.1' });
    const rules = join(dir, 'rules.yaml');
    writeFileSync(rules, ['rules:', '  - id: mem', '    name: Memory high', '    metric: memory_percent', '    warn: 90', '    for: 1s'].join('\n'));
    const tokens = join(dir, 'tokens.json');
    writeFileSync(tokens, JSON.stringify({ tokens: [{ name: 'ops-alice', token: ADMIN, role: 'admin' }, { name: 'viewer-bob', token: VIEWER, role: 'viewer' }] }));
    const port = await freePort();
    agg = new AgentProcess([], { PORT: String(port), INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}`, ALERT_RULES_FILE: rules, AUTH_TOKENS_FILE: tokens, LOG_LEVEL: 'warn' }, 'aggregator/src/main.ts');
    base = `http://127.0.0.1:${port}`;
    for (const t = Date.now() + 20_000; ; ) {
      try {
        if ((await fetch(`${base}/healthz`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > t) throw new Error(`aggregator did not start: ${agg.stderr}`);
      await sleep(100);
    }
    await publish();
    feeder = setInterval(() => void publish().catch(() => undefined), 500);
    browser = await launchChromium();
  });

  after(async () => {
    if (feeder !== null) clearInterval(feeder);
    await browser.close();
    await agg.stop();
    redis.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an admin silences, expires and acknowledges from the page', async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    page.on('dialog', (d) => void d.accept('maintenance window'));
    await page.goto(`${base}/?token=${ADMIN}#/alerts`);
    const row = page.locator('tr.state-firing', { hasText: 'ui-1' });
    await row.waitFor({ timeout: 30_000 });
    await row.locator('button.silence').click();
    await row.locator('.badge.silenced').waitFor({ timeout: 10_000 });
    const item = page.locator('.silences li', { hasText: 'container ui-1' });
    await item.waitFor({ timeout: 10_000 });
    assert.match(await item.innerText(), /by ops-alice: maintenance window/);
    await item.locator('button.expire').click();
    await row.locator('.badge.silenced').waitFor({ state: 'detached', timeout: 10_000 });
    await row.locator('button.ack').click();
    await row.locator('.badge.acked', { hasText: 'acknowledged by ops-alice' }).waitFor({ timeout: 10_000 });
    assert.equal(await row.locator('button.ack').count(), 0);
    await ctx.close();
  });

  it('a viewer sees the marks but no buttons', async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${base}/?token=${VIEWER}#/alerts`);
    const row = page.locator('tr.state-firing', { hasText: 'ui-1' });
    await row.locator('.badge.acked').waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('button.silence, button.ack, button.expire').count(), 0);
    await ctx.close();
  });
});
