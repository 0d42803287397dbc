import type { Gpu, GpuProcess } from '../../../shared/src/payload.js';
import type { GpuCollection } from '../gpu/runner.js';
import type { GpuAssignment } from './target.js';

/** A monitored container as GPU attribution sees it. */
export interface GpuHolder {
  id: string;
  name: string;
  gpus: GpuAssignment;
}

/** Host-wide facts about one GPU process, found through the host's /proc. */
export interface ProcessOwner {
  /** The monitored container whose cgroup holds it, or null (the host, or a container not monitored). */
  holderId: string | null;
  /** Its PID inside the container's PID namespace, or null when unknown. */
  nsPid: number | null;
}

/**
 * Device-wide figures: on a shared GPU they are the sum of every user's
 * work, so none of them is published as one container's own.
 */
export const DEVICE_WIDE_FIELDS = [
  'utilization_percent',
  'memory_utilization_percent',
  'memory_reserved_bytes',
  'power_watts',
  'energy_joules',
  'pcie_tx_bytes_per_sec',
  'pcie_rx_bytes_per_sec',
  'encoder_percent',
  'decoder_percent',
] as const satisfies readonly (keyof Gpu)[];

function assigned(a: GpuAssignment, g: Gpu): boolean {
  return a.all || a.ids.includes(g.uuid) || a.ids.includes(String(g.index));
}

/**
 * Splits one host-wide GPU collection into each container's `gpus[]`.
 *
 * A GPU belongs to a container when one of its processes runs on it (NVML's
 * process list, host PIDs mapped to containers through their cgroups) or
 * the engine assigned it to the container. With one holder and no other
 * process on it, the container gets the GPU as the sidecar would see it
 * (`sharing.mode: exclusive`). With several, each gets its own processes
 * and their memory, the others' names, and null for the device-wide usage
 * figures, with the reason (dcgm-exporter copies them onto every container).
 * GPUs held by nobody are in no container's sample.
 */
export function attributeGpus(collection: GpuCollection, holders: readonly GpuHolder[], ownerOf: (hostPid: number) => ProcessOwner): Map<string, GpuCollection> {
  const out = new Map<string, GpuCollection>();
  const nameOf = new Map(holders.map((h) => [h.id, h.name]));
  for (const h of holders) out.set(h.id, { gpus: [], unavailable: {}, error: collection.error, ms: collection.ms });
  // A failure of the whole block (`gpus`) is every container's; per-GPU reasons go with their GPU.
  const blockReasons = Object.entries(collection.unavailable).filter(([k]) => !k.startsWith('gpus.'));

  for (const g of collection.gpus) {
    const procs = new Map<string, GpuProcess[]>();
    let others = 0;
    for (const p of g.processes ?? []) {
      const owner = ownerOf(p.pid);
      if (owner.holderId === null || !nameOf.has(owner.holderId)) {
        others += 1;
        continue;
      }
      const mapped: GpuProcess = owner.nsPid === null ? p : { ...p, pid: owner.nsPid, pid_namespace: 'container' };
      const list = procs.get(owner.holderId) ?? [];
      list.push(mapped);
      procs.set(owner.holderId, list);
    }
    const holding = holders.filter((h) => procs.has(h.id) || assigned(h.gpus, g)).map((h) => h.id);
    const gpuReasons = Object.entries(collection.unavailable).filter(([k]) => k.startsWith(`gpus.${g.uuid}.`));
    for (const id of holding) {
      const target = out.get(id);
      if (target === undefined) continue;
      const own = procs.get(id) ?? [];
      const sharedWith = holding.filter((o) => o !== id).map((o) => nameOf.get(o) ?? o).sort();
      for (const [k, v] of gpuReasons) target.unavailable[k] = v;
      if (sharedWith.length === 0 && others === 0) {
        target.gpus.push({ ...g, processes: g.processes === null ? null : own, sharing: { mode: 'exclusive', shared_with: [], other_processes: 0 } });
        continue;
      }
      const why = `GPU shared with ${[...sharedWith, ...(others > 0 ? [`${others} other process${others === 1 ? '' : 'es'}`] : [])].join(', ')}: a device-wide figure, not this container's`;
      const view: Gpu = { ...g, processes: g.processes === null ? null : own, sharing: { mode: 'shared', shared_with: sharedWith, other_processes: others } };
      for (const f of DEVICE_WIDE_FIELDS) {
        if (view[f] === null) continue;
        view[f] = null;
        target.unavailable[`gpus.${g.uuid}.${f}`] = why;
      }
      // What this container holds of the GPU's memory: its processes' sum, when the driver gives each.
      const sum = own.reduce<number | null>((acc, p) => (acc === null || p.used_memory_bytes === null ? null : acc + p.used_memory_bytes), 0);
      if (g.processes === null || sum === null) {
        view.memory_used_bytes = null;
        target.unavailable[`gpus.${g.uuid}.memory_used_bytes`] = `${why}; the driver did not give each process's memory`;
      } else {
        view.memory_used_bytes = sum;
      }
      target.gpus.push(view);
    }
  }
  for (const c of out.values()) for (const [k, v] of blockReasons) c.unavailable[k] = v;
  return out;
}
