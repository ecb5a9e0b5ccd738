/**
 * The runtime as browser JavaScript in headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core), on `navigator.gpu`. runtime/src/index.ts is bundled with esbuild (installed
 * with tsx) and served with a blank page from 127.0.0.1 on a random port: WebGPU needs a secure
 * context, which http://127.0.0.1 is.
 *
 * Chromium flags: `--enable-unsafe-webgpu` is the one that matters: without it requestAdapter()
 * returns null on Linux; with it Chromium 156 in new headless mode gives SwiftShader's fallback
 * adapter (vendor google, architecture swiftshader) with no GPU and no VK_ICD_FILENAMES (it ships
 * its own libvk_swiftshader). `--use-webgpu-adapter=swiftshader` makes it pick SwiftShader on
 * machines with a GPU too, so results do not depend on the machine. `--use-angle=swiftshader`,
 * `--enable-features=Vulkan`, `--disable-gpu-sandbox` and `--headless=new` made no difference here.
 * `--no-sandbox`: CI runs as root (playwright adds it anyway). The rest keep Chromium off the network
 * and quiet. playwright refuses `--user-data-dir` in args: a fresh profile is passed to
 * launchPersistentContext instead. These tests never skip: without Chromium or WebGPU they fail.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWeights } from '../../compiler/src/driver/run.js';
import { compileForWebGpu, packWeights } from '../../compiler/src/driver/webgpu.js';
import { runPasses } from '../../compiler/src/passes/manager.js';
import { parsePipeline } from '../../compiler/src/passes/pipeline.js';
import type { Plan } from '../../runtime/src/index.js';
import { buildExample, goldenMeta, readF32File, relError } from '../helpers.js';
import { addScaleInput, addScalePlan } from '../runtime/tiny-plans.js';
import { launchChromium, WEBGPU_FLAGS } from '../support/chromium.js';

const PAGE = `<!doctype html><title>polyc runtime</title>
<script type="module">import * as rt from '/runtime.js'; globalThis.polycRuntime = rt;</script>`;

interface PageResult {
  readonly adapterInfo: string;
  readonly outputs: number[][][];
  readonly pipelines: number;
  readonly dispatches: number;
  readonly submits: number;
  readonly badInput: string;
}

/** Runs in the page: loads the bundled runtime and runs the plan at each batch. */
async function inPage(arg: { plan: Plan; weights: number[]; inputs: number[][] }): Promise<PageResult> {
  // The page's module script put the bundle there (an import() here would be rewritten by vitest).
  const rt = (globalThis as unknown as { polycRuntime: typeof import('../../runtime/src/index.js') })
    .polycRuntime;
  const model = await rt.WebGpuModel.create(arg.plan, Float32Array.from(arg.weights));
  try {
    const outputs: number[][][] = [];
    for (const x of arg.inputs) {
      const batch = x.length / arg.plan.inputs[0]!.perBatch;
      const out = await model.run([Float32Array.from(x)], batch);
      outputs.push(out.map((o) => Array.from(o)));
    }
    const badInput = await model.run([new Float32Array(1)], 1).then(
      () => 'no error',
      (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`,
    );
    const { pipelines, dispatches, submits } = model.stats;
    return { adapterInfo: model.adapterInfo, outputs, pipelines, dispatches, submits, badInput };
  } finally {
    model.destroy();
  }
}

describe('WebGPU runtime in headless Chromium', () => {
  let server: Server | undefined;
  let context: BrowserContext | undefined;
  let profile: string | undefined;
  let opened: Promise<Page> | undefined;
  // Opened by the first test, so that without Chromium or WebGPU every test fails (a failing
  // beforeAll would only mark them skipped).
  const openPage = () => (opened ??= open());

  async function open(): Promise<Page> {
    const bundle = await build({
      entryPoints: ['runtime/src/index.ts'],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    const js = bundle.outputFiles[0]!.text;
    server = createServer((req, res) => {
      if (req.url === '/runtime.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
      } else if (req.url === '/') {
        res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      } else {
        res.writeHead(404).end();
      }
    });
    const listening = server;
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    profile = mkdtempSync(join(tmpdir(), 'polyc-chromium-'));
    context = await launchChromium(profile, { args: WEBGPU_FLAGS });
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`http://127.0.0.1:${(listening.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => 'polycRuntime' in globalThis, undefined, { timeout: 10_000 });
    return page;
  }

  afterAll(async () => {
    await context?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('has a WebGPU adapter (SwiftShader without a GPU)', async () => {
    const page = await openPage();
    const info = await page.evaluate(async () => {
      if (!navigator.gpu) return `no navigator.gpu (secure context: ${isSecureContext})`;
      const adapter = await navigator.gpu.requestAdapter();
      return adapter ? `${adapter.info.vendor} ${adapter.info.architecture}` : 'no adapter';
    });
    expect(info, 'Chromium needs --enable-unsafe-webgpu and a page from 127.0.0.1').not.toMatch(/^no /);
  });

  it('runs the tiny plan on navigator.gpu with the same results as Node', async () => {
    const page = await openPage();
    const tiny = addScalePlan();
    const batches = [2, 1, 4];
    const inputs = batches.map((b) => addScaleInput(b));
    const result = await page.evaluate(inPage, {
      plan: tiny.plan,
      weights: Array.from(tiny.weights),
      inputs: inputs.map((x) => Array.from(x)),
    });
    expect(result.adapterInfo).toMatch(/\S/);
    result.outputs.forEach((out, i) => {
      expect(out).toEqual(tiny.expected([inputs[i]!], batches[i]!).map((o) => Array.from(o)));
    });
    expect(result.pipelines).toBe(2);
    expect(result.dispatches).toBe(3);
    expect(result.submits).toBe(3);
    expect(result.badInput).toMatch(/^bad-input: input x has 1 floats/);
  });

  // Every golden case, so each kernel template the released models use (the attention template with
  // APolyNeXt) runs in the browser's WebGPU too.
  for (const c of [
    { name: 'cpolynext_lr_small', example: 'examples/cpolynext_lr.poly' },
    { name: 'apolynext_s_small', example: 'examples/apolynext_s.poly' },
  ]) {
    it(`runs the polyc-compiled golden ${c.name} in the page and matches the authors\u2019 logits`, async () => {
      const page = await openPage();
      const meta = goldenMeta(c.name);
      const m = buildExample(c.example, {
        init_channels: String(meta.init_channels),
        layers: String(meta.layers),
        num_classes: String(meta.num_classes),
        image_size: String(meta.input_shape[2]),
      });
      const opt = runPasses(m, parsePipeline('default')).module;
      const compiled = compileForWebGpu(opt, meta.input_shape[0]!);
      const checkpoint = new Uint8Array(readFileSync(`test/golden/${c.name}/${meta.weights}`));
      const weights = packWeights(opt, compiled, loadWeights(opt, checkpoint, meta.weights));
      const input = readF32File(`test/golden/${c.name}/input.f32`);
      const result = await page.evaluate(inPage, {
        plan: compiled.plan,
        weights: Array.from(weights),
        inputs: [Array.from(input)],
      });
      const got = Float32Array.from(result.outputs[0]![0]!);
      const err = relError(got, readF32File(`test/golden/${c.name}/expected.f32`));
      console.log(`${c.name} in Chromium (${result.adapterInfo}): max rel error ${err.toExponential(2)}`);
      expect(err).toBeLessThan(1e-4);
      expect(result.submits).toBe(1);
    });
  }
});
