import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { composeServices, serviceHas, serviceScalar, serviceText } from './compose-services.js';
import { AGGREGATOR_ENV, AGGREGATOR_NODE_FLAGS } from './aggregator-runtime.js';
import { agentFinalStageProblems, aggregatorRuntimeProblems, npmScriptsRun, parseStages, unpinnedBases, unpinnedReason } from './dockerfile-rules.js';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const read = (f: string): string => readFileSync(join(REPO, f), 'utf8');

function requireCommand(cmd: string, pkg: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`]);
  if (r.status !== 0) throw new Error(`${cmd} is needed for this test (Debian package ${pkg}; .ci/run installs it)`);
}

function compose(...args: string[]): { status: number | null; out: string } {
  requireCommand('docker-compose', 'docker-compose');
  // The environment the compose files interpolate must not leak in from the developer's shell.
  const r = spawnSync('docker-compose', args, { cwd: REPO, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('Dockerfile rules (tested on broken Dockerfiles)', () => {
  it('refuses unpinned bases and accepts exact versions, digests, scratch and stage names', () => {
    assert.equal(unpinnedReason('node:26.12.1-bookworm-slim'), null);
    assert.equal(unpinnedReason('postgres:17.6'), null);
    assert.equal(unpinnedReason(`node@sha256:${'a'.repeat(64)}`), null);
    assert.equal(unpinnedReason('scratch'), null);
    assert.match(unpinnedReason('node') ?? '', /no tag/);
    assert.match(unpinnedReason('node:latest') ?? '', /latest/);
    assert.match(unpinnedReason('node:26-slim') ?? '', /not an exact version/);
    assert.match(unpinnedReason('node:lts') ?? '', /not an exact version/);
    assert.match(unpinnedReason('localhost:5000/node') ?? '', /no tag/);
    assert.match(unpinnedReason('${BASE}') ?? '', /variable/);
    const stages = parseStages('FROM node:26.12.1 AS build\nFROM build\nFROM busybox\n');
    assert.deepEqual(unpinnedBases(stages), ['line 3: busybox: no tag (means latest); pin an exact version']);
  });

  it('joins continuation lines and skips comments', () => {
    const [s] = parseStages('# c\nFROM a:1.2 AS b\nRUN echo 1 \\\n  # inside\n  && echo 2\n');
    assert.equal(s?.name, 'b');
    assert.deepEqual(s?.instructions.map((i) => [i.keyword, i.args, i.line]), [['RUN', 'echo 1 && echo 2', 3]]);
    assert.throws(() => parseStages('RUN true\n'), /RUN before the first FROM/);
  });

  it('names every missing aggregator runtime rule', () => {
    const bad = parseStages('FROM node:26.12.1 AS build\nFROM node:26.12.1-slim\nUSER root\nRUN npm ci && gcc x.c\nHEALTHCHECK CMD true\nCMD ["node", "x.js"]\n');
    const p = aggregatorRuntimeProblems(bad);
    assert.equal(p.length, 6, p.join('\n'));
    for (const want of [/USER root is root/, /does not probe \/healthz/, /no EXPOSE/, /no STOPSIGNAL/, /build tool/, /dist\/aggregator\.cjs/]) {
      assert.ok(p.some((x) => want.test(x)), `${want} in ${p.join(' | ')}`);
    }
    assert.ok(aggregatorRuntimeProblems(parseStages('FROM node:26.12.1-slim\nCMD ["node","dist/aggregator.cjs"]\n')).some((x) => /no USER/.test(x)));
  });

  it('checks the aggregator image starts Node with the launchers’ flags and environment', () => {
    const runtime = { flags: ['--max-semi-space-size=4'], env: { MALLOC_ARENA_MAX: '2' } };
    const head = 'FROM node:26.12.1-slim\nUSER node\nEXPOSE 8080\nSTOPSIGNAL SIGTERM\nHEALTHCHECK CMD ["node","-e","fetch(\'/healthz\')"]\n';
    assert.deepEqual(aggregatorRuntimeProblems(parseStages(`${head}ENV A=1 MALLOC_ARENA_MAX=2\nCMD ["node", "--max-semi-space-size=4", "dist/aggregator.cjs"]\n`), runtime), []);
    const noFlag = aggregatorRuntimeProblems(parseStages(`${head}ENV MALLOC_ARENA_MAX=2\nCMD ["node", "dist/aggregator.cjs"]\n`), runtime);
    assert.deepEqual(noFlag.length, 1, noFlag.join(' | '));
    assert.match(noFlag[0] ?? '', /want CMD \["node", "--max-semi-space-size=4", "dist\/aggregator\.cjs"\]/);
    const shellForm = aggregatorRuntimeProblems(parseStages(`${head}ENV MALLOC_ARENA_MAX=2\nCMD node --max-semi-space-size=4 dist/aggregator.cjs\n`), runtime);
    assert.equal(shellForm.length, 1, shellForm.join(' | '));
    const wrongEnv = aggregatorRuntimeProblems(parseStages(`${head}ENV MALLOC_ARENA_MAX 8\nCMD ["node", "--max-semi-space-size=4", "dist/aggregator.cjs"]\n`), runtime);
    assert.deepEqual(wrongEnv, ['the final stage sets MALLOC_ARENA_MAX=8; want ENV MALLOC_ARENA_MAX=2']);
    const noEnv = aggregatorRuntimeProblems(parseStages(`${head}CMD ["node", "--max-semi-space-size=4", "dist/aggregator.cjs"]\n`), runtime);
    assert.deepEqual(noEnv, ['the final stage sets MALLOC_ARENA_MAX=(nothing); want ENV MALLOC_ARENA_MAX=2']);
  });

  it('names what does not belong in the agent final stage', () => {
    const p = agentFinalStageProblems(parseStages('FROM node:26.12.1 AS b\nFROM busybox:1.37.0\nCOPY --from=b /x /system-monitor\nRUN true\n'));
    assert.ok(p.some((x) => /not scratch/.test(x)));
    assert.ok(p.some((x) => /RUN in the final stage/.test(x)));
    assert.ok(p.some((x) => /holds \/system-monitor; want exactly \/opt\/system-monitor/.test(x)), p.join(' | '));
    assert.deepEqual(agentFinalStageProblems(parseStages('FROM a:1.0 AS b\nFROM scratch\nCOPY --from=b /r/system-monitor /opt/system-monitor\nENTRYPOINT ["/opt/system-monitor/system-monitor"]\n')), []);
  });

  it('finds the npm scripts RUN names', () => {
    assert.deepEqual(npmScriptsRun(parseStages('FROM a:1.0\nRUN npm ci && npm run build -- --no-sea\nRUN npm run-script lint && npm test\n')), ['build', 'lint', 'test']);
  });
});

describe('the repository Dockerfiles', () => {
  const agent = parseStages(read('Dockerfile.agent'));
  const aggregator = parseStages(read('Dockerfile.aggregator'));

  it('pin every base image to an exact version', () => {
    assert.deepEqual(unpinnedBases(agent), []);
    assert.deepEqual(unpinnedBases(aggregator), []);
  });

  it('end the agent image in scratch holding only the release directory /opt/system-monitor', () => {
    assert.deepEqual(agentFinalStageProblems(agent), []);
  });

  it('run the aggregator as non-root with HEALTHCHECK, EXPOSE, STOPSIGNAL and no build tools', () => {
    assert.deepEqual(aggregatorRuntimeProblems(aggregator, { flags: AGGREGATOR_NODE_FLAGS, env: AGGREGATOR_ENV }), []);
  });

  it('build with npm ci and npm scripts that exist in package.json', () => {
    const pkg = z.object({ scripts: z.record(z.string(), z.string()) }).parse(JSON.parse(read('package.json')));
    for (const [file, stages] of [['Dockerfile.agent', agent], ['Dockerfile.aggregator', aggregator]] as const) {
      const scripts = npmScriptsRun(stages);
      assert.ok(scripts.includes('build'), `${file} runs npm run build`);
      for (const s of scripts) assert.ok(s in pkg.scripts, `${file} runs npm run ${s}, which package.json does not define`);
      assert.ok(stages.some((st) => st.instructions.some((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args))), `${file} installs with npm ci`);
    }
  });
});

describe('compose files', () => {
  it('docker-compose.yml and the dev override pass docker-compose config -q', () => {
    const base = compose('-f', 'docker-compose.yml', 'config', '-q');
    assert.equal(base.status, 0, base.out);
    const dev = compose('-f', 'docker-compose.yml', '-f', 'docker-compose.dev.yml', 'config', '-q');
    assert.equal(dev.status, 0, dev.out);
  });

  it('docker-compose config refuses a broken override (the check can fail)', () => {
    const r = compose('-f', 'docker-compose.yml', '-f', 'scripts/fixtures/compose-broken.yml', 'config', '-q');
    assert.notEqual(r.status, 0);
    assert.match(r.out, /cpus|invalid|Unsupported/i);
  });

  it('have Valkey pinned and healthy before the aggregator, and at least three limited, named, monitored services', () => {
    const cfg = compose('--profile', 'gpu', '-f', 'docker-compose.yml', 'config');
    assert.equal(cfg.status, 0, cfg.out);
    const services = composeServices(cfg.out);
    const byName = new Map(services.map((s) => [s.name, s]));
    const valkey = byName.get('valkey');
    assert.ok(valkey, 'a valkey service');
    assert.match(serviceScalar(valkey, 'image') ?? '', /^valkey\/valkey:/);
    assert.match(serviceText(valkey), /valkey-cli ping/);
    const agg = byName.get('aggregator');
    assert.ok(agg, 'an aggregator service');
    assert.match(serviceText(agg), /depends_on:\n\s+valkey:\n\s+condition: service_healthy/);
    assert.match(serviceText(agg), /dockerfile: Dockerfile\.aggregator/);
    for (const s of services) {
      if (serviceHas(s, 'build')) continue;
      const image = serviceScalar(s, 'image') ?? '';
      assert.equal(unpinnedReason(image), null, `service ${s.name}: ${unpinnedReason(image) ?? ''}`);
    }
    const monitored = services.filter((s) => serviceText(s).includes('start-with-monitor.sh'));
    assert.ok(monitored.length >= 3, `monitored services: ${monitored.map((s) => s.name).join(', ')}`);
    for (const s of monitored) {
      assert.ok(serviceScalar(s, 'cpus') !== null, `${s.name} has a CPU limit`);
      assert.ok(serviceScalar(s, 'mem_limit') !== null, `${s.name} has a memory limit`);
      assert.match(serviceText(s), /CONTAINER_NAME: \S+/, `${s.name} sets CONTAINER_NAME`);
    }
    const gpu = services.find((s) => /driver: nvidia/.test(serviceText(s)));
    assert.ok(gpu, 'a GPU service');
    assert.match(serviceText(gpu), /NVIDIA_DRIVER_CAPABILITIES: \S*utility/);
    // docker-compose 1.29 prints every service whatever the profile, so the profile itself is checked.
    assert.match(serviceText(gpu), /profiles:\n\s+- gpu$/m, 'the GPU service is behind the gpu profile');
    for (const s of monitored.filter((m) => m !== gpu)) assert.doesNotMatch(serviceText(s), /profiles:/, `${s.name} runs without a profile`);
  });

  it('the dev override runs the aggregator and an agent from the mounted source with tsx watch', () => {
    const cfg = compose('-f', 'docker-compose.yml', '-f', 'docker-compose.dev.yml', 'config');
    assert.equal(cfg.status, 0, cfg.out);
    const services = composeServices(cfg.out);
    const agg = services.find((s) => s.name === 'aggregator');
    assert.ok(agg);
    assert.match(serviceText(agg), /target: dev/);
    assert.match(serviceText(agg), /:\/src(:rw)?$/m);
    assert.match(read('Dockerfile.aggregator'), /CMD \["npx", "tsx", "watch", "aggregator\/src\/main\.ts"\]/);
    const devAgent = services.filter((s) => /SYSTEM_MONITOR_DEV: '1'/.test(serviceText(s)));
    assert.ok(devAgent.length >= 1, 'a service runs its agent with SYSTEM_MONITOR_DEV=1');
    for (const s of devAgent) assert.match(serviceText(s), /:\/src(:rw)?$/m, `${s.name} mounts the source`);
  });
});

describe('the release in compose', () => {
  it('agent-install copies the release into the volume the monitored services mount, where start-with-monitor.sh finds the agent beside itself', () => {
    const file = read('docker-compose.yml');
    assert.match(file, /agent-install:[\s\S]*?dockerfile: Dockerfile\.agent[\s\S]*?command: \["install", "\/out"\]/);
    assert.doesNotMatch(file, /SYSTEM_MONITOR_BIN/, 'the agent is found beside the script; no path to set');
    assert.doesNotMatch(file, /run-agent\.sh|libatomic/, 'the release carries its own libraries');
    const cfg = compose('-f', 'docker-compose.yml', 'config');
    assert.equal(cfg.status, 0, cfg.out);
    const monitored = composeServices(cfg.out).filter((s) => /start-with-monitor\.sh/.test(serviceText(s)));
    assert.ok(monitored.length >= 3, monitored.map((s) => s.name).join(', '));
    for (const s of monitored) {
      assert.match(serviceText(s), /\/opt\/system-monitor\/start-with-monitor\.sh/, s.name);
      assert.match(serviceText(s), /system-monitor:\/opt\/system-monitor:ro/, `${s.name} mounts the release read-only`);
    }
  });
});

describe('shell scripts', () => {
  it('pass shellcheck', () => {
    requireCommand('shellcheck', 'shellcheck');
    const skip = new Set(['node_modules', 'dist', '.cache', '.bench', '.git']);
    const found: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const full = join(dir, name);
        if (statSync(full).isDirectory()) {
          if (!skip.has(name)) walk(full);
        } else if (name.endsWith('.sh')) found.push(relative(REPO, full));
      }
    };
    walk(REPO);
    assert.ok(found.includes('scripts/start-with-monitor.sh'), found.join(', '));
    const r = spawnSync('shellcheck', ['--shell=sh', ...found.filter((f) => f !== '.ci/run')], { cwd: REPO, encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    const ci = spawnSync('shellcheck', ['--shell=bash', '.ci/run'], { cwd: REPO, encoding: 'utf8' });
    assert.equal(ci.status, 0, `${ci.stdout}${ci.stderr}`);
  });
});
