import type { PlanOutline } from './plan.js';

/**
 * Stops a plan that would empty or shrink an audience by surprise — the failure people remember
 * (a broken upstream export makes everyone "leave"). `--confirm` lets it through.
 */
export interface GuardSettings {
  /** Largest share of the current audience a plan may remove without `--confirm` (default 0.3). */
  maxRemoveShare: number;
}

export const DEFAULT_GUARDS: GuardSettings = { maxRemoveShare: 0.3 };

export interface GuardViolation {
  code: 'remove_share' | 'below_minimum';
  message: string;
}

export function checkGuards(
  plan: Pick<PlanOutline, 'mode' | 'counts'>,
  minAudienceSize: number | null,
  settings: GuardSettings,
): GuardViolation[] {
  const out: GuardViolation[] = [];
  if (plan.mode === 'replace') {
    // A replace sends the whole desired set; what it drops is what the ledger holds beyond it.
    const dropped = Math.max(0, plan.counts.ledger - plan.counts.after);
    if (plan.counts.ledger > 0 && dropped / plan.counts.ledger > settings.maxRemoveShare) {
      out.push(shareViolation(dropped, plan.counts.ledger, settings));
    }
  } else {
    const leaving = plan.counts.left;
    if (plan.counts.ledger > 0 && leaving / plan.counts.ledger > settings.maxRemoveShare) {
      out.push(shareViolation(leaving, plan.counts.ledger, settings));
    }
  }
  if (
    minAudienceSize !== null &&
    plan.counts.ledger >= minAudienceSize &&
    plan.counts.after < minAudienceSize &&
    plan.counts.remove > 0
  ) {
    out.push({
      code: 'below_minimum',
      message: `the plan takes the audience from ${plan.counts.ledger} to ${plan.counts.after} people, below the platform minimum of ${minAudienceSize} (the platform may refuse removals or stop serving it)`,
    });
  }
  return out;
}

function shareViolation(n: number, of: number, settings: GuardSettings): GuardViolation {
  const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
  return {
    code: 'remove_share',
    message: `the plan removes ${n} of ${of} people (${pct(n / of)}), more than the allowed ${pct(settings.maxRemoveShare)}`,
  };
}
