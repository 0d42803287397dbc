// `npm run bench [agentTicks] [siRounds]`: every benchmark the issues ask
// for, one after another (they would disturb each other's timings on a small
// machine if run together): the dashboard, the agent against
// systeminformation, the aggregator with 10,000 simulated containers, the
// history route and the history's Valkey memory, and the release (built
// first), on the host and in a musl container. Each prints its own figures and peers; this
// exits non-zero if any of them fails to run. Each can also be run alone:
// bench:dashboard, bench:agent, bench:host, bench:aggregator, bench:history, bench:binary, bench:docker.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const [agentTicks = '20', siRounds = '10'] = process.argv.slice(2);
const tsx = join(repo, 'node_modules/.bin/tsx');
const steps = [
  ['dashboard', tsx, ['scripts/bench-dashboard.ts']],
  ['release build', process.execPath, ['scripts/build.mjs']],
  ['agent bundle build', process.execPath, ['scripts/build-bench.mjs']],
  ['agent tick in a cgroup of 1, 20 and 200 processes vs systeminformation', process.execPath, ['.bench/bench.mjs', agentTicks, siRounds]],
  ['host agent for 10 and 100 containers beside one sidecar', tsx, ['scripts/bench-host.ts', '10', '--sizes', '10,100']],
  ['aggregator, 10,000 containers', tsx, ['scripts/bench-aggregator.ts', '10000', '40']],
  ['history route, every range of one container vs a plain server of the same bytes', tsx, ['scripts/bench-history.ts', '200']],
  ['history memory per container (7 days)', tsx, ['scripts/history-cost.ts', '7']],
  ['release (single binary)', tsx, ['scripts/bench-binary.ts']],
  ['release in a musl container (Docker engine)', tsx, ['scripts/bench-docker.ts']],
];
const failed = [];
for (const [name, cmd, args] of steps) {
  process.stdout.write(`\n== ${name}: ${[cmd === process.execPath ? 'node' : 'tsx', ...args].join(' ')}\n`);
  const r = spawnSync(cmd, args, { cwd: repo, stdio: 'inherit' });
  if (r.status !== 0) failed.push(`${name} (exit ${r.status ?? r.signal})`);
}
if (failed.length > 0) {
  process.stderr.write(`\nbenchmarks that failed: ${failed.join(', ')}\n`);
  process.exit(1);
}
