#!/usr/bin/env node
// `npm run build`, after tsc: the files dist/ needs besides the compiled code. Usage:
// `node scripts/build-assets.mjs [outDir]` (default dist), from the repository root.
//  - the console's own assets (src/console/assets), which it reads next to its module;
//  - Chart.js's browser build (UMD, minified, with its licence banner), which the lift report
//    inlines and the console serves. Chart.js runs only in the browser: it is a dev dependency,
//    and the production install does not carry the 6 MiB package for this one 0.2 MiB file.
import { cpSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const outDir = process.argv[2] ?? 'dist';
cpSync('src/console/assets', join(outDir, 'src/console/assets'), { recursive: true });
// The package's `exports` hide dist/: the file sits next to the entry point it does export.
const chartJs = join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');
mkdirSync(join(outDir, 'src/measure/assets'), { recursive: true });
cpSync(chartJs, join(outDir, 'src/measure/assets/chart.umd.min.js'));
