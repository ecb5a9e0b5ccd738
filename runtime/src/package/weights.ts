import { ModelError } from './errors.js';
import { type Float32Runs, float16ToFloat32 } from './float16.js';
import {
  openWeightsCache,
  readCachedWeights,
  storeCachedWeights,
  type WeightsCacheOption,
  weightsCacheName,
} from './weights-cache.js';

/**
 * Loading a generated package's `weights.bin`: little-endian float32 (or float16 with its small
 * tensors in float32, widened to float32 here), exactly `byteLength` bytes, checked against the SHA-256 the package was generated
 * with. By URL (`fetch`, streamed, with progress; optionally through the Cache API) in browsers and
 * for http(s) URLs, by path or file: URL (`fs`, in chunks, with progress) in Node. A URL that
 * answers with something else than the file (an HTTP error, an HTML page, nothing) is reported as
 * that, with the URL (`checkWeightsResponse`, `StallWatch`). Browser-safe: Node's `fs` is loaded
 * with a dynamic `import()` of a variable specifier, which bundlers leave alone and browsers never
 * reach.
 */

export interface WeightsSpec {
  /** The file name next to the package's index.js. */
  readonly file: string;
  readonly floats: number;
  readonly byteLength: number;
  /** Lower-case hex SHA-256 of the file. */
  readonly sha256: string;
  /** The file's element type (default float32); float16 is widened to float32 on load. */
  readonly dtype?: 'float32' | 'float16';
  /** With float16: the element ranges stored as float32 in place (the small tensors); default none. */
  readonly float32?: Float32Runs;
}

export type WeightsSource = string | URL | ArrayBuffer | ArrayBufferView;

export type ProgressCallback = (loaded: number, total: number) => void;

const CHUNK = 4 << 20;

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

interface NodeFileHandle {
  stat(): Promise<{ size: number }>;
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

async function openNodeFile(path: string | URL): Promise<NodeFileHandle> {
  // A variable specifier: bundlers do not try to resolve it for the browser.
  const specifier = 'node:fs/promises';
  const fs = (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)) as {
    open(path: string | URL, flags: string): Promise<NodeFileHandle>;
  };
  return fs.open(path, 'r');
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

function sizeError(what: string, got: number, spec: WeightsSpec): ModelError {
  return new ModelError(
    'bad-weights',
    `${what} has ${got} bytes, but this model's weights are ${spec.byteLength} bytes ` +
      `(${spec.floats} little-endian ${spec.dtype ?? 'float32'}): the file is truncated or belongs to another model`,
  );
}

async function readFile(
  path: string | URL,
  what: string,
  spec: WeightsSpec,
  onProgress: ProgressCallback | undefined,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  const handle = await openNodeFile(path);
  try {
    const { size } = await handle.stat();
    if (size !== spec.byteLength) throw sizeError(what, size, spec);
    const out = new Uint8Array(size);
    let at = 0;
    onProgress?.(0, size);
    while (at < size) {
      signal?.throwIfAborted();
      const { bytesRead } = await handle.read(out, at, Math.min(CHUNK, size - at), at);
      if (bytesRead === 0) throw sizeError(what, at, spec);
      at += bytesRead;
      onProgress?.(at, size);
    }
    return out;
  } finally {
    await handle.close();
  }
}

/** Seconds a weights download may go without receiving anything before it is given up. */
export const STALL_SECONDS = 30;

/**
 * Fetches `url` (streamed, with progress) and returns exactly the weights' bytes. The response is
 * checked first (`checkWeightsResponse`), and a download that receives nothing for `stallSeconds`
 * (before the answer or between chunks) is aborted: `ModelError('weights-unreachable')`.
 */
export async function fetchBytes(
  url: string | URL,
  what: string,
  spec: WeightsSpec,
  onProgress: ProgressCallback | undefined,
  signal?: AbortSignal,
  stallSeconds = STALL_SECONDS,
): Promise<Uint8Array> {
  const watch = new StallWatch(url, spec, stallSeconds);
  // The caller's signal aborts the request and the body's reading too (a server that stalls
  // within the stall time is given up on as well).
  const abort = (): void => watch.abort();
  signal?.addEventListener('abort', abort, { once: true });
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let complete = false;
  try {
    const response = await watch.during(fetch(url, { signal: watch.signal }), 0);
    checkWeightsResponse(response, url, spec);
    const total = spec.byteLength;
    const length = Number(response.headers.get('content-length') ?? Number.NaN);
    const wrongLength =
      !response.headers.get('content-encoding') && Number.isInteger(length) && length !== total;
    onProgress?.(0, total);
    if (!response.body) {
      const bytes = new Uint8Array(await watch.during(response.arrayBuffer(), 0));
      checkNotHtml(bytes, response, url, spec);
      onProgress?.(bytes.byteLength, total);
      return bytes;
    }
    const out = new Uint8Array(total);
    let at = 0;
    let extra = 0;
    reader = response.body.getReader();
    for (;;) {
      const { done, value } = await watch.during(reader.read(), at);
      if (done) break;
      if (at === 0) {
        checkNotHtml(value, response, url, spec);
        // Not a page: a wrong announced length is reported now, without downloading the rest.
        if (wrongLength) throw sizeError(what, length, spec);
      }
      const fits = Math.min(value.byteLength, total - at);
      out.set(value.subarray(0, fits), at);
      at += fits;
      extra += value.byteLength - fits;
      onProgress?.(at, total);
    }
    complete = true;
    if (at !== total || extra > 0) throw sizeError(what, at + extra, spec);
    return out;
  } catch (e) {
    if (signal?.aborted) {
      throw new ModelError('aborted', `loading ${what} was aborted: ${message(signal.reason)}`, { cause: e });
    }
    throw e;
  } finally {
    signal?.removeEventListener('abort', abort);
    watch.stop();
    // Refused or failed midway: release the connection.
    if (!complete) void reader?.cancel().catch(() => undefined);
  }
}

/**
 * Where to look when the weights URL does not answer with the weights: the package's weights.bin
 * must be served next to its index.js (or the bundler's asset URL for it), or passed explicitly.
 */
const SERVE_HINT =
  "serve the package's weights.bin at that URL (bundlers emit it as an asset: see 'Bundlers' in " +
  "the package's README), or pass its URL or bytes as Model.create({ weights })";

/** The absolute URL a request went to, for messages. */
function shownUrl(response: Response | undefined, url: string | URL): string {
  if (response?.url) return response.url;
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  try {
    return new URL(String(url), base).href;
  } catch {
    return String(url);
  }
}

/**
 * Checks the answer to a weights request before its body is read: an HTTP error status is
 * `ModelError('weights-not-served')`, an HTML page (`content-type: text/html`) is
 * `ModelError('weights-html')`, each naming the URL.
 */
export function checkWeightsResponse(response: Response, url: string | URL, spec: WeightsSpec): void {
  const refuse = (error: ModelError): never => {
    // The body is not wanted: release the connection.
    void response.body?.cancel().catch(() => undefined);
    throw error;
  };
  if (!response.ok) {
    const status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
    refuse(
      new ModelError(
        'weights-not-served',
        `${spec.file} is not served at ${shownUrl(response, url)} (${status}): ${SERVE_HINT}`,
      ),
    );
  }
  const type = response.headers.get('content-type') ?? '';
  if (/^\s*text\/html\b/i.test(type)) refuse(htmlError(response, url, spec, `content-type ${type}`));
}

/** Whether `bytes` start like an HTML document: `<!doctype` or `<html`, any case, after whitespace. */
export function looksLikeHtml(bytes: Uint8Array): boolean {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || (bytes[i]! >= 0x09 && bytes[i]! <= 0x0d))) i++;
  const head = String.fromCharCode(...bytes.subarray(i, i + 9)).toLowerCase();
  return head.startsWith('<!doctype') || head.startsWith('<html');
}

/** `ModelError('weights-html')` when the first bytes of a weights response are an HTML page. */
function checkNotHtml(first: Uint8Array, response: Response, url: string | URL, spec: WeightsSpec): void {
  if (looksLikeHtml(first)) throw htmlError(response, url, spec, 'it starts with an HTML tag');
}

function htmlError(response: Response, url: string | URL, spec: WeightsSpec, why: string): ModelError {
  return new ModelError(
    'weights-html',
    `${spec.file} at ${shownUrl(response, url)} is an HTML page, not the weights (${why}): the server ` +
      'answers that URL with a page, as dev servers and static hosts with a single-page-app fallback ' +
      `do for a path they do not have; ${SERVE_HINT}`,
  );
}

/**
 * Gives up on a download that receives nothing for `seconds`: `during(promise)` races a step of
 * the download against the deadline, which each completed step moves; on expiry the request is
 * aborted and the step rejects with `ModelError('weights-unreachable')`. A fetch that fails
 * outright (connection refused, DNS, CORS) is reported with the same code and the URL.
 */
class StallWatch {
  private readonly controller = new AbortController();
  readonly signal = this.controller.signal;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly url: string | URL,
    private readonly spec: WeightsSpec,
    private readonly seconds: number,
  ) {}

  /** Aborts the request (the caller's signal fired). */
  abort(): void {
    this.controller.abort();
  }

  async during<T>(step: Promise<T>, loaded: number): Promise<T> {
    let expired: () => void = () => undefined;
    const deadline = new Promise<never>((_, reject) => {
      expired = () =>
        reject(
          new ModelError(
            'weights-unreachable',
            `the download of ${this.spec.file} from ${shownUrl(undefined, this.url)} stalled: nothing ` +
              `received for ${this.seconds} s after ${loaded} of ${this.spec.byteLength} bytes`,
          ),
        );
    });
    this.stop();
    this.timer = setTimeout(() => {
      expired();
      this.controller.abort();
    }, this.seconds * 1000);
    try {
      return await Promise.race([step, deadline]);
    } catch (e) {
      if (e instanceof ModelError) throw e;
      throw new ModelError(
        'weights-unreachable',
        `cannot fetch ${this.spec.file} from ${shownUrl(undefined, this.url)}: ${message(e)} (the server ` +
          'is not running or not reachable, or the URL is on another origin that does not allow it by CORS)',
        { cause: e },
      );
    }
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** A string with a URL scheme (two letters or more, so Windows drive letters are paths). */
const HAS_SCHEME = /^[a-z][a-z0-9+.-]+:/i;

/**
 * Loads and checks the weights. `source` may be a path or URL string, a URL, or the bytes; without
 * it, `defaultUrl` (the package's own weights.bin). Fetched weights go through the Cache API when
 * `cache` asks for it (weights-cache.ts). Throws `ModelError('bad-weights')` (or a code for weights
 * not served), or `ModelError('aborted')` when `signal` aborts the load.
 */
export async function loadWeights(
  spec: WeightsSpec,
  source: WeightsSource | undefined,
  defaultUrl: URL,
  onProgress?: ProgressCallback,
  cache?: WeightsCacheOption,
  signal?: AbortSignal,
): Promise<Float32Array> {
  const cacheName = weightsCacheName(cache);
  const from = source ?? defaultUrl;
  const what =
    typeof from === 'string' || from instanceof URL
      ? `the weights file ${String(from)}`
      : 'the weights buffer passed to Model.create';
  let bytes: Uint8Array;
  /** The Cache API cache fetched weights go to, when asked for and available. */
  let store: Awaited<ReturnType<typeof openWeightsCache>> = null;
  try {
    signal?.throwIfAborted();
    if (from instanceof ArrayBuffer) {
      bytes = new Uint8Array(from);
      onProgress?.(bytes.byteLength, spec.byteLength);
    } else if (ArrayBuffer.isView(from)) {
      bytes = new Uint8Array(from.buffer, from.byteOffset, from.byteLength);
      onProgress?.(bytes.byteLength, spec.byteLength);
    } else if (typeof from === 'string' || from instanceof URL) {
      const url = from instanceof URL ? from : HAS_SCHEME.test(from) ? new URL(from) : undefined;
      if (isNode() && (url === undefined || url.protocol === 'file:')) {
        bytes = await readFile(url ?? from, what, spec, onProgress, signal);
      } else {
        store = await openWeightsCache(cacheName);
        const cached =
          store && (await readCachedWeights(store, spec.sha256, (b) => checkWeights(b, what, spec)));
        if (cached) {
          onProgress?.(0, spec.byteLength);
          onProgress?.(cached.byteLength, spec.byteLength);
          return decodeWeights(cached, spec);
        }
        bytes = await fetchBytes(url ?? from, what, spec, onProgress, signal);
      }
    } else {
      throw new ModelError(
        'bad-options',
        `weights must be a path, a URL, an ArrayBuffer or a typed array, got ${typeof from}`,
      );
    }
  } catch (e) {
    if (e instanceof ModelError) throw e;
    if (signal?.aborted) {
      throw new ModelError('aborted', `loading ${what} was aborted: ${message(signal.reason)}`, { cause: e });
    }
    throw new ModelError('bad-weights', `cannot load ${what}: ${message(e)}`, { cause: e });
  }
  await checkWeights(bytes, what, spec);
  if (store) await storeCachedWeights(store, spec.sha256, bytes);
  return decodeWeights(bytes, spec);
}

/** Throws `ModelError('bad-weights')` unless `bytes` has the spec's length and SHA-256. */
async function checkWeights(bytes: Uint8Array, what: string, spec: WeightsSpec): Promise<void> {
  if (bytes.byteLength !== spec.byteLength) throw sizeError(what, bytes.byteLength, spec);
  const digest = await sha256Hex(bytes);
  if (digest !== spec.sha256) {
    throw new ModelError(
      'bad-weights',
      `${what} is corrupt or belongs to another model: its SHA-256 is ${digest}, expected ${spec.sha256}`,
    );
  }
}

/** Checked weights.bin bytes as the float32 values both backends read. */
function decodeWeights(bytes: Uint8Array, spec: WeightsSpec): Float32Array {
  return spec.dtype === 'float16' ? float16ToFloat32(bytes, spec.float32) : toFloat32(bytes);
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Little-endian float32 bytes as a Float32Array on a fresh, aligned buffer. */
export function toFloat32(bytes: Uint8Array): Float32Array {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i + 3 < copy.length; i += 4) {
      const a = copy[i]!;
      const b = copy[i + 1]!;
      copy[i] = copy[i + 3]!;
      copy[i + 1] = copy[i + 2]!;
      copy[i + 2] = b;
      copy[i + 3] = a;
    }
  }
  return new Float32Array(copy.buffer, 0, copy.byteLength >> 2);
}

/** SHA-256 as lower-case hex: WebCrypto when available, else a small JavaScript implementation. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = (globalThis as { crypto?: { subtle?: SubtleCrypto } }).crypto?.subtle;
  let digest: Uint8Array;
  if (subtle) {
    digest = new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  } else {
    digest = sha256(bytes);
  }
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

const K = Uint32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

/** FIPS 180-4 SHA-256, for contexts without WebCrypto (e.g. pages served over plain http). */
export function sha256(data: Uint8Array): Uint8Array {
  const bitLength = data.length * 8;
  const padded = new Uint8Array(Math.ceil((data.length + 9) / 64) * 64);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLength / 2 ** 32));
  view.setUint32(padded.length - 4, bitLength >>> 0);
  const h = Uint32Array.from([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const w = new Uint32Array(64);
  const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));
  for (let block = 0; block < padded.length; block += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(block + i * 4);
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15]!;
      const b = w[i - 2]!;
      const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
      const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
      w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = [h[0]!, h[1]!, h[2]!, h[3]!, h[4]!, h[5]!, h[6]!, h[7]!];
    for (let i = 0; i < 64; i++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    const add = [a, b, c, d, e, f, g, hh];
    for (let i = 0; i < 8; i++) h[i] = (h[i]! + add[i]!) >>> 0;
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) outView.setUint32(i * 4, h[i]!);
  return out;
}
