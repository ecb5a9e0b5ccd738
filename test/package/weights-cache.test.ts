import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { float16Bits } from '../../compiler/src/codegen/package/float16.js';
import { loadWeights, type WeightsSpec } from '../../runtime/src/package/weights.js';
import { weightsCacheKey } from '../../runtime/src/package/weights-cache.js';

/**
 * `Model.create({ cache })` in runtime/src/package/weights.ts: weights fetched over http, kept in a
 * Cache API stand-in keyed by their SHA-256, read back without a request, a corrupt entry replaced,
 * and every way the Cache API can be missing or fail falling back to a plain fetch. (The real Cache
 * API in Chromium: browser-cache.test.ts.) Also float16 weights widened on load.
 */

const FLOATS = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 10);
const BYTES = new Uint8Array(FLOATS.buffer);
const SHA = createHash('sha256').update(BYTES).digest('hex');
const SPEC: WeightsSpec = {
  file: 'weights.bin',
  floats: FLOATS.length,
  byteLength: BYTES.length,
  sha256: SHA,
};

/** A Cache API stand-in: entries by key, bodies stored as bytes. */
class FakeCache {
  readonly entries = new Map<string, Uint8Array>();
  failPut = false;
  async match(key: string): Promise<Response | undefined> {
    const bytes = this.entries.get(key);
    return bytes && new Response(bytes as Uint8Array<ArrayBuffer>);
  }
  async put(key: string, response: Response): Promise<void> {
    if (this.failPut) throw new DOMException('quota exceeded', 'QuotaExceededError');
    this.entries.set(key, new Uint8Array(await response.arrayBuffer()));
  }
  async delete(key: string): Promise<boolean> {
    return this.entries.delete(key);
  }
}

const g = globalThis as { caches?: unknown };

function installCaches(open: (name: string) => Promise<FakeCache>): void {
  g.caches = { open };
}

describe('weights in the Cache API', () => {
  let server: Server;
  let url = '';
  const requests: string[] = [];
  let body = BYTES;

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/weights.bin`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));
  afterEach(() => {
    delete g.caches;
    requests.length = 0;
    body = BYTES;
  });

  const load = (cache?: boolean | string, spec = SPEC) =>
    loadWeights(spec, url, new URL(url), undefined, cache);

  it('stores fetched weights under their SHA-256 and reads them back without a request', async () => {
    const cache = new FakeCache();
    const opened: string[] = [];
    installCaches(async (name) => {
      opened.push(name);
      return cache;
    });
    expect(Array.from(await load(true))).toEqual(Array.from(FLOATS));
    expect(requests).toHaveLength(1);
    expect([...cache.entries.keys()]).toEqual([weightsCacheKey(SHA)]);
    expect(weightsCacheKey(SHA)).toBe(`https://polyc-weights.invalid/sha256/${SHA}`);
    const progress: number[] = [];
    const again = await loadWeights(
      SPEC,
      url,
      new URL(url),
      (loaded, total) => progress.push(loaded, total),
      true,
    );
    expect(Array.from(again)).toEqual(Array.from(FLOATS));
    expect(requests).toHaveLength(1);
    expect(progress).toEqual([0, BYTES.length, BYTES.length, BYTES.length]);
    await load('my-models');
    expect(opened).toEqual(['polyc-weights', 'polyc-weights', 'my-models']);
  });

  it('a corrupt or truncated cached entry is evicted and the weights fetched again', async () => {
    const cache = new FakeCache();
    installCaches(async () => cache);
    for (const bad of [BYTES.map((b, i) => (i === 100 ? b ^ 1 : b)), BYTES.subarray(0, 64)]) {
      cache.entries.set(weightsCacheKey(SHA), bad);
      requests.length = 0;
      expect(Array.from(await load(true))).toEqual(Array.from(FLOATS));
      expect(requests).toHaveLength(1);
      expect(cache.entries.get(weightsCacheKey(SHA))).toEqual(BYTES);
    }
  });

  it('falls back to fetching where the Cache API is missing, refuses or cannot store', async () => {
    expect(Array.from(await load(true))).toEqual(Array.from(FLOATS)); // no `caches` (Node)
    installCaches(() => Promise.reject(new DOMException('opaque origin', 'SecurityError')));
    expect(Array.from(await load(true))).toEqual(Array.from(FLOATS));
    const full = new FakeCache();
    full.failPut = true;
    installCaches(async () => full);
    expect(Array.from(await load(true))).toEqual(Array.from(FLOATS));
    expect(Array.from(await load(true))).toEqual(Array.from(FLOATS));
    expect(requests).toHaveLength(4);
  });

  it('without the option the Cache API is not used; a bad option is ModelError bad-options', async () => {
    installCaches(() => Promise.reject(new Error('caches.open must not be called')));
    await load();
    await load(false);
    expect(requests).toHaveLength(2);
    for (const bad of ['', 0, null]) {
      await expect(load(bad as unknown as string)).rejects.toMatchObject({ code: 'bad-options' });
    }
  });

  it('a wrong download is still refused, and never stored', async () => {
    const cache = new FakeCache();
    installCaches(async () => cache);
    body = BYTES.map((b, i) => (i === 7 ? b ^ 1 : b));
    await expect(load(true)).rejects.toMatchObject({
      code: 'bad-weights',
      message: expect.stringMatching(/is corrupt or belongs to another model/),
    });
    expect(cache.entries.size).toBe(0);
  });

  it('float16 weights (dtype float16) are widened to float32 on load', async () => {
    const half = new Uint8Array(FLOATS.length * 2);
    FLOATS.forEach((x, i) => {
      const h = float16Bits(x);
      half[2 * i] = h & 0xff;
      half[2 * i + 1] = h >> 8;
    });
    body = half;
    const spec: WeightsSpec = {
      ...SPEC,
      byteLength: half.length,
      sha256: createHash('sha256').update(half).digest('hex'),
      dtype: 'float16',
    };
    const values = await load(undefined, spec);
    expect(values.length).toBe(FLOATS.length);
    let worst = 0;
    FLOATS.forEach((x, i) => {
      if (x !== 0) worst = Math.max(worst, Math.abs(values[i]! - x) / Math.abs(x));
    });
    // Round to nearest: at most half a unit in the last place of an 11-bit significand.
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(2 ** -11);
    body = half.subarray(2);
    await expect(load(undefined, { ...spec })).rejects.toThrow(
      `has ${half.length - 2} bytes, but this model's weights are ${half.length} bytes (1000 little-endian float16)`,
    );
  });
});
