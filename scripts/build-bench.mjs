#!/usr/bin/env node
// Bundles scripts/bench.ts with esbuild the way the agent ships (one JS file,
// no tsx loader hooks or source-map stack rewriting), so the benchmark
// measures the code users run. Dependencies stay external (node_modules).
import { build } from 'esbuild';

await build({
  entryPoints: ['scripts/bench.ts'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  outfile: '.bench/bench.mjs',
  logLevel: 'warning',
});
