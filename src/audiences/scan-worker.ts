import { parentPort, workerData } from 'node:worker_threads';
import { PersonIndex, type PersonIndexData } from '../people/person-index.js';
import { type DatasetSpec, PartScanner, transferables } from './scan-part.js';

/**
 * A scan worker thread: scans the parts the coordinator sends (compressed bytes in, part results
 * out). It holds no person state, so its heap stays small and the garbage of decompressed text is
 * cheap to collect here.
 */

export interface ScanWorkerInit {
  datasets: DatasetSpec[];
  /** Shared memory: the threads read the coordinator's person index without copying it. */
  people: PersonIndexData;
  maxReported: number;
}

export interface ScanRequest {
  seq: number;
  dataset: number;
  bytes: Uint8Array;
}

const init = workerData as ScanWorkerInit;
const people = PersonIndex.attach(init.people);
const scanners = init.datasets.map((d) => new PartScanner(d, people, init.maxReported));
const port = parentPort!;

port.on('message', async (request: ScanRequest) => {
  try {
    const scan = await scanners[request.dataset]!.scanCompressed(request.bytes);
    port.postMessage({ seq: request.seq, scan }, transferables(scan));
  } catch (error) {
    port.postMessage({ seq: request.seq, error: (error as Error).message });
  }
});
