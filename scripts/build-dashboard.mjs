// Bundles the dashboard's browser code (src/dashboard/client) into dist/dashboard/,
// which the supervisor serves: one script and one stylesheet, nothing from a CDN.
import { copyFile, mkdir } from 'node:fs/promises';
import { build } from 'esbuild';

await mkdir('dist/dashboard', { recursive: true });
await build({
  entryPoints: ['src/dashboard/client/main.ts'],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  outfile: 'dist/dashboard/app.js',
  logLevel: 'warning',
});
await copyFile('src/dashboard/client/app.css', 'dist/dashboard/app.css');
