// The names alone, apart from the rules of fields.ts: the CLI lists them at start-up without
// loading the normalization code.

/** The person fields a platform can use (`hash --field` takes these names). */
export type InputField =
  | 'email'
  | 'phone'
  | 'first_name'
  | 'last_name'
  | 'city'
  | 'region'
  | 'postal_code'
  | 'country'
  | 'gender'
  | 'birth_date'
  | 'maid'
  | 'external_id';

export const INPUT_FIELDS: readonly InputField[] = [
  'email',
  'phone',
  'first_name',
  'last_name',
  'city',
  'region',
  'postal_code',
  'country',
  'gender',
  'birth_date',
  'maid',
  'external_id',
];
