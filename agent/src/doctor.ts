import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { metricsKey } from '../../shared/src/keys.js';
import { payloadSchema, type Payload } from '../../shared/src/payload.js';
import { describeValkey, pingValkey, valkeyConfigFromEnv } from '../../shared/src/valkey.js';
import { VERSION } from '../../shared/src/version.js';
import { buildAgentEnv } from './agent-env.js';
import { createGpuSource } from './collectors/gpu.js';
import { createCollectors } from './collectors/index.js';
import type { AgentConfig } from './config.js';
import type { GpuDiagnosis } from './gpu/runner.js';
import { loadNativePidStats, type NativePidStats } from './procfs/native-pid-stats.js';
import { Sampler } from './sampler.js';

export type CheckStatus = 'ok' | 'unsupported' | 'error' | 'skipped';

export interface DoctorCheck {
  status: CheckStatus;
  details: string[];
}

export interface DoctorReport {
  ok: boolean;
  version: string;
  container_name: string;
  cgroup: {
    mode: string;
    scope: string;
    source: string;
    paths: Record<string, string>;
    notes: string[];
  };
  collectors: Record<string, DoctorCheck>;
  /** How the processes collector reads each process: the native reader's path, or why it is not used. */
  process_reader: string;
  valkey: DoctorCheck;
  nvml: DoctorCheck;
  /** What NVML reported; null when no library was found or it could not be used. */
  gpus: NvmlReport | null;
  advice: string[];
}

export interface NvmlReport {
  library_path: string;
  driver_version: string | null;
  nvml_version: string | null;
  cuda_driver_version: string | null;
  devices: { index: number; uuid: string; name: string; health: string; unsupported: string[] }[];
}

/** A gap long enough for rates to be computed but short enough for an interactive check. */
const DOCTOR_GAP_MS = 1000;

/**
 * Checks everything the agent depends on and says what works: cgroup
 * detection, each collector (two samples so rate paths run), Valkey, NVML.
 * `ok` is false when the agent could not do its job (no collector works, or
 * Valkey is unreachable while it was checked).
 */
export async function runDoctor(
  config: AgentConfig,
  log: Logger,
  opts: { checkValkey: boolean; env?: NodeJS.ProcessEnv },
): Promise<DoctorReport> {
  const advice: string[] = [];
  const env = buildAgentEnv(config, { intervalMs: Math.min(config.intervalMs, DOCTOR_GAP_MS) });
  const gpu = createGpuSource(config, log);
  let sample: Payload;
  let diagnosis: GpuDiagnosis;
  let native: NativePidStats | null = null;
  let reader: string;
  try {
    native = await loadNativePidStats();
    reader = `per-process files read by ${native.path}`;
  } catch (err) {
    reader = `per-process files read in JavaScript (same values, more CPU): the native reader could not be loaded: ${err instanceof Error ? err.message : String(err)}`;
  }
  try {
    const sampler = new Sampler(env, createCollectors(env, { processes: { native } }), { containerName: config.containerName, version: VERSION, log, gpu });
    await sampler.sample();
    await sleep(env.intervalMs);
    sample = await sampler.sample();
    diagnosis = await gpu.diagnose();
  } finally {
    await gpu.close();
  }

  const collectors = collectorChecks(sample);
  const cg = env.cgroup;
  if (cg.mode === 'none') advice.push('No cgroup hierarchy was found: mount /sys/fs/cgroup or set CGROUP_ROOT.');
  if (cg.scope === 'host') {
    advice.push('The agent sees the host root cgroup: run it inside the container (start-with-monitor.sh) or set CGROUP_PATH.');
  }
  const failing = Object.entries(collectors).filter(([, c]) => c.status === 'error');
  for (const [name, c] of failing) advice.push(`Collector ${name} fails: ${c.details.join('; ')}`);
  const anyWorking = Object.values(collectors).some((c) => c.status !== 'error');

  let valkey: DoctorCheck;
  if (!opts.checkValkey) {
    valkey = { status: 'skipped', details: ['not checked (--no-valkey)'] };
  } else {
    try {
      const vcfg = valkeyConfigFromEnv(opts.env ?? process.env);
      const res = await pingValkey(vcfg, 2000, metricsKey(config.containerName));
      valkey = res.ok
        ? { status: 'ok', details: [`${describeValkey(vcfg)} answered PING in ${res.ms.toFixed(1)} ms`, describePublished(config.containerName, res.value, Date.now())] }
        : { status: 'error', details: [`${describeValkey(vcfg)} (from ${vcfg.source}): ${res.error}`] };
      if (!res.ok) advice.push(`Valkey is unreachable: check ${vcfg.source}, the network and the password.`);
    } catch (err) {
      valkey = { status: 'error', details: [err instanceof Error ? err.message : String(err)] };
      advice.push('Fix the Valkey settings named above.');
    }
  }

  const { nvml, gpus } = nvmlCheck(diagnosis);
  if (diagnosis.status === 'failed') advice.push(`NVML does not work: ${diagnosis.hint ?? diagnosis.reason}`);

  if (config.containerNameDefaulted) advice.push(`CONTAINER_NAME is not set; using the hostname "${config.containerName}".`);

  return {
    ok: anyWorking && valkey.status !== 'error',
    version: VERSION,
    container_name: config.containerName,
    cgroup: { mode: cg.mode, scope: cg.scope, source: cg.source, paths: sample.cgroup.paths, notes: cg.notes },
    collectors,
    process_reader: reader,
    valkey,
    nvml,
    gpus,
    advice,
  };
}

/** What the running agent last published about its own publishing (`agent.publish`). */
export function describePublished(name: string, raw: string | null, nowMs: number): string {
  const key = metricsKey(name);
  if (raw === null) return `no sample under ${key} (no agent running as "${name}", or it cannot publish)`;
  let parsed: ReturnType<typeof payloadSchema.safeParse>;
  try {
    parsed = payloadSchema.safeParse(JSON.parse(raw));
  } catch {
    return `${key} holds something that is not JSON`;
  }
  if (!parsed.success) return `${key} holds JSON that is not a valid sample: ${parsed.error.issues[0]?.message ?? 'invalid'}`;
  const p = parsed.data;
  const age = ((nowMs - Date.parse(p.timestamp)) / 1000).toFixed(1);
  const head = `last sample under ${key}: ${age} s old, status ${p.status}, agent pid ${p.agent.pid}`;
  const pub = p.agent.publish;
  if (pub === null) return head;
  return `${head}; published ${pub.published_total}, skipped ${pub.skipped_total}, last error ${pub.last_error ?? 'none'}`;
}

function nvmlCheck(d: GpuDiagnosis): { nvml: DoctorCheck; gpus: NvmlReport | null } {
  if (d.status === 'no-library') {
    const searched = d.searched.length > 0 ? ` (searched ${d.searched.join(', ')})` : '';
    return { nvml: { status: 'unsupported', details: [`no usable libnvidia-ml.so.1${searched}; GPU metrics will be empty`, d.reason] }, gpus: null };
  }
  if (d.status === 'failed') return { nvml: { status: 'error', details: [d.reason, ...(d.hint === null ? [] : [d.hint])] }, gpus: null };
  const report: NvmlReport = {
    ...d.info,
    devices: d.gpus.map((g) => ({ index: g.index, uuid: g.uuid, name: g.name, health: g.health, unsupported: g.unsupported })),
  };
  const details = [
    `library ${d.info.library_path}`,
    `driver ${d.info.driver_version ?? 'unknown'}, NVML ${d.info.nvml_version ?? 'unknown'}, CUDA ${d.info.cuda_driver_version ?? 'unknown'}`,
    `${d.gpus.length} GPU${d.gpus.length === 1 ? '' : 's'} seen`,
    ...report.devices.map(
      (g) => `GPU ${g.index} ${g.name} ${g.uuid} (${g.health})${g.unsupported.length > 0 ? `; not supported: ${g.unsupported.join(', ')}` : ''}`,
    ),
  ];
  const lost = d.gpus.some((g) => g.health !== 'ok');
  return { nvml: { status: lost ? 'unsupported' : 'ok', details }, gpus: report };
}

function collectorChecks(sample: Payload): Record<string, DoctorCheck> {
  const out: Record<string, DoctorCheck> = {};
  for (const [name, st] of Object.entries(sample.agent.collectors)) {
    const notes = Object.entries(sample.unavailable)
      .filter(([field]) => field === name || field.startsWith(`${name}.`))
      .map(([field, why]) => `${field}: ${why}`);
    if (!st.ok) out[name] = { status: 'error', details: st.error === null ? notes : [st.error] };
    else if (notes.length > 0) out[name] = { status: 'unsupported', details: notes };
    else out[name] = { status: 'ok', details: [`${st.ms} ms`] };
  }
  return out;
}

/** Human-readable rendering for a terminal. */
export function formatDoctor(r: DoctorReport): string {
  const mark = (s: CheckStatus): string => ({ ok: 'ok', unsupported: 'partly', error: 'FAIL', skipped: 'skip' })[s];
  const lines: string[] = [];
  lines.push(`system-monitor ${r.version} doctor — container "${r.container_name}"`);
  lines.push(`cgroup: mode ${r.cgroup.mode}, scope ${r.cgroup.scope}, found via ${r.cgroup.source}`);
  for (const [k, v] of Object.entries(r.cgroup.paths)) lines.push(`  ${k.padEnd(8)} ${v}`);
  for (const n of r.cgroup.notes) lines.push(`  note: ${n}`);
  lines.push('collectors:');
  for (const [name, c] of Object.entries(r.collectors)) {
    lines.push(`  [${mark(c.status).padEnd(6)}] ${name}`);
    if (c.status !== 'ok') for (const d of c.details) lines.push(`           ${d}`);
  }
  lines.push(r.process_reader);
  lines.push(`valkey: [${mark(r.valkey.status)}] ${r.valkey.details.join('; ')}`);
  lines.push(`nvml:   [${mark(r.nvml.status)}] ${r.nvml.details[0] ?? ''}`);
  for (const d of r.nvml.details.slice(1)) lines.push(`           ${d}`);
  if (r.advice.length > 0) {
    lines.push('advice:');
    for (const a of r.advice) lines.push(`  - ${a}`);
  }
  lines.push(r.ok ? 'result: the agent can work here' : 'result: the agent cannot work here (see advice)');
  return `${lines.join('\n')}\n`;
}
