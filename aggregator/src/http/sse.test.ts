import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http';
import { connect, Socket, type AddressInfo } from 'node:net';
import { SseHub, type SseClientFilter, type SseEventType } from './sse.js';

/** Reads an SSE stream over real HTTP and collects `event:data` pairs. */
async function reader(url: string, signal: AbortSignal, headers: Record<string, string> = {}): Promise<{ events: string[]; done: Promise<void> }> {
  const res = await fetch(url, { signal, headers });
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
    const server = createServer((req, res) => {
      hub.attach(res, { containers: null, types: null }, Number(req.headers['last-event-id']));
    });
    const abort = new AbortController();
    try {
      // Ten events of 302 bytes each: only the last three fit in 1,000 bytes.
      for (let i = 0; i < 10; i++) hub.publish('sample', 'a', `${i}`.padEnd(300, 'x'));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const r = await reader(base, abort.signal, { 'Last-Event-ID': '7' });
      const t0 = Date.now();
      while (r.events.length < 3 && Date.now() - t0 < 5000) await new Promise((x) => setTimeout(x, 20));
      await new Promise((x) => setTimeout(x, 100));
      assert.deepEqual(r.events.map((e) => e.slice('sample:"'.length, 'sample:"'.length + 1)), ['7', '8', '9']);
      // Events 1 to 7 left the ring: asking from 0 gets a reload with the newest id instead of a replay with a hole.
      const old = await reader(base, abort.signal, { 'Last-Event-ID': '0' });
      while (old.events.length < 1 && Date.now() - t0 < 5000) await new Promise((x) => setTimeout(x, 20));
      assert.deepEqual(old.events, ['reload:{"reason":"events after 0 are no longer kept for replay","last_event_id":10}']);
    } finally {
      abort.abort();
      hub.close();
      server.close();
    }
  });
});

describe('SseHub replay limits', () => {
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

  async function serve(hub: SseHub, onRes: (res: ServerResponse) => void = () => undefined): Promise<{ server: Server; base: string }> {
    const server = createServer((req, res) => {
      const refused = hub.admit(req.socket.remoteAddress ?? 'unknown');
      if (refused !== null) {
        res.writeHead(refused.status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: refused.error }));
        return;
      }
      const id = req.headers['last-event-id'];
      hub.attach(res, { containers: null, types: null }, typeof id === 'string' ? Number(id) : null, req.socket.remoteAddress ?? 'unknown');
      onRes(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
  }

  it('a replay larger than maxReplayBytes is a reload event with the newest id, then live events', async () => {
    const hub = new SseHub({ ringSize: 100, maxReplayBytes: 1000, maxBufferedBytes: 1 << 20, heartbeatMs: 60_000, retryMs: 1000 });
    for (let i = 0; i < 10; i++) hub.publish('sample', 'a', `${i}`.padEnd(300, 'x'));
    const { server, base } = await serve(hub);
    const abort = new AbortController();
    try {
      const far = await reader(base, abort.signal, { 'Last-Event-ID': '2' });
      const near = await reader(base, abort.signal, { 'Last-Event-ID': '8' });
      const ahead = await reader(base, abort.signal, { 'Last-Event-ID': '500' });
      while (hub.stats.clients < 3) await wait(10);
      hub.publish('status', 'a', 'live');
      const t0 = Date.now();
      while ((far.events.length < 2 || near.events.length < 3 || ahead.events.length < 2) && Date.now() - t0 < 5000) await wait(20);
      assert.deepEqual(far.events, ['reload:{"reason":"more than 1000 bytes of events were missed","last_event_id":10}', 'status:"live"']);
      assert.deepEqual(near.events.map((e) => e.slice(0, 9)), ['sample:"8', 'sample:"9', 'status:"l']);
      assert.match(ahead.events[0] ?? '', /^reload:\{"reason":"event 500 is from another run of the server/);
      assert.equal(hub.stats.reloads_total, 2);
    } finally {
      abort.abort();
      hub.close();
      server.close();
    }
  });

  it('a client that asks for the whole ring and reads nothing holds one write buffer, not the ring', async () => {
    // 48 MB in the ring (3,000 events of 16 KB), all of it allowed as replay: more than the kernel's socket
    // buffers can take on their own (a 4 MB ring fitted in them on this machine and the replay finished unread).
    const hub = new SseHub({ ringSize: 3000, ringMaxBytes: 64 << 20, maxReplayBytes: 64 << 20, maxBufferedBytes: 64 << 20, heartbeatMs: 60_000, retryMs: 1000 });
    for (let i = 0; i < 3000; i++) hub.publish('sample', 'a', 'x'.repeat(16_000));
    const held: ServerResponse[] = [];
    const { server, base } = await serve(hub, (res) => held.push(res));
    const url = new URL(base);
    const sock = connect({ port: Number(url.port), host: '127.0.0.1' });
    try {
      sock.pause();
      sock.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: 0\r\n\r\n`);
      while (held.length < 1) await wait(10);
      await wait(500);
      const res = held[0];
      assert.ok(res !== undefined);
      assert.equal(hub.stats.replaying, 1, 'still replaying: the socket is full');
      // Node's write buffer high-water mark is 16 KiB: one more 16 KB frame may sit above it.
      assert.ok(res.writableLength <= 48 * 1024, `unsent bytes ${res.writableLength}`);
      // A reading client catches up and goes live.
      const abort = new AbortController();
      const r = await reader(base, abort.signal, { 'Last-Event-ID': '2990' });
      const t0 = Date.now();
      while (r.events.length < 10 && Date.now() - t0 < 5000) await wait(20);
      assert.equal(r.events.length, 10);
      abort.abort();
    } finally {
      sock.destroy();
      hub.close();
      server.close();
    }
  });

  it('caps clients per address (429) and in total (503)', async () => {
    const hub = new SseHub({ ringSize: 10, maxBufferedBytes: 1 << 20, heartbeatMs: 60_000, retryMs: 1000, maxClients: 3, maxClientsPerAddress: 2 });
    const { server, base } = await serve(hub);
    const abort = new AbortController();
    try {
      await reader(base, abort.signal);
      await reader(base, abort.signal);
      const third = await fetch(base, { signal: abort.signal });
      assert.equal(third.status, 429);
      assert.match(((await third.json()) as { error: string }).error, /SSE_MAX_CLIENTS_PER_ADDRESS/);
      assert.equal(hub.admit('10.0.0.9'), null);
      hub.attach(fakeResponse(), { containers: null, types: null }, null, '10.0.0.9');
      assert.equal(hub.admit('10.0.0.10')?.status, 503);
      assert.equal(hub.stats.refused_total, 2);
    } finally {
      abort.abort();
      hub.close();
      server.close();
    }
  });
});

/** A response that accepts writes and discards them (a client from another address, without a socket). */
function fakeResponse(): ServerResponse {
  const res = new ServerResponse(new IncomingMessage(new Socket()));
  res.write = () => true;
  return res;
}
