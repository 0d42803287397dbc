import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { payloadSchema, type Payload } from '../../shared/src/payload.js';
import { VERSION } from '../../shared/src/version.js';
import { buildAgentEnv } from './agent-env.js';
import { createGpuSource } from './collectors/gpu.js';
import { createCollectors } from './collectors/index.js';
import type { AgentConfig } from './config.js';
import { Sampler } from './sampler.js';

/**
 * One full sample: a baseline read, one interval of waiting, then the sample
 * that is returned, so every rate in it is real. The result is validated
 * against the wire contract before it is handed out.
 */
export async function sampleOnce(config: AgentConfig, log: Logger): Promise<Payload> {
  const env = buildAgentEnv(config);
  const gpu = createGpuSource(config, log);
  try {
    const sampler = new Sampler(env, createCollectors(env), { containerName: config.containerName, version: VERSION, log, gpu });
    await sampler.sample();
    await sleep(config.intervalMs);
    return payloadSchema.parse(await sampler.sample());
  } finally {
    await gpu.close();
  }
}
