import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Gpu } from '../../../shared/src/payload.js';
import { gpuSchema } from '../../../shared/src/payload.js';
import type { GpuCollection } from '../gpu/runner.js';
import { attributeGpus, DEVICE_WIDE_FIELDS, type GpuHolder, type ProcessOwner } from './gpu-attribution.js';

function gpu(index: number, uuid: string, procs: [number, number | null][] | null): Gpu {
  return {
    index, uuid, name: 'NVIDIA H100', parent_uuid: null, pci_bus_id: null, driver_version: '550', cuda_driver_version: '12.4', compute_capability: '9.0',
    utilization_percent: 81, memory_utilization_percent: 12, memory_total_bytes: 80e9, memory_used_bytes: 20e9, memory_reserved_bytes: 5e8,
    temperature_c: 61, power_watts: 412.3, power_limit_watts: 700, energy_joules: 123456, fan_percent: 41,
    clock_sm_mhz: 1755, clock_mem_mhz: 2619, clock_graphics_mhz: 1740, clock_max_sm_mhz: 1980,
    pcie_tx_bytes_per_sec: 1e6, pcie_rx_bytes_per_sec: 2.5e6, encoder_percent: 3, decoder_percent: 4, pstate: 'P0',
    clocks_event_reasons: [], ecc_corrected: 2, ecc_uncorrected: 0, mig_mode: 'disabled',
    processes: procs === null ? null : procs.map(([pid, mem]) => ({ pid, pid_namespace: 'host' as const, used_memory_bytes: mem })),
    health: 'ok', unsupported: [],
  };
}

const A = 'GPU-aaaa';
const B = 'GPU-bbbb';
const C = 'GPU-cccc';
const holders: GpuHolder[] = [
  { id: 'id-train', name: 'train', gpus: { all: false, ids: [] } },
  { id: 'id-infer', name: 'infer', gpus: { all: false, ids: [] } },
  { id: 'id-idle', name: 'idle', gpus: { all: false, ids: [C] } },
];
/** Host pid → owner: 100/101 in train (container pids 1 and 7), 200 in infer, 300 on the host. */
const owners: Record<number, ProcessOwner> = {
  100: { holderId: 'id-train', nsPid: 1 },
  101: { holderId: 'id-train', nsPid: 7 },
  200: { holderId: 'id-infer', nsPid: 1 },
  300: { holderId: null, nsPid: null },
};
const ownerOf = (pid: number): ProcessOwner => owners[pid] ?? { holderId: null, nsPid: null };

function collection(gpus: Gpu[]): GpuCollection {
  return { gpus, unavailable: { [`gpus.${A}.fan_percent`]: 'not supported' }, error: null, ms: 3 };
}

describe('GPU attribution from the host', () => {
  const c = collection([gpu(0, A, [[100, 3e9], [101, 1e9]]), gpu(1, B, [[101, 2e9], [200, 4e9]]), gpu(2, C, []), gpu(3, 'GPU-none', [[300, 1e9]])]);
  const out = attributeGpus(c, holders, ownerOf);

  it("a GPU only one container's processes use is its own, whole, with its processes in its PID namespace", () => {
    const train = out.get('id-train')?.gpus ?? [];
    const a = train.find((g) => g.uuid === A);
    assert.ok(a);
    assert.deepEqual(a.sharing, { mode: 'exclusive', shared_with: [], other_processes: 0 });
    assert.equal(a.utilization_percent, 81);
    assert.equal(a.memory_used_bytes, 20e9, 'the device figure: no one else is on it');
    assert.deepEqual(a.processes, [{ pid: 1, pid_namespace: 'container', used_memory_bytes: 3e9 }, { pid: 7, pid_namespace: 'container', used_memory_bytes: 1e9 }]);
    assert.equal(out.get('id-train')?.unavailable[`gpus.${A}.fan_percent`], 'not supported');
    assert.equal(gpuSchema.safeParse(a).success, true);
  });

  it('a GPU two containers use is shared: each names the other, gets its own processes and memory, and no device-wide usage', () => {
    const t = out.get('id-train')?.gpus.find((g) => g.uuid === B);
    const i = out.get('id-infer')?.gpus.find((g) => g.uuid === B);
    assert.ok(t && i);
    assert.deepEqual(t.sharing, { mode: 'shared', shared_with: ['infer'], other_processes: 0 });
    assert.deepEqual(i.sharing, { mode: 'shared', shared_with: ['train'], other_processes: 0 });
    assert.equal(t.memory_used_bytes, 2e9);
    assert.equal(i.memory_used_bytes, 4e9);
    assert.deepEqual(i.processes, [{ pid: 1, pid_namespace: 'container', used_memory_bytes: 4e9 }]);
    for (const f of DEVICE_WIDE_FIELDS) {
      assert.equal(t[f], null, f);
      assert.match(out.get('id-train')?.unavailable[`gpus.${B}.${f}`] ?? '', /shared with infer/);
    }
    // The board's own state is still the board's.
    assert.equal(t.temperature_c, 61);
    assert.equal(t.memory_total_bytes, 80e9);
    assert.equal(gpuSchema.safeParse(t).success, true);
  });

  it('an assigned GPU without processes is the holder\'s; a GPU only the host uses is in no sample', () => {
    const idle = out.get('id-idle')?.gpus ?? [];
    assert.deepEqual(idle.map((g) => g.uuid), [C]);
    assert.equal(idle[0]?.sharing?.mode, 'exclusive');
    assert.deepEqual(idle[0]?.processes, []);
    for (const h of holders) assert.ok(!(out.get(h.id)?.gpus ?? []).some((g) => g.uuid === 'GPU-none'));
    assert.equal(out.get('id-infer')?.gpus.length, 1);
  });

  it("processes outside monitored containers make a GPU shared, counted; a process list the driver does not give leaves the container's memory unknown", () => {
    const o = attributeGpus(collection([gpu(0, A, [[100, 1e9], [300, 5e9]])]), holders, ownerOf);
    const a = o.get('id-train')?.gpus[0];
    assert.deepEqual(a?.sharing, { mode: 'shared', shared_with: [], other_processes: 1 });
    assert.equal(a?.memory_used_bytes, 1e9);
    assert.match(o.get('id-train')?.unavailable[`gpus.${A}.utilization_percent`] ?? '', /1 other process/);

    const na = attributeGpus(collection([gpu(0, A, [[100, null], [200, 1e9]])]), holders, ownerOf);
    assert.equal(na.get('id-train')?.gpus[0]?.memory_used_bytes, null);
    assert.match(na.get('id-train')?.unavailable[`gpus.${A}.memory_used_bytes`] ?? '', /did not give each process/);
    assert.equal(na.get('id-infer')?.gpus[0]?.memory_used_bytes, 1e9);
  });

  it('a failed GPU block is every container\'s failure', () => {
    const failed = attributeGpus({ gpus: [], unavailable: { gpus: 'NVML: driver not loaded' }, error: 'driver not loaded', ms: 1 }, holders, ownerOf);
    for (const h of holders) {
      assert.equal(failed.get(h.id)?.error, 'driver not loaded');
      assert.equal(failed.get(h.id)?.unavailable.gpus, 'NVML: driver not loaded');
    }
  });
});
