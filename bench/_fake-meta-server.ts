/** The fake Meta Graph API in its own process, so the benchmark's memory figure is ours alone. */
import { startFakeMeta } from '../test/fakes/meta.js';

const fake = await startFakeMeta();
process.stdout.write(`${fake.url}\n`);
process.on('SIGTERM', () => {
  void fake.close().then(() => process.exit(0));
});
