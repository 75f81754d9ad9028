import { AudienceClosedError, AudienceGoneError } from '../../connectors/core/errors.js';
import type { Logger } from '../log.js';
import type { SyncAudienceInput } from './execute.js';
import { type DestinationState, writeState } from './ledger.js';
import { retryOptions } from './push.js';
import type { SyncRunRecord } from './run-record.js';

/**
 * Which platform audience a run sends to. A known audience is checked with `describe` (a connector
 * throws `AudienceGoneError` when the platform says it no longer exists); an unknown or re-created
 * one comes from `ensureAudience`, which finds the audience by name or creates it. This is the one
 * place that decides an audience was deleted on the platform side, and the one place that refuses
 * an audience the platform keeps but closed to new members (`closed` in what the connector says).
 */

/** The platform audience was deleted on the platform side and re-creation is not configured. */
export class PlatformAudienceDeletedError extends Error {
  override readonly name = 'PlatformAudienceDeletedError';
}

export interface ResolvedAudience {
  state: DestinationState;
  /** The audience was re-created: what the old one held is void, so everyone is added again. */
  reset: boolean;
}

export async function resolvePlatformAudience(
  input: SyncAudienceInput,
  record: SyncRunRecord,
  state: DestinationState | undefined,
  log: Logger,
): Promise<ResolvedAudience> {
  const { connector, audienceId, destination } = input;
  // `describe` and `ensureAudience` make several requests (Meta: look the name up, create, look it
  // up again). The connector retries each request on its own (ctx.retry), keeping the ones that
  // succeeded; retrying the whole call here started again from the lookup, so a passing failure of
  // the creation also cost the lookup before it, and a platform failing every other request (never
  // twice in a row) could fail every creation until the job ran out of attempts.
  const ctx = { ...input.ctx, retry: retryOptions(input, record, log) };
  const name = input.platformName ?? `audience-sync ${audienceId}`;
  const empty = record.plan.add === 0 && record.plan.remove === 0;
  const closes = (input.capabilities ?? connector.capabilities).audiencesClose === true;
  if (state && !state.platform_audience_gone) {
    // Nothing to send and an audience we already know: no request at all, unless targeted runs
    // have added people on the strength of an earlier look since (`added_since_look`): the next
    // run that is not targeted checks them. A targeted run (real time, erasure) spends none either
    // — a deleted audience answers its push as gone — unless it adds people to an audience that
    // may have closed since it was last seen open.
    const unchecked = state.added_since_look === true && !input.only;
    if (empty && record.mode === 'diff' && !unchecked) {
      record.platform_audience_id = state.platform_audience_id;
      return { state, reset: false };
    }
    if (input.only && !mustLookForClosed(record, state, closes)) {
      record.platform_audience_id = state.platform_audience_id;
      // Additions on the strength of an earlier look: kept by the state the run writes, as the look is.
      const trusting = closes && record.plan.add > 0;
      return { state: trusting ? { ...state, added_since_look: true } : state, reset: false };
    }
    try {
      const description = await connector.describe(ctx, state.platform_audience_id);
      record.platform_audience_id = state.platform_audience_id;
      record.requests += 1;
      if (description.closed !== undefined) await distrustAdditions(input, state);
      refuseClosed(input, description.platformAudienceId, description.closed);
      // Kept by the state the run writes when it completes (or leaves finalizing); a run that fails
      // after this forgets the look, and the next targeted run looks again.
      if (!closes) return { state, reset: false };
      const { added_since_look: _trusted, ...looked } = state;
      return { state: { ...looked, open_checked_at: new Date().toISOString() }, reset: false };
    } catch (error) {
      if (!(error instanceof AudienceGoneError)) throw error;
      record.requests += 1;
      log.warn(
        { platform_audience_id: state.platform_audience_id },
        'platform audience was deleted on the platform side',
      );
      if (!input.recreateDeleted) {
        if (!input.dryRun)
          await writeState(input.store, {
            ...state,
            platform_audience_gone: true,
            updated_at: new Date().toISOString(),
          });
        throw new PlatformAudienceDeletedError(
          `the ${connector.id} audience ${state.platform_audience_id} for "${audienceId}" was deleted on the platform side; set sync_settings.recreate_deleted_audiences: true to re-create it (everyone is sent again)`,
        );
      }
    }
  } else if (state?.platform_audience_gone && !input.recreateDeleted) {
    throw new PlatformAudienceDeletedError(
      `the ${connector.id} audience ${state.platform_audience_id} for "${audienceId}" was deleted on the platform side; set sync_settings.recreate_deleted_audiences: true to re-create it`,
    );
  }
  const ensured = await connector.ensureAudience(ctx, {
    audienceId,
    name,
    ...(input.description ? { description: input.description } : {}),
  });
  record.platform_audience_id = ensured.platformAudienceId;
  record.audience_created = ensured.created;
  // Before the state is written: the next run looks the audience up again, in case it was reopened.
  refuseClosed(input, ensured.platformAudienceId, ensured.closed);
  const now = new Date().toISOString();
  const next: DestinationState = {
    destination,
    connector: connector.id,
    api_version: connector.apiVersion,
    audience_id: audienceId,
    platform_audience_id: ensured.platformAudienceId,
    platform_audience_name: name,
    created_at: state && !state.platform_audience_gone ? state.created_at : now,
    updated_at: now,
    // A new ledger is written by this version, in the order the merge needs.
    ledger_order: 'code_point',
    ...(closes ? { open_checked_at: now } : {}),
  };
  if (!input.dryRun) await writeState(input.store, next);
  // A state that pointed at a deleted audience (or another one) means the ledger describes an
  // audience that no longer exists.
  const reset =
    !!state &&
    (state.platform_audience_gone === true || state.platform_audience_id !== ensured.platformAudienceId);
  return { state: next, reset };
}

/**
 * How long a targeted run that adds people trusts the last look that found the audience open. A
 * real-time flush runs every few seconds with a budget of ceil(n / batch max) + 1 requests; looking
 * every time would cost one more request per run, so at most one run an hour per destination
 * spends it, and additions to an audience closed in between fail within the hour (the daily run
 * always looks).
 */
export const OPEN_CHECK_MAX_AGE_MS = 60 * 60 * 1000;

function mustLookForClosed(record: SyncRunRecord, state: DestinationState, closes: boolean): boolean {
  if (!closes || record.plan.add === 0) return false;
  const age = Date.now() - Date.parse(state.open_checked_at ?? '');
  // Never looked, or a time that does not parse (NaN): look.
  return !(age < OPEN_CHECK_MAX_AGE_MS);
}

/**
 * The audience was found closed after targeted runs added people on the strength of an earlier
 * look: some of them may never have reached it, though the ledger counts them as held. The next
 * run (once the audience is reopened) replaces its members instead of trusting the ledger.
 */
async function distrustAdditions(input: SyncAudienceInput, state: DestinationState): Promise<void> {
  if (!state.added_since_look || input.dryRun) return;
  await writeState(input.store, { ...state, needs_replace: true, updated_at: new Date().toISOString() });
}

/**
 * An audience closed to new members would accept uploads that never reach it (a silent failure), so
 * the run stops before sending anything, naming the audience and how to reopen it.
 */
function refuseClosed(input: SyncAudienceInput, platformAudienceId: string, closed: string | undefined) {
  if (closed === undefined) return;
  const { connector, audienceId } = input;
  throw new AudienceClosedError(
    `the ${connector.id} audience ${platformAudienceId} for "${audienceId}" takes no new members (${closed}); reopen it on the platform (Google Ads: set the user list's membership status to OPEN), then sync again`,
    { connector: connector.id },
    platformAudienceId,
  );
}
