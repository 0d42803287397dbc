import { join } from 'node:path';
import { pino } from 'pino';
import { buildAgentEnv } from '../agent/src/agent-env.js';
import { createCollectors } from '../agent/src/collectors/index.js';
import { loadAgentConfig } from '../agent/src/config.js';
import { Sampler } from '../agent/src/sampler.js';
import type { Payload } from '../shared/src/payload.js';

const REPO = join(import.meta.dirname, '..');

/** A real payload, made by the agent's Sampler from the docker-v2 fixture (second sample, so rates are set): what the simulations publish. */
export async function fixtureSample(containerName: string): Promise<Payload> {
  const fx = join(REPO, 'agent/test/fixtures/docker-v2');
  const config = loadAgentConfig({ logLevel: 'silent', cgroupRoot: join(fx, 'sys/fs/cgroup'), procRoot: join(fx, 'proc'), sysRoot: join(fx, 'sys') }, { CONTAINER_NAME: containerName });
  const env = buildAgentEnv(config);
  const s = new Sampler(env, createCollectors(env), { containerName, version: 'bench', log: pino({ level: 'silent' }) });
  await s.sample();
  return s.sample();
}
