#!/usr/bin/env -S node --initial-old-space-size=64
// The flag: with a JavaScript heap of about 20 MB, V8 kept its old-generation limit near 42 MB and,
// some 16 s into a long compaction, ran four to nine full collections a second; a 64 MB floor stops
// that (docs/benchmarks.md). NODE_OPTIONS refuses it, so it is here, for `npx audience-sync` and
// every run of this file as a program; the image's ENTRYPOINT repeats it (test/deploy checks that).
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
