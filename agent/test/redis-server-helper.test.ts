import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { freePort, portIsFree, RedisServer } from './helpers/redis-server.js';

/**
 * The test harness's own server helper: a redis-server that cannot bind its
 * port must fail at once with the server's own words, not after a 5 s wait
 * that reads like a slow machine (seen once when a cluster node's bus port
 * was taken).
 */
describe('RedisServer (test helper)', () => {
  it('reports a server that exits at start with its output, without waiting out the timeout', async () => {
    const port = await freePort();
    // Another program holding the port: it accepts connections and never answers.
    const squatter: Server = createServer((sock) => sock.resume());
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      assert.equal(await portIsFree(port), false);
      const t0 = Date.now();
      const server = new RedisServer(port);
      await assert.rejects(server.start(), (err: Error) => {
        assert.match(err.message, new RegExp(`on port ${port} exited with code \\d+ at start`));
        assert.match(err.message, /Address already in use/i);
        return true;
      });
      assert.ok(Date.now() - t0 < 4000, `took ${Date.now() - t0} ms`);
      await server.stop();
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => { resolve(); }));
    }
    assert.equal(await portIsFree(port), true);
  });
});
