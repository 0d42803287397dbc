import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { Browser } from 'playwright-core';
import { CONTAINERS_KEY, METRICS_CHANNEL, metricsKey } from '../../shared/src/keys.js';
import { AgentProcess } from '../../agent/test/helpers/agent-process.js';
import { freePort, RedisServer } from '../../agent/test/helpers/redis-server.js';
import { until } from '../../agent/test/helpers/until.js';
import { launchChromium } from './helpers/browser.js';
import { makePayload } from './helpers/payload.js';

/**
 * Container names come from a store any container can write to. The name
 * rule keeps out whitespace, `:` and glob characters, but quotes, angle
 * brackets and backslashes are valid: the dashboard must show such a name as
 * text, never as markup, in the fleet table and on the container page.
 */

const HOSTILE = ['<img/src=x/onerror=window.__xss=1>', 'a"b\'c\\d', '<script>window.__xss=2</script>', '&lt;amp&gt;'];

describe('dashboard: hostile container names are text', { timeout: 120_000 }, () => {
  let server: RedisServer;
  let redis: Redis;
  let agg: AgentProcess;
  let base: string;
  let browser: Browser;

  before(async () => {
    server = new RedisServer(await freePort());
    await server.start();
    redis = new Redis({ port: server.port, host: '127.0.0.1' });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    agg = new AgentProcess([], { PORT: String(port), INTERVAL_SECONDS: '1', VALKEY_URL: `redis://127.0.0.1:${server.port}` }, 'aggregator/src/main.ts');
    await agg.waitForLog(/aggregator listening/, 20_000);
    browser = await launchChromium();
  });

  after(async () => {
    await browser.close();
    await agg.stop();
    redis.disconnect();
    await server.stop();
  });

  it('the fleet table and the container page show each name literally, and no markup from a name runs', async () => {
    for (const name of HOSTILE) {
      await redis.zadd(CONTAINERS_KEY, Date.now(), name);
      const raw = JSON.stringify({ ...makePayload({ name, timestamp: new Date().toISOString(), interval_seconds: 3600 }), seq: 1 });
      await redis.set(metricsKey(name), raw);
      await redis.publish(METRICS_CHANNEL, raw);
    }
    await until('every hostile name listed with its sample', async () => {
      const r = (await (await fetch(`${base}/api/v1/containers`)).json()) as { containers: { name: string; sample_time: string | null }[] };
      return HOSTILE.every((n) => r.containers.some((c) => c.name === n && c.sample_time !== null)) ? true : null;
    }, 15_000, 200);
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await page.goto(`${base}/#/`);
      for (const name of HOSTILE) {
        const row = page.locator('tbody tr').filter({ hasText: name });
        await row.first().waitFor({ timeout: 15_000 });
        assert.equal(await row.count(), 1, `one row shows ${name} as text`);
      }
      assert.equal(await page.locator('tbody img, tbody script').count(), 0, 'no element was made from a name');
      assert.equal(await page.evaluate('window.__xss'), undefined, 'no script from a name ran');
      // The container page (its name is in the URL and the heading).
      const name = HOSTILE[0] ?? '';
      await page.goto(`${base}/#/container/${encodeURIComponent(name)}`);
      await page.getByText(name, { exact: true }).first().waitFor({ timeout: 15_000 });
      assert.equal(await page.locator('main img, main script').count(), 0);
      assert.equal(await page.evaluate('window.__xss'), undefined);
      assert.deepEqual(errors, [], 'no page errors');
    } finally {
      await page.close();
    }
  });
});
