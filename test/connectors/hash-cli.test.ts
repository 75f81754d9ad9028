import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = new URL('../../bin/audience-sync.js', import.meta.url).pathname;

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, 'hash', ...args], {
      env: { ...process.env, LOG_LEVEL: 'silent' },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('audience-sync hash', () => {
  it('prints the normalized value and the hash', async () => {
    const r = await cli('--platform', 'google', '--field', 'phone', '(800) 555-0100');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('normalized: +18005550100');
    expect(r.stdout).toContain(
      'sha256:     fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30',
    );
  });

  it('prints JSON with the platform key names', async () => {
    const r = await cli('--platform', 'meta', '--field', 'region', 'California', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      platform: 'meta',
      field: 'region',
      prehashed: false,
      keys: [
        {
          key: 'ST',
          identifier: 'region',
          normalized: 'ca',
          value: '6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126',
          hashed: true,
        },
      ],
    });
  });

  it('exits non-zero with a clear message for an unusable value, without echoing it', async () => {
    const r = await cli('--platform', 'tiktok', '--field', 'email', 'jane.doe-at-example.com');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'error: the email value is not usable for tiktok: expected an address like name@example.com',
    );
    expect(r.stderr).not.toContain('jane.doe-at-example.com');
    const unsupported = await cli('--platform', 'google', '--field', 'city', 'Paris');
    expect(unsupported.code).toBe(2);
    expect(unsupported.stderr).toContain('google does not match on city');
  });
});
