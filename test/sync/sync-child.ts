/**
 * Runs one Meta sync in its own process, so a test can SIGKILL it half-way and start it again.
 * argv: <store root> <fake Graph URL> <day>
 */
import { createConnectorContext } from '../../connectors/core/context.js';
import { metaConnector } from '../../connectors/meta/index.js';
import { createLogger } from '../../src/log.js';
import { FsObjectStore } from '../../src/storage/fs-store.js';
import { syncAudience } from '../../src/sync/execute.js';

const [root, graphUrl, day] = process.argv.slice(2) as [string, string, string];
const store = new FsObjectStore(root);
const ctx = createConnectorContext(metaConnector, {
  destination: 'meta',
  config: { type: 'meta', ad_account_id: 'act_1234', access_token: 'meta-test-token', batch_size: 10 },
  env: { META_GRAPH_URL: graphUrl },
  log: createLogger({ level: 'silent' }),
});
const record = await syncAudience({
  store,
  audienceId: 'high_intent',
  day,
  destination: 'meta',
  connector: metaConnector,
  ctx,
  mode: { kind: 'audience' },
  runId: day,
});
process.stdout.write(
  `${JSON.stringify({ status: record.status, batches: record.batches.length, resumed: record.resumed ?? [] })}\n`,
);
