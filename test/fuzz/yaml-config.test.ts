import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError } from '../../src/config/errors.js';
import { MAX_CONFIG_DEPTH, requireDestination } from '../../src/config/load-config.js';
import { parseAudienceSyncConfig } from '../../src/config-file.js';
import { HOSTILE_KEYS } from './arbitraries.js';
import { expectNoPollution, FUZZ_TIMEOUT, fuzzParams } from './support.js';

/**
 * The YAML loader against hostile files: every file either loads or fails with one ConfigError
 * line that starts with the file name and names the YAML path (or line:column for broken YAML);
 * never another exception, never a hang, never a polluted prototype. Replay with FUZZ_SEED.
 */

const SOURCE = 'audience-sync.yaml';
const ENV = { META_TOKEN: 'token-value' };

/** Where a schema error names its path: `audience-sync.yaml: audiences[0].when: ...`. */
const PATH_ERROR = /^audience-sync\.yaml: \S.*: \S/;
const YAML_ERROR = /^audience-sync\.yaml(:\d+:\d+)?: invalid YAML: \S/;

function expectLoadsOrNamesPath(text: string): void {
  try {
    parseAudienceSyncConfig(text, SOURCE, ENV);
  } catch (error) {
    expect(error, String((error as Error)?.stack)).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).not.toMatch(/[\n\r]/);
    if (!YAML_ERROR.test(message) && message !== `${SOURCE}: the top level must be a mapping`) {
      expect(message).toMatch(PATH_ERROR);
    }
  }
  expectNoPollution();
}

const base = () => ({
  version: 1,
  event_aliases: { purchase: 'order_completed' },
  destinations: {
    meta: { type: 'meta', access_token: '${META_TOKEN}', ad_account_id: '1' },
    dry: { type: 'dry_run' },
  },
  never_send: { person: { deleted: true } },
  audiences: [
    { id: 'buyers', type: 'segment', when: { event: 'order_completed', within_days: 30 }, sync: ['dry'] },
    {
      id: 'top',
      type: 'top_fraction',
      when: { all: [{ event: 'product_viewed' }, { not: { person: { unsubscribed: true } } }] },
      score: [{ weight: 1, count: { event: 'product_viewed', within_days: 7 } }],
      top_fraction: 0.1,
      holdout: { fraction: 0.1 },
      exclude: ['buyers'],
    },
  ],
});

/** Values YAML can carry, with the keys and sizes an attacker would pick. */
const value: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    fc.constantFrom(
      null,
      true,
      false,
      0,
      -1,
      1e308,
      -1e308,
      Number.MAX_SAFE_INTEGER + 2,
      0.5,
      Infinity,
      -Infinity,
      Number.NaN,
    ),
    fc.double(),
    fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map((n) => Number(n)),
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.constantFrom(
      '${UNSET_VAR}',
      '${META_TOKEN}',
      '${',
      'a\nb',
      '*alias',
      '&anchor',
      '!!binary',
      ...HOSTILE_KEYS,
    ),
    fc.integer({ min: 1000, max: 200_000 }).map((n) => 'y'.repeat(n)),
    fc.array(tie('value'), { maxLength: 4 }),
    fc
      .array(
        fc.tuple(
          fc.oneof(
            fc.constantFrom(...HOSTILE_KEYS, 'event', 'all', 'any', 'not', 'person', 'type', 'id'),
            fc.string({ maxLength: 8 }),
          ),
          tie('value'),
        ),
        { maxLength: 4 },
      )
      .map((entries) => {
        const o: Record<string, unknown> = {};
        for (const [k, v] of entries)
          Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
        return o;
      }),
  ),
})).value;

/** A JSON-style path into the base config, and a setter that puts `v` there as an own key. */
const places: readonly (readonly (string | number)[])[] = [
  [],
  ['destinations'],
  ['destinations', 'dry'],
  ['event_aliases'],
  ['never_send'],
  ['audiences'],
  ['audiences', 0],
  ['audiences', 0, 'when'],
  ['audiences', 1, 'when', 'all', 1, 'not'],
  ['audiences', 1, 'score', 0],
  ['audiences', 1, 'score', 0, 'count'],
  ['audiences', 1, 'holdout'],
  ['sync_settings'],
  ['schedule'],
];

function mutate(place: readonly (string | number)[], key: string, v: unknown, replace: boolean): unknown {
  const doc = base() as unknown as Record<string | number, unknown>;
  let node: Record<string | number, unknown> = doc;
  for (const part of place) {
    const next = node[part];
    if (typeof next !== 'object' || next === null) node[part] = {};
    node = node[part] as Record<string | number, unknown>;
  }
  if (replace && place.length > 0) {
    let parent: Record<string | number, unknown> = doc;
    for (const part of place.slice(0, -1)) parent = parent[part] as Record<string | number, unknown>;
    parent[place[place.length - 1]!] = v;
  } else {
    Object.defineProperty(node, key, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return doc;
}

describe('YAML configuration loader', () => {
  it('a key with an invisible character (a byte order mark) is named with it escaped', () => {
    // Found by the fuzz below (seed 1230531340): the path read as ` constructor`, blank first.
    const text = 'version: 1\n\uFEFFconstructor: "${UNSET}"';
    expect(() => parseAudienceSyncConfig(text, SOURCE, ENV)).toThrow(
      `${SOURCE}: \\ufeffconstructor: environment variable UNSET is not set`,
    );
    expectLoadsOrNamesPath(text);
  });

  it('names a key of spaces, or an empty one, in quotes', () => {
    // Found by the fuzz below (seed 1360523842): the path read as a blank ` `.
    for (const [key, shown] of [
      [' ', '" "'],
      ['', '""'],
      [' a', '" a"'],
    ]) {
      const text = `version: 1\n"${key}": "\${UNSET}"`;
      expect(() => parseAudienceSyncConfig(text, SOURCE, ENV)).toThrow(
        `${SOURCE}: ${shown}: environment variable UNSET is not set`,
      );
      expectLoadsOrNamesPath(text);
    }
  });

  it('valid files still load (the mutations below start from one)', () => {
    const loaded = parseAudienceSyncConfig(stringify(base()), SOURCE, ENV);
    expect(loaded.config.audiences.map((a) => a.id)).toEqual(['buyers', 'top']);
  });

  it(
    'hostile values and keys anywhere in a valid file',
    () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...places),
          fc.oneof(
            fc.constantFrom(...HOSTILE_KEYS, 'version', 'audiences', 'extra'),
            fc.string({ maxLength: 10 }),
          ),
          value,
          fc.boolean(),
          (place, key, v, replace) => {
            let text: string;
            try {
              text = stringify(mutate(place, key, v, replace), { aliasDuplicateObjects: false });
            } catch {
              return; // not representable as YAML: nothing to load
            }
            expectLoadsOrNamesPath(text);
          },
        ),
        fuzzParams(400),
      );
    },
    FUZZ_TIMEOUT,
  );

  it(
    'raw YAML text: anchors, aliases, tags, flow and block syntax, invalid UTF-8',
    () => {
      const token = fc.oneof(
        fc.constantFrom(
          'version: 1\n',
          'audiences:\n',
          '  - ',
          'id: a\n',
          'when: ',
          '{event: x}',
          '[',
          ']',
          '{',
          '}',
          ': ',
          '- ',
          '&a ',
          '*a ',
          '&b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n',
          '!!binary ',
          '!!set ',
          '!!omap ',
          '!!js/function ',
          '!custom ',
          '<<: ',
          '? ',
          '"${UNSET}"',
          '${META_TOKEN}',
          '__proto__: ',
          'constructor: ',
          '\t',
          '\n  ',
          '#',
          '---\n',
          '...\n',
          '|\n  ',
          '>\n  ',
          "'",
          '"',
          '\uFEFF',
          '\uFFFD',
        ),
        fc.string({ unit: 'binary', maxLength: 6 }),
      );
      const text = fc.oneof(
        fc.array(token, { maxLength: 40 }).map((t) => `version: 1\n${t.join('')}`),
        fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('utf8')),
      );
      fc.assert(
        fc.property(text, (t) => expectLoadsOrNamesPath(t)),
        fuzzParams(500),
      );
    },
    FUZZ_TIMEOUT,
  );

  it(
    'deep nesting, self-referring aliases and alias bombs are configuration errors',
    () => {
      const deepText = fc
        .integer({ min: 1, max: 3000 })
        .chain((depth) =>
          fc.constantFrom(
            `version: 1\nnever_send: ${'{not: '.repeat(depth)}{event: x}${'}'.repeat(depth)}\n`,
            `version: 1\naudiences: ${'['.repeat(depth)}${']'.repeat(depth)}\n`,
            `version: 1\nnever_send:\n${Array.from({ length: Math.min(depth, 400) }, (_, i) => `${'  '.repeat(i + 1)}not:`).join('\n')} {event: x}\n`,
          ),
        );
      fc.assert(
        fc.property(deepText, (t) => expectLoadsOrNamesPath(t)),
        fuzzParams(60),
      );
      for (const text of [
        'version: 1\nnever_send: &n {not: *n}\n',
        'version: 1\naudiences: &l [*l]\n',
        `version: 1\na: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n`,
      ]) {
        expect(() => parseAudienceSyncConfig(text, SOURCE, ENV)).toThrow(ConfigError);
        expectLoadsOrNamesPath(text);
      }
    },
    FUZZ_TIMEOUT,
  );
});

describe('YAML loader regressions', () => {
  const fails = (text: string) => {
    try {
      parseAudienceSyncConfig(text, SOURCE, ENV);
    } catch (error) {
      return error as Error;
    }
    throw new Error('expected a configuration error');
  };

  it('a __proto__ key is reported as an unknown key, not turned into inherited settings', () => {
    // Before: never_send was loaded as { event: x } from the prototype the key had set.
    const smuggled = fails('version: 1\nnever_send:\n  __proto__: {event: x}\n');
    expect(smuggled).toBeInstanceOf(ConfigError);
    expect(smuggled.message).toMatch(/^audience-sync\.yaml: never_send: .*__proto__/);
    // Before: the error named `audiences`, a key the file does not have.
    const top = fails('version: 1\n__proto__:\n  audiences: 5\n');
    expect(top.message).toContain('"__proto__"');
    expect(top.message).not.toContain('audiences');
    expectNoPollution();
  });

  it('alias expansion past the limit is a ConfigError, not a ReferenceError', () => {
    const error = fails(
      'version: 1\na: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n',
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/^audience-sync\.yaml: invalid YAML: aliases expand/);
  });

  it('an alias that contains itself is a ConfigError naming the path, not a stack overflow', () => {
    const error = fails('version: 1\nnever_send: &n {not: *n}\n');
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/^audience-sync\.yaml: never_send(\.not)+: nested deeper than \d+ levels/);
  });

  it(`nesting deeper than ${MAX_CONFIG_DEPTH} levels names where`, () => {
    const depth = MAX_CONFIG_DEPTH + 5;
    const error = fails(`version: 1\nnever_send: ${'{not: '.repeat(depth)}{event: x}${'}'.repeat(depth)}\n`);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/^audience-sync\.yaml: never_send(\.not)+: nested deeper than/);
  });

  it('an error stays on one line when a key holds a newline', () => {
    const error = fails('version: 1\n"bad\\nkey": 1\n');
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).not.toMatch(/\n/);
    expect(error.message).toContain('bad\\nkey');
    // The yaml library's own messages may quote a carriage return (FUZZ_SEED=31337 found `>\r`).
    expect(fails('>\r').message).not.toMatch(/[\n\r]/);
  });

  it('a destination named "constructor" with an unset variable loads and names the variable (was a TypeError)', () => {
    const loaded = parseAudienceSyncConfig(
      'version: 1\ndestinations:\n  constructor: {type: meta, access_token: "${UNSET_TOKEN}"}\n',
      SOURCE,
      ENV,
    );
    expect(() => requireDestination(loaded, 'constructor')).toThrow(
      /destination "constructor" needs environment variable UNSET_TOKEN \(destinations\.constructor\.access_token\)/,
    );
    // A name that only exists on Object.prototype is not a destination.
    expect(() => requireDestination(loaded, 'toString')).toThrow(/destination "toString" is not defined/);
  });
});
