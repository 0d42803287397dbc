import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { RedisServer, freePort } from '../../agent/test/helpers/redis-server.js';
import { AlertService, type DeliveryRecord } from '../src/alerts/service.js';
import { rulesFileSchema } from '../src/alerts/rule-schema.js';
import { makePayload } from './helpers/payload.js';
import { Receiver } from './helpers/receiver.js';

/** The alert service's log lines and delivery records, with a webhook URL full of secrets. */
describe('webhook failures in the alert service', () => {
  let server: RedisServer;
  let redis: Redis;
  let rx: Receiver;
  let t = 9_000_000;
  const clock = (): number => t;
  const lines: string[] = [];
  const log = pino({ level: 'info' }, new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString('utf8')); cb(); } }));

  before(async () => {
    const port = await freePort();
    server = new RedisServer(port);
    await server.start();
    redis = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    rx = new Receiver(() => 401);
    await rx.start();
  });
  after(async () => {
    redis.disconnect();
    await rx.stop();
    await server.stop();
  });

  it('logs the URL redacted, gives up on a 401, and tries again only after a rules reload', async () => {
    const url = `http://alice:hunter2@127.0.0.1:${rx.port}/hooks/SECRETPATH?token=TOKVALUE`;
    const rules = (): ReturnType<typeof rulesFileSchema.parse> => rulesFileSchema.parse({
      notify: { webhooks: [url], repeat_interval: '1h' },
      rules: [{ id: 'mem', name: 'Memory', metric: 'memory_percent', warn: 90 }],
    });
    const s = new AlertService({ redis, rules: rules(), isLeader: () => true, clock, log, failedRetryMs: 1000, delivery: { baseDelayMs: 10 } });
    const records: DeliveryRecord[] = [];
    s.on('delivery', (d) => records.push(d));
    await s.start();
    await s.onLeadership(true);
    s.onSample(makePayload({ memory_percent: 95 }));
    await s.idle();
    assert.equal(rx.requests.length, 1, 'a 401 is asked once');
    assert.equal(rx.requests[0]?.headers.authorization, `Basic ${Buffer.from('alice:hunter2').toString('base64')}`);

    t += 5000;
    s.tick();
    await s.idle();
    assert.equal(rx.requests.length, 1, 'not re-sent after the failed-retry wait: it cannot succeed');

    s.setRules(rules());
    t += 5000;
    s.tick();
    await s.idle();
    assert.equal(rx.requests.length, 2, 'a rules reload gives it another try');
    await s.stop();

    const warn = lines.filter((l) => l.includes('webhook not delivered'));
    assert.equal(warn.length, 2);
    assert.match(warn[0] ?? '', new RegExp(`"url":"http://…@127\\.0\\.0\\.1:${rx.port}/…#[0-9a-f]{8}"`));
    assert.match(warn[0] ?? '', /"status":401/);
    assert.equal(records.length, 2);
    const everything = [...lines, JSON.stringify(records)].join('\n');
    for (const secret of ['alice', 'hunter2', 'SECRETPATH', 'TOKVALUE']) assert.ok(!everything.includes(secret), `"${secret}" leaked`);
  });
});
