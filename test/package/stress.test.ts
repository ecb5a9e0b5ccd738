import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getGpu } from '../../runtime/src/index.js';
import { compileAndInstall, goldenInput, type Installed } from './setup.js';

/**
 * A generated package under stress (issue 14, item 7), in this process on the CPU backend and on
 * WebGPU (Dawn on SwiftShader): concurrent runs, destroy() during a run, the device lost under
 * queued runs, and a weights URL that stalls. Each must end in right results or a clear coded error,
 * never mixed results or a hang. (One lost device with a retry is checked in package.test.ts.)
 */

interface ModelLike {
  readonly backend: string;
  run(input: Float32Array, options?: { batch?: number }): Promise<{ logits: Float32Array }>;
  destroy(): void;
}

interface Package {
  IMAGE_FLOATS: number;
  WEIGHTS: { byteLength: number };
  NUM_CLASSES: number;
  Model: {
    create(options: {
      backend?: 'cpu' | 'webgpu';
      device?: unknown;
      weights?: string;
      signal?: AbortSignal;
      onProgress?: (loaded: number, total: number) => void;
    }): Promise<ModelLike>;
  };
}

const root = mkdtempSync(join(tmpdir(), 'polyc-stress-'));
let installed: Installed;
let pkg: Package;
beforeAll(async () => {
  installed = await compileAndInstall(root);
  pkg = (await import(pathToFileURL(join(installed.out, 'index.js')).href)) as Package;
  // The package's runtime finds WebGPU on navigator.gpu: give it Dawn from polyc's own node_modules.
  const gpu = await getGpu();
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}, 240_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Eight different inputs of 1 to 3 images each (the golden images, scaled and shifted). */
function inputs(): { input: Float32Array; batch: number }[] {
  const golden = goldenInput();
  const n = pkg.IMAGE_FLOATS;
  return Array.from({ length: 8 }, (_, k) => {
    const batch = 1 + (k % 3);
    const input = new Float32Array(batch * n);
    for (let b = 0; b < batch; b++) {
      const image = golden.subarray(((b + k) % 3) * n, ((b + k) % 3) * n + n);
      for (let i = 0; i < n; i++) input[b * n + i] = image[i]! * (1 + k / 8) + (k % 2) * 0.1;
    }
    return { input, batch };
  });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return `${(e as Error).name} ${(e as { code?: string }).code}: ${(e as Error).message}`;
  }
}

describe.each(['cpu', 'webgpu'] as const)('a generated package on %s under stress', (backend) => {
  it('runs concurrent calls each with its own input: the results match sequential runs exactly', async () => {
    const m = await pkg.Model.create({ backend });
    expect(m.backend).toBe(backend);
    const cases = inputs();
    const sequential: Float32Array[] = [];
    for (const c of cases) sequential.push((await m.run(c.input, { batch: c.batch })).logits);
    // All at once, twice over, while the inputs of the first wave are overwritten after the call.
    const copies = cases.map((c) => ({ ...c, input: c.input.slice() }));
    const wave = copies.map((c) => m.run(c.input, { batch: c.batch }));
    for (const c of copies) c.input.fill(Number.NaN);
    const again = cases.map((c) => m.run(c.input, { batch: c.batch }));
    const results = await Promise.all([...wave, ...again]);
    results.forEach((r, i) => {
      expect(r.logits, `call ${i}`).toEqual(sequential[i % cases.length]);
    });
    m.destroy();
  }, 120_000);

  it('destroy() during a run: the run completes or rejects with code destroyed; later runs throw destroyed', async () => {
    const m = await pkg.Model.create({ backend });
    const [c] = inputs();
    const expected = (await m.run(c!.input, { batch: c!.batch })).logits;
    const inFlight = m.run(c!.input, { batch: c!.batch });
    const queued = m.run(c!.input, { batch: c!.batch });
    m.destroy();
    m.destroy(); // a second destroy is harmless
    for (const p of [inFlight, queued]) {
      const outcome = await p.then(
        (r) => r.logits,
        (e: Error & { code?: string }) => e,
      );
      if (outcome instanceof Float32Array) expect(outcome).toEqual(expected);
      else {
        expect(outcome.code).toBe('destroyed');
        expect(outcome.message).toMatch(/destroyed/);
      }
    }
    expect(await codeOf(m.run(c!.input, { batch: c!.batch }))).toMatch(
      /^ModelError destroyed: .* was destroyed: create a new Model to run again$/,
    );
  }, 120_000);
});

describe('a generated package on webgpu: device lost under queued runs', () => {
  it('every queued run resolves with right results or rejects with a coded error; a new model runs', async () => {
    const gpu = (await getGpu()) as GPU;
    const adapter = await gpu.requestAdapter();
    // Everything the adapter offers, so that the package's plan fits whatever limits it needs.
    const requiredLimits: Record<string, number> = {};
    for (const key in adapter!.limits) {
      const value = (adapter!.limits as unknown as Record<string, unknown>)[key];
      if (typeof value === 'number') requiredLimits[key] = value;
    }
    const device = await adapter!.requestDevice({ requiredLimits });
    const m = await pkg.Model.create({ backend: 'webgpu', device });
    const cases = inputs();
    const expected: Float32Array[] = [];
    for (const c of cases) expected.push((await m.run(c.input, { batch: c.batch })).logits);
    const runs = cases.map((c) => m.run(c.input, { batch: c.batch }));
    // The device this model was given goes away under it: it cannot make another one of the caller's.
    device.destroy();
    const outcomes = await Promise.all(
      runs.map((p) =>
        p.then(
          (r) => r.logits,
          (e: Error & { code?: string }) => e,
        ),
      ),
    );
    outcomes.forEach((o, i) => {
      if (o instanceof Float32Array) expect(o, `run ${i}`).toEqual(expected[i]);
      else {
        expect(o.name, `run ${i}: ${o.message}`).toBe('RuntimeError');
        expect(['device-lost', 'destroyed'], `run ${i}: ${o.message}`).toContain(o.code);
      }
    });
    m.destroy();
    const fresh = await pkg.Model.create({ backend: 'webgpu' });
    expect((await fresh.run(cases[0]!.input, { batch: cases[0]!.batch })).logits).toEqual(expected[0]);
    fresh.destroy();
  }, 180_000);
});

describe('a weights URL that stalls', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    // /headers-only answers with headers and never sends the body; /half sends half of it; /silent
    // never answers. None of them ever finishes: only the caller's signal ends the load.
    server = createServer((req, res) => {
      if (req.url === '/silent') return;
      const size = pkg.WEIGHTS.byteLength;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
      if (req.url === '/half') res.write(new Uint8Array(size >> 1));
      else res.flushHeaders();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it.each(['silent', 'headers-only', 'half'])(
    '%s: Model.create with signal: AbortSignal.timeout() rejects with ModelError aborted',
    async (path) => {
      const t0 = performance.now();
      const progress: number[] = [];
      const error = await codeOf(
        pkg.Model.create({
          backend: 'cpu',
          weights: `${base}/${path}`,
          signal: AbortSignal.timeout(300),
          onProgress: (loaded) => progress.push(loaded),
        }),
      );
      expect(error).toMatch(
        new RegExp(`^ModelError aborted: loading the weights file ${base}/${path} was aborted: .*timeout`),
      );
      expect(performance.now() - t0).toBeLessThan(10_000);
      if (path === 'half') expect(Math.max(...progress)).toBeGreaterThan(0);
    },
    20_000,
  );

  it('an already aborted signal refuses at once, before any request', async () => {
    const reasons = new AbortController();
    reasons.abort(new Error('page closed'));
    expect(await codeOf(pkg.Model.create({ backend: 'cpu', signal: reasons.signal }))).toMatch(
      /^ModelError aborted: loading the weights file .*weights\.bin was aborted: page closed$/,
    );
  });
});
