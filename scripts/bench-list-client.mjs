// A client of its own for `bench-aggregator.ts`: times GET /api/v1/containers
// every 200 ms for the given seconds and prints the latencies (ms) as JSON.
// A separate process, so the load generator's own work (2,000 payloads a
// second, 100 SSE streams) does not add to the figure.
// Usage: node scripts/bench-list-client.mjs <base-url> <seconds>
const [base, seconds] = process.argv.slice(2);
const until = Date.now() + Number(seconds) * 1000;
const out = [];
while (Date.now() < until) {
  const t0 = performance.now();
  const r = await fetch(`${base}/api/v1/containers`);
  await r.arrayBuffer();
  out.push(performance.now() - t0);
  await new Promise((resolve) => setTimeout(resolve, 200));
}
process.stdout.write(JSON.stringify(out));
