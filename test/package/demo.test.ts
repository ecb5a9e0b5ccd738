import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PNG } from 'pngjs';
import { build } from 'vite';
import { afterAll, describe, expect, it } from 'vitest';
import { demoConfig } from '../../examples/web/vite.config.js';
import { cli } from '../helpers.js';
import { BASE_FLAGS, launchChromium } from '../support/chromium.js';

/**
 * The demo app (examples/web): the package compiled as `npm run demo:model` compiles it (its
 * arguments read from package.json), the page built by Vite's JS API, served from 127.0.0.1 and
 * used in headless Chromium as a user would: an image picked with the file input, one dropped on
 * the drop zone, and the example image's button (a URL source). The page's top 5 must be the
 * package's `classify` of the same PNG in Node (decoded by pngjs): same labels, probabilities
 * within 1e-4.
 */

const IMAGE = 'examples/images/scene.png';

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.png': 'image/png',
  '.bin': 'application/octet-stream',
};

/** Serves `dir`'s files (a Vite build) on 127.0.0.1; anything else is a 404. */
async function serveDirectory(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const rel = normalize(path === '/' ? 'index.html' : path.slice(1));
    const file = join(dir, rel);
    if (rel.startsWith('..') || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res
      .writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
      .end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** `polyc compile`'s arguments in package.json's demo:model script, writing to `out` instead. */
function demoCompileArgs(out: string): string[] {
  const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> })
    .scripts;
  const words = scripts['demo:model']!.split(/\s+/);
  expect(words.slice(0, 3)).toEqual(['node', 'bin/polyc.js', 'compile']);
  const args = words.slice(2);
  args[args.indexOf('-o') + 1] = out;
  return args;
}

interface Shown {
  readonly rows: { index: number; label: string; prob: number; percent: string }[];
  readonly backend: string;
  readonly time: string;
  readonly error: string;
}

interface Prediction {
  readonly index: number;
  readonly label: string | null;
  readonly prob: number;
}

describe('the demo app (examples/web) built by Vite, in headless Chromium', () => {
  const root = mkdtempSync(join(tmpdir(), 'polyc-demo-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('shows the top-5 labels with probabilities, the backend and the time for a picked, a dropped and a URL image', async () => {
    const model = join(root, 'model');
    const r = await cli(...demoCompileArgs(model));
    expect(r.code, r.err).toBe(0);
    const outDir = join(root, 'dist');
    await build({
      ...demoConfig(model),
      configFile: false,
      logLevel: 'silent',
      build: { outDir, emptyOutDir: true, target: 'es2022' },
    });

    // The reference: the same package's classify in Node, on pngjs's decode of the PNG.
    const pkg = (await import(pathToFileURL(join(model, 'index.js')).href)) as {
      Model: {
        create(o: { backend: 'cpu' }): Promise<{
          classify(image: unknown, k: number): Promise<Prediction[]>;
          destroy(): void;
        }>;
      };
    };
    const png = PNG.sync.read(readFileSync(IMAGE));
    const reference = await pkg.Model.create({ backend: 'cpu' });
    const want = await reference.classify({ data: png.data, width: png.width, height: png.height }, 5);
    reference.destroy();

    const server = await serveDirectory(outDir);
    const context = await launchChromium(mkdtempSync(join(root, 'profile-')), { args: BASE_FLAGS });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await page.waitForSelector('#status[data-ready]', { timeout: 30_000 });

      /** Waits for a fresh result (the time line is replaced on each) and reads what the page shows. */
      const shown = async (act: () => Promise<void>): Promise<Shown> => {
        await page.evaluate(() => document.getElementById('info')!.replaceChildren());
        await act();
        await page.waitForSelector('#info [data-key=time], #error:not(:empty)', { timeout: 30_000 });
        return page.evaluate(() => ({
          rows: Array.from(document.querySelectorAll<HTMLTableRowElement>('#results tbody tr'), (tr) => ({
            index: Number(tr.dataset.index),
            label: tr.querySelector('.label')!.textContent!,
            prob: Number(tr.dataset.prob),
            percent: tr.cells[2]!.textContent!,
          })),
          backend: document.querySelector('#info [data-key=backend]')?.textContent ?? '',
          time: document.querySelector('#info [data-key=time]')?.textContent ?? '',
          error: document.getElementById('error')!.textContent!,
        }));
      };
      const picked = await shown(() => page.setInputFiles('#file', IMAGE));
      const bytes = Array.from(readFileSync(IMAGE));
      const dropped = await shown(() =>
        page.evaluate((data) => {
          const transfer = new DataTransfer();
          transfer.items.add(new File([Uint8Array.from(data)], 'scene.png', { type: 'image/png' }));
          const drop = document.getElementById('drop')!;
          drop.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true }));
          drop.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true }));
        }, bytes),
      );
      const example = await shown(() => page.click('#example'));

      for (const [how, result] of Object.entries({ picked, dropped, example })) {
        console.log(
          `demo (${how}): ${result.rows.map((row) => `${row.label} ${row.percent}`).join(', ')}; ` +
            `${result.backend}; ${result.time}`,
        );
        expect(result.error, how).toBe('');
        expect(
          result.rows.map((row) => [row.index, row.label]),
          how,
        ).toEqual(want.map((p) => [p.index, p.label]));
        result.rows.forEach((row, i) => {
          expect(Math.abs(row.prob - want[i]!.prob), how).toBeLessThan(1e-4);
          expect(row.percent).toBe(`${(100 * row.prob).toFixed(2)} %`);
        });
        const drift = Math.max(...result.rows.map((row, i) => Math.abs(row.prob - want[i]!.prob)));
        console.log(`demo (${how}): max |prob - Node's classify| = ${drift.toExponential(2)}`);
        const sum = result.rows.reduce((a, row) => a + row.prob, 0);
        expect(sum).toBeGreaterThan(0);
        expect(sum).toBeLessThanOrEqual(1 + 1e-6);
        // No WebGPU flags: 'auto' runs the CPU backend, and the page says so.
        expect(result.backend).toMatch(/^CPU \(.+\)$/);
        expect(result.time).toMatch(/^\d+\.\d ms \(decode, preprocess, inference, top-5\)$/);
      }
      expect(await page.locator('#weights-note').textContent()).toMatch(/random, not trained/);
      expect(pageErrors).toEqual([]);
    } finally {
      await context.close();
      await new Promise((resolve) => server.close(resolve));
    }
  }, 120_000);

  it("the page's TypeScript typechecks against the compiled package's declarations", () => {
    // examples/web/tsconfig.json maps demo-model to ./model (what npm run demo:model writes).
    const dir = join(root, 'typecheck');
    mkdirSync(dir);
    for (const f of ['main.ts', 'tsconfig.json']) copyFileSync(join('examples/web', f), join(dir, f));
    symlinkSync(join(root, 'model'), join(dir, 'model'), 'dir');
    const tsc = resolve('node_modules/typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });
});
