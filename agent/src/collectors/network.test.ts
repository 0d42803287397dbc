import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { networkSchema } from '../../../shared/src/payload.js';
import { RecordingReport } from '../../test/helpers/report.js';
import { fixedTick } from '../../test/helpers/tick.js';
import { testEnv } from '../../test/helpers/env.js';
import { makeTree, type TempTree } from '../../test/helpers/tree.js';
import type { AgentEnv } from './types.js';
import { createNetworkCollector, detectNetworkScope } from './network.js';

const HEADER =
  'Inter-|   Receive                                                |  Transmit\n' +
  ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n';

interface Iface {
  name: string;
  rx: number;
  rxPk: number;
  tx: number;
  txPk: number;
  rxErr?: number;
  rxDrop?: number;
  txErr?: number;
  txDrop?: number;
}

function netDev(ifs: Iface[]): string {
  return (
    HEADER +
    ifs
      .map(
        (i) =>
          `${i.name.padStart(6)}: ${i.rx} ${i.rxPk} ${i.rxErr ?? 0} ${i.rxDrop ?? 0} 0 0 0 0 ${i.tx} ${i.txPk} ${i.txErr ?? 0} ${i.txDrop ?? 0} 0 0 0 0`,
      )
      .join('\n') +
    '\n'
  );
}

const SECOND = 1_000_000_000n;
const trees: TempTree[] = [];
after(() => {
  for (const t of trees) t.remove();
});

function setup(ifs: Iface[]): { tree: TempTree; env: AgentEnv; advance: (ns: bigint) => void } {
  const tree = makeTree({ 'proc/net/dev': netDev(ifs) });
  trees.push(tree);
  let now = 50n * SECOND;
  const env = testEnv({ procRoot: tree.path('proc'), sysRoot: tree.path('sys'), clock: () => now });
  return {
    tree,
    env,
    advance: (ns) => {
      now += ns;
    },
  };
}

const lo: Iface = { name: 'lo', rx: 999_999, rxPk: 100, tx: 999_999, txPk: 100 };
const eth0: Iface = { name: 'eth0', rx: 5_000_000, rxPk: 4000, tx: 3_000_000, txPk: 2500, rxErr: 1, rxDrop: 2, txDrop: 1 };
const eth1: Iface = { name: 'eth1', rx: 250_000, rxPk: 300, tx: 125_000, txPk: 150 };

describe('network collector', () => {
  it('sums every interface except lo; first sample has no rates', () => {
    const { env } = setup([lo, eth0, eth1]);
    const report = new RecordingReport();
    const block = createNetworkCollector(env).collect(fixedTick(), report);
    networkSchema.parse(block);
    assert.equal(block.rx_bytes_total, eth0.rx + eth1.rx);
    assert.equal(block.tx_bytes_total, eth0.tx + eth1.tx);
    assert.equal(block.rx_packets_total, eth0.rxPk + eth1.rxPk);
    assert.equal(block.tx_packets_total, eth0.txPk + eth1.txPk);
    assert.equal(block.rx_bytes_per_sec, null);
    assert.equal(block.tx_bytes_per_sec, null);
    assert.deepEqual(
      block.interfaces.map((i) => i.name),
      ['eth0', 'eth1'],
    );
    const e0 = block.interfaces[0];
    assert.equal(e0?.rx_errors_total, 1);
    assert.equal(e0.rx_dropped_total, 2);
    assert.equal(e0.tx_dropped_total, 1);
    assert.equal(e0.rx_bytes_per_sec, null);
    assert.equal(block.scope, 'container');
    assert.equal(report.failedFields.size, 0);
  });

  it('rates per interface and in total over the measured interval', () => {
    const { tree, env, advance } = setup([lo, eth0, eth1]);
    const c = createNetworkCollector(env);
    c.collect(fixedTick(), new RecordingReport());
    tree.write(
      'proc/net/dev',
      netDev([
        { ...lo, rx: lo.rx + 7_777_777 },
        { ...eth0, rx: eth0.rx + 1_000_000, tx: eth0.tx + 40_000 },
        { ...eth1, rx: eth1.rx + 4_000, tx: eth1.tx + 2_000 },
      ]),
    );
    advance(5_003_000_000n);
    const b = c.collect(fixedTick(), new RecordingReport());
    const dt = 5.003;
    assert.equal(b.interfaces[0]?.rx_bytes_per_sec, 1_000_000 / dt);
    assert.equal(b.interfaces[1]?.tx_bytes_per_sec, 2_000 / dt);
    assert.equal(b.rx_bytes_per_sec, 1_000_000 / dt + 4_000 / dt);
    assert.equal(b.tx_bytes_per_sec, 40_000 / dt + 2_000 / dt);
    assert.equal(b.rx_bytes_total, eth0.rx + 1_000_000 + eth1.rx + 4_000, 'lo traffic not counted');
  });

  it('an interface that disappears does not make the total rate negative or a reset', () => {
    const { tree, env, advance } = setup([lo, eth0, eth1]);
    const c = createNetworkCollector(env);
    c.collect(fixedTick(), new RecordingReport());
    // eth0 carried most of the bytes; it is gone at the second reading.
    tree.write('proc/net/dev', netDev([lo, { ...eth1, rx: eth1.rx + 10_000, tx: eth1.tx + 5_000 }]));
    advance(5n * SECOND);
    const b = c.collect(fixedTick(), new RecordingReport());
    assert.equal(b.rx_bytes_total, eth1.rx + 10_000);
    assert.equal(b.rx_bytes_per_sec, 10_000 / 5);
    assert.equal(b.tx_bytes_per_sec, 5_000 / 5);
  });

  it('an interface that appears contributes no history to the rate, then its own rate', () => {
    const { tree, env, advance } = setup([lo, eth0]);
    const c = createNetworkCollector(env);
    c.collect(fixedTick(), new RecordingReport());
    tree.write('proc/net/dev', netDev([lo, { ...eth0, rx: eth0.rx + 500 }, eth1]));
    advance(5n * SECOND);
    const b = c.collect(fixedTick(), new RecordingReport());
    assert.equal(b.rx_bytes_per_sec, 500 / 5, `eth1's ${eth1.rx} bytes of history are not last interval's traffic`);
    assert.equal(b.interfaces[1]?.rx_bytes_per_sec, null);
    tree.write('proc/net/dev', netDev([lo, { ...eth0, rx: eth0.rx + 500 }, { ...eth1, rx: eth1.rx + 2_500 }]));
    advance(5n * SECOND);
    const b3 = c.collect(fixedTick(), new RecordingReport());
    assert.equal(b3.rx_bytes_per_sec, 0 / 5 + 2_500 / 5);
  });

  it('a counter reset (interface re-created) gives no rate for it and no negative total', () => {
    const { tree, env, advance } = setup([lo, eth0, eth1]);
    const c = createNetworkCollector(env);
    c.collect(fixedTick(), new RecordingReport());
    tree.write('proc/net/dev', netDev([lo, { ...eth0, rx: 1_000, tx: 800 }, { ...eth1, rx: eth1.rx + 3_000, tx: eth1.tx + 1_000 }]));
    advance(5n * SECOND);
    const b = c.collect(fixedTick(), new RecordingReport());
    assert.equal(b.interfaces[0]?.rx_bytes_per_sec, null);
    assert.equal(b.rx_bytes_per_sec, 3_000 / 5);
    assert.equal(b.tx_bytes_per_sec, 1_000 / 5);
    // The reset reading is the new baseline for eth0.
    tree.write('proc/net/dev', netDev([lo, { ...eth0, rx: 1_000 + 2_000, tx: 800 }, { ...eth1, rx: eth1.rx + 3_000, tx: eth1.tx + 1_000 }]));
    advance(5n * SECOND);
    const b3 = c.collect(fixedTick(), new RecordingReport());
    assert.equal(b3.interfaces[0]?.rx_bytes_per_sec, 2_000 / 5);
    assert.equal(b3.rx_bytes_per_sec, 2_000 / 5 + 0 / 5);
  });

  it('a pair closer than the minimum interval gives no rate; the older baseline is kept', () => {
    const { tree, env, advance } = setup([lo, eth0]);
    const c = createNetworkCollector(env);
    c.collect(fixedTick(), new RecordingReport());
    tree.write('proc/net/dev', netDev([lo, { ...eth0, rx: eth0.rx + 1_000 }]));
    advance(1n * SECOND);
    assert.equal(c.collect(fixedTick(), new RecordingReport()).rx_bytes_per_sec, null);
    tree.write('proc/net/dev', netDev([lo, { ...eth0, rx: eth0.rx + 6_000 }]));
    advance(4n * SECOND);
    assert.equal(c.collect(fixedTick(), new RecordingReport()).rx_bytes_per_sec, 6_000 / 5);
  });

  it('host networking is labelled host', () => {
    const { env } = setup([lo, eth0, { name: 'docker0', rx: 1, rxPk: 1, tx: 1, txPk: 1 }]);
    assert.equal(createNetworkCollector(env).collect(fixedTick(), new RecordingReport()).scope, 'host');
  });

  it('a missing /proc/net/dev throws with the path (the sampler nulls only this block)', () => {
    const { tree, env } = setup([lo]);
    const c = createNetworkCollector({ ...env, procRoot: tree.path('nowhere') });
    assert.throws(() => c.collect(fixedTick(), new RecordingReport()), /nowhere\/net\/dev: ENOENT/);
  });
});

describe('detectNetworkScope', () => {
  it('a container namespace: lo, eth0, fallback tunnels, one veth', () => {
    assert.equal(detectNetworkScope(['lo', 'eth0']), 'container');
    assert.equal(detectNetworkScope(['lo', 'eth0', 'eth1', 'tunl0', 'sit0', 'gre0']), 'container');
    assert.equal(detectNetworkScope(['lo', 'veth0']), 'container');
  });

  it('host bridges or several veth host ends', () => {
    for (const bridge of ['docker0', 'cni0', 'cbr0', 'virbr0', 'br-0123456789ab', 'podman0', 'cali1a2b3c4d5e6', 'flannel.1', 'cilium_host']) {
      assert.equal(detectNetworkScope(['lo', 'eth0', bridge]), 'host', bridge);
    }
    assert.equal(detectNetworkScope(['lo', 'eth0', 'veth1a2b3c4', 'vethd5e6f70']), 'host');
  });

  it('names that merely look alike do not count', () => {
    assert.equal(detectNetworkScope(['lo', 'eth0', 'br-lan', 'dockerx']), 'container');
  });
});
