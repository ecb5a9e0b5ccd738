import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { relError } from '../helpers.js';
import { BASE_FLAGS, launchChromium } from '../support/chromium.js';
import { compileAndInstall, goldenExpected, goldenInput, PKG } from './setup.js';

/**
 * `Model.create({ cache: true })` in headless Chromium: the installed package's weights.bin is
 * served with `cache-control: no-store` (so the HTTP cache cannot hide a request), kept in the
 * Cache API by the first page load, read from there by the next ones (no request for it), and a
 * corrupted entry is caught by the SHA-256 check, replaced and the weights fetched again. On an
 * insecure origin (no Cache API) the option falls back to fetching, silently.
 */

const PAGE = `<!doctype html><title>${PKG}</title>
<script type="module">import * as pkg from '/pkg/index.js'; globalThis.polycPackage = pkg;</script>`;

async function serve(pkgDir: string, requests: string[]): Promise<Server> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    requests.push(path);
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'no-store' }).end(PAGE);
      return;
    }
    const rel = normalize(path.replace(/^\/pkg\//, ''));
    const file = join(pkgDir, rel);
    if (!path.startsWith('/pkg/') || rel.startsWith('..') || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    const type = file.endsWith('.js') ? 'text/javascript' : 'application/octet-stream';
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

interface CachePackage {
  WEIGHTS: { sha256: string };
  Model: {
    create(options: { backend: 'cpu'; cache: boolean }): Promise<{
      run(input: Float32Array): Promise<{ logits: Float32Array }>;
      destroy(): void;
    }>;
  };
}

/** Runs in the page: a CPU model with `cache: true` on the golden input; what the Cache API holds. */
async function createCached(input: number[]): Promise<{
  logits: number[];
  secure: boolean;
  cacheApi: boolean;
  entries: { url: string; sha256: string }[];
}> {
  const pkg = (globalThis as unknown as { polycPackage: CachePackage }).polycPackage;
  const model = await pkg.Model.create({ backend: 'cpu', cache: true });
  const { logits } = await model.run(Float32Array.from(input));
  model.destroy();
  const entries = [];
  if (globalThis.caches !== undefined) {
    const cache = await caches.open('polyc-weights');
    for (const request of await cache.keys()) {
      const bytes = await (await cache.match(request))!.arrayBuffer();
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
      entries.push({
        url: request.url,
        sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''),
      });
    }
  }
  return {
    logits: Array.from(logits),
    secure: isSecureContext,
    cacheApi: globalThis.caches !== undefined,
    entries,
  };
}

/** Runs in the page: flips one byte of the cached weights (the entry stays, its SHA-256 changes). */
async function corruptCached(): Promise<number> {
  const cache = await caches.open('polyc-weights');
  const [request] = await cache.keys();
  const bytes = new Uint8Array(await (await cache.match(request!))!.arrayBuffer());
  bytes[1000] = bytes[1000]! ^ 0xff;
  await cache.put(request!, new Response(bytes));
  return bytes.length;
}

describe('weights kept in the Cache API, in headless Chromium', () => {
  const root = mkdtempSync(join(tmpdir(), 'polyc-package-cache-'));
  const requests: string[] = [];
  let server: Server | undefined;
  afterAll(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    rmSync(root, { recursive: true, force: true });
  });

  const weightsRequests = () => requests.filter((p) => p === '/pkg/weights.bin').length;
  const check = (r: { logits: number[] }, what: string) => {
    const err = relError(Float32Array.from(r.logits), goldenExpected());
    console.log(`${PKG} in Chromium, cache: true (${what}): max rel error ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
  };

  it('loads weights.bin once per origin; a corrupted entry is refetched; an insecure page just fetches', async () => {
    const { pkgDir } = await compileAndInstall(root);
    server = await serve(pkgDir, requests);
    const port = (server.address() as AddressInfo).port;
    const input = Array.from(goldenInput());
    const sha256 = JSON.parse(readFileSync(join(pkgDir, 'weights.json'), 'utf8')).sha256 as string;
    const load = async (page: Page) => {
      await page.waitForFunction(() => 'polycPackage' in globalThis, undefined, { timeout: 10_000 });
      return page.evaluate(createCached, input);
    };

    const context = await launchChromium(mkdtempSync(join(root, 'profile-')), { args: BASE_FLAGS });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`http://127.0.0.1:${port}/`);
      const first = await load(page);
      check(first, 'first load');
      expect(weightsRequests()).toBe(1);
      expect(first.entries).toEqual([{ url: `https://polyc-weights.invalid/sha256/${sha256}`, sha256 }]);

      await page.reload();
      const second = await load(page);
      check(second, 'page reloaded');
      expect(weightsRequests()).toBe(1); // from the Cache API: no request
      expect(requests.filter((p) => p === '/pkg/index.js').length).toBe(2); // the page did load again

      expect(await page.evaluate(corruptCached)).toBeGreaterThan(1000);
      await page.reload();
      const repaired = await load(page);
      check(repaired, 'corrupted entry');
      expect(weightsRequests()).toBe(2); // the SHA-256 check failed: fetched again
      expect(repaired.entries).toEqual(first.entries); // and the good weights stored in its place

      await page.reload();
      check(await load(page), 'after the repair');
      expect(weightsRequests()).toBe(2);
      expect(pageErrors).toEqual([]);
    } finally {
      await context.close();
    }

    // A host name that is not loopback: plain http there is an insecure context, with no Cache API.
    const insecure = await launchChromium(mkdtempSync(join(root, 'profile-')), {
      args: [...BASE_FLAGS, '--host-resolver-rules=MAP polyc-cache.test 127.0.0.1'],
    });
    try {
      const page = insecure.pages()[0] ?? (await insecure.newPage());
      await page.goto(`http://polyc-cache.test:${port}/`);
      const plain = await load(page);
      expect(plain).toMatchObject({ secure: false, cacheApi: false, entries: [] });
      check(plain, 'insecure origin');
      expect(weightsRequests()).toBe(3);
    } finally {
      await insecure.close();
    }
  }, 240_000); // compiles the package first (about a minute on a busy machine)
});
