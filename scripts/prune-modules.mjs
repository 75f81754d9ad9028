#!/usr/bin/env node
// The production install's last step (Dockerfile deps stage, bench/footprint.ts and
// test/deploy/runtime-image.test.ts run it after `npm ci --omit=dev`): delete from node_modules
// what Node never loads. Usage: `node scripts/prune-modules.mjs [node_modules]`; prints what it
// removed. It removes
//  - TypeScript files (`.d.ts`, `.ts`, `.mts`, `.cts` and their declaration forms): Node 20 loads
//    none of them;
//  - source maps (`.map`): Node reads them only with --enable-source-maps, which the image does not
//    set (stack traces then point into the dependencies' compiled files, as they do without them);
//  - Markdown files, and each package's own test, example and benchmark folders (top level only);
//  - the builds in PRUNED_BUILDS below, which no entry point of their package leads to.
// Licence and notice files stay. Before deleting anything it checks, for every JavaScript file and every
// package.json that stays, that no `require`/`import` specifier, `main` or `exports` target (any
// condition but types and browser ones) resolves to a file it would delete; if one does, it deletes
// nothing and exits 1 naming them. Dynamic paths (a `require` of a computed string, a file read
// with fs) are beyond that check: the runtime-image test runs the pruned install.
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';

/**
 * Per package, folders (or files) no entry point leads to. Each is checked as above; a version
 * change that makes one reachable stops the prune instead of breaking the image.
 */
const PRUNED_BUILDS = {
  // redis-info (the queue dashboard's Redis panel) is lodash's only dependant and requires the
  // package itself, `lodash.js`; the 630 per-function modules, fp/ and the minified copies stay unused.
  lodash: { keep: ['lodash.js', 'package.json', 'LICENSE'] },
  // Node loads build/node (require) or build/es6 (import); the AMD, browser and global builds and
  // the sources are for other platforms.
  luxon: { remove: ['build/amd', 'build/cjs-browser', 'build/global', 'src'] },
  // Browser bundles (UMD) and the ES sources the builds are made from.
  'libphonenumber-js': { remove: ['bundle', 'source'] },
};

/** Folders of browser assets that a package serves over HTTP: Node never loads their scripts. */
const BROWSER_ASSETS = ['@fastify/swagger-ui/static', '@bull-board/ui/dist/static'];

const TYPESCRIPT = /\.(?:d\.)?[mc]?ts$/;
/** Licence and notice files stay whatever their extension (LICENSE.md). */
const LICENCE = /^(?:licen[cs]e|copying|notice)/i;
const DROPPED_FILE = (path) => {
  const name = path.slice(path.lastIndexOf(sep) + 1);
  if (LICENCE.test(name)) return false;
  return TYPESCRIPT.test(name) || name.endsWith('.map') || /\.(?:md|markdown)$/i.test(name);
};
const DROPPED_DIRS = new Set([
  'test',
  'tests',
  '__tests__',
  'example',
  'examples',
  'benchmark',
  'benchmarks',
  '.github',
]);
/** `exports` conditions Node never takes. */
const SKIPPED_CONDITIONS = new Set([
  'types',
  'typings',
  'browser',
  'react-native',
  'deno',
  'bun',
  'worker',
  'workerd',
  'edge-light',
]);
const JS = /\.(?:js|cjs|mjs)$/;

const root = process.argv[2] ?? 'node_modules';
if (!existsSync(root)) {
  process.stderr.write(`prune-modules: no ${root}\n`);
  process.exit(2);
}

/** Every file under dir, as absolute-ish paths joined from dir. */
function walk(dir, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, out);
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** Package folders: every folder holding a package.json directly below a node_modules folder. */
function packageDirs(nodeModules, out = []) {
  if (!existsSync(nodeModules)) return out;
  for (const entry of readdirSync(nodeModules, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const dirs = entry.name.startsWith('@')
      ? readdirSync(join(nodeModules, entry.name), { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => join(nodeModules, entry.name, e.name))
      : [join(nodeModules, entry.name)];
    for (const dir of dirs) {
      if (!existsSync(join(dir, 'package.json'))) continue;
      out.push(dir);
      packageDirs(join(dir, 'node_modules'), out);
    }
  }
  return out;
}

const packages = packageDirs(root);
const packageName = (dir) =>
  relative(root, dir).split(`${sep}node_modules${sep}`).at(-1).split(sep).join('/');

// 1. What would go.
const removed = new Set();
for (const dir of packages) {
  const name = packageName(dir);
  const rule = PRUNED_BUILDS[name];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    const top =
      (entry.isDirectory() && DROPPED_DIRS.has(entry.name)) ||
      rule?.remove?.includes(entry.name) ||
      (rule?.keep && !rule.keep.includes(entry.name));
    if (top) {
      for (const file of entry.isDirectory() ? walk(path) : [path]) removed.add(file);
    }
  }
  for (const sub of rule?.remove ?? []) {
    if (sub.includes('/') && existsSync(join(dir, sub)))
      for (const file of walk(join(dir, sub))) removed.add(file);
  }
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop();
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) {
        if (!(d === dir && entry.name === 'node_modules')) stack.push(path);
      } else if (entry.isFile() && DROPPED_FILE(entry.name)) removed.add(path);
    }
  }
}

// 2. Does anything that stays lead to it?
function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Every target of an `exports` value, under every condition Node may take. */
function exportTargets(value, out = []) {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) exportTargets(v, out);
  else if (value && typeof value === 'object')
    for (const [key, v] of Object.entries(value)) if (!SKIPPED_CONDITIONS.has(key)) exportTargets(v, out);
  return out;
}

/** The files a path may name for Node (as given, with an extension, a folder's index or main). */
function candidates(path) {
  const out = [path, `${path}.js`, `${path}.cjs`, `${path}.mjs`, `${path}.json`, `${path}.node`];
  out.push(join(path, 'index.js'), join(path, 'index.cjs'), join(path, 'index.json'));
  const pkg = readJson(join(path, 'package.json'));
  if (typeof pkg?.main === 'string')
    out.push(...candidates(join(path, pkg.main)).slice(0, 6), join(path, pkg.main, 'index.js'));
  return out;
}

/** Files of a package that `pkg` or `pkg/sub` may load. */
function packageTargets(dir, subpath) {
  const pkg = readJson(join(dir, 'package.json')) ?? {};
  if (pkg.exports !== undefined) {
    const exp = pkg.exports;
    const map =
      typeof exp === 'string' || Array.isArray(exp) || !Object.keys(exp).some((k) => k.startsWith('.'))
        ? { '.': exp }
        : exp;
    const key = subpath ? `./${subpath}` : '.';
    const out = [];
    for (const [pattern, value] of Object.entries(map)) {
      if (pattern === key) out.push(...exportTargets(value).map((t) => join(dir, t)));
      else if (pattern.includes('*')) {
        const [pre, post] = pattern.split('*');
        if (key.startsWith(pre) && key.endsWith(post ?? '')) {
          const star = key.slice(pre.length, key.length - (post ?? '').length);
          out.push(...exportTargets(value).map((t) => join(dir, t.replaceAll('*', star))));
        }
      }
    }
    return out;
  }
  if (subpath) return candidates(join(dir, subpath));
  return typeof pkg.main === 'string' ? candidates(join(dir, pkg.main)) : candidates(join(dir, 'index'));
}

function findPackage(fromDir, name) {
  for (let d = fromDir; ; d = dirname(d)) {
    const dir = join(d, 'node_modules', name);
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(d) === d) return undefined;
  }
}

const SPECIFIERS = [
  /\brequire\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g,
  /\bimport\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g,
  /\b(?:import|export)\s[^;'"]*?\bfrom\s*['"]([^'"\n]+)['"]/g,
  /\bimport\s*['"]([^'"\n]+)['"]/g,
];

const problems = [];
function check(from, targets) {
  // A TypeScript or Markdown target (zod's `@zod/source` condition, a JSDoc `@import` of a
  // .d.ts) is nothing Node loads.
  for (const target of targets)
    if (removed.has(target) && !DROPPED_FILE(target)) problems.push(`${from} -> ${target}`);
}
const browserAssets = BROWSER_ASSETS.map((p) => join(root, p) + sep);

for (const dir of packages) {
  const pkg = readJson(join(dir, 'package.json')) ?? {};
  if (typeof pkg.main === 'string') check(join(dir, 'package.json'), candidates(join(dir, pkg.main)));
  if (pkg.exports !== undefined)
    check(
      join(dir, 'package.json'),
      exportTargets(pkg.exports).map((t) => join(dir, t)),
    );
  if (typeof pkg.bin === 'string') check(join(dir, 'package.json'), [join(dir, pkg.bin)]);
}
for (const file of walk(root)) {
  if (removed.has(file) || !JS.test(file) || browserAssets.some((p) => file.startsWith(p))) continue;
  const text = readFileSync(file, 'utf8');
  for (const re of SPECIFIERS) {
    for (const m of text.matchAll(re)) {
      const spec = m[1];
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('./') || spec.startsWith('../') || spec === '.' || spec === '..') {
        check(file, candidates(join(dirname(file), spec)));
        continue;
      }
      if (spec.startsWith('/') || spec.includes(':')) continue;
      const parts = spec.split('/');
      const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
      const subpath = parts.slice(spec.startsWith('@') ? 2 : 1).join('/');
      const dir = findPackage(dirname(file), name);
      if (dir) check(file, packageTargets(dir, subpath));
    }
  }
}

if (problems.length) {
  process.stderr.write(`prune-modules: would delete files that stay reachable, deleted nothing:\n`);
  for (const p of problems.slice(0, 50)) process.stderr.write(`  ${p}\n`);
  process.exit(1);
}

// 3. Delete, then the folders that this left empty.
let bytes = 0;
const emptied = new Set();
for (const file of removed) {
  bytes += statSync(file).size;
  rmSync(file);
  emptied.add(dirname(file));
}
for (const start of [...emptied].sort((a, b) => b.length - a.length)) {
  for (
    let d = start;
    d !== root && d.startsWith(root) && existsSync(d) && readdirSync(d).length === 0;
    d = dirname(d)
  )
    rmSync(d, { recursive: true });
}
process.stdout.write(
  `prune-modules: removed ${removed.size} files (${(bytes / 1024 / 1024).toFixed(1)} MiB apparent) from ${packages.length} packages\n`,
);
