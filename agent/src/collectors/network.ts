import { join } from '../fsread/join.js';
import type { NetworkBlock, NetworkInterface } from '../../../shared/src/payload.js';
import { readText } from '../fsread/read-text.js';
import { parseNetDev, type NetDevCounters } from '../procfs/parse-net-dev.js';
import { CounterRates } from '../rate.js';
import { memberPid, type AgentEnv, type Collector, type CollectorReport, type Tick } from './types.js';

/**
 * Bridges and overlay devices that only exist in a host's (or a node's) root
 * network namespace: Docker's `docker0` and user networks `br-<12 hex>`,
 * podman's `podman0`, CNI's `cni0` / `cbr0`, libvirt's `virbr0`, LXC's
 * `lxcbr0`, Calico's `cali*`, Flannel's `flannel.*`, Cilium's `cilium_*`,
 * kube-router's `kube-bridge`, Weave's `weave`. A container's own namespace
 * normally holds `lo` plus one `eth0` (the runtime renames its veth end), and
 * sometimes the fallback tunnels (`tunl0`, `sit0`, `gre0`, ...) that every new
 * namespace gets when their modules are loaded: those say nothing, so they
 * are not in this list.
 */
const HOST_ONLY_INTERFACE = /^(?:docker\d+|br-[0-9a-f]{12}|podman\d+|cni\d+|cbr\d+|virbr\d+|lxcbr\d+|cali[0-9a-f]+|flannel[.-].*|cilium_.*|kube-bridge|weave)$/;

/** Host ends of container veth pairs keep their `veth*` name; two or more mean we see the host side. */
const HOST_VETH_THRESHOLD = 2;

/**
 * `host` when the interface list is a host's rather than a container's: one
 * of the host-only bridge names is present, or several `veth*` host ends are
 * (the container then runs with `--network host`, or the agent runs on the
 * host itself). In host scope the sum also counts traffic forwarded to other
 * containers twice (once on the bridge or veth, once on the uplink), which is
 * why the figures are labelled.
 */
export function detectNetworkScope(names: readonly string[]): 'container' | 'host' {
  let veths = 0;
  for (const name of names) {
    if (HOST_ONLY_INTERFACE.test(name)) return 'host';
    if (name.startsWith('veth')) veths += 1;
  }
  return veths >= HOST_VETH_THRESHOLD ? 'host' : 'container';
}

/** Synchronous (proc files are read with sync reads), which tests rely on. */
export interface NetworkCollector extends Collector<'network'> {
  collect(tick: Tick, report: CollectorReport): NetworkBlock;
}

/**
 * The agent's own network namespace (`/proc/net/dev`; inside a container that
 * is the container's). In host mode, the container's namespace as one of its
 * processes sees it (`/proc/<pid>/net/dev` is the namespace of that pid). Every interface but `lo` is summed: the Go agent read
 * only `eth0` and missed every extra network.
 *
 * The total rate is the sum of the per-interface rates of interfaces present
 * in both readings, not the delta of the sums: an interface that disappears
 * (container detached from a network) would otherwise make the summed
 * counter drop and read as a reset, and one that appears would count its
 * whole history as traffic of the last interval. An interface whose counters
 * went down (re-created under the same name) is treated like a new one.
 */
export function createNetworkCollector(env: AgentEnv): NetworkCollector {
  const ownPath = join(env.procRoot, 'net/dev');
  const view = env.container;
  const pathFor = (tick: Tick): string => {
    if (view === undefined) return ownPath;
    const pid = memberPid(view, tick.containerPids());
    if (pid === null) throw new Error('the container has no process to read its network namespace through');
    return join(env.procRoot, String(pid), 'net/dev');
  };
  const rx = new CounterRates(env.minRateDeltaNs);
  const tx = new CounterRates(env.minRateDeltaNs);
  /** Timestamp of the last reading whose pair was accepted (same rule as CounterRate). */
  let baselineNs: bigint | null = null;

  return {
    name: 'network',
    collect(tick: Tick): NetworkBlock {
      // The whole block comes from this one file: if it cannot be read, the
      // sampler nulls the block and publishes the error (with the path).
      const text = readText(pathFor(tick));
      const now = env.clock();
      const all = parseNetDev(text);

      const dt = baselineNs === null ? null : now - baselineNs;
      const pairValid = dt !== null && dt > 0n && dt >= env.minRateDeltaNs;
      if (baselineNs === null || pairValid) baselineNs = now;

      const interfaces: NetworkInterface[] = [];
      const present = new Set<string>();
      let rxTotal = 0;
      let txTotal = 0;
      let rxPackets = 0;
      let txPackets = 0;
      let rxRateSum = 0;
      let txRateSum = 0;
      for (const c of all) {
        if (c.name === 'lo') continue;
        present.add(c.name);
        const rxRate = rx.update(c.name, c.rxBytes, now).rate;
        const txRate = tx.update(c.name, c.txBytes, now).rate;
        interfaces.push(toInterface(c, rxRate, txRate));
        rxTotal += c.rxBytes;
        txTotal += c.txBytes;
        rxPackets += c.rxPackets;
        txPackets += c.txPackets;
        rxRateSum += rxRate ?? 0;
        txRateSum += txRate ?? 0;
      }
      rx.retain(present);
      tx.retain(present);

      return {
        scope: detectNetworkScope(all.map((c) => c.name)),
        rx_bytes_total: rxTotal,
        tx_bytes_total: txTotal,
        rx_packets_total: rxPackets,
        tx_packets_total: txPackets,
        rx_bytes_per_sec: pairValid ? rxRateSum : null,
        tx_bytes_per_sec: pairValid ? txRateSum : null,
        interfaces,
      };
    },
  };
}

function toInterface(c: NetDevCounters, rxRate: number | null, txRate: number | null): NetworkInterface {
  return {
    name: c.name,
    rx_bytes_total: c.rxBytes,
    tx_bytes_total: c.txBytes,
    rx_packets_total: c.rxPackets,
    tx_packets_total: c.txPackets,
    rx_errors_total: c.rxErrors,
    tx_errors_total: c.txErrors,
    rx_dropped_total: c.rxDropped,
    tx_dropped_total: c.txDropped,
    rx_bytes_per_sec: rxRate,
    tx_bytes_per_sec: txRate,
  };
}
