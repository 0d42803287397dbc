import { startupSnapshot } from 'node:v8';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../../shared/src/config.js';
import { createLogger } from '../../shared/src/log.js';
import { VERSION } from '../../shared/src/version.js';
import { loadAgentConfig, type AgentFlags } from './config.js';
import { formatDoctor, runDoctor } from './doctor.js';
import { sampleOnce } from './once.js';
import { releaseHome } from './release/home.js';
import { installRelease } from './release/install.js';
import { runAgent } from './run.js';
import { loadHostConfig, type HostFlags } from './host/host-config.js';
import { runHostAgent } from './host/host-agent.js';
import { valkeyConfigFromEnv } from '../../shared/src/valkey.js';

/**
 * `system-monitor` CLI. Every flag also has an environment variable (the
 * SiriusScan names where they exist); flags win over the environment.
 */
function addCommonOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--interval <seconds>', 'sampling interval [env INTERVAL_SECONDS, default 5]'))
    .addOption(new Option('--container-name <name>', 'name in the Valkey key [env CONTAINER_NAME, default hostname]'))
    .addOption(new Option('--cgroup-root <dir>', 'where cgroup hierarchies are mounted [env CGROUP_ROOT, default /sys/fs/cgroup]'))
    .addOption(new Option('--cgroup-path <path>', "the container's cgroup path inside them [env CGROUP_PATH]"))
    .addOption(new Option('--proc-root <dir>', 'procfs location [env PROC_ROOT, default /proc]'))
    .addOption(new Option('--sys-root <dir>', 'sysfs location [env SYS_ROOT, default /sys]'))
    .addOption(new Option('--disk-paths <list>', 'comma-separated mount points for disk usage [env DISK_PATHS, default /]'))
    .addOption(new Option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent [env LOG_LEVEL, default info]'))
    .addOption(new Option('--nvml-library-path <file>', 'load this libnvidia-ml.so.1 instead of searching [env NVML_LIBRARY_PATH]'))
    .addOption(new Option('--host-proc <dir>', "the host's /proc mounted here, to map GPU process PIDs [env HOST_PROC]"))
    .addOption(new Option('--gpu-deadline-ms <ms>', 'deadline of each GPU collection [env GPU_DEADLINE_MS, default min(2000, 40% of the interval)]'))
    .addOption(new Option('--load-task-reads <n>', "per-thread state reads per tick for the container's load average; 0 counts each process by its main thread [env LOAD_TASK_READS, default 4096]"));
}

function fail(message: string): never {
  process.stderr.write(`system-monitor: ${message}\n`);
  process.exit(2);
}

export async function main(argv: string[]): Promise<void> {
  const home = releaseHome();
  // Started through the release's glibc loader, this process would show as
  // ld-linux-x86-64 in ps and top; it is the agent.
  if (home !== null) process.title = ['system-monitor', ...argv.slice(2)].join(' ');
  const program = new Command('system-monitor')
    .description('Container metrics agent: reads its cgroup, /proc and NVML and publishes to Valkey')
    .version(`${VERSION} (node ${process.version})`)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  addCommonOptions(program.command('run', { isDefault: true }))
    .description('sample every interval and publish to Valkey (the default command)')
    .addOption(new Option('--ttl <seconds>', 'expiry of system:metrics:<name> [env METRICS_TTL_SECONDS, default 3 × interval, at least 15]'))
    .addOption(new Option('--history-length <n>', 'entries kept in system:history:<name> [env HISTORY_LENGTH, default 720]'))
    .addOption(new Option('--log-ttl <seconds>', 'expiry of system:logs:<name>:* entries [env LOG_TTL_SECONDS, default 86400]'))
    .action(async (opts: AgentFlags) => {
      const config = loadAgentConfig(opts);
      const valkey = valkeyConfigFromEnv();
      const log = createLogger({ name: 'system-monitor', level: config.logLevel });
      if (config.containerNameDefaulted) log.warn({ hostname: config.containerName }, 'CONTAINER_NAME not set, using the hostname');
      process.exit(await runAgent(config, valkey, log));
    });

  addCommonOptions(program.command('host'))
    .description('one agent for every container on this host: each published under its own key as its sidecar would (Docker socket, or --cgroup-parent without it)')
    .addOption(new Option('--docker-socket <path>', 'the Docker Engine API socket [env DOCKER_SOCKET, or DOCKER_HOST=unix://..., default /var/run/docker.sock]'))
    .addOption(new Option('--cgroup-parent <path>', 'cgroup-only mode: every child of this cgroup (e.g. /docker) is a container; no Docker socket [env HOST_CGROUP_PARENT]'))
    .addOption(new Option('--docker-root <dir>', "cgroup-only mode: Docker's data root, to name containers from their config files when readable [env DOCKER_ROOT, default /var/lib/docker]"))
    .addOption(new Option('--ttl <seconds>', 'expiry of each system:metrics:<name> [env METRICS_TTL_SECONDS, default 3 × interval, at least 15]'))
    .addOption(new Option('--history-length <n>', 'entries kept in each system:history:<name> [env HISTORY_LENGTH, default 720]'))
    .addOption(new Option('--log-ttl <seconds>', 'expiry of system:logs:<name>:* entries [env LOG_TTL_SECONDS, default 86400]'))
    .action(async (opts: HostFlags) => {
      const config = loadHostConfig(opts);
      const valkey = valkeyConfigFromEnv();
      const log = createLogger({ name: 'system-monitor-host', level: config.agent.logLevel });
      process.exit(await runHostAgent(config, valkey, log));
    });

  addCommonOptions(program.command('once'))
    .description('print one full sample as JSON (two reads one interval apart, so rates are real); no Valkey needed')
    .option('--pretty', 'indent the JSON')
    .action(async (opts: AgentFlags & { pretty?: boolean }) => {
      const config = loadAgentConfig(opts);
      const log = createLogger({ name: 'system-monitor', level: config.logLevel, fd: 2 });
      if (config.containerNameDefaulted) log.warn({ hostname: config.containerName }, 'CONTAINER_NAME not set, using the hostname');
      const sample = await sampleOnce(config, log);
      process.stdout.write(`${JSON.stringify(sample, null, opts.pretty ? 2 : undefined)}\n`);
    });

  addCommonOptions(program.command('doctor'))
    .description('check cgroup detection, every collector, Valkey and NVML; exit 0 when the agent can work here')
    .option('--json', 'print the report as JSON')
    .option('--no-valkey', 'do not check Valkey')
    .action(async (opts: AgentFlags & { json?: boolean; valkey: boolean }) => {
      const config = loadAgentConfig(opts);
      const log = createLogger({ name: 'system-monitor', level: opts.logLevel === undefined ? 'error' : config.logLevel, fd: 2 });
      const report = await runDoctor(config, log, { checkValkey: opts.valkey });
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctor(report));
      process.exitCode = report.ok ? 0 : 1;
    });

  program
    .command('install')
    .argument('<dir>', 'where to put the release (made if missing)')
    .description('copy the release this program runs from into <dir> (e.g. a volume other containers mount)')
    .action((dir: string) => {
      if (home === null) fail(`install copies the release directory, and ${process.execPath} is not running from one: run system-monitor/system-monitor install <dir>`);
      const r = installRelease(home, dir);
      process.stdout.write(`installed ${r.files} files (${(r.bytes / 1048576).toFixed(1)} MiB) from ${home} into ${dir}\n`);
    });

  program
    .command('wrap')
    .argument('<command...>', 'the main command and its arguments')
    .description("run <command> with the agent beside it, for images without a shell (the release's launcher does this)")
    .action(() => {
      fail('wrap is done by the release launcher (system-monitor/system-monitor wrap -- <command>); this program was started without it. In an image with a shell, use start-with-monitor.sh');
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are "errors" to commander; their exit code is 0.
      process.exit(err.exitCode);
    }
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
}

function start(): void {
  main(process.argv).catch((err: unknown) => {
    process.stderr.write(`system-monitor: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

// The single binary starts from a V8 start-up snapshot (scripts/build.mjs):
// every module is loaded at build time, and only `start` runs at exec.
if (startupSnapshot.isBuildingSnapshot()) startupSnapshot.setDeserializeMainFunction(start);
else start();
