import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Plugin } from 'esbuild';

/** One dashboard file as served: its URL path and bytes. */
export interface WebFile {
  path: string;
  body: Buffer;
}

/**
 * zod re-exports every locale (`z.locales`), about 250 KiB the page never
 * uses; its messages are English by default. The bundle gets English only.
 */
function englishOnlyZod(resolveDir: string): Plugin {
  return {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => (/[\\/]zod[\\/]/.test(args.importer) ? { path: 'zod-locales', namespace: 'zod-en' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'zod-en' }, () => ({ contents: 'export { default as en } from "zod/v4/locales/en.js";', resolveDir, loader: 'js' }));
    },
  };
}

/**
 * Bundles the dashboard (web/src/main.ts + web/style.css, uPlot included)
 * with esbuild into content-hashed assets and fills web/index.html with
 * their names. Used by `npm run build` (written to dist/web) and by an
 * aggregator run from source (kept in memory). esbuild is loaded only here,
 * so the bundled aggregator never needs it.
 */
export async function buildWebAssets(webDir: string): Promise<WebFile[]> {
  const { build } = await import('esbuild');
  const outdir = join(webDir, '.out', 'assets');
  const r = await build({
    entryPoints: { app: join(webDir, 'src/main.ts'), style: join(webDir, 'style.css') },
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['chrome110', 'firefox115', 'safari16'],
    platform: 'browser',
    entryNames: '[name]-[hash]',
    outdir,
    write: false,
    metafile: true,
    legalComments: 'none',
    logLevel: 'silent',
    plugins: [englishOnlyZod(join(webDir, '..'))],
  });
  const files: WebFile[] = [];
  let js: string | null = null;
  let css: string | null = null;
  for (const f of r.outputFiles) {
    const path = `/assets/${relative(outdir, f.path)}`;
    if (path.endsWith('.js')) js = path;
    else if (path.endsWith('.css')) css = path;
    else continue;
    files.push({ path, body: Buffer.from(f.contents) });
  }
  if (js === null || css === null) throw new Error('dashboard build produced no script or no stylesheet');
  const html = readFileSync(join(webDir, 'index.html'), 'utf8');
  if (!html.includes('%APP_JS%') || !html.includes('%APP_CSS%')) throw new Error(`${join(webDir, 'index.html')} must contain %APP_JS% and %APP_CSS%`);
  files.push({ path: '/index.html', body: Buffer.from(html.replace('%APP_JS%', js).replace('%APP_CSS%', css)) });
  return files;
}
