import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

/** scripts/prune-modules.mjs on a made-up node_modules (the real install: runtime-image.test.ts). */

const execFileAsync = promisify(execFile);
const script = new URL('../../scripts/prune-modules.mjs', import.meta.url).pathname;
let dir: string;

function tree(files: Record<string, string>): string {
  dir = mkdtempSync(join(tmpdir(), 'prune-modules-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return join(dir, 'node_modules');
}

async function prune(nodeModules: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [script, nodeModules]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('prune-modules', () => {
  it('removes declarations, TypeScript, source maps, Markdown and test folders, keeping code and licences', async () => {
    const nm = tree({
      'node_modules/a/package.json': JSON.stringify({
        main: 'lib/index.js',
        exports: { '.': { types: './types/index.d.ts', require: './lib/index.js' } },
      }),
      'node_modules/a/lib/index.js': "module.exports = require('./util');",
      'node_modules/a/lib/util.js': 'module.exports = 1;',
      'node_modules/a/lib/util.js.map': '{}',
      'node_modules/a/types/index.d.ts': 'export {};',
      'node_modules/a/src/index.ts': 'export {};',
      'node_modules/a/README.md': '# a',
      'node_modules/a/LICENSE.md': 'MIT',
      'node_modules/a/test/a.test.js': "require('../lib/index.js');",
      'node_modules/@s/b/package.json': JSON.stringify({ type: 'module', exports: './index.js' }),
      'node_modules/@s/b/index.js': "import a from 'a'; export default a;",
      'node_modules/@s/b/index.d.mts': 'export {};',
      'node_modules/@s/b/node_modules/c/package.json': JSON.stringify({ main: 'c.js' }),
      'node_modules/@s/b/node_modules/c/c.js': '',
      'node_modules/@s/b/node_modules/c/c.d.cts': '',
    });
    const r = await prune(nm);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^prune-modules: removed 7 files \(0\.0 MiB apparent\) from 3 packages\n$/);
    for (const kept of [
      'a/package.json',
      'a/lib/index.js',
      'a/lib/util.js',
      'a/LICENSE.md',
      '@s/b/index.js',
      '@s/b/node_modules/c/c.js',
    ])
      expect(existsSync(join(nm, kept)), kept).toBe(true);
    for (const gone of [
      'a/lib/util.js.map',
      'a/types',
      'a/src',
      'a/README.md',
      'a/test',
      '@s/b/index.d.mts',
      '@s/b/node_modules/c/c.d.cts',
    ])
      expect(existsSync(join(nm, gone)), gone).toBe(false);
  });

  it('deletes nothing and exits 1 when a file that stays requires one it would delete', async () => {
    const nm = tree({
      'node_modules/a/package.json': JSON.stringify({ main: 'index.js' }),
      'node_modules/a/index.js': "module.exports = require('./test/fixture');",
      'node_modules/a/test/fixture.js': 'module.exports = 1;',
      'node_modules/a/index.d.ts': 'export {};',
      'node_modules/lodash/package.json': JSON.stringify({ main: 'lodash.js' }),
      'node_modules/lodash/lodash.js': '',
      'node_modules/lodash/merge.js': '',
      'node_modules/b/package.json': JSON.stringify({ main: 'index.js' }),
      'node_modules/b/index.js': "const merge = require('lodash/merge');",
    });
    const r = await prune(nm);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('deleted nothing');
    expect(r.stderr).toContain(`${join(nm, 'a/index.js')} -> ${join(nm, 'a/test/fixture.js')}`);
    expect(r.stderr).toContain(`${join(nm, 'b/index.js')} -> ${join(nm, 'lodash/merge.js')}`);
    expect(existsSync(join(nm, 'a/index.d.ts'))).toBe(true);
    expect(existsSync(join(nm, 'lodash/merge.js'))).toBe(true);
  });
});
