/**
 * A reason why a record or one of its fields broke the data contract.
 * `code` is stable (dashboards and tests key on it), `path` names the field, `message` is for people.
 * Messages never contain the offending value: it may be an email or a phone number.
 */
export type ReasonCode =
  | 'missing_person_key'
  | 'missing_name'
  | 'missing_metric'
  | 'missing_id'
  | 'bad_timestamp'
  | 'bad_type'
  | 'bad_email'
  | 'bad_phone'
  | 'bad_country'
  | 'too_long'
  | 'bad_value'
  | 'not_an_object'
  /** Not a contract breach: the record is about an erased person (src/privacy/suppression-check.ts). */
  | 'erased_person';

export interface Rejection {
  code: ReasonCode;
  /** Dotted path of the field, `''` for the record itself. */
  path: string;
  message: string;
}

export function rejection(code: ReasonCode, path: string, message: string): Rejection {
  return { code, path, message };
}
