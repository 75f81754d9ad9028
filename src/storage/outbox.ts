import { keys } from './keys.js';
import { type ObjectStore, writeJson } from './object-store.js';

/**
 * A dry run's outbox in the store: each document a connector hands over goes to
 * `outbox/<destination>/<audience>/<run id>/<name>.json` (the connectors' `Outbox`).
 */
export function storeOutbox(store: ObjectStore, runId: string) {
  return {
    async write(destination: string, audienceId: string, name: string, document: unknown): Promise<string> {
      const key = `${keys.outboxPrefix(destination, audienceId, runId)}${name}.json`;
      await writeJson(store, key, document);
      return key;
    },
  };
}
