#!/usr/bin/env node
// `npm run build`, after tsc: replaces dist/src/cli/config-check.js (what `audience-sync config`
// runs) by one ESM bundle of it and everything it imports, zod and yaml included, so that the
// command loads one module instead of some 250 (src/cli/config-check.ts). Usage:
// `node scripts/bundle-config.mjs [outDir]` (default dist), from the repository root.
// dist/src/config/errors.js stays a separate module: main.ts tells a ConfigError (exit code 2) by
// its class, which must be the one the bundle throws.
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { build } from 'esbuild';

const outDir = resolve(process.argv[2] ?? 'dist');
const entry = join(outDir, 'src/cli/config-check.js');
const shared = join(outDir, 'src/config/errors.js');
if (!existsSync(entry) || !existsSync(shared)) {
  process.stderr.write(`bundle-config: no ${entry} or ${shared} (run tsc first)\n`);
  process.exit(2);
}

const keepErrorsOutside = {
  name: 'keep-config-errors-outside',
  setup(b) {
    b.onResolve({ filter: /errors\.js$/ }, (args) => {
      if (resolve(args.resolveDir, args.path) !== shared) return undefined;
      return { path: `./${relative(dirname(entry), shared)}`, external: true };
    });
  },
};

const result = await build({
  entryPoints: [entry],
  outfile: entry,
  allowOverwrite: true,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // yaml is CommonJS and requires Node's built-ins: the bundle gives it a require of its own.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);",
  },
  legalComments: 'eof',
  plugins: [keepErrorsOutside],
  // zod and yaml from the repository's node_modules, also when outDir lies elsewhere.
  nodePaths: [resolve('node_modules')],
  logLevel: 'warning',
  metafile: true,
});
const inputs = Object.keys(result.metafile.inputs);
const external = result.metafile.outputs[Object.keys(result.metafile.outputs)[0]].imports.filter(
  (i) => i.external,
);
process.stdout.write(
  `bundle-config: ${relative(process.cwd(), entry)} bundles ${inputs.length} modules; outside it: ${external.map((i) => i.path).join(', ')}\n`,
);
