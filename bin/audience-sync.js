#!/usr/bin/env node
// Runs the TypeScript sources through tsx in a checkout, and the compiled `dist/` in the image
// (which ships no sources and no dev dependencies).
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(new URL('../dist/src/cli/main.js', import.meta.url).href);
}
