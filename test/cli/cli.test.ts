import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

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

  it('exits 2 on an unknown command', async () => {
    const { code } = await cli(['frobnicate']);
    expect(code).toBe(2);
  });
});
