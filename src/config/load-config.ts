import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { isMap, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { formatPath, oneLine } from '../contract/yaml-path.js';
import { ConfigError, describeZodError } from './errors.js';
import { baseConfigSchema, type DestinationConfig } from './schema.js';

export type BaseConfig = z.infer<typeof baseConfigSchema>;

/** A `${VAR}` that was not set, remembered so the destination using it can fail naming it. */
export interface MissingVariable {
  variable: string;
  path: string;
}

export interface LoadedConfig<T = BaseConfig> {
  config: T;
  /** Where it came from, for messages. */
  source: string;
  /** Unset variables inside `destinations.<name>`, by destination name. */
  missingByDestination: Record<string, MissingVariable[]>;
}

export interface LoadOptions<T> {
  env?: Record<string, string | undefined>;
  /** The full schema; defaults to the base schema (destinations block and loose audiences). */
  schema?: z.ZodType<T>;
  /** Checks that need the whole parsed config (references, cycles); throws `ConfigError`. */
  refine?: (config: T, source: string) => void;
}

const VAR_RE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
/** Deepest nesting of mappings and lists the file may have; deeper is a mistake or an attack. */
export const MAX_CONFIG_DEPTH = 64;
/** Alias references `toJS` may expand (the yaml library's own default). */
const MAX_ALIAS_COUNT = 100;

/**
 * The path of the first node nested deeper than `max` levels, or undefined. Iterative: a cyclic
 * document (`a: &x [*x]`) has no end, and is reported here instead of overflowing the stack later.
 */
function tooDeepAt(value: unknown, max: number): (string | number)[] | undefined {
  const stack: [unknown, (string | number)[]][] = [[value, []]];
  while (stack.length > 0) {
    const [node, path] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (path.length > max) return path;
    const entries: [string | number, unknown][] = Array.isArray(node)
      ? node.map((v, i) => [i, v])
      : Object.entries(node);
    for (const [k, v] of entries) stack.push([v, [...path, k]]);
  }
  return undefined;
}

export async function loadConfigFile<T = BaseConfig>(
  path: string,
  options: LoadOptions<T> = {},
): Promise<LoadedConfig<T>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new ConfigError(
      code === 'ENOENT'
        ? `config file ${path} does not exist (set CONFIG or create it)`
        : `cannot read ${path}: ${code}`,
    );
  }
  return parseConfig(text, basename(path), options);
}

/**
 * Parses YAML text, replaces `${VAR}` in string values (after parsing, so errors still name the
 * YAML path), and validates. Variables missing inside a destination are recorded, not fatal.
 */
export function parseConfig<T = BaseConfig>(
  text: string,
  source: string,
  options: LoadOptions<T> = {},
): LoadedConfig<T> {
  const env = options.env ?? process.env;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const pos = yamlError.pos ? lineCounter.linePos(yamlError.pos[0]) : undefined;
    const where = pos ? `${source}:${pos.line}:${pos.col}` : source;
    const hint =
      /\$\{/.test(text) && /flow|Nested mappings|Unexpected/i.test(yamlError.message)
        ? ' (write $' + '{VAR} references in quotes)'
        : '';
    throw new ConfigError(oneLine(`${where}: invalid YAML: ${yamlError.message.split('\n')[0]}${hint}`));
  }
  if (!isMap(doc.contents)) throw new ConfigError(`${source}: the top level must be a mapping`);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    // The yaml library refuses alias expansion that grows without bound ("billion laughs").
    const why = /alias/i.test((error as Error).message)
      ? `aliases expand to too many nodes (more than ${MAX_ALIAS_COUNT} references)`
      : 'the document cannot be read';
    throw new ConfigError(`${source}: invalid YAML: ${why}`);
  }
  const deep = tooDeepAt(raw, MAX_CONFIG_DEPTH);
  if (deep) {
    throw new ConfigError(
      `${source}: ${formatPath(deep)}: nested deeper than ${MAX_CONFIG_DEPTH} levels (or an alias refers to itself)`,
    );
  }
  const missingByDestination: Record<string, MissingVariable[]> = {};
  const interpolated = interpolate(raw, [], env, (variable, path) => {
    if (path[0] === 'destinations' && typeof path[1] === 'string') {
      const name = path[1];
      // Own keys only: a destination named `constructor` must not find Object's on the prototype.
      const earlier = Object.hasOwn(missingByDestination, name) ? missingByDestination[name]! : [];
      Object.defineProperty(missingByDestination, name, {
        value: [...earlier, { variable, path: formatPath(path) }],
        enumerable: true,
        writable: true,
        configurable: true,
      });
      return true;
    }
    // The alert webhook URL is a secret like a destination's: unset, only the webhook is disabled.
    if (path[0] === 'alerts') return true;
    throw new ConfigError(`${source}: ${formatPath(path)}: environment variable ${variable} is not set`);
  });
  const schema = (options.schema ?? baseConfigSchema) as z.ZodType<T>;
  const parsed = schema.safeParse(interpolated);
  if (!parsed.success) throw new ConfigError(describeZodError(parsed.error, source));
  options.refine?.(parsed.data, source);
  return { config: parsed.data, source, missingByDestination };
}

/**
 * Replaces `${VAR}` in every string. `onMissing` decides what an unset variable means: return
 * true to keep the reference as written (resolved later), or throw.
 */
function interpolate(
  value: unknown,
  path: (string | number)[],
  env: Record<string, string | undefined>,
  onMissing: (variable: string, path: (string | number)[]) => boolean,
): unknown {
  if (typeof value === 'string') {
    return value.replace(VAR_RE, (whole, name: string) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      onMissing(name, path);
      return whole;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, [...path, i], env, onMissing));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      // A `__proto__` key stays an own key that the schema reports, never this object's prototype
      // (which would make its keys look like inherited, and so unchecked, settings).
      Object.defineProperty(out, k, {
        value: interpolate(v, [...path, k], env, onMissing),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

/**
 * The configuration of one destination, ready to use: fails naming the variable when one it
 * references is unset, and naming the destination when it does not exist.
 */
export function requireDestination<T extends { destinations: Record<string, DestinationConfig> }>(
  loaded: LoadedConfig<T>,
  name: string,
): DestinationConfig {
  const destination = Object.hasOwn(loaded.config.destinations, name)
    ? loaded.config.destinations[name]
    : undefined;
  if (!destination) {
    const known = Object.keys(loaded.config.destinations).join(', ') || 'none';
    throw new ConfigError(`${loaded.source}: destination "${name}" is not defined (defined: ${known})`);
  }
  const missing = Object.hasOwn(loaded.missingByDestination, name)
    ? loaded.missingByDestination[name]
    : undefined;
  if (missing?.[0]) {
    throw new ConfigError(
      `destination "${name}" needs environment variable ${missing[0].variable} (${missing[0].path}), which is not set`,
    );
  }
  return destination;
}
