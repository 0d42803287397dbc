import { createInterface } from 'node:readline';
import { nvmlLibraryCandidates } from './library-path.js';
import type * as NvmlLib from './nvml-lib.js';
import { workerRequestSchema, type ReaderResult, type WorkerConfig, type WorkerMessage, type WorkerRequest } from './protocol.js';
import { NvmlReader } from './reader.js';
import { releaseStartupPages } from '../release-pages.js';
import { releaseKoffiProblem } from '../release/koffi-native.js';

/** Collections after which the worker, too, drops its start-up-only file pages (release-pages.ts). */
const RELEASE_PAGES_AFTER_COLLECTS = 3;

type Loaded = { kind: 'reader'; reader: NvmlReader } | { kind: 'missing'; result: ReaderResult };

async function load(config: WorkerConfig): Promise<Loaded> {
  const candidates = nvmlLibraryCandidates(config.library_path);
  // Loading nvml-lib loads koffi's native module, which can fail on its own
  // (a release missing lib/koffi.node, or one whose permissions let others
  // replace it): that is a reason for no GPU metrics, not a worker crash.
  let nvml: typeof NvmlLib;
  try {
    nvml = await import('./nvml-lib.js');
  } catch (err) {
    const why = releaseKoffiProblem() ?? (err instanceof Error ? err.message : String(err));
    const reason = `koffi's native module could not be loaded, so NVML cannot be: ${why}`;
    return { kind: 'missing', result: { status: 'no-library', reason, searched: [] } };
  }
  const { NvmlLoadError, openNvml } = nvml;
  try {
    const api = openNvml(candidates);
    const reader = new NvmlReader(api, {
      retryBaseMs: config.retry_base_ms,
      retryMaxMs: config.retry_max_ms,
      lostRetryMs: config.lost_retry_ms,
      now: () => performance.now(),
    });
    return { kind: 'reader', reader };
  } catch (err) {
    if (!(err instanceof NvmlLoadError)) throw err;
    return { kind: 'missing', result: { status: 'no-library', reason: err.message, searched: err.searched } };
  }
}

function parseRequest(line: string): { success: true; data: WorkerRequest } | { success: false; error: string } {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (err) {
    return { success: false, error: err instanceof Error ? err.message : String(err) };
  }
  const r = workerRequestSchema.safeParse(json);
  return r.success ? { success: true, data: r.data } : { success: false, error: r.error.message };
}

/**
 * The NVML worker (`system-monitor __nvml-worker`): the only process that
 * loads libnvidia-ml. NVML calls are synchronous here; a call that hangs
 * hangs only this process, which the agent kills at its deadline. When stdin
 * closes (the agent went away) NVML is shut down and the worker exits.
 */
export async function runNvmlWorker(input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stdout): Promise<void> {
  const send = (msg: WorkerMessage): void => {
    output.write(`${JSON.stringify(msg)}\n`);
  };
  let loaded: Loaded | null = null;
  let collects = 0;
  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const parsed = parseRequest(line);
    if (!parsed.success) {
      process.stderr.write(`nvml worker: bad request ${JSON.stringify(line.slice(0, 200))}: ${parsed.error}\n`);
      continue;
    }
    const req = parsed.data;
    if (req.op === 'config') {
      loaded = await load(req);
      send({ type: 'ready', pid: process.pid });
    } else if (req.op === 'collect') {
      const result: ReaderResult =
        loaded === null
          ? { status: 'failed', reason: 'NVML worker got a request before its configuration', hint: null, retry_in_ms: null }
          : loaded.kind === 'missing'
            ? loaded.result
            : loaded.reader.collect();
      send({ type: 'result', id: req.id, result });
      // A worker with NVML loaded lives as long as the agent: its start-up pages count as long.
      if (loaded?.kind === 'reader' && ++collects === RELEASE_PAGES_AFTER_COLLECTS) await releaseStartupPages(null);
    } else {
      break;
    }
  }
  if (loaded?.kind === 'reader') loaded.reader.close();
}
