import { z } from 'zod';
import { absolutePath, ConfigError, fromFlagOrEnv, parseSetting } from '../../../shared/src/config.js';
import { loadAgentConfig, type AgentConfig, type AgentFlags } from '../config.js';
import { DEFAULT_DOCKER_SOCKET, DockerApiError, socketFromDockerHost } from './docker-api.js';

/** Flags of `system-monitor host` on top of the common ones. */
export interface HostFlags extends AgentFlags {
  dockerSocket?: string;
  cgroupParent?: string;
  dockerRoot?: string;
}

export type HostDiscoveryConfig =
  | { kind: 'docker'; socketPath: string }
  /** Cgroup-only: children of `parent` (a path inside the hierarchies) are containers. */
  | { kind: 'cgroup'; parent: string; dockerRoot: string | null };

export interface HostConfig {
  agent: AgentConfig;
  discovery: HostDiscoveryConfig;
}

const cgroupParentSchema = z.string().trim().startsWith('/', 'must start with "/" (a path inside the cgroup hierarchies, e.g. /docker or /system.slice)');

/**
 * `system-monitor host`: the common settings, and where containers are
 * found. `--cgroup-parent` (HOST_CGROUP_PARENT) chooses cgroup-only mode;
 * otherwise the Docker socket (`--docker-socket`, DOCKER_HOST=unix://...,
 * default /var/run/docker.sock).
 */
export function loadHostConfig(flags: HostFlags, env: NodeJS.ProcessEnv = process.env): HostConfig {
  if (flags.containerName !== undefined) throw new ConfigError('--container-name: the host agent names each container itself (by name, or its system-monitor.name label)');
  if (flags.cgroupPath !== undefined) throw new ConfigError('--cgroup-path: the host agent finds each container\'s cgroup; for cgroup-only mode use --cgroup-parent');
  const agent = loadAgentConfig({ ...flags, containerName: 'host-agent' }, { ...env, CONTAINER_NAME: undefined, CGROUP_PATH: undefined });
  const parentIn = fromFlagOrEnv(flags.cgroupParent, '--cgroup-parent', env, 'HOST_CGROUP_PARENT');
  const socketIn = fromFlagOrEnv(flags.dockerSocket, '--docker-socket', env, 'DOCKER_SOCKET');
  if (parentIn !== undefined) {
    if (socketIn !== undefined) throw new ConfigError(`${socketIn.label} and ${parentIn.label}: choose one (cgroup-only mode does not use the Docker socket)`);
    const rootIn = fromFlagOrEnv(flags.dockerRoot, '--docker-root', env, 'DOCKER_ROOT');
    return {
      agent,
      discovery: {
        kind: 'cgroup',
        parent: parseSetting(cgroupParentSchema, parentIn.raw, parentIn.label),
        dockerRoot: rootIn ? parseSetting(absolutePath, rootIn.raw, rootIn.label) : '/var/lib/docker',
      },
    };
  }
  let socketPath: string;
  if (socketIn !== undefined) {
    socketPath = parseSetting(absolutePath, socketIn.raw, socketIn.label);
  } else {
    try {
      socketPath = socketFromDockerHost(env.DOCKER_HOST) ?? DEFAULT_DOCKER_SOCKET;
    } catch (err) {
      throw new ConfigError(err instanceof DockerApiError ? err.message : String(err));
    }
  }
  return { agent, discovery: { kind: 'docker', socketPath } };
}
