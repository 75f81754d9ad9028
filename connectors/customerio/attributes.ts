import type { MemberRecord } from '../../src/contract/records.js';
import {
  type TraitSource,
  unixDay,
  type WriteBackMapping,
  type WriteBackSource,
} from '../../src/contract/write-back.js';
import type { AttributeValue } from '../core/types.js';

export type { WriteBackMapping } from '../../src/contract/write-back.js';

/**
 * What a write-back sets on a person, from the audience's `write_back.attributes` mapping
 * (`{paid_group: group, recovery_score: score, offer_tier: {trait: winback_offer_tier}}`,
 * validated by `src/contract/write-back.ts`): attribute name → member field or trait. The sync engine builds each row's `attributes` with
 * `writeBackAttributes`; removals clear the same names.
 */
export interface WriteBackContext {
  audienceId: string;
  /** People in the audience snapshot, for `decile` (1 = the top tenth by rank). */
  audienceSize: number;
}

/**
 * Attribute values for one person. `member` null means the person left the audience: every
 * mapped attribute is cleared.
 */
export function writeBackAttributes(
  mapping: WriteBackMapping,
  member: MemberRecord | null,
  context: WriteBackContext,
): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [name, source] of Object.entries(mapping)) {
    out[name] = member ? attributeValue(source, member, context) : null;
  }
  return out;
}

function attributeValue(
  source: WriteBackSource | TraitSource,
  member: MemberRecord,
  context: WriteBackContext,
): AttributeValue {
  if (typeof source === 'object') {
    // A missing trait clears the attribute; dates go as Unix timestamps, as Customer.io keeps dates.
    const value = member.traits?.[source.trait] ?? null;
    return source.type === 'date' && typeof value === 'string' ? unixDay(value) : value;
  }
  switch (source) {
    case 'group':
      return member.group;
    case 'score':
      return member.score;
    case 'rank':
      return member.rank;
    case 'entered':
      return member.entered;
    case 'decile':
      return context.audienceSize > 0
        ? Math.min(10, Math.max(1, Math.ceil((member.rank * 10) / context.audienceSize)))
        : null;
    case 'member':
      return true;
    case 'audience':
      return context.audienceId;
  }
}
