import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from '../../agent/test/helpers/redis-server.js';
import { until } from '../../agent/test/helpers/until.js';

/**
 * A Valkey container (the stand-in image) on the network `<prefix>-net`,
 * named `<prefix>-valkey` for the containers there and published on a free
 * loopback port for the test; returns that port and a connected client.
 * The caller removes the container with the rest of its own.
 */
export async function startTestValkey(prefix: string): Promise<{ port: number; redis: Redis }> {
  const port = await freePort();
  const r = spawnSync('docker', ['run', '-d', '--name', `${prefix}-valkey`, '--network', `${prefix}-net`, '-p', `127.0.0.1:${port}:6379`, 'valkey/valkey:8.1.3-bookworm', 'valkey-server', '--save', '', '--appendonly', 'no'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`starting ${prefix}-valkey failed: ${r.stderr}`);
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  // Refused connections while the server starts are expected; each attempt's failure is handled below.
  redis.on('error', () => undefined);
  await until('the test Valkey', async () => {
    try {
      await redis.connect();
      await redis.ping();
      return true;
    } catch {
      redis.disconnect();
      return null;
    }
  });
  return { port, redis };
}
