import type { AdapterIdentity } from '../../../runtime/src/index.js';
import { isKernelVariant, type KernelVariant } from '../codegen/wgsl/variants.js';
import { fail } from '../diagnostics/diagnostic.js';

/**
 * The tune cache (`polyc tune --cache`, `polyc compile --tune-cache`): per adapter, per kernel
 * signature (codegen/wgsl/variants.ts `unitSignature`), the variant `polyc tune` measured fastest,
 * with the times it measured. Plain JSON; the schema is documented in docs/tune.md. Parsing checks
 * every field and reports a malformed file as E0707; merging replaces entries one signature at a
 * time, so tuning one model never forgets another's choices.
 */

export const TUNE_CACHE_VERSION = 1;

/** One variant the tuner tried: its median time, or why it was rejected. */
export interface TuneCandidate {
  readonly variant: KernelVariant;
  /** Median milliseconds per dispatch; absent when rejected. */
  readonly ms?: number;
  /** Why it was never chosen: it did not compile, or its output differed from the default's. */
  readonly rejected?: string;
}

export interface TuneEntry {
  /** The chosen variant (the fastest that passed validation). */
  readonly variant: KernelVariant;
  /** Its median milliseconds per dispatch, and the default's, at `batch`. */
  readonly ms: number;
  readonly defaultMs: number;
  readonly batch: number;
  /** The default variant's kernel name, for people reading the file. */
  readonly kernel: string;
  readonly candidates: readonly TuneCandidate[];
}

export interface TuneCache {
  readonly version: typeof TUNE_CACHE_VERSION;
  /** Adapter key -> kernel signature -> entry. */
  readonly entries: Readonly<Record<string, Readonly<Record<string, TuneEntry>>>>;
}

/** The key an adapter's choices are stored under: its identity fields, in a fixed order. */
export function adapterKey(a: AdapterIdentity): string {
  return [a.vendor, a.architecture, a.device, a.description, a.isFallbackAdapter ? 'fallback' : 'hardware']
    .map((s) => s || '-')
    .join(' | ');
}

export function emptyTuneCache(): TuneCache {
  return { version: TUNE_CACHE_VERSION, entries: {} };
}

/** Parses a cache file's text; anything malformed is E0707 naming the file and the field. */
export function parseTuneCache(text: string, file: string): TuneCache {
  const bad = (what: string): never => fail('E0707', `tune cache ${file}: ${what}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return bad(`not JSON (${(e as Error).message})`);
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(json)) return bad('not a JSON object');
  if (json.version !== TUNE_CACHE_VERSION) {
    return bad(`version ${JSON.stringify(json.version)}, this polyc reads version ${TUNE_CACHE_VERSION}`);
  }
  if (!isObject(json.entries)) return bad('"entries" must be an object of adapters');
  const ms = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  for (const [adapter, kernels] of Object.entries(json.entries)) {
    if (!isObject(kernels)) return bad(`entries["${adapter}"] must be an object of kernel signatures`);
    for (const [signature, e] of Object.entries(kernels)) {
      const at = `entries["${adapter}"]["${signature}"]`;
      if (!isObject(e)) return bad(`${at} must be an object`);
      if (!isKernelVariant(e.variant)) return bad(`${at}.variant is not a kernel variant`);
      if (!ms(e.ms) || !ms(e.defaultMs)) return bad(`${at}: ms and defaultMs must be non-negative numbers`);
      if (!Number.isInteger(e.batch) || (e.batch as number) < 1)
        return bad(`${at}.batch must be a positive integer`);
      if (typeof e.kernel !== 'string') return bad(`${at}.kernel must be a string`);
      if (!Array.isArray(e.candidates)) return bad(`${at}.candidates must be an array`);
      e.candidates.forEach((c: unknown, i) => {
        const ok =
          isObject(c) &&
          isKernelVariant(c.variant) &&
          (c.ms === undefined || ms(c.ms)) &&
          (c.rejected === undefined || typeof c.rejected === 'string');
        if (!ok) bad(`${at}.candidates[${i}] must be { variant, ms? , rejected? }`);
      });
    }
  }
  return json as unknown as TuneCache;
}

/** `cache` with `entries` stored for `adapter` (replacing those signatures, keeping the others). */
export function mergeTuneCache(
  cache: TuneCache,
  adapter: string,
  entries: Readonly<Record<string, TuneEntry>>,
): TuneCache {
  return {
    version: TUNE_CACHE_VERSION,
    entries: { ...cache.entries, [adapter]: { ...cache.entries[adapter], ...entries } },
  };
}

/** The file's text: stable (adapters and signatures sorted), one field per line. */
export function formatTuneCache(cache: TuneCache): string {
  const sorted = <T>(o: Readonly<Record<string, T>>) =>
    Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, o[k]!]),
    );
  const entries = Object.fromEntries(
    Object.keys(cache.entries)
      .sort()
      .map((a) => [a, sorted(cache.entries[a]!)]),
  );
  return `${JSON.stringify({ version: cache.version, entries }, null, 2)}\n`;
}

/** The choices a compile uses, and what to tell the user about them. */
export interface TunedChoices {
  /** The adapter key used, or null when the cache has none to use. */
  readonly adapter: string | null;
  readonly choices: ReadonlyMap<string, KernelVariant>;
  readonly note: string;
}

/**
 * The choices of `adapter` in `cache`: the adapter named (by key), or else the only one in the
 * file. A cache without that adapter gives no choices (the defaults) and a note, never an error;
 * several adapters and none named is for the caller to refuse (`adapters` lists them).
 */
export function tunedChoices(cache: TuneCache, adapter: string | undefined, file: string): TunedChoices {
  const keys = Object.keys(cache.entries);
  const none = (note: string): TunedChoices => ({ adapter: null, choices: new Map(), note });
  let key = adapter;
  if (key === undefined) {
    if (keys.length !== 1) {
      return none(
        keys.length === 0
          ? `tune cache ${file} holds no adapter: default kernels`
          : `tune cache ${file} holds ${keys.length} adapters and none was named: default kernels`,
      );
    }
    key = keys[0]!;
  }
  const entries = cache.entries[key];
  if (!entries) return none(`tune cache ${file} has no choices for adapter '${key}': default kernels`);
  const choices = new Map(Object.entries(entries).map(([sig, e]) => [sig, e.variant]));
  return {
    adapter: key,
    choices,
    note: `tune cache ${file}: ${choices.size} tuned kernel choice(s) for adapter '${key}'`,
  };
}
