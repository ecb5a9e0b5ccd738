import { ModelError } from './errors.js';

/**
 * `Model.create({ cache })`: fetched weights kept in the browser's Cache API, keyed by their SHA-256
 * (the one compiled into the package), so a page loads them once per origin. Entries are checked
 * like a download (length and SHA-256) before use: a corrupt or mismatching entry is deleted and
 * the weights fetched again. Where the Cache API is missing or refuses (Node, insecure contexts,
 * opaque origins, a full quota), loading falls back to plain fetching without a word: caching only
 * ever saves a download, it never fails a model.
 */

/** `cache: true` uses this Cache API cache. */
export const DEFAULT_WEIGHTS_CACHE = 'polyc-weights';

/** What `Model.create` accepts as `cache`. */
export type WeightsCacheOption = boolean | string | undefined;

/** The parts of the Cache API used (DOM's `Cache`, narrowed). */
interface WeightsCacheStore {
  match(key: string): Promise<Response | undefined>;
  put(key: string, response: Response): Promise<void>;
  delete(key: string): Promise<boolean>;
}

/** The cache name the option asks for, or null for no caching. Throws ModelError('bad-options'). */
export function weightsCacheName(option: WeightsCacheOption): string | null {
  if (option === undefined || option === false) return null;
  if (option === true) return DEFAULT_WEIGHTS_CACHE;
  if (typeof option === 'string' && option.length > 0) return option;
  throw new ModelError(
    'bad-options',
    `cache must be true, false or a Cache API cache name, got ${typeof option === 'string' ? "''" : String(option)}`,
  );
}

/**
 * The cache entry's key: a URL (the Cache API keys by request URL) naming only the weights'
 * digest, so the same weights served from any URL share one entry. The reserved `.invalid` domain
 * is never fetched.
 */
export const weightsCacheKey = (sha256: string) => `https://polyc-weights.invalid/sha256/${sha256}`;

/** Opens the named cache, or null where the Cache API is unavailable or refuses. */
export async function openWeightsCache(name: string | null): Promise<WeightsCacheStore | null> {
  if (name === null) return null;
  const caches = (globalThis as { caches?: { open(name: string): Promise<WeightsCacheStore> } }).caches;
  if (caches === undefined) return null;
  try {
    return await caches.open(name);
  } catch {
    return null; // e.g. SecurityError in an opaque origin
  }
}

/**
 * The cached weights with this digest, checked by `check` (which throws ModelError for a wrong
 * length or SHA-256), or null: none cached, unreadable, or corrupt (then deleted).
 */
export async function readCachedWeights(
  cache: WeightsCacheStore,
  sha256: string,
  check: (bytes: Uint8Array) => Promise<void>,
): Promise<Uint8Array | null> {
  const key = weightsCacheKey(sha256);
  try {
    const response = await cache.match(key);
    if (response === undefined) return null;
    const bytes = new Uint8Array(await response.arrayBuffer());
    await check(bytes);
    return bytes;
  } catch {
    // Corrupt (the check failed) or unreadable: fetch the weights again and store them anew.
    await cache.delete(key).catch(() => false);
    return null;
  }
}

/** Stores checked weights under their digest; a failure (quota, storage off) is ignored. */
export async function storeCachedWeights(
  cache: WeightsCacheStore,
  sha256: string,
  bytes: Uint8Array,
): Promise<void> {
  try {
    const body = new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' });
    await cache.put(weightsCacheKey(sha256), new Response(body));
  } catch {
    // Not cached: the next page load fetches the weights again.
  }
}
