import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { PartScan } from './scan-part.js';
import type { ScanRequest, ScanWorkerInit } from './scan-worker.js';

/**
 * Worker threads that scan raw parts (scan-worker.ts). Parts go to the least busy thread; results
 * come back as promises, in whatever order threads finish (the coordinator applies them in key
 * order).
 */

interface Pending {
  resolve: (scan: PartScan) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

type Reply = { seq: number; scan: PartScan } | { seq: number; error: string };

export class ScanPool {
  private readonly slots: Slot[];
  private seq = 0;
  private failure: Error | undefined;

  constructor(threads: number, init: ScanWorkerInit) {
    this.slots = Array.from({ length: threads }, () => this.startSlot(init));
  }

  get threads(): number {
    return this.slots.length;
  }

  /** Scans one part (compressed bytes) of dataset number `dataset` of the init spec. */
  scan(dataset: number, bytes: Uint8Array): Promise<PartScan> {
    if (this.failure) return Promise.reject(this.failure);
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.pending.size < slot.pending.size) slot = s;
    const seq = this.seq++;
    const request: ScanRequest = { seq, dataset, bytes };
    // Hand the bytes over without a copy when they own their memory (not a slice of a shared pool).
    const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    return new Promise<PartScan>((resolve, reject) => {
      slot.pending.set(seq, { resolve, reject });
      slot.worker.postMessage(request, owned ? [bytes.buffer as ArrayBuffer] : []);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private startSlot(init: ScanWorkerInit): Slot {
    const worker = startScanWorker(init);
    const slot: Slot = { worker, pending: new Map() };
    worker.on('message', (reply: Reply) => {
      const pending = slot.pending.get(reply.seq);
      if (!pending) return;
      slot.pending.delete(reply.seq);
      if ('error' in reply) pending.reject(new Error(`scan worker: ${reply.error}`));
      else pending.resolve(reply.scan);
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      for (const p of slot.pending.values()) p.reject(error);
      slot.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`scan worker exited with code ${code}`)));
    return slot;
  }
}

/**
 * Compiled (`dist/`) the worker is a plain module. Run from the TypeScript sources (tsx in a
 * checkout, vitest) the new thread has no TypeScript loader of its own: it registers tsx first.
 */
const YOUNG_GENERATION_MB = 64;

function startScanWorker(init: ScanWorkerInit): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(fromSource ? './scan-worker.ts' : './scan-worker.js', import.meta.url);
  // Scanning makes a lot of short-lived garbage (text slices, parsed lines) and keeps little: a
  // larger young generation means fewer scavenges.
  const limits = { resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } };
  if (!fromSource) return new Worker(entry, { workerData: init, ...limits });
  const tsx = tsxEsmApi();
  const bootstrap = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: init, ...limits });
}

/** The ESM build of `tsx/esm/api` (its CommonJS build cannot load the ESM loader from a worker). */
function tsxEsmApi(): string {
  const manifest = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as {
    exports: Record<string, { import: { default: string } }>;
  };
  return pathToFileURL(join(dirname(manifest), pkg.exports['./esm/api']!.import.default)).href;
}
