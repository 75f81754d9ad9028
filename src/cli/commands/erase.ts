import type { Command } from 'commander';
import type { ErasureRecord } from '../../privacy/erasure.js';
import { CliError, EXIT, out, outJson } from '../output.js';

/**
 * `audience-sync erase`: an erasure request (docs/privacy.md), run to the end in this process — or
 * `--status ID` for one that was requested before (here or through the API). Resuming an
 * interrupted erasure: `--resume ID`.
 */
export function registerEraseCommand(program: Command): void {
  program
    .command('erase')
    .description('erase a person everywhere (store and platform audiences), or show an erasure')
    .option('--customer-id <id>', 'the person by customer id')
    .option('--email <email>', 'the person by email address')
    .option('--phone <phone>', 'the person by phone number (E.164)')
    .option('--status <id>', 'show the audit entry of an erasure')
    .option('--resume <id>', 'run an erasure that was interrupted (or requested through the API) to the end')
    .option('--json', 'print the audit entry as JSON')
    .action(
      async (opts: {
        customerId?: string;
        email?: string;
        phone?: string;
        status?: string;
        resume?: string;
        json?: boolean;
      }) => {
        const named = opts.customerId ?? opts.email ?? opts.phone;
        const modes = [named !== undefined, opts.status !== undefined, opts.resume !== undefined].filter(
          Boolean,
        );
        if (modes.length !== 1) {
          throw new CliError(
            'name the person (--customer-id, --email, --phone), or give --status ID or --resume ID',
            EXIT.usage,
          );
        }
        const { ErasureNotFoundError, runErasure } = await import('../../privacy/erase.js');
        const { createErasure, ERASURE_ID_RE, InvalidErasureRequestError, readErasure } = await import(
          '../../privacy/erasure.js'
        );
        const { openStageContext } = await import('../stage-context.js');
        const { ctx, close } = await openStageContext({ writes: opts.status === undefined });
        try {
          let record: ErasureRecord | undefined;
          if (opts.status !== undefined || opts.resume !== undefined) {
            const id = (opts.status ?? opts.resume)!;
            if (!ERASURE_ID_RE.test(id)) throw new CliError(`${id} is not an erasure id (er-…)`, EXIT.usage);
            record = await readErasure(ctx.store, id);
            if (!record) throw new CliError(`no erasure ${id}`, EXIT.failed);
            if (opts.resume !== undefined) record = await runErasure({ ctx, id });
          } else {
            let created: ErasureRecord;
            try {
              created = await createErasure(
                ctx.store,
                { customer_id: opts.customerId, email: opts.email, phone: opts.phone },
                'cli',
              );
            } catch (error) {
              if (error instanceof InvalidErasureRequestError) throw new CliError(error.message, EXIT.usage);
              throw error;
            }
            out(`erasure ${created.id}: requested`);
            try {
              record = await runErasure({ ctx, id: created.id });
            } catch (error) {
              if (error instanceof ErasureNotFoundError) throw new CliError(error.message, EXIT.failed);
              throw new CliError(
                `erasure ${created.id} stopped: ${error instanceof Error ? error.message : String(error)} (finish it with --resume ${created.id})`,
                EXIT.failed,
              );
            }
          }
          if (opts.json) outJson(record);
          else printErasure(record);
          // Nobody matched: a script must not read that as done (exit 1, after the entry is shown).
          if (record.status === 'no_match') {
            throw new CliError(`erasure ${record.id}: no person matched, nothing was erased`, EXIT.failed);
          }
        } finally {
          await close();
        }
      },
    );
}

function printErasure(r: ErasureRecord): void {
  out(`erasure ${r.id}: ${r.status}`);
  if (r.message) out(`  ${r.message}`);
  out(`  requested ${r.requested_at} (${r.source})`);
  if (r.matched) out(`  matched ${r.matched.people} person record(s)`);
  for (const p of r.platforms ?? []) {
    out(
      `  ${p.audience_id} → ${p.destination}: ${p.status}${p.removed ? `, ${p.removed} removed` : ''}${p.error ? ` (${p.error})` : ''}`,
    );
  }
  if (r.rewrite_done_at || r.objects_rewritten.length > 0) {
    out(
      `  objects rewritten: ${r.objects_rewritten.length}${r.objects_scanned !== undefined ? ` of ${r.objects_scanned} scanned` : ''}`,
    );
  }
  if (r.completed_at) out(`  completed ${r.completed_at}`);
}
