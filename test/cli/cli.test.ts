import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { COMMAND_MODULES, programFor } from '../../src/cli/root.js';

const run = promisify(execFile);
const BIN = new URL('../../bin/audience-sync.js', import.meta.url).pathname;

async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('audience-sync CLI', () => {
  it('lists the commands of docs/cli.md in --help', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    for (const name of [
      'serve',
      'worker',
      'refresh',
      'export',
      'import-customerio',
      'build',
      'plan',
      'sync',
      'lift',
      'check',
      'hash',
      'generate',
      'demo',
    ]) {
      expect(stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    }
  });

  it('exits 2 with one line for a malformed environment variable', async () => {
    const { code, stderr } = await cli(['config'], { PORT: 'eighty' });
    expect(code).toBe(2);
    expect(stderr.trim()).toMatch(/^error: environment variable PORT /);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });

  it('validates a configuration file and reports destinations needing secrets', async () => {
    const fixture = new URL('../../fixtures/config/destinations.yaml', import.meta.url).pathname;
    const { code, stdout } = await cli(['config', '--json'], { CONFIG: fixture, META_ACCESS_TOKEN: 'x' });
    expect(code).toBe(0);
    const summary = JSON.parse(stdout);
    expect(summary.destinations.meta).toEqual({ type: 'meta', missing_variables: [] });
    expect(summary.destinations.google.missing_variables).toEqual(['GOOGLE_ADS_DEVELOPER_TOKEN']);
  });

  it('registers each command alone exactly as the whole program does (main.ts loads only the one named)', async () => {
    const shape = (c: Command) => ({
      name: c.name(),
      description: c.description(),
      usage: c.usage(),
      options: c.options.map((o) => [o.flags, o.description, o.defaultValue]),
    });
    const all = buildProgram().commands as Command[];
    expect(Object.keys(COMMAND_MODULES).sort()).toEqual(all.map((c) => c.name()).sort());
    for (const command of all) {
      const alone = (await programFor(command.name()))!;
      expect(alone.commands.map(shape)).toEqual([shape(command)]);
    }
    expect(await programFor('--help')).toBeUndefined();
    expect(await programFor('constructor')).toBeUndefined();
    expect(await programFor(undefined)).toBeUndefined();
  });

  it('exits 2 on an unknown command', async () => {
    const { code } = await cli(['frobnicate']);
    expect(code).toBe(2);
  });
});
