import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SseHub, type SseClientFilter, type SseEventType } from './sse.js';

/** Reads an SSE stream over real HTTP and collects `event:data` pairs. */
async function reader(url: string, signal: AbortSignal): Promise<{ events: string[]; done: Promise<void> }> {
  const res = await fetch(url, { signal });
  const events: string[] = [];
  const body = res.body;
  if (body === null) throw new Error('no body');
  const done = (async () => {
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body) {
        buf += dec.decode(chunk as Uint8Array, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const type = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (type !== undefined && data !== undefined) events.push(`${type}:${data}`);
        }
      }
    } catch {
      // aborted
    }
  })();
  return { events, done };
}

describe('SseHub routing', () => {
  const hub = new SseHub({ ringSize: 100, maxBufferedBytes: 1 << 20, heartbeatMs: 60_000, retryMs: 1000 });
  let server: Server;
  const abort = new AbortController();
  after(() => {
    abort.abort();
    hub.close();
    server.close();
  });

  it('each client gets exactly the events its container and type filters select', async () => {
    server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      const c = u.searchParams.get('c');
      const t = u.searchParams.get('t');
      const filter: SseClientFilter = {
        containers: c === null ? null : new Set(c.split(',')),
        types: t === null ? null : new Set(t.split(',') as SseEventType[]),
      };
      hub.attach(res, filter, null);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const all = await reader(`${base}/`, abort.signal);
    const ab = await reader(`${base}/?c=a,b`, abort.signal);
    const bStatus = await reader(`${base}/?c=b&t=status`, abort.signal);
    while (hub.stats.clients < 3) await new Promise((r) => setTimeout(r, 10));
    const sent: [SseEventType, string | null, string][] = [
      ['sample', 'a', '1'], ['sample', 'b', '2'], ['status', 'b', '3'], ['sample', 'c', '4'], ['alert', null, '5'], ['status', 'a', '6'],
    ];
    for (const [type, container, data] of sent) hub.publish(type, container, data);
    const want = (f: (e: [SseEventType, string | null, string]) => boolean): string[] => sent.filter(f).map(([t, , d]) => `${t}:"${d}"`);
    const deadline = Date.now() + 3000;
    while (all.events.length < sent.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(all.events, want(() => true));
    assert.deepEqual(ab.events, want(([, c]) => c === 'a' || c === 'b'));
    assert.deepEqual(bStatus.events, want(([t, c]) => c === 'b' && t === 'status'));
  });

  it('a client that goes away is removed and gets nothing more', async () => {
    const before = hub.stats.clients;
    abort.abort();
    const deadline = Date.now() + 3000;
    while (hub.stats.clients > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(before, 3);
    assert.equal(hub.stats.clients, 0);
    hub.publish('sample', 'a', 'after');
    assert.equal(hub.stats.events_total, 7);
  });
});

describe('SseHub replay ring', () => {
  it('is bounded in bytes as well as in events: the oldest events go first', async () => {
    const hub = new SseHub({ ringSize: 100, ringMaxBytes: 1000, maxBufferedBytes: 1 << 20, heartbeatMs: 60_000, retryMs: 1000 });
    const server = createServer((_req, res) => {
      hub.attach(res, { containers: null, types: null }, 0);
    });
    const abort = new AbortController();
    try {
      // Ten events of 302 bytes each: only the last three fit in 1,000 bytes.
      for (let i = 0; i < 10; i++) hub.publish('sample', 'a', `${i}`.padEnd(300, 'x'));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const r = await reader(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, abort.signal);
      const t0 = Date.now();
      while (r.events.length < 3 && Date.now() - t0 < 5000) await new Promise((x) => setTimeout(x, 20));
      await new Promise((x) => setTimeout(x, 100));
      assert.deepEqual(r.events.map((e) => e.slice('sample:"'.length, 'sample:"'.length + 1)), ['7', '8', '9']);
    } finally {
      abort.abort();
      hub.close();
      server.close();
    }
  });
});
