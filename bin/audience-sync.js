#!/usr/bin/env node
// Runs the TypeScript sources through tsx in a checkout with its dev dependencies, and the compiled
// `dist/` otherwise: in the image (no sources, no dev dependencies) and in any production install.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
const compiled = new URL('../dist/src/cli/main.js', import.meta.url);

let tsx;
if (existsSync(source)) {
  try {
    tsx = await import('tsx/esm/api');
  } catch (error) {
    // tsx is a dev dependency: without it, the sources cannot run and dist/ does.
    if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
  }
}
if (tsx) {
  tsx.register();
  await import(source.href);
} else if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  process.stderr.write('audience-sync: no dist/ to run (npm run build), and no tsx to run the sources\n');
  process.exitCode = 1;
}
