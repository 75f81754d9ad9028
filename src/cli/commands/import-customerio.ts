import type { Command } from 'commander';
import { CliError, EXIT, out, outJson } from '../output.js';

/** `audience-sync import-customerio --source URL`: imports new Data Out Parquet files, in this process. */
export function registerImportCustomerIoCommand(program: Command): void {
  program
    .command('import-customerio')
    .description('import Customer.io Data Out Parquet files (Deliveries, Metrics, People) not imported yet')
    .option(
      '--source <url>',
      'where Customer.io writes (s3://bucket/prefix or a directory); default CIO_DATA_OUT_URL',
    )
    .option('--json', 'print the result as JSON')
    .action(async (opts: { source?: string; json?: boolean }) => {
      const { getEnv } = await import('../../config/env.js');
      const { importCustomerIo } = await import('../../export/customerio/import.js');
      const { log } = await import('../../log.js');
      const { ensureLayout, openStore } = await import('../../storage/open-store.js');
      const { loadIngestSettings } = await import('./ingest-config.js');
      const env = getEnv();
      const sourceUrl = opts.source ?? env.CIO_DATA_OUT_URL;
      if (!sourceUrl)
        throw new CliError('give --source s3://bucket/prefix (or set CIO_DATA_OUT_URL)', EXIT.usage);
      let source: ReturnType<typeof openStore>;
      try {
        source = openStore(sourceUrl, env);
      } catch (error) {
        throw new CliError(`--source: ${(error as Error).message.replace(/^STORE_URL /, '')}`, EXIT.usage);
      }
      const settings = await loadIngestSettings(env);
      const store = openStore(env.STORE_URL, env);
      try {
        await ensureLayout(store);
        const result = await importCustomerIo({
          source,
          store,
          logger: log,
          ...(settings.importConfig ? { config: settings.importConfig } : {}),
        });
        if (opts.json) outJson(result);
        else {
          for (const f of result.files) {
            const columns = f.unexpected_columns.length
              ? `; unexpected columns: ${f.unexpected_columns.join(', ')}`
              : '';
            const error = f.error ? `; ${f.error}` : '';
            const suppressed = f.suppressed > 0 ? `, ${f.suppressed} of erased people dropped` : '';
            out(
              `${f.status.padEnd(16)} ${f.type.padEnd(10)} ${f.key} (${f.rows} rows, ${f.written} written, ${f.quarantined} quarantined${suppressed}${columns}${error})`,
            );
          }
          const suppressed = result.suppressed > 0 ? `, ${result.suppressed} of erased people dropped` : '';
          out(
            `imported ${result.imported} file(s): ${result.written} records, ${result.quarantined} quarantined${suppressed}, ${result.failed} failed`,
          );
        }
        if (result.failed > 0) {
          throw new CliError(
            `${result.failed} file(s) could not be imported; they will be retried next run`,
            EXIT.failed,
          );
        }
      } finally {
        await source.close();
        await store.close();
      }
    });
}
