import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * A machine crash loses what the page cache held: a `put` of the local store must have flushed the
 * object's data before its name appears, and the new name (and any directory it created) before it
 * returns — compaction deletes sources once a manifest is written. Checked on the system calls
 * themselves (strace), in order: the data is fsynced before the rename, and every directory that
 * gained an entry is fsynced after it. `.ci/run` installs strace; without it this test is skipped.
 */
const STRACE = spawnSync('strace', ['-V']).status === 0;
const CHILD = new URL('./fs-put-child.ts', import.meta.url).pathname;

interface Call {
  name: string;
  args: string;
  ret: string;
}

/** The completed calls of an `strace -f` log, with the halves of calls another thread interrupted joined. */
function calls(trace: string): Call[] {
  const out: Call[] = [];
  const pending = new Map<string, string>();
  for (const line of trace.split('\n')) {
    const pid = /^(\d+)\s+/.exec(line)?.[1];
    if (!pid) continue;
    let text = line.slice(line.indexOf(' ')).trim();
    const unfinished = text.indexOf(' <unfinished ...>');
    if (unfinished >= 0) {
      pending.set(pid, text.slice(0, unfinished));
      continue;
    }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(text);
    if (resumed) {
      text = `${pending.get(pid) ?? ''}${resumed[1]}`;
      pending.delete(pid);
    }
    const m = /^(\w+)\((.*)\)\s+=\s+(-?\d+)/.exec(text);
    if (m) out.push({ name: m[1]!, args: m[2]!, ret: m[3]! });
  }
  return out;
}

describe.skipIf(!STRACE)('local object store durability (strace)', () => {
  let root: string;
  let events: { kind: 'fsync' | 'rename'; path: string; to?: string }[];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'audience-sync-durable-'));
    const trace = join(root, '..', `${root.split('/').pop()}.strace`);
    const run = spawnSync(
      'strace',
      [
        '-f',
        '-qq',
        '-e',
        'trace=openat,fsync,fdatasync,rename,renameat,renameat2',
        '-o',
        trace,
        process.execPath,
        '--import',
        'tsx',
        CHILD,
        root,
      ],
      { encoding: 'utf8' },
    );
    expect(run.status, run.stderr).toBe(0);
    // Which path each descriptor was opened on, at the time of each fsync (descriptors are reused).
    const open = new Map<string, string>();
    events = [];
    for (const c of calls(await readFile(trace, 'utf8'))) {
      const paths = [...c.args.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
      if (c.name === 'openat' && Number(c.ret) >= 0) open.set(c.ret, paths[0]!);
      else if ((c.name === 'fsync' || c.name === 'fdatasync') && c.ret === '0')
        events.push({ kind: 'fsync', path: open.get(c.args.trim()) ?? `fd ${c.args}` });
      else if (c.name.startsWith('rename') && c.ret === '0')
        events.push({ kind: 'rename', path: paths[0]!, to: paths[1]! });
    }
    await rm(trace, { force: true });
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  for (const [what, key] of [
    ['a streamed object', 'raw/events/dt=2026-11-27/part-1.jsonl.gz'],
    ['a buffer', 'raw/events/dt=2026-11-27/_compacted.json'],
  ] as const) {
    it(`${what}: its data is fsynced before the rename, its directory after`, () => {
      const final = join(root, key);
      const renamed = events.findIndex((e) => e.kind === 'rename' && e.to === final);
      expect(renamed, JSON.stringify(events)).toBeGreaterThanOrEqual(0);
      const tmp = events[renamed]!.path;
      expect(tmp).toContain('.tmp-');
      const before = events.slice(0, renamed);
      expect(before.some((e) => e.kind === 'fsync' && e.path === tmp)).toBe(true);
      const after = events.slice(renamed + 1);
      expect(after.some((e) => e.kind === 'fsync' && e.path === join(root, 'raw/events/dt=2026-11-27'))).toBe(
        true,
      );
    });
  }

  it('every directory the first put created is fsynced, up to the root that gained its entry', () => {
    const renamed = events.findIndex((e) => e.kind === 'rename' && e.to?.endsWith('part-1.jsonl.gz'));
    const synced = events
      .slice(renamed + 1)
      .filter((e) => e.kind === 'fsync')
      .map((e) => e.path);
    for (const dir of ['raw/events/dt=2026-11-27', 'raw/events', 'raw', ''])
      expect(synced).toContain(dir ? join(root, dir) : root);
  });
});
