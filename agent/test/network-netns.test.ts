import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { networkSchema, type NetworkBlock } from '../../shared/src/payload.js';

/**
 * The network collector on a real kernel: two fresh network namespaces
 * joined by a veth pair; the collector runs inside namespace A (its own
 * `/proc/net/dev`, as it would in a container) while namespace B sends a
 * known number of UDP bytes to A. The collector's counters are checked
 * against the kernel's own per-device counters in sysfs, read just before
 * and just after each collect.
 */

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const RUNNER = fileURLToPath(new URL('./helpers/network-runner.ts', import.meta.url));
const tag = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
const NS_A = `sm-net-${tag}-a`;
const NS_B = `sm-net-${tag}-b`;
// Interface names are limited to 15 bytes.
const VETH_A = `smva${tag}`.slice(0, 15);
const VETH_B = `smvb${tag}`.slice(0, 15);
const ADDR_A = '10.213.0.1';
const ADDR_B = '10.213.0.2';

const DATAGRAMS = 40;
const PAYLOAD = 1200;
/** An IPv4 + UDP header per datagram, which the device counters include (they also count the Ethernet header). */
const IP_UDP_HEADERS = 20 + 8;

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

function inNs(ns: string, cmd: string, args: string[]): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args]);
}

/** The kernel's own counters for a device in a namespace (sysfs is remounted per namespace by `ip netns exec`). */
function kernelBytes(ns: string, dev: string): { rx: number; tx: number } {
  const base = `/sys/class/net/${dev}/statistics`;
  const [rx, tx] = inNs(ns, 'cat', [`${base}/rx_bytes`, `${base}/tx_bytes`]).trim().split('\n').map(Number);
  if (rx === undefined || tx === undefined || !Number.isSafeInteger(rx) || !Number.isSafeInteger(tx)) {
    throw new Error(`cannot read ${base} in ${ns}`);
  }
  return { rx, tx };
}

/** Sends `count` UDP datagrams of `size` bytes from inside `ns`, one after the other. */
function sendUdp(ns: string, host: string, count: number, size: number): void {
  const script = `const s = require('node:dgram').createSocket('udp4'); const p = Buffer.alloc(${size}, 7); let i = 0;
    (function next(err) { if (err) { console.error(err); process.exit(1); } if (i++ >= ${count}) return s.close(); s.send(p, 9, ${JSON.stringify(host)}, next); })();`;
  inNs(ns, process.execPath, ['-e', script]);
}

interface Reading {
  phase: string;
  block: NetworkBlock;
  beforeNs: bigint;
  afterNs: bigint;
  failed: Record<string, string>;
}

function requirePrerequisites(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('this test needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create network namespaces; run it as root');
  }
  const ip = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (ip.error || ip.status !== 0) {
    throw new Error(`iproute2's \`ip\` command is required and was not found or failed: ${ip.error?.message ?? ip.stderr}`);
  }
}

describe('network collector in a real network namespace', { timeout: 120_000 }, () => {
  const created: string[] = [];
  let runner: ChildProcessWithoutNullStreams | null = null;
  let stderr = '';
  const pending: Reading[] = [];
  let waiting: ((r: Reading) => void) | null = null;

  function nextReading(timeoutMs: number): Promise<Reading> {
    const queued = pending.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no reading from the runner within ${timeoutMs} ms; its stderr: ${stderr}`));
      }, timeoutMs);
      waiting = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
    });
  }

  before(() => {
    requirePrerequisites();
    for (const ns of [NS_A, NS_B]) {
      sh('ip', ['netns', 'add', ns]);
      created.push(ns);
    }
    sh('ip', ['link', 'add', VETH_A, 'type', 'veth', 'peer', 'name', VETH_B]);
    sh('ip', ['link', 'set', VETH_A, 'netns', NS_A]);
    sh('ip', ['link', 'set', VETH_B, 'netns', NS_B]);
    // IPv6 autoconfiguration (router solicitations, DAD) would put extra
    // frames on the link at unpredictable moments; only ARP and our UDP remain.
    for (const [ns, dev] of [
      [NS_A, VETH_A],
      [NS_B, VETH_B],
    ] as const) {
      inNs(ns, 'sh', ['-c', `f=/proc/sys/net/ipv6/conf/${dev}/disable_ipv6; [ ! -e $f ] || echo 1 > $f`]);
    }
    sh('ip', ['-n', NS_A, 'addr', 'add', `${ADDR_A}/30`, 'dev', VETH_A]);
    sh('ip', ['-n', NS_B, 'addr', 'add', `${ADDR_B}/30`, 'dev', VETH_B]);
    sh('ip', ['-n', NS_A, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', NS_A, 'link', 'set', VETH_A, 'up']);
    sh('ip', ['-n', NS_B, 'link', 'set', VETH_B, 'up']);
  });

  after(() => {
    if (runner !== null && runner.exitCode === null) runner.kill('SIGKILL');
    // Deleting a namespace destroys the veth end inside it, and with it the peer.
    for (const ns of created) spawnSync('ip', ['netns', 'del', ns]);
  });

  it('counts the bytes the kernel counted on the veth, excludes lo, and says container', async () => {
    const k0 = kernelBytes(NS_A, VETH_A);
    runner = spawn('ip', ['netns', 'exec', NS_A, process.execPath, '--import', 'tsx', RUNNER], { cwd: REPO, stdio: 'pipe' });
    runner.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    createInterface({ input: runner.stdout }).on('line', (line) => {
      const raw = JSON.parse(line) as Omit<Reading, 'beforeNs' | 'afterNs'> & { beforeNs: string; afterNs: string };
      const r: Reading = { ...raw, beforeNs: BigInt(raw.beforeNs), afterNs: BigInt(raw.afterNs) };
      const w = waiting;
      waiting = null;
      if (w === null) pending.push(r);
      else w(r);
    });

    const first = await nextReading(60_000);
    const k1 = kernelBytes(NS_A, VETH_A);
    const lo0 = kernelBytes(NS_A, 'lo');

    sendUdp(NS_B, ADDR_A, DATAGRAMS, PAYLOAD);
    // Loopback traffic inside A that the collector must not count.
    sendUdp(NS_A, '127.0.0.1', 10, 500);

    const k2 = kernelBytes(NS_A, VETH_A);
    const lo1 = kernelBytes(NS_A, 'lo');
    runner.stdin.write('go\n');
    const second = await nextReading(30_000);
    const k3 = kernelBytes(NS_A, VETH_A);

    assert.equal(first.phase, 'first');
    assert.equal(second.phase, 'second');
    assert.deepEqual(second.failed, {});
    networkSchema.parse(first.block);
    networkSchema.parse(second.block);

    const veth1 = first.block.interfaces.find((i) => i.name === VETH_A);
    const veth2 = second.block.interfaces.find((i) => i.name === VETH_A);
    assert.ok(veth1 && veth2, `the veth ${VETH_A} is listed: ${second.block.interfaces.map((i) => i.name).join(', ')}`);

    // Each collector reading lies between the kernel's readings on either side of it.
    assert.ok(k0.rx <= veth1.rx_bytes_total && veth1.rx_bytes_total <= k1.rx, `first rx ${veth1.rx_bytes_total} not in [${k0.rx}, ${k1.rx}]`);
    assert.ok(k2.rx <= veth2.rx_bytes_total && veth2.rx_bytes_total <= k3.rx, `second rx ${veth2.rx_bytes_total} not in [${k2.rx}, ${k3.rx}]`);
    assert.ok(k0.tx <= veth1.tx_bytes_total && veth1.tx_bytes_total <= k1.tx);
    assert.ok(k2.tx <= veth2.tx_bytes_total && veth2.tx_bytes_total <= k3.tx);

    const delta = veth2.rx_bytes_total - veth1.rx_bytes_total;
    assert.ok(delta >= k2.rx - k1.rx && delta <= k3.rx - k0.rx, `collector delta ${delta} vs kernel [${k2.rx - k1.rx}, ${k3.rx - k0.rx}]`);
    assert.ok(delta >= DATAGRAMS * PAYLOAD, `delta ${delta} < ${DATAGRAMS * PAYLOAD} payload bytes sent`);
    assert.ok(delta >= DATAGRAMS * (PAYLOAD + IP_UDP_HEADERS), `delta ${delta} lacks the IP/UDP headers`);

    // lo carried traffic, and none of it is in the totals or the list.
    assert.ok(lo1.rx > lo0.rx, 'loopback traffic was generated');
    assert.ok(!second.block.interfaces.some((i) => i.name === 'lo'));
    assert.equal(second.block.interfaces.length, 1, 'only the veth besides lo in a fresh namespace');
    assert.equal(second.block.rx_bytes_total, veth2.rx_bytes_total);
    assert.equal(second.block.tx_bytes_total, veth2.tx_bytes_total);
    assert.equal(second.block.scope, 'container');
    assert.equal(first.block.rx_bytes_per_sec, null, 'no rate on the first reading');

    // The rate is the delta over an interval bounded by the runner's clock readings.
    const rate = second.block.rx_bytes_per_sec;
    assert.ok(rate !== null);
    const longest = Number(second.afterNs - first.beforeNs) / 1e9;
    const shortest = Number(second.beforeNs - first.afterNs) / 1e9;
    assert.ok(rate >= (delta / longest) * (1 - 1e-9) && rate <= (delta / shortest) * (1 + 1e-9), `rate ${rate} not within [${delta / longest}, ${delta / shortest}]`);
  });
});
