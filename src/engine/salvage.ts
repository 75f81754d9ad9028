import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { createGunzip, createGzip } from 'node:zlib';

/**
 * A gzip part that breaks partway (truncated upload, damaged object) still holds good lines
 * before the break. `salvageGzipLines` copies the complete lines before the break into a new gzip
 * file, so the engine can read them, and says where the part broke: nothing readable is lost, and
 * the damage is reported with its line number instead of failing the whole read.
 */
export interface Salvaged {
  /** Complete lines copied. */
  lines: number;
  /** Why reading stopped (zlib's message), undefined when the file was whole. */
  error: string | undefined;
}

export async function salvageGzipLines(path: string, outPath: string): Promise<Salvaged> {
  const gunzip = createGunzip();
  const input = createReadStream(path);
  input.on('error', (e) => gunzip.destroy(e));
  input.pipe(gunzip);
  const gzip = createGzip({ level: 1 });
  const output = createWriteStream(outPath);
  gzip.pipe(output);
  let lines = 0;
  let rest: Buffer = Buffer.alloc(0);
  let error: string | undefined;
  try {
    for await (const chunk of gunzip) {
      const buf: Buffer = rest.length > 0 ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
      const cut = buf.lastIndexOf(10);
      if (cut === -1) {
        rest = buf;
        continue;
      }
      const complete = buf.subarray(0, cut + 1);
      for (let i = complete.indexOf(10); i !== -1; i = complete.indexOf(10, i + 1)) lines += 1;
      if (!gzip.write(complete)) await once(gzip, 'drain');
      rest = buf.subarray(cut + 1);
    }
    // A whole file may end without a newline: its last line is complete.
    if (rest.length > 0) {
      gzip.write(Buffer.concat([rest, Buffer.from('\n')]));
      lines += 1;
    }
  } catch (e) {
    error = (e as Error).message;
  } finally {
    input.destroy();
  }
  gzip.end();
  await once(output, 'close');
  return { lines, error };
}

/**
 * Why a gzip file cannot be read to its end, or undefined when it can. DuckDB's reader takes a
 * gzip stream that stops early for a shorter file, so a truncated part would lose its tail
 * silently: every JSON Lines part is checked here before the engine reads it (zlib runs on the
 * libuv thread pool, so several checks proceed at once).
 */
export async function gzipError(path: string): Promise<string | undefined> {
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  const input = createReadStream(path, { highWaterMark: 1024 * 1024 });
  input.on('error', (e) => gunzip.destroy(e));
  input.pipe(gunzip);
  try {
    for await (const _ of gunzip) {
      // only the end matters
    }
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    input.destroy();
  }
}
