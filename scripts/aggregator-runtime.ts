/**
 * How every launcher we ship starts the aggregator's Node runtime: the image
 * (Dockerfile.aggregator's ENV and CMD, checked against this by
 * packaging.test.ts), `npm start` and `npm run bench:aggregator`.
 *
 * - `--max-semi-space-size=4`: the main thread's young generation at two 4 MB
 *   semi-spaces. V8 grows it up to 2 × 16 MB on Node 20 and 2 × 32 MB on
 *   Node 26 under the aggregator's allocation rate (~2,000 samples a second at
 *   10,000 containers), memory that only ever holds garbage between
 *   scavenges. At 10,000 containers: RSS 198–205 → 180–186 MB on Node 20,
 *   259–270 → 206–229 MB on Node 26, list and SSE latency unchanged
 *   (BENCHMARKS.md). It cannot be set from inside: V8 sizes the heap before
 *   any JavaScript runs.
 * - `MALLOC_ARENA_MAX=2`: one glibc malloc arena per thread (main and
 *   ingest) instead of up to 8 per core; ~20 MB less RSS.
 */
export const AGGREGATOR_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
export const AGGREGATOR_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
