import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { relError } from '../helpers.js';
import { launchChromium } from '../support/chromium.js';
import { CASE, compileAndInstall, goldenExpected, type Installed, LABELS, PKG } from './setup.js';

/**
 * A consumer app (index.html + main.js importing the installed package by its npm name) built by
 * the bundlers web developers use, with no configuration for the package, and opened in headless
 * Chromium from 127.0.0.1: Vite's dev server and a Vite production build (Vite's JS API), and a
 * webpack 5 production build (its Node API). The app runs the golden input with `backend: 'auto'`
 * (this Chromium has no WebGPU flags, so webgpu.js is loaded and the CPU backend chosen) and with
 * `Model.createInWorker` (the worker entry the bundler made from the package's index.js), and
 * shows the logits and top-1 labels on the page. Each build must fetch weights.bin from the URL
 * the bundler gave it and match the authors' logits; the Vite build also with a custom weights URL
 * relative to the page, the webpack build on 2 worker threads in a cross-origin-isolated page.
 * Then the built app with its weights missing: a static host's single-page-app fallback and a 404
 * are reported as such on the page. WebGPU is left out: on SwiftShader its pipelines take ~25 s
 * per page, and browser.test.ts runs the same webgpu.js unbundled.
 */

const INDEX_HTML = (script: string) => `<!doctype html>
<html><head><meta charset="utf-8"><title>consumer</title><link rel="icon" href="data:,"></head>
<body><pre id="out">loading</pre>${script}</body></html>
`;

/** The app, as a user writes it: nothing about the package but its name. */
const MAIN_JS = `import { Model } from '${PKG}';

const out = document.getElementById('out');
const show = (state, value) => {
  out.textContent = JSON.stringify(value);
  out.dataset.state = state;
};

// Weights from elsewhere, e.g. ?weights=models/w.bin (relative to the page); default: the package's.
// ?threads=2: the worker's CPU threads (they run where the page is cross-origin isolated).
const query = new URLSearchParams(location.search);
const weights = query.get('weights') ?? undefined;
const threads = query.has('threads') ? Number(query.get('threads')) : undefined;

async function main() {
  const input = new Float32Array(await (await fetch('input.f32')).arrayBuffer());
  const model = await Model.create({ weights });
  const { logits } = await model.run(input, { batch: 3 });
  const result = {
    backend: model.backend,
    fallbackReason: model.fallbackReason ?? null,
    logits: Array.from(logits),
    top1: model.topk(logits, 1).map((image) => image[0].label),
  };
  model.destroy();
  const inWorker = await Model.createInWorker({ backend: 'cpu', weights, threads });
  result.workerThreads = inWorker.threads;
  result.worker = Array.from((await inWorker.run(input, { batch: 3 })).logits);
  inWorker.destroy();
  show('done', result);
}

main().catch((e) => show('error', { name: e.name, code: e.code, message: e.message }));
`;

interface AppResult {
  backend: string;
  fallbackReason: string | null;
  logits: number[];
  top1: string[];
  worker: number[];
  workerThreads: number;
}

interface PageOutcome {
  readonly state: 'done' | 'error';
  readonly value: Record<string, unknown>;
  /** Every response the page and its workers got: URL, status and content-length (-1: none). */
  readonly responses: { url: string; status: number; bytes: number }[];
}

/** Writes the app into the consumer project (where the package is installed). */
function writeApp(consumer: string): void {
  writeFileSync(join(consumer, 'index.html'), INDEX_HTML('<script type="module" src="./main.js"></script>'));
  writeFileSync(join(consumer, 'main.js'), MAIN_JS);
  // Vite serves and copies public/ as is; webpack's output gets a copy below.
  mkdirSync(join(consumer, 'public'));
  cpSync(`test/golden/${CASE}/input.f32`, join(consumer, 'public', 'input.f32'));
}

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.bin': 'application/octet-stream',
  '.f32': 'application/octet-stream',
};

/**
 * A static file server for a build's output directory. `spaFallback`: unknown paths get
 * index.html (as single-page-app hosts and dev servers answer); else they are 404s.
 */
async function serveStatic(
  dir: string,
  spaFallback = false,
  headers: Record<string, string> = {},
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const rel = normalize(path === '/' ? 'index.html' : path.slice(1));
    const file = join(dir, rel);
    if (!rel.startsWith('..') && existsSync(file) && statSync(file).isFile()) {
      const body = readFileSync(file);
      res.writeHead(200, {
        ...headers,
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'content-length': body.length,
      });
      res.end(body);
    } else if (spaFallback) {
      res.writeHead(200, { 'content-type': 'text/html' }).end(readFileSync(join(dir, 'index.html')));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const urlOf = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
/** Stops `server`, dropping the browser's kept-alive connections (close alone waits for them). */
const close = (server: Server) =>
  new Promise((resolve) => {
    server.close(resolve);
    server.closeAllConnections();
  });

/** The responses for .bin files (by path: the page's own URL may end in `?weights=....bin`). */
const weightsResponses = (outcome: PageOutcome) =>
  outcome.responses.filter((r) => new URL(r.url).pathname.endsWith('.bin'));

/** Checks an app's result: CPU backend after loading webgpu.js, golden logits, labels, the worker. */
function checkApp(outcome: PageOutcome, what: string, weightsSize: number, workerThreads = 1): void {
  expect(outcome.value, JSON.stringify(outcome.value)).not.toHaveProperty('message');
  expect(outcome.state).toBe('done');
  const result = outcome.value as unknown as AppResult;
  const expected = goldenExpected();
  const err = relError(Float32Array.from(result.logits), expected);
  const workerErr = relError(Float32Array.from(result.worker), expected);
  const weights = weightsResponses(outcome);
  console.log(
    `${what}: backend ${result.backend}, max rel error ${err.toExponential(2)} ` +
      `(createInWorker ${workerErr.toExponential(2)}), weights from ${weights.map((r) => r.url).join(', ')}`,
  );
  expect(err).toBeLessThan(1e-4);
  expect(workerErr).toBeLessThan(1e-4);
  expect(result.backend).toBe('cpu');
  expect(result.workerThreads).toBe(workerThreads);
  // webgpu.js was loaded (a chunk of the bundle) and found no WebGPU in this Chromium.
  expect(result.fallbackReason).toMatch(/^WebGPU (is not available|found no adapter)/);
  const top1 = [0, 1, 2].map((i) => {
    const row = expected.subarray(i * 10, i * 10 + 10);
    return LABELS[row.indexOf(Math.max(...row))];
  });
  expect(result.top1).toEqual(top1);
  // Fetched by the page and by the worker, whole, from where the bundler put it.
  expect(weights.length).toBeGreaterThanOrEqual(2);
  for (const r of weights) expect(r).toMatchObject({ status: 200, bytes: weightsSize });
  expect(outcome.responses.filter((r) => r.status >= 400)).toEqual([]);
}

describe('a consumer app built by bundlers, in headless Chromium', () => {
  const root = mkdtempSync(join(tmpdir(), 'polyc-package-bundlers-'));
  let installed: Promise<Installed> | undefined;
  let browser: Promise<BrowserContext> | undefined;
  let viteDist: Promise<string> | undefined;

  const setup = () =>
    (installed ??= compileAndInstall(root).then((r) => {
      writeApp(r.consumer);
      return r;
    }));
  const weightsSize = () => statSync(join(root, 'out', 'weights.bin')).size;

  /** Opens `url` in the shared browser and waits for the app's result (or error) on the page. */
  async function openApp(url: string): Promise<PageOutcome> {
    browser ??= launchChromium(mkdtempSync(join(root, 'profile-')));
    const page = await (await browser).newPage();
    try {
      const pageErrors: string[] = [];
      const responses: PageOutcome['responses'][number][] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      // With its workers' requests (whose bodies Chromium does not keep: the length header).
      page.on('response', (r) =>
        responses.push({
          url: r.url(),
          status: r.status(),
          bytes: Number(r.headers()['content-length'] ?? -1),
        }),
      );
      await page.goto(url);
      const out = page.locator('#out[data-state]');
      await out.waitFor({ timeout: 60_000 });
      const state = (await out.getAttribute('data-state')) as PageOutcome['state'];
      const value = JSON.parse((await out.textContent()) ?? 'null') as Record<string, unknown>;
      expect(pageErrors).toEqual([]);
      return { state, value, responses };
    } finally {
      await page.close();
    }
  }

  /** `vite build` of the app (Vite's JS API, no config file): the output directory. */
  const buildWithVite = () =>
    (viteDist ??= (async () => {
      const { consumer } = await setup();
      const { build } = await import('vite');
      const outDir = join(root, 'vite-dist');
      await build({
        root: consumer,
        configFile: false,
        logLevel: 'warn',
        build: { outDir, emptyOutDir: true },
      });
      return outDir;
    })());

  afterAll(async () => {
    await (await browser?.catch(() => undefined))?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('Vite dev server: serves the package and its weights.bin, no configuration', async () => {
    const { consumer } = await setup();
    const { createServer: createViteServer } = await import('vite');
    const server = await createViteServer({
      root: consumer,
      configFile: false,
      logLevel: 'warn',
      cacheDir: join(root, 'vite-cache'),
      server: { host: '127.0.0.1', port: 0, hmr: false },
    });
    try {
      await server.listen();
      checkApp(await openApp(server.resolvedUrls!.local[0]!), 'Vite dev server', weightsSize());
    } finally {
      await server.close();
    }
  });

  it('Vite production build: weights.bin becomes a hashed asset, the worker a chunk', async () => {
    const dist = await buildWithVite();
    const server = await serveStatic(dist);
    try {
      const outcome = await openApp(urlOf(server));
      checkApp(outcome, 'Vite build', weightsSize());
      expect(outcome.responses.map((r) => r.url)).toContainEqual(
        expect.stringMatching(/\/assets\/weights-[\w-]+\.bin$/),
      );
      // A custom weights URL, relative to the page, for the page's model and the worker's.
      mkdirSync(join(dist, 'models'), { recursive: true });
      cpSync(join(root, 'out', 'weights.bin'), join(dist, 'models', 'w.bin'));
      const custom = await openApp(`${urlOf(server)}?weights=models/w.bin`);
      checkApp(custom, 'Vite build, ?weights=models/w.bin', weightsSize());
      expect(weightsResponses(custom).map((r) => r.url)).toEqual([
        `${urlOf(server)}models/w.bin`,
        `${urlOf(server)}models/w.bin`,
      ]);
    } finally {
      await close(server);
    }
  });

  it('webpack 5 production build: weights.bin an asset module, no configuration for the package', async () => {
    const { consumer } = await setup();
    const { default: webpack } = await import('webpack');
    const dist = join(root, 'webpack-dist');
    const stats = await new Promise<import('webpack').Stats>((resolve, reject) =>
      webpack(
        {
          mode: 'production',
          context: consumer,
          entry: './main.js',
          output: { path: dist },
          devtool: false,
          performance: { hints: false },
        },
        (e, s) => (e || !s ? reject(e ?? new Error('no stats')) : resolve(s)),
      ),
    );
    const info = stats.toJson({ all: false, errors: true, warnings: true });
    // No "Critical dependency" warnings either: the runtime's Node-only imports are webpackIgnore'd.
    expect([...(info.errors ?? []), ...(info.warnings ?? [])].map((w) => w.message)).toEqual([]);
    // webpack makes no HTML page; the app's page loads the bundle as a classic script.
    writeFileSync(join(dist, 'index.html'), INDEX_HTML('<script src="./main.js"></script>'));
    cpSync(join(consumer, 'public', 'input.f32'), join(dist, 'input.f32'));
    // Cross-origin isolated, so the worker's CPU kernels run on 2 threads (minified worker code).
    const server = await serveStatic(dist, false, {
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    });
    try {
      checkApp(
        await openApp(`${urlOf(server)}?threads=2`),
        'webpack 5, isolated, 2 threads',
        weightsSize(),
        2,
      );
    } finally {
      await close(server);
    }
  });

  it('the built app with its weights not served: an HTML fallback page and a 404 are reported as such', async () => {
    const dist = await buildWithVite();
    const broken = join(root, 'vite-dist-no-weights');
    cpSync(dist, broken, {
      recursive: true,
      filter: (src) => !src.endsWith('.bin') && !src.endsWith('models'),
    });
    // The messages send the user to the package README's Bundlers section.
    expect(readFileSync(join((await setup()).pkgDir, 'README.md'), 'utf8')).toMatch(/^## Bundlers\n/m);
    for (const spaFallback of [true, false]) {
      const server = await serveStatic(broken, spaFallback);
      try {
        const { state, value } = await openApp(urlOf(server));
        expect(state).toBe('error');
        const at = `${urlOf(server)}assets/weights-[\\w-]+\\.bin`;
        expect(value).toMatchObject(
          spaFallback
            ? {
                name: 'ModelError',
                code: 'weights-html',
                message: expect.stringMatching(
                  new RegExp(
                    `^weights\\.bin at ${at} is an HTML page, not the weights \\(content-type text/html\\)`,
                  ),
                ),
              }
            : {
                name: 'ModelError',
                code: 'weights-not-served',
                message: expect.stringMatching(
                  new RegExp(
                    `^weights\\.bin is not served at ${at} \\(HTTP 404 Not Found\\): .*'Bundlers' in the package's README`,
                  ),
                ),
              },
        );
      } finally {
        await close(server);
      }
    }
  });
});
