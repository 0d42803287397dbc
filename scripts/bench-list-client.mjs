// A client of its own for `bench-aggregator.ts`: times GET /api/v1/containers
// every 200 ms for the given seconds and prints the latencies (ms) as JSON.
// A separate process, so the load generator's own work (2,000 payloads a
// second, 100 SSE streams) does not add to the figure.
//
// Timed with node:http, request sent to last body byte received, the bytes
// counted and dropped (as curl -o /dev/null does). Node's fetch took 2-3x
// longer on the same responses (p50 31-47 ms against 11-14 ms for curl and
// 16-20 ms for node:http, 2.6 MB at 10,000 containers, idle aggregator): its
// body assembly is the client's cost, not the server's.
// Usage: node scripts/bench-list-client.mjs <base-url> <seconds>
import { get } from 'node:http';

const [base, seconds] = process.argv.slice(2);
const until = Date.now() + Number(seconds) * 1000;

function timedGet(url) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    get(url, (res) => {
      let bytes = 0;
      res.on('data', (chunk) => {
        bytes += chunk.length;
      });
      res.on('end', () => {
        if (res.statusCode !== 200 || bytes === 0) reject(new Error(`GET ${url}: status ${res.statusCode}, ${bytes} bytes`));
        else resolve(performance.now() - t0);
      });
      res.on('error', reject);
    }).on('error', reject);
  });
}

const out = [];
while (Date.now() < until) {
  out.push(await timedGet(`${base}/api/v1/containers`));
  await new Promise((resolve) => setTimeout(resolve, 200));
}
process.stdout.write(JSON.stringify(out));
