import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { relError } from '../helpers.js';
import { BASE_FLAGS, launchChromium, WEBGPU_FLAGS } from '../support/chromium.js';
import { compileAndInstall, goldenExpected, goldenInput, PKG } from './setup.js';

/**
 * The installed package (polyc compile -> npm pack -> npm install) loaded by a page in headless
 * Chromium, served from 127.0.0.1 (a secure context): index.js imports its runtime.js, fetches
 * weights.bin next to itself (with progress and the SHA-256 check) and runs on navigator.gpu
 * (SwiftShader without a GPU; flags as in test/browser/chromium.test.ts) and on the CPU; `auto`
 * picks the CPU on SwiftShader (a software adapter) and in a Chromium without WebGPU flags.
 */

const PAGE = `<!doctype html><title>${PKG}</title>
<script type="module">import * as pkg from '/pkg/index.js'; globalThis.polycPackage = pkg;</script>`;

const TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.bin': 'application/octet-stream',
  '.ts': 'text/plain',
  '.md': 'text/markdown',
};

interface PageResult {
  readonly results: {
    backend: string;
    adapterInfo: string;
    fallbackReason: string | null;
    logits: number[];
    progress: number;
  }[];
  readonly badInput: string;
  readonly preprocessed: number;
}

/** The part of the package's API the page uses (its index.d.ts, in short). */
interface PackageApi {
  Model: {
    create(options: { backend: 'auto' | 'webgpu' | 'cpu'; onProgress: () => void }): Promise<{
      backend: string;
      adapterInfo: string;
      fallbackReason?: string;
      run(input: Float32Array, options?: { batch?: number }): Promise<{ logits: Float32Array }>;
      destroy(): void;
    }>;
  };
  preprocess(image: { data: Uint8ClampedArray; width: number; height: number }): Float32Array;
}

/** Runs in the page: creates a model per backend and runs the golden input on each. */
async function inPage(arg: {
  input: number[];
  backends: readonly ('auto' | 'webgpu' | 'cpu')[];
}): Promise<PageResult> {
  const pkg = (globalThis as unknown as { polycPackage: PackageApi }).polycPackage;
  const input = Float32Array.from(arg.input);
  const results = [];
  let badInput = '';
  for (const backend of arg.backends) {
    let progress = 0;
    const model = await pkg.Model.create({ backend, onProgress: () => progress++ });
    try {
      const { logits } = await model.run(input, { batch: 3 });
      results.push({
        backend: model.backend,
        adapterInfo: model.adapterInfo,
        fallbackReason: model.fallbackReason ?? null,
        logits: Array.from(logits),
        progress,
      });
      badInput ||= await model.run(new Float32Array(10)).then(
        () => 'no error',
        (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`,
      );
    } finally {
      model.destroy();
    }
  }
  const canvas = new OffscreenCanvas(48, 40);
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#808080';
  ctx.fillRect(0, 0, 48, 40);
  const preprocessed = pkg.preprocess(ctx.getImageData(0, 0, 48, 40)).length;
  return { results, badInput, preprocessed };
}

/**
 * A module worker of a cross-origin-isolated page: the model lives here, where blocking waits are
 * allowed, and its CPU kernels run on `threads` threads (this one and nested workers).
 */
const WORKER = `import * as pkg from '/pkg/index.js';
onmessage = async (e) => {
  try {
    const model = await pkg.Model.create({ backend: 'cpu', threads: e.data.threads });
    const { logits } = await model.run(Float32Array.from(e.data.input), { batch: 3 });
    postMessage({ isolated: crossOriginIsolated, backend: model.backend, threads: model.threads,
      adapterInfo: model.adapterInfo, logits: Array.from(logits) });
    model.destroy();
  } catch (err) {
    postMessage({ error: String(err) });
  }
};`;

/** The shipped example PNG (scripts/make-example-image.ts), served at SCENE_PATH. */
const SCENE = 'examples/images/scene.png';
const SCENE_PATH = '/scene.png';

/** The preprocessed tensors of every image source (as number arrays) and what went wrong where. */
interface ImagesResult {
  readonly tensors: Record<string, number[]>;
  readonly batch: number;
  readonly classified: Record<string, { index: number; label: string | null; prob: number; logit: number }[]>;
  readonly errors: Record<string, string>;
}

/** The part of the package's API the image page uses. */
interface ImagesPackageApi {
  preprocess(images: unknown): Float32Array;
  readImage(source: unknown): Promise<{ data: Uint8ClampedArray; width: number; height: number }>;
  Model: {
    create(options: { backend: 'cpu' }): Promise<{
      classify(
        image: unknown,
        k?: number,
      ): Promise<{ index: number; label: string | null; prob: number; logit: number }[]>;
      destroy(): void;
    }>;
  };
}

/**
 * Runs in the page: the served PNG as every image source the package takes (an <img>, its Blob, a
 * File, the URL, ImageData, a canvas, an OffscreenCanvas, an ImageBitmap), each preprocessed;
 * `classify` from three of them; and the coded errors of bad sources.
 */
async function inPageImages(path: string): Promise<ImagesResult> {
  const pkg = (globalThis as unknown as { polycPackage: ImagesPackageApi }).polycPackage;
  const img = new Image();
  img.src = path;
  await img.decode();
  const blob = await (await fetch(path)).blob();
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const [w, h] = [img.naturalWidth, img.naturalHeight];
  const canvas = document.createElement('canvas');
  // Shown smaller than its pixels: the readout must not care about CSS or layout.
  canvas.style.width = '20px';
  [canvas.width, canvas.height] = [w, h];
  canvas.getContext('2d')!.drawImage(img, 0, 0);
  const offscreen = new OffscreenCanvas(w, h);
  offscreen.getContext('2d')!.drawImage(bitmap, 0, 0);
  // An <img> laid out at another size than its natural one.
  img.width = 17;
  document.body.append(img);
  const tensors: Record<string, Float32Array> = {
    img: pkg.preprocess(img),
    imgAsync: pkg.preprocess(await pkg.readImage(img)),
    blob: pkg.preprocess(await pkg.readImage(blob)),
    file: pkg.preprocess(await pkg.readImage(new File([blob], 'scene.png', { type: 'image/png' }))),
    url: pkg.preprocess(await pkg.readImage(path)),
    absoluteUrl: pkg.preprocess(await pkg.readImage(new URL(path, location.href))),
    imageData: pkg.preprocess(canvas.getContext('2d')!.getImageData(0, 0, w, h)),
    canvas: pkg.preprocess(canvas),
    offscreen: pkg.preprocess(offscreen),
    bitmap: pkg.preprocess(bitmap),
  };
  const batch = pkg.preprocess([img, canvas, bitmap]).length;
  const errors: Record<string, string> = {};
  const attempt = async (name: string, f: () => unknown) => {
    try {
      await f();
      errors[name] = 'no error';
    } catch (e) {
      const { name: n, code, message } = e as { name: string; code: string; message: string };
      errors[name] = `${n} ${code}: ${message}`;
    }
  };
  const model = await pkg.Model.create({ backend: 'cpu' });
  const classified: ImagesResult['classified'] = {};
  try {
    // Not yet loaded: preprocess refuses it, classify waits for it.
    const loading = new Image();
    loading.src = `${path}?loading`;
    await attempt('notLoaded', () => pkg.preprocess(loading));
    classified.loading = await model.classify(loading, 3);
    classified.blob = await model.classify(blob, 3);
    classified.url = await model.classify(path, 3);
    classified.img = await model.classify(img, 3);
    await attempt('missing', () => model.classify('/missing.png'));
    await attempt('unreachable', () => model.classify('http://127.0.0.1:9/x.png'));
    await attempt('notAnImage', () => model.classify(new Blob(['<html>'], { type: 'image/png' })));
    await attempt('file', () => model.classify(new File(['%PDF'], 'doc.pdf', { type: 'application/pdf' })));
    await attempt('broken', async () => {
      const broken = new Image();
      broken.src = '/missing.png';
      await broken.decode().catch(() => undefined);
      return pkg.preprocess(broken);
    });
    await attempt('blobSync', () => pkg.preprocess(blob));
    await attempt('number', () => pkg.preprocess(42));
    bitmap.close();
    await attempt('closedBitmap', () => pkg.preprocess(bitmap));
  } finally {
    model.destroy();
  }
  const plain = Object.fromEntries(Object.entries(tensors).map(([k, v]) => [k, Array.from(v)]));
  return { tensors: plain, batch, classified, errors };
}

/** Headers that make a page cross-origin isolated (SharedArrayBuffer, `crossOriginIsolated`). */
const ISOLATION = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};

/**
 * Serves the page at /, /worker.js and the installed package under /pkg/, recording the paths
 * asked for; with `isolated`, every response carries the cross-origin isolation headers.
 */
async function serve(pkgDir: string, requests: string[], isolated = false): Promise<Server> {
  const headers = isolated ? ISOLATION : {};
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push(url.pathname);
    if (url.pathname === '/') {
      res.writeHead(200, { ...headers, 'content-type': 'text/html' }).end(PAGE);
      return;
    }
    if (url.pathname === SCENE_PATH) {
      res.writeHead(200, { ...headers, 'content-type': 'image/png' }).end(readFileSync(SCENE));
      return;
    }
    if (url.pathname === '/worker.js') {
      res.writeHead(200, { ...headers, 'content-type': 'text/javascript' }).end(WORKER);
      return;
    }
    const rel = normalize(url.pathname.replace(/^\/pkg\//, ''));
    const file = join(pkgDir, rel);
    if (
      !url.pathname.startsWith('/pkg/') ||
      rel.startsWith('..') ||
      !existsSync(file) ||
      !statSync(file).isFile()
    ) {
      res.writeHead(404).end();
      return;
    }
    const ext = file.slice(file.lastIndexOf('.'));
    res
      .writeHead(200, { ...headers, 'content-type': TYPES[ext] ?? 'application/octet-stream' })
      .end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** Runs in the page: the model in a module worker on `threads` threads. */
async function inWorker(arg: { input: number[]; threads: number }): Promise<Record<string, unknown>> {
  const worker = new Worker('/worker.js', { type: 'module' });
  try {
    return await new Promise((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data as Record<string, unknown>);
      worker.onerror = (e) => reject(new Error(e.message));
      worker.postMessage(arg);
    });
  } finally {
    worker.terminate();
  }
}

/** Runs in the page: a model on the page's main thread asked for 2 threads, and how many it got. */
async function onMainThread(): Promise<Record<string, unknown>> {
  const pkg = (globalThis as unknown as { polycPackage: ThreadsPackageApi }).polycPackage;
  const model = await pkg.Model.create({ backend: 'cpu', threads: 2 });
  model.destroy();
  return { isolated: crossOriginIsolated, threads: model.threads };
}

interface ThreadsPackageApi {
  Model: {
    create(options: { backend: 'cpu'; threads: number }): Promise<{ threads: number; destroy(): void }>;
  };
}

/** Runs in the page: `Model.createInWorker` (the model in a worker the package starts), then `run`. */
async function inModelWorker(arg: { input: number[]; threads?: number }): Promise<Record<string, unknown>> {
  const pkg = (globalThis as unknown as { polycPackage: WorkerPackageApi }).polycPackage;
  let progress = 0;
  const model = await pkg.Model.createInWorker({
    backend: 'auto',
    ...(arg.threads === undefined ? {} : { threads: arg.threads }),
    onProgress: () => progress++,
  });
  try {
    const { logits } = await model.run(Float32Array.from(arg.input), { batch: 3 });
    const badInput = await model.run(new Float32Array(10)).then(
      () => 'no error',
      (e: { name?: string; code?: string }) => `${e.name} ${e.code}`,
    );
    // classify reads and preprocesses on the page, runs in the worker: as run + topk of preprocess.
    const canvas = new OffscreenCanvas(40, 30);
    const ctx = canvas.getContext('2d')!;
    const gradient = ctx.createLinearGradient(0, 0, 40, 30);
    gradient.addColorStop(0, '#1060c0');
    gradient.addColorStop(1, '#f0a020');
    ctx.fillStyle = gradient;
    ctx.fillRect(0, 0, 40, 30);
    const classified = await model.classify(canvas, 3);
    const viaRun = model.topk((await model.run(pkg.preprocess(canvas))).logits, 3)[0];
    return {
      classifyMatches: classified.length === 3 && JSON.stringify(classified) === JSON.stringify(viaRun),
      backend: model.backend,
      threads: model.threads,
      fallbackReason: model.fallbackReason,
      adapterInfo: model.adapterInfo,
      logits: Array.from(logits),
      top: model.topk(logits, 1)[0]![0]!.index,
      progress,
      badInput,
    };
  } finally {
    model.destroy();
  }
}

/** Runs in the page: `createInWorker` with a signal aborted before the call, and one aborted during it. */
async function abortedWorkers(): Promise<string[]> {
  const pkg = (globalThis as unknown as { polycPackage: WorkerPackageApi }).polycPackage;
  const code = (e: { name?: string; code?: string; message?: string }) => `${e.name} ${e.code}: ${e.message}`;
  const before = await pkg.Model.createInWorker({ signal: AbortSignal.abort('not wanted') }).then(
    () => 'created',
    code,
  );
  const controller = new AbortController();
  const during = pkg.Model.createInWorker({ signal: controller.signal }).then(() => 'created', code);
  // The worker has not even loaded index.js yet.
  setTimeout(() => controller.abort('too slow'), 0);
  return [before, await during];
}

interface WorkerPackageApi {
  Model: {
    createInWorker(options: {
      backend?: 'auto';
      threads?: number;
      onProgress?: () => void;
      signal?: AbortSignal;
    }): Promise<{
      backend: string;
      threads: number;
      adapterInfo: string;
      fallbackReason?: string;
      run(input: Float32Array, options?: { batch?: number }): Promise<{ logits: Float32Array }>;
      topk(logits: Float32Array, k: number): { index: number }[][];
      classify(image: OffscreenCanvas, k: number): Promise<{ index: number }[]>;
      destroy(): void;
    }>;
  };
  preprocess(image: OffscreenCanvas): Float32Array;
}

/** Checks a model-in-a-worker's result: the CPU backend on `threads`, the golden logits. */
function checkModelWorker(result: Record<string, unknown>, threads: number, what: string): void {
  const expected = goldenExpected();
  const err = relError(Float32Array.from(result.logits as number[]), expected);
  console.log(
    `${PKG} in Chromium, createInWorker (${what}), ${result.adapterInfo}: max rel error ${err.toExponential(2)}`,
  );
  expect(err).toBeLessThan(1e-4);
  expect(result).toMatchObject({
    backend: 'cpu',
    threads,
    badInput: 'ModelError bad-input',
    classifyMatches: true,
  });
  expect(result.top).toBe(expected.subarray(0, 10).indexOf(Math.max(...expected.subarray(0, 10))));
  expect(result.progress).toBeGreaterThanOrEqual(2);
}

/** Opens the page in a new headless Chromium with `flags` and runs `inPage` on the golden input. */
async function runInChromium(
  root: string,
  server: Server,
  flags: readonly string[],
  backends: readonly ('auto' | 'webgpu' | 'cpu')[],
): Promise<PageResult> {
  return withPage(root, server, flags, (page) =>
    page.evaluate(inPage, { input: Array.from(goldenInput()), backends }),
  );
}

/** `use` on the page at / of `server` in a new headless Chromium with `flags`, failing on page errors. */
async function withPage<T>(
  root: string,
  server: Server,
  flags: readonly string[],
  use: (page: Page) => Promise<T>,
): Promise<T> {
  const context = await launchChromium(mkdtempSync(join(root, 'profile-')), { args: flags });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => 'polycPackage' in globalThis, undefined, { timeout: 10_000 });
    const result = await use(page);
    expect(pageErrors).toEqual([]);
    return result;
  } finally {
    await context.close();
  }
}

/** Checks each backend's logits against the golden ones (< 1e-4) and returns the backends used. */
function checkLogits(result: PageResult, what: string): string[] {
  const expected = goldenExpected();
  for (const r of result.results) {
    const err = relError(Float32Array.from(r.logits), expected);
    console.log(
      `${PKG} in Chromium (${what}), backend ${r.backend} (${r.adapterInfo}): max rel error ${err.toExponential(2)}`,
    );
    expect(err).toBeLessThan(1e-4);
    expect(r.progress).toBeGreaterThanOrEqual(2);
  }
  return result.results.map((r) => r.backend);
}

describe('the generated package in headless Chromium', () => {
  const root = mkdtempSync(join(tmpdir(), 'polyc-package-browser-'));
  const requests: string[] = [];
  let server: Promise<{ server: Server; pkgDir: string }> | undefined;
  const setup = () =>
    (server ??= (async () => {
      const { pkgDir } = await compileAndInstall(root);
      return { server: await serve(pkgDir, requests), pkgDir };
    })());

  afterAll(async () => {
    const listening = (await server?.catch(() => undefined))?.server;
    await new Promise((resolve) => (listening ? listening.close(resolve) : resolve(undefined)));
    rmSync(root, { recursive: true, force: true });
  });

  it('loads from 127.0.0.1, fetches its weights and matches the authors\u2019 logits on WebGPU', async () => {
    const result = await runInChromium(root, (await setup()).server, WEBGPU_FLAGS, ['webgpu', 'cpu']);
    expect(checkLogits(result, 'WebGPU flags')).toEqual(['webgpu', 'cpu']);
    expect(result.badInput).toMatch(/^bad-input: input has 10 floats/);
    expect(result.preprocessed).toBe(3 * 32 * 32);
    expect(requests).toEqual(
      expect.arrayContaining([
        '/pkg/index.js',
        '/pkg/runtime.js',
        '/pkg/webgpu.js',
        '/pkg/cpu.js',
        '/pkg/weights.bin',
      ]),
    );
    // Pipeline creation on SwiftShader dominates; on a loaded 2-core machine it can pass a minute.
  }, 180_000);

  it("'auto' runs the CPU backend on a SwiftShader adapter and without WebGPU, matching the authors\u2019 logits", async () => {
    const listening = (await setup()).server;
    const software = await runInChromium(root, listening, WEBGPU_FLAGS, ['auto']);
    expect(checkLogits(software, 'SwiftShader adapter')).toEqual(['cpu']);
    expect(software.results[0]!.fallbackReason).toMatch(
      /^WebGPU adapter '[^']*swiftshader[^']*' is a software \(fallback\) adapter; the CPU backend is faster$/i,
    );
    const plain = await runInChromium(root, listening, BASE_FLAGS, ['auto']);
    expect(checkLogits(plain, 'no WebGPU flags')).toEqual(['cpu']);
    // Without the flags this Chromium (Linux, no GPU) offers no WebGPU or no usable adapter.
    expect(plain.results[0]!.fallbackReason).toMatch(
      /^WebGPU (is not available|found no adapter|adapter '[^']*' is a software)/,
    );
  });

  it('reads an <img>, Blob, File, URL, ImageData, canvases and an ImageBitmap of a PNG exactly as the byte path', async () => {
    const { server, pkgDir } = await setup();
    const result = await withPage(root, server, BASE_FLAGS, (page) =>
      page.evaluate(inPageImages, SCENE_PATH),
    );
    // The byte path in Node: pngjs decodes the PNG, the installed package preprocesses the bytes.
    const pkg = (await import(pathToFileURL(join(pkgDir, 'index.js')).href)) as {
      preprocess(image: { data: Uint8Array; width: number; height: number }): Float32Array;
      Model: {
        create(o: { backend: 'cpu' }): Promise<{
          classify(image: unknown, k: number): Promise<{ index: number; prob: number }[]>;
          destroy(): void;
        }>;
      };
    };
    const png = PNG.sync.read(readFileSync(SCENE));
    const bytes = { data: new Uint8Array(png.data), width: png.width, height: png.height };
    const expected = Array.from(pkg.preprocess(bytes));
    for (const [source, tensor] of Object.entries(result.tensors)) {
      // Bit for bit: the same RGBA bytes go through the same resize.
      expect(tensor, source).toEqual(expected);
    }
    expect(result.batch).toBe(3 * expected.length);
    const model = await pkg.Model.create({ backend: 'cpu' });
    const want = await model.classify(bytes, 3);
    model.destroy();
    for (const [source, predictions] of Object.entries(result.classified)) {
      expect(
        predictions.map((p) => p.index),
        source,
      ).toEqual(want.map((p) => p.index));
      predictions.forEach((p, i) => {
        expect(Math.abs(p.prob - want[i]!.prob), source).toBeLessThan(1e-6);
      });
    }
    const port = (server.address() as AddressInfo).port;
    expect(result.errors).toEqual({
      notLoaded: expect.stringMatching(
        new RegExp(
          `^ModelError bad-image: the <img> \\(http://127.0.0.1:${port}/scene.png\\?loading\\) has not finished loading: await img.decode\\(\\)`,
        ),
      ),
      missing: `ModelError image-fetch-failed: could not fetch the image http://127.0.0.1:${port}/missing.png: HTTP 404 Not Found`,
      unreachable: expect.stringMatching(
        /^ModelError image-fetch-failed: could not fetch the image http:\/\/127.0.0.1:9\/x.png: /,
      ),
      notAnImage: expect.stringMatching(
        /^ModelError bad-image: the Blob \(image\/png, 6 bytes\) could not be decoded as an image: /,
      ),
      file: expect.stringMatching(
        /^ModelError bad-image: the file doc.pdf \(application\/pdf, 4 bytes\) could not be decoded as an image: /,
      ),
      broken: expect.stringMatching(/^ModelError bad-image: the <img> \(.*\/missing.png\) has no pixels/),
      blobSync: expect.stringMatching(
        /^ModelError unsupported-image: preprocess cannot read a Blob synchronously/,
      ),
      number: expect.stringMatching(/^ModelError unsupported-image: not an image: got number/),
      closedBitmap: 'ModelError bad-image: the ImageBitmap is 0x0: it has no pixels (closed?)',
    });
  });

  it('createInWorker on a page that is not isolated: one thread, off the main thread', async () => {
    const result = await withPage(root, (await setup()).server, WEBGPU_FLAGS, (page) =>
      page.evaluate(inModelWorker, { input: Array.from(goldenInput()) }),
    );
    checkModelWorker(result, 1, 'not isolated');
    expect(result.fallbackReason).toMatch(/is a software \(fallback\) adapter; the CPU backend is faster$/);
    // A signal aborts the creation: the worker is stopped and the call rejects with 'aborted'.
    const aborted = await withPage(root, (await setup()).server, WEBGPU_FLAGS, (page) =>
      page.evaluate(abortedWorkers),
    );
    expect(aborted).toEqual([
      'ModelError aborted: creating the model in its worker was aborted: not wanted',
      'ModelError aborted: creating the model in its worker was aborted: too slow',
    ]);
  });

  it('runs on 2 threads in a worker of a cross-origin-isolated page (its own, and createInWorker\u2019s), matching the authors\u2019 logits', async () => {
    const { pkgDir } = await setup();
    const isolated = await serve(pkgDir, [], true);
    try {
      const [result, modelWorker, mainThread] = await withPage(root, isolated, BASE_FLAGS, async (page) => [
        await page.evaluate(inWorker, { input: Array.from(goldenInput()), threads: 2 }),
        await page.evaluate(inModelWorker, { input: Array.from(goldenInput()), threads: 2 }),
        await page.evaluate(onMainThread),
      ]);
      // The page's main thread may not block (Atomics.wait): a model there runs on one thread.
      expect(mainThread).toEqual({ isolated: true, threads: 1 });
      checkModelWorker(modelWorker, 2, 'isolated page, 2 threads');
      expect(result.error).toBeUndefined();
      expect(result).toMatchObject({
        isolated: true,
        backend: 'cpu',
        threads: 2,
        adapterInfo: 'CPU (WebAssembly SIMD kernels, 2 threads)',
      });
      const err = relError(Float32Array.from(result.logits as number[]), goldenExpected());
      console.log(
        `${PKG} in Chromium, a worker of an isolated page, 2 threads: max rel error ${err.toExponential(2)}`,
      );
      expect(err).toBeLessThan(1e-4);
    } finally {
      await new Promise((resolve) => isolated.close(resolve));
    }
  });
});
