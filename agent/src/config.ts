import { hostname } from 'node:os';
import { z } from 'zod';
import { containerNameSchema } from '../../shared/src/container-name.js';
import { absolutePath, ConfigError, fromFlagOrEnv, numberText, parseSetting, wholeNumber } from '../../shared/src/config.js';
import { logLevels } from '../../shared/src/log.js';
import { DEFAULT_CGROUP_ROOT } from './cgroup/locate.js';
import { MAX_TASKS_PER_TICK } from './collectors/processes.js';

/** Flags shared by every agent command (commander fills these). */
export interface AgentFlags {
  interval?: string;
  containerName?: string;
  cgroupRoot?: string;
  cgroupPath?: string;
  procRoot?: string;
  sysRoot?: string;
  diskPaths?: string;
  logLevel?: string;
  ttl?: string;
  historyLength?: string;
  logTtl?: string;
  nvmlLibraryPath?: string;
  hostProc?: string;
  gpuDeadlineMs?: string;
  loadTaskReads?: string;
}

export interface AgentConfig {
  containerName: string;
  /** CONTAINER_NAME was not set: the hostname is used and a warning logged. */
  containerNameDefaulted: boolean;
  intervalMs: number;
  procRoot: string;
  sysRoot: string;
  cgroupRoot: string;
  cgroupPath: string | undefined;
  diskPaths: string[];
  logLevel: (typeof logLevels)[number];
  /** Expiry of `system:metrics:<name>`: 3 × interval, at least 15 s, unless set. */
  ttlSeconds: number;
  /** Expiry of the final `status: "exited"` sample: short, so a stopped container does not linger. */
  exitTtlSeconds: number;
  /** Approximate length of `system:history:<name>` (default 720 = 1 h at 5 s). */
  historyLength: number;
  /** Expiry of Sirius log keys (default 24 h). */
  logTtlSeconds: number;
  /** NVML_LIBRARY_PATH: load exactly this file instead of searching. */
  nvmlLibraryPath: string | null;
  /** HOST_PROC: the host's /proc, to map the host PIDs NVML reports to container PIDs. */
  hostProc: string | null;
  /** Deadline of each GPU collection; a worker that misses it is killed. */
  gpuDeadlineMs: number;
  /** Per-thread stat reads per tick for the container load average (0: main threads only). */
  loadTaskReads: number;
}

/** Default GPU deadline: 2 s, or 40 % of a short interval, so a hung GPU never delays a sample past its tick. */
function defaultGpuDeadlineMs(intervalMs: number): number {
  return Math.min(2000, Math.round(intervalMs * 0.4));
}

const containerNameSetting = z.string().trim().pipe(containerNameSchema);

const cgroupPathSchema = z.string().trim().startsWith('/', 'must start with "/" (a path inside the cgroup hierarchy)');

const diskPathsSchema = z
  .string()
  .transform((s) => s.split(',').map((p) => p.trim()).filter((p) => p !== ''))
  .pipe(z.array(absolutePath).min(1, 'must list at least one absolute path'));

/** Resolves flags over env vars over defaults; throws ConfigError naming the bad setting. */
export function loadAgentConfig(flags: AgentFlags, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const pick = (flag: string | undefined, flagName: string, envName: string) => fromFlagOrEnv(flag, flagName, env, envName);

  const intervalIn = pick(flags.interval, '--interval', 'INTERVAL_SECONDS');
  const intervalS = intervalIn ? parseSetting(numberText(1, 3600), intervalIn.raw, intervalIn.label) : 5;

  const nameIn = pick(flags.containerName, '--container-name', 'CONTAINER_NAME');
  const containerName = nameIn ? parseSetting(containerNameSetting, nameIn.raw, nameIn.label) : hostname();

  const path = (flag: string | undefined, flagName: string, envName: string, dflt: string): string => {
    const v = pick(flag, flagName, envName);
    return v ? parseSetting(absolutePath, v.raw, v.label) : dflt;
  };

  const cgroupPathIn = pick(flags.cgroupPath, '--cgroup-path', 'CGROUP_PATH');
  const diskIn = pick(flags.diskPaths, '--disk-paths', 'DISK_PATHS');
  const levelIn = pick(flags.logLevel, '--log-level', 'LOG_LEVEL');

  const diskPaths = diskIn ? parseSetting(diskPathsSchema, diskIn.raw, diskIn.label) : ['/'];

  const ttlIn = pick(flags.ttl, '--ttl', 'METRICS_TTL_SECONDS');
  const defaultTtl = Math.max(15, Math.ceil(3 * intervalS));
  const ttlSeconds = ttlIn ? parseSetting(wholeNumber(1, 86_400 * 7), ttlIn.raw, ttlIn.label) : defaultTtl;
  if (ttlSeconds <= intervalS) {
    throw new ConfigError(
      `${ttlIn?.label ?? 'METRICS_TTL_SECONDS'}: must be longer than the interval (${intervalS} s), or the key expires between samples (got "${ttlSeconds}")`,
    );
  }
  const historyIn = pick(flags.historyLength, '--history-length', 'HISTORY_LENGTH');
  const logTtlIn = pick(flags.logTtl, '--log-ttl', 'LOG_TTL_SECONDS');
  const intervalMs = Math.round(intervalS * 1000);
  const nvmlIn = pick(flags.nvmlLibraryPath, '--nvml-library-path', 'NVML_LIBRARY_PATH');
  const hostProcIn = pick(flags.hostProc, '--host-proc', 'HOST_PROC');
  const deadlineIn = pick(flags.gpuDeadlineMs, '--gpu-deadline-ms', 'GPU_DEADLINE_MS');
  const taskReadsIn = pick(flags.loadTaskReads, '--load-task-reads', 'LOAD_TASK_READS');
  const gpuDeadlineMs = deadlineIn
    ? parseSetting(numberText(50, Math.max(50, intervalMs - 1)), deadlineIn.raw, `${deadlineIn.label} (must stay under the ${intervalMs} ms interval)`)
    : defaultGpuDeadlineMs(intervalMs);
  return {
    containerName,
    containerNameDefaulted: nameIn === undefined,
    intervalMs,
    procRoot: path(flags.procRoot, '--proc-root', 'PROC_ROOT', '/proc'),
    sysRoot: path(flags.sysRoot, '--sys-root', 'SYS_ROOT', '/sys'),
    cgroupRoot: path(flags.cgroupRoot, '--cgroup-root', 'CGROUP_ROOT', DEFAULT_CGROUP_ROOT),
    cgroupPath: cgroupPathIn ? parseSetting(cgroupPathSchema, cgroupPathIn.raw, cgroupPathIn.label) : undefined,
    diskPaths,
    ttlSeconds,
    exitTtlSeconds: Math.min(ttlSeconds, 60),
    historyLength: historyIn ? parseSetting(wholeNumber(1, 1_000_000), historyIn.raw, historyIn.label) : 720,
    logTtlSeconds: logTtlIn ? parseSetting(wholeNumber(60, 86_400 * 30), logTtlIn.raw, logTtlIn.label) : 86_400,
    nvmlLibraryPath: nvmlIn ? parseSetting(absolutePath, nvmlIn.raw, nvmlIn.label) : null,
    hostProc: hostProcIn ? parseSetting(absolutePath, hostProcIn.raw, hostProcIn.label) : null,
    gpuDeadlineMs: Math.round(gpuDeadlineMs),
    loadTaskReads: taskReadsIn ? parseSetting(wholeNumber(0, 1_000_000), taskReadsIn.raw, taskReadsIn.label) : MAX_TASKS_PER_TICK,
    logLevel: levelIn ? parseSetting(z.enum(logLevels, { error: `must be one of ${logLevels.join(', ')}` }), levelIn.raw.toLowerCase(), levelIn.label) : 'info',
  };
}

export { ConfigError };
