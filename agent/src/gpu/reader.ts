import type { Gpu } from '../../../shared/src/payload.js';
import { cString, cudaVersionText, decodePciBusId, PCI_INFO_SIZE, processStride, type MemoryInfo } from './decode.js';
import { CLOCK, deviceMetrics, METRIC_FIELDS, readMemory, type MetricField } from './device-metrics.js';
import { NVML_SUCCESS, NvmlCode, NvmlError, nvmlCodeName, operatorHint } from './nvml-codes.js';
import type { NvmlApi, NvmlSymbol } from './nvml-lib.js';
import type { NvmlInfo, ReaderResult } from './protocol.js';

/** Buffer sizes nvml.h recommends (NVML_DEVICE_UUID_V2_BUFFER_SIZE etc.). */
const NAME_SIZE = 96;
const VERSION_SIZE = 80;
export interface ReaderOptions {
  /** First retry after a driver-level failure; doubles up to retryMaxMs. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** How long after a GPU is lost NVML is re-initialised to look for it again. */
  lostRetryMs: number;
  now: () => number;
}

/** What is read once per init cycle. */
interface Identity {
  index: number;
  uuid: string;
  name: string;
  parent_uuid: string | null;
  pci_bus_id: string | null;
  compute_capability: string | null;
  clock_max_sm_mhz: number | null;
  memory_total_bytes: number | null;
}

interface Device {
  handle: bigint;
  identity: Identity;
  isMig: boolean;
  /** Why the device is gone (GPU_IS_LOST, RESET_REQUIRED); null while healthy. */
  lost: string | null;
}

/** One init cycle: handles and caches from it are never used after its shutdown. */
interface Session {
  info: NvmlInfo;
  devices: Device[];
  /** MIG identities by parent UUID and slot, read when a slot is first seen. */
  migIdentities: Map<string, Identity>;
  /** (UUID, field) → reason: metrics the board said it does not support; not polled again. */
  unsupported: Map<string, Map<MetricField, string>>;
  processStride: number;
  reinitAt: number | null;
}

class DeviceLost extends Error {}

function emptyEntry(id: Identity, info: NvmlInfo | null, health: Gpu['health']): Gpu {
  const entry: Record<string, unknown> = Object.fromEntries(METRIC_FIELDS.map((f) => [f, null]));
  return {
    ...(entry as Pick<Gpu, MetricField>),
    index: id.index,
    uuid: id.uuid,
    name: id.name,
    parent_uuid: id.parent_uuid,
    pci_bus_id: id.pci_bus_id,
    driver_version: info?.driver_version ?? null,
    cuda_driver_version: info?.cuda_driver_version ?? null,
    compute_capability: id.compute_capability,
    clock_max_sm_mhz: id.clock_max_sm_mhz,
    memory_total_bytes: id.memory_total_bytes,
    health,
    unsupported: [],
  };
}

/**
 * Reads NVML inside the worker process. It owns the init/shutdown cycle, the
 * UUID → handle map of the current cycle, the per-(GPU, metric) unsupported
 * cache and the retry schedule after driver-level failures.
 */
export class NvmlReader {
  private session: Session | null = null;
  private failures = 0;
  private failed: { reason: string; hint: string | null; retryAt: number } | null = null;
  /** Identities by index from earlier cycles, so a GPU that is gone at re-init is still reported as lost. */
  private readonly lastKnown = new Map<number, Identity>();

  constructor(
    private readonly api: NvmlApi,
    private readonly opts: ReaderOptions,
  ) {}

  collect(): ReaderResult {
    const now = this.opts.now();
    if (this.failed !== null && now < this.failed.retryAt) {
      return { status: 'failed', reason: this.failed.reason, hint: this.failed.hint, retry_in_ms: Math.ceil(this.failed.retryAt - now) };
    }
    try {
      if (this.session !== null && this.session.reinitAt !== null && now >= this.session.reinitAt) this.endSession();
      this.session ??= this.startSession();
      const session = this.session;
      const reasons: Record<string, string> = {};
      const gpus: Gpu[] = [];
      for (const dev of session.devices) {
        const entry = this.readDevice(session, dev, reasons);
        gpus.push(entry);
        if (entry.health === 'ok' && entry.mig_mode === 'enabled') gpus.push(...this.readMigDevices(session, dev, reasons));
      }
      this.failures = 0;
      this.failed = null;
      return { status: 'ok', gpus, reasons, info: session.info };
    } catch (err) {
      if (!(err instanceof NvmlError)) throw err;
      return this.fail(err, now);
    }
  }

  /** Ends the current init cycle (worker exit). */
  close(): void {
    this.endSession();
  }

  private fail(err: NvmlError, now: number): ReaderResult {
    if (err.code !== NvmlCode.UNINITIALIZED) this.endSession();
    else this.session = null;
    this.failures += 1;
    const delay = err.code === NvmlCode.UNINITIALIZED ? 0 : Math.min(this.opts.retryBaseMs * 2 ** (this.failures - 1), this.opts.retryMaxMs);
    const hint = err.errorClass === 'driver' ? operatorHint(err.code) : null;
    this.failed = { reason: err.message, hint, retryAt: now + delay };
    return { status: 'failed', reason: err.message, hint, retry_in_ms: Math.ceil(delay) };
  }

  private endSession(): void {
    if (this.session === null) return;
    this.session = null;
    this.api.call('nvmlShutdown');
  }

  private check(symbol: NvmlSymbol, code: number): void {
    if (code !== NVML_SUCCESS) throw new NvmlError(symbol, code, this.api.errorString(code));
  }

  private startSession(): Session {
    this.check('nvmlInit_v2', this.api.call('nvmlInit_v2'));
    try {
      const info: NvmlInfo = {
        library_path: this.api.path,
        driver_version: this.systemString('nvmlSystemGetDriverVersion'),
        nvml_version: this.systemString('nvmlSystemGetNVMLVersion'),
        cuda_driver_version: this.cudaVersion(),
      };
      const countBuf = Buffer.alloc(4);
      this.check('nvmlDeviceGetCount_v2', this.api.call('nvmlDeviceGetCount_v2', countBuf));
      const devices: Device[] = [];
      for (let i = 0; i < countBuf.readUInt32LE(0); i++) {
        const dev = this.openDevice(i);
        if (dev !== null) devices.push(dev);
      }
      return {
        info,
        devices,
        migIdentities: new Map(),
        unsupported: new Map(),
        processStride: processStride({
          v3: this.api.has('nvmlDeviceGetComputeRunningProcesses_v3'),
          confComputeMemSizeInfo: this.api.has('nvmlDeviceGetConfComputeMemSizeInfo'),
          runningProcessDetailList: this.api.has('nvmlDeviceGetRunningProcessDetailList'),
        }),
        reinitAt: null,
      };
    } catch (err) {
      this.api.call('nvmlShutdown');
      throw err;
    }
  }

  /** Handle and identity for index i; a GPU that is lost keeps its last known identity. */
  private openDevice(index: number): Device | null {
    const out = Buffer.alloc(8);
    const rc = this.api.call('nvmlDeviceGetHandleByIndex_v2', index, out);
    if (rc !== NVML_SUCCESS) {
      const err = new NvmlError('nvmlDeviceGetHandleByIndex_v2', rc, this.api.errorString(rc));
      if (err.errorClass === 'driver' || err.errorClass === 'uninitialized') throw err;
      const known = this.lastKnown.get(index);
      return known === undefined ? null : { handle: 0n, identity: known, isMig: false, lost: err.message };
    }
    const handle = out.readBigUInt64LE(0);
    try {
      const identity = this.readIdentity(handle, index, null);
      this.lastKnown.set(index, identity);
      return { handle, identity, isMig: false, lost: null };
    } catch (err) {
      if (!(err instanceof DeviceLost)) throw err;
      const known = this.lastKnown.get(index);
      return known === undefined ? null : { handle, identity: known, isMig: false, lost: err.message };
    }
  }

  /** Name, UUID and the static facts; throws DeviceLost, NvmlError for driver failures. */
  private readIdentity(handle: bigint, index: number, parent: Identity | null): Identity {
    const str = (symbol: 'nvmlDeviceGetName' | 'nvmlDeviceGetUUID'): string => {
      const buf = Buffer.alloc(NAME_SIZE);
      this.deviceCheck(symbol, this.api.call(symbol, handle, buf, NAME_SIZE));
      return cString(buf);
    };
    const optional = <T>(read: () => T | null): T | null => {
      try {
        return read();
      } catch (err) {
        if (err instanceof NvmlError && (err.errorClass === 'unsupported' || err.errorClass === 'transient')) return null;
        throw err;
      }
    };
    const uuid = str('nvmlDeviceGetUUID');
    const name = str('nvmlDeviceGetName');
    return {
      index,
      uuid,
      name,
      parent_uuid: parent?.uuid ?? null,
      pci_bus_id: parent?.pci_bus_id ?? optional(() => this.pciBusId(handle)),
      compute_capability: parent?.compute_capability ?? optional(() => this.computeCapability(handle)),
      clock_max_sm_mhz: optional(() => this.u32('nvmlDeviceGetMaxClockInfo', handle, CLOCK.sm)),
      memory_total_bytes: optional(() => this.memoryInfo(handle).total),
    };
  }

  private pciBusId(handle: bigint): string | null {
    const buf = Buffer.alloc(PCI_INFO_SIZE);
    this.deviceCheck('nvmlDeviceGetPciInfo_v3', this.api.call('nvmlDeviceGetPciInfo_v3', handle, buf));
    return decodePciBusId(buf);
  }

  private computeCapability(handle: bigint): string {
    const major = Buffer.alloc(4);
    const minor = Buffer.alloc(4);
    this.deviceCheck('nvmlDeviceGetCudaComputeCapability', this.api.call('nvmlDeviceGetCudaComputeCapability', handle, major, minor));
    return `${major.readInt32LE(0)}.${minor.readInt32LE(0)}`;
  }

  private memoryInfo(handle: bigint): MemoryInfo {
    const r = readMemory(this.api, handle);
    if (r.ok) return r.memory;
    throw this.deviceError(r.symbol, r.code);
  }

  /** DeviceLost for lost/reset GPUs, NvmlError for anything else. */
  private deviceError(symbol: NvmlSymbol, code: number): Error {
    const err = new NvmlError(symbol, code, this.api.errorString(code));
    return err.errorClass === 'device' ? new DeviceLost(err.message) : err;
  }

  private deviceCheck(symbol: NvmlSymbol, code: number): void {
    if (code !== NVML_SUCCESS) throw this.deviceError(symbol, code);
  }

  private u32(symbol: NvmlSymbol, handle: bigint, ...pre: number[]): number {
    const buf = Buffer.alloc(4);
    this.deviceCheck(symbol, this.api.call(symbol, handle, ...pre, buf));
    return buf.readUInt32LE(0);
  }

  private systemString(symbol: 'nvmlSystemGetDriverVersion' | 'nvmlSystemGetNVMLVersion'): string | null {
    const buf = Buffer.alloc(VERSION_SIZE);
    return this.api.call(symbol, buf, VERSION_SIZE) === NVML_SUCCESS ? cString(buf) : null;
  }

  private cudaVersion(): string | null {
    const buf = Buffer.alloc(4);
    const symbol = this.api.has('nvmlSystemGetCudaDriverVersion_v2') ? 'nvmlSystemGetCudaDriverVersion_v2' : 'nvmlSystemGetCudaDriverVersion';
    return this.api.call(symbol, buf) === NVML_SUCCESS ? cudaVersionText(buf.readInt32LE(0)) : null;
  }

  /** MIG devices of a parent in MIG mode, enumerated every collection (instances change without a re-init). */
  private readMigDevices(session: Session, parent: Device, reasons: Record<string, string>): Gpu[] {
    const max = Buffer.alloc(4);
    if (this.api.call('nvmlDeviceGetMaxMigDeviceCount', parent.handle, max) !== NVML_SUCCESS) return [];
    const out: Gpu[] = [];
    for (let slot = 0; slot < max.readUInt32LE(0); slot++) {
      const h = Buffer.alloc(8);
      const rc = this.api.call('nvmlDeviceGetMigDeviceHandleByIndex', parent.handle, slot, h);
      if (rc === NvmlCode.NOT_FOUND) continue;
      if (rc !== NVML_SUCCESS) {
        reasons[`gpus.${parent.identity.uuid}.mig.${slot}`] = `nvmlDeviceGetMigDeviceHandleByIndex: ${nvmlCodeName(rc)}`;
        continue;
      }
      const handle = h.readBigUInt64LE(0);
      const key = `${parent.identity.uuid}/${slot}`;
      const dev: Device = { handle, identity: parent.identity, isMig: true, lost: null };
      try {
        let identity = session.migIdentities.get(key);
        if (identity === undefined) {
          identity = this.readIdentity(handle, parent.identity.index, parent.identity);
          session.migIdentities.set(key, identity);
        }
        dev.identity = identity;
      } catch (err) {
        if (!(err instanceof DeviceLost)) throw err;
        continue;
      }
      out.push(this.readDevice(session, dev, reasons));
    }
    return out;
  }

  private readDevice(session: Session, dev: Device, reasons: Record<string, string>): Gpu {
    if (dev.lost !== null) {
      session.reinitAt ??= this.opts.now() + this.opts.lostRetryMs;
      reasons[`gpus.${dev.identity.uuid}`] = dev.lost;
      return emptyEntry(dev.identity, session.info, 'lost');
    }
    const entry = emptyEntry(dev.identity, session.info, 'ok');
    let cache = session.unsupported.get(dev.identity.uuid);
    if (cache === undefined) {
      cache = new Map();
      session.unsupported.set(dev.identity.uuid, cache);
    }
    const target = {
      handle: dev.handle,
      uuid: dev.identity.uuid,
      isMig: dev.isMig,
      memoryTotal: dev.identity.memory_total_bytes,
      processStride: session.processStride,
    };
    try {
      for (const metric of deviceMetrics(this.api, target, reasons)) {
        if (metric.fields.some((f) => cache.has(f))) continue;
        const r = metric.read();
        if (r.ok) {
          Object.assign(entry, r.values);
          continue;
        }
        const err = new NvmlError(r.symbol, r.code, this.api.errorString(r.code));
        if (err.errorClass === 'device') throw new DeviceLost(err.message);
        if (err.errorClass === 'driver' || err.errorClass === 'uninitialized') throw err;
        for (const f of metric.fields) {
          if (err.errorClass === 'unsupported') cache.set(f, `${nvmlCodeName(r.code)} from ${r.symbol}`);
          else reasons[`gpus.${dev.identity.uuid}.${f}`] = `${r.symbol} failed: ${nvmlCodeName(r.code)}`;
        }
      }
    } catch (err) {
      if (!(err instanceof DeviceLost)) throw err;
      dev.lost = err.message;
      session.reinitAt ??= this.opts.now() + this.opts.lostRetryMs;
      reasons[`gpus.${dev.identity.uuid}`] = dev.lost;
      return emptyEntry(dev.identity, session.info, 'lost');
    }
    for (const [f, why] of cache) reasons[`gpus.${dev.identity.uuid}.${f}`] = why;
    entry.unsupported = [...cache.keys()];
    return entry;
  }
}
