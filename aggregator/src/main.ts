import { hostname } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../../shared/src/config.js';
import { createLogger } from '../../shared/src/log.js';
import { createValkeyClient, describeValkey, valkeyConfigFromEnv } from '../../shared/src/valkey.js';
import { VERSION } from '../../shared/src/version.js';
import { loadAggregatorConfig, type AggregatorFlags } from './config.js';
import { Fleet } from './fleet/fleet.js';
import { loadTokens } from './http/auth.js';
import { DEFAULT_HTTP_LIMITS } from './http/limits.js';
import { createHttpServer } from './http/server.js';
import { SseHub } from './http/sse.js';
import { Dashboard, defaultDashboardLocation } from './http/static.js';
import { LeaderElector } from './alerts/leader.js';
import { RulesStore } from './alerts/rules-store.js';
import { RulesError } from './alerts/rules-load.js';
import { alertmanagerFromEnv } from './alerts/alertmanager.js';
import { feedAlertsFromFleet } from './alerts/fleet-feed.js';
import { AlertService } from './alerts/service.js';
import { scheduleRollups } from './history/rollup-scheduler.js';
import { RollupWriter } from './history/rollup-writer.js';
import { HistoryRejects } from './history/rejects.js';
import { LoopLagMonitor } from './loop-lag.js';

/**
 * `system-monitor-aggregator`: the fleet view over Valkey, served as REST,
 * Server-Sent Events, Prometheus text and SiriusScan-compatible routes.
 * Starts without Valkey and recovers when it appears; never exits because
 * Valkey is down.
 */
async function serve(flags: AggregatorFlags): Promise<void> {
  const config = loadAggregatorConfig(flags);
  const valkey = valkeyConfigFromEnv();
  const tokens = config.authTokensFile === null ? null : loadTokens(config.authTokensFile);
  const log = createLogger({ name: 'system-monitor-aggregator', level: config.logLevel });
  const fleet = new Fleet({ valkey, intervalMs: config.intervalMs, retentionMs: config.retentionMs, pollMs: config.pollMs, log, logLevel: config.logLevel, maxSampleBytes: config.maxSampleBytes });
  const sse = new SseHub({ ringSize: 2000, maxBufferedBytes: 1024 * 1024, heartbeatMs: 15_000, retryMs: 2000, maxClients: config.sseMaxClients, maxClientsPerAddress: config.sseMaxClientsPerAddress });
  fleet.subscribe((e) => {
    // A poll's samples before the first sync is done are the initial load, not news for clients.
    if (e.type === 'sample' && (e.origin === 'live' || fleet.ready)) sse.publishJson('sample', e.payload.container_name, e.json);
    else if (e.type === 'status' && e.from !== null) sse.publish('status', e.container, { container: e.container, from: e.from, to: e.to, at: new Date().toISOString() });
  });
  const rules = new RulesStore(config.alertRulesFile, log);
  await rules.load();
  // Its own connection: alert state and the leader lock fail fast instead of queueing while Valkey is away.
  const alertRedis = createValkeyClient(valkey, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 2000,
    retryStrategy: (attempt: number) => Math.round(Math.min(2000, 100 * 2 ** Math.min(attempt, 10)) * (0.5 + Math.random() * 0.5)),
  });
  alertRedis.on('error', () => undefined);
  const elector = new LeaderElector(alertRedis, { id: `${hostname()}-${process.pid}`, log });
  const alerts = new AlertService({ redis: alertRedis, rules: rules.current(), isLeader: () => elector.isLeader(), log, externalUrl: `http://${config.host}:${config.port}`, alertmanager: alertmanagerFromEnv(process.env) });
  const historyRejects = new HistoryRejects(log);
  const rollups = new RollupWriter(alertRedis, { log, rejects: historyRejects });
  alerts.on('transition', (t) => {
    sse.publish('alert', t.container === '' ? null : t.container, t);
  });
  elector.on('change', (leader) => void alerts.onLeadership(leader));
  let alertsStarted = false;
  alertRedis.on('ready', () => {
    alerts.onValkeyUp(true);
    if (alertsStarted) return;
    alertsStarted = true;
    // Restore persisted state before campaigning, so a new leader knows what was already sent.
    void alerts.start().then(
      () => {
        elector.start();
      },
      (err: unknown) => {
        alertsStarted = false;
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not load alert state; retrying on the next connection');
      },
    );
  });
  alertRedis.on('close', () => {
    alerts.onValkeyUp(false);
  });
  const alertFeed = feedAlertsFromFleet(fleet, alerts);
  const rollupRounds = scheduleRollups(fleet, rollups, () => elector.isLeader(), log);
  process.on('SIGHUP', () => {
    void rules.reload().then((r) => {
      if (r.ok) alerts.setRules(rules.current());
    });
  });
  const lag = new LoopLagMonitor();
  const dashboard = Dashboard.open(defaultDashboardLocation(), log);
  const server = createHttpServer({
    fleet, sse, log, tokens, corsOrigins: config.corsOrigins, version: VERSION, alerts, capacityBuffer: config.capacityBuffer,
    intervalSeconds: config.intervalMs / 1000,
    loopLag: () => lag.current(),
    dashboard,
    limits: { ...DEFAULT_HTTP_LIMITS, maxConnections: config.httpMaxConnections, maxConnectionsPerAddress: config.httpMaxConnectionsPerAddress },
    allowedHosts: config.allowedHosts,
    listenHost: config.host,
    historyRejects,
  });
  fleet.start();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : config.port;
  log.info({ url: `http://${config.host}:${port}`, valkey: describeValkey(valkey), auth: tokens !== null }, 'aggregator listening');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, 'stopping');
    sse.close();
    server.close();
    server.closeAllConnections();
    alertFeed.stop();
    rollupRounds.stop();
    lag.stop();
    void elector
      .stop()
      .then(() => alerts.stop())
      .then(() => fleet.stop())
      .finally(() => {
        alertRedis.disconnect();
        process.exit(0);
      });
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', () => {
    stop('SIGTERM');
  });
  process.on('SIGINT', () => {
    stop('SIGINT');
  });
}

/**
 * V8 lets the old generation grow to up to 4× what survived the last full
 * collection before it collects again. The aggregator's garbage is steady
 * (samples replaced every interval), so that headroom is mostly garbage: at
 * 10,000 containers it was ~100 MB of RSS. 1.2× keeps RSS near the live set
 * for more frequent, shorter full collections. Read at each collection, so
 * setting it here (for both threads: V8 flags are per process) takes effect.
 */
const HEAP_GROWING_PERCENT = 20;

export async function main(argv: string[]): Promise<void> {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  const program = new Command('system-monitor-aggregator')
    .description('Fleet view of system-monitor agents: REST, Server-Sent Events, Prometheus and SiriusScan-compatible routes')
    .version(`${VERSION} (node ${process.version})`)
    .addOption(new Option('--port <port>', 'HTTP port [env PORT, default 8080]'))
    .addOption(new Option('--host <addr>', 'listen address [env HOST, default 127.0.0.1; containers set 0.0.0.0]'))
    .addOption(new Option('--interval <seconds>', "the agents' interval, for staleness [env INTERVAL_SECONDS, default 5]"))
    .addOption(new Option('--retention <seconds>', 'prune registry entries not seen for this long [env RETENTION_SECONDS, default 86400]'))
    .addOption(new Option('--auth-tokens-file <file>', 'JSON file of bearer tokens; when set every /api route and /metrics need one [env AUTH_TOKENS_FILE]'))
    .addOption(new Option('--cors-origins <list>', 'comma-separated allowed origins, or * [env CORS_ORIGINS, default CORS off]'))
    .addOption(new Option('--alert-rules <file>', 'alert rules, JSON or YAML; SIGHUP reloads it (a bad file keeps the previous rules) [env ALERT_RULES_FILE, default: built-in rules]'))
    .addOption(new Option('--capacity-buffer <fraction>', 'share of a limit the capacity check keeps free [env CAPACITY_BUFFER, default 0.2]'))
    .addOption(new Option('--max-sample-bytes <bytes>', 'a value read from Valkey larger than this is refused unread [env MAX_SAMPLE_BYTES, default 262144]'))
    .addOption(new Option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent [env LOG_LEVEL, default info]'))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .action(serve);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    if (err instanceof ConfigError || err instanceof RulesError) {
      process.stderr.write(`system-monitor-aggregator: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`system-monitor-aggregator: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
