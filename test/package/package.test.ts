import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWeights } from '../../compiler/src/driver/run.js';
import { interpret } from '../../compiler/src/ir/interpret.js';
import { buildExample, goldenMeta, relError } from '../helpers.js';
import { checkDeviceLossDuringRun } from '../runtime/device-loss.js';
import {
  CASE,
  compileAndInstall,
  goldenExpected,
  goldenInput,
  type Installed,
  LABELS,
  LICENSE,
  linkWebGpu,
  MAX_BATCH,
  PKG,
  runNode,
} from './setup.js';

/**
 * `polyc compile` end to end in Node: compile the small golden case with its checkpoint, `npm pack`
 * it, install the tarball offline into an empty project, and use it from plain `node` processes
 * (CPU, then WebGPU once the `webgpu` package is linked in) and from `tsc`.
 */

const root = mkdtempSync(join(tmpdir(), 'polyc-package-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let installed: Promise<Installed> | undefined;
const setup = () => (installed ??= compileAndInstall(root));

const SCRIPT = `import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as pkg from '${PKG}';

const [mode, arg, backend, threads] = process.argv.slice(2);
const attempt = async (f) => {
  try {
    await f();
    return 'no error';
  } catch (e) {
    return \`\${e.name} \${e.code}: \${e.message}\`;
  }
};
if (mode === 'run') {
  const input = new Float32Array(new Uint8Array(readFileSync(arg)).buffer);
  const progress = [];
  const m = await pkg.Model.create({
    backend,
    threads: threads ? Number(threads) : undefined,
    onProgress: (loaded, total) => progress.push([loaded, total]),
  });
  const { logits } = await m.run(input, { batch: 3 });
  const single = await m.run(input.slice(0, pkg.IMAGE_FLOATS));
  const nan = input.slice();
  nan[7] = Number.NaN;
  const errors = {
    length: await attempt(() => m.run(new Float32Array(100), { batch: 1 })),
    notWhole: await attempt(() => m.run(new Float32Array(100))),
    batch: await attempt(() => m.run(new Float32Array(5 * pkg.IMAGE_FLOATS), { batch: 5 })),
    nan: await attempt(() => m.run(nan)),
    type: await attempt(() => m.run([1, 2, 3])),
  };
  console.log(JSON.stringify({
    backend: m.backend,
    adapterInfo: m.adapterInfo,
    fallbackReason: m.fallbackReason ?? null,
    cpuKernels: m.cpuKernels ?? null,
    threads: m.threads,
    logits: Array.from(logits),
    single: Array.from(single.logits),
    top: m.topk(logits, 3),
    all: m.topk(logits, pkg.NUM_CLASSES),
    labels: pkg.LABELS,
    progress,
    errors,
    inputShape: pkg.INPUT_SHAPE,
    maxBatch: pkg.MAX_BATCH,
  }));
  m.destroy();
} else {
  const weights = new URL(import.meta.resolve('${PKG}/weights.bin'));
  const bytes = readFileSync(weights);
  writeFileSync(join(arg, 'short.bin'), bytes.subarray(0, 1000));
  const corrupt = Uint8Array.from(bytes);
  corrupt[12345] ^= 1;
  writeFileSync(join(arg, 'corrupt.bin'), corrupt);
  const create = async (options) => {
    const m = await pkg.Model.create(options);
    m.destroy();
    return \`\${m.backend}\${m.fallbackReason ? \`: \${m.fallbackReason}\` : ''}\`;
  };
  console.log(JSON.stringify({
    auto: await create({}),
    arrayBuffer: await create({ backend: 'cpu', weights: Uint8Array.from(bytes).buffer }),
    fileUrl: await create({ backend: 'cpu', weights: weights }),
    path: await create({ backend: 'cpu', weights: join(arg, '..', 'out', 'weights.bin') }),
    truncated: await attempt(() => pkg.Model.create({ backend: 'cpu', weights: join(arg, 'short.bin') })),
    corrupt: await attempt(() => pkg.Model.create({ backend: 'cpu', weights: join(arg, 'corrupt.bin') })),
    missing: await attempt(() => pkg.Model.create({ backend: 'cpu', weights: join(arg, 'missing.bin') })),
    badBackend: await attempt(() => pkg.Model.create({ backend: 'tpu' })),
    badThreads: await attempt(() => pkg.Model.create({ backend: 'cpu', threads: 0 })),
    inWorker: await attempt(() => pkg.Model.createInWorker({ backend: 'cpu' })),
    webgpu: await attempt(() => pkg.Model.create({ backend: 'webgpu' })),
  }));
}
`;

interface Prediction {
  index: number;
  label: string | null;
  logit: number;
  prob: number;
  value: number;
}

interface RunResult {
  backend: string;
  adapterInfo: string;
  fallbackReason: string | null;
  cpuKernels: string | null;
  threads: number;
  logits: number[];
  single: number[];
  top: Prediction[][];
  all: Prediction[][];
  labels: string[] | null;
  progress: [number, number][];
  errors: Record<'length' | 'notWhole' | 'batch' | 'nan' | 'type', string>;
  inputShape: number[];
  maxBatch: number;
}

function runScript(consumer: string, backend: string, threads?: number): RunResult {
  writeFileSync(join(consumer, 'check.mjs'), SCRIPT);
  return runNode<RunResult>(consumer, 'check.mjs', [
    'run',
    resolve(`test/golden/${CASE}/input.f32`),
    backend,
    ...(threads === undefined ? [] : [String(threads)]),
  ]);
}

function checkRun(r: RunResult, backend: string): number {
  const expected = goldenExpected();
  const err = relError(Float32Array.from(r.logits), expected);
  console.log(
    `${PKG} in node, backend ${r.backend} (${r.adapterInfo}): max rel error ${err.toExponential(2)}`,
  );
  expect(r.backend).toBe(backend);
  expect(err).toBeLessThan(1e-4);
  expect(relError(Float32Array.from(r.single), expected.subarray(0, 10))).toBeLessThan(1e-4);
  expect(r.inputShape).toEqual([3, 32, 32]);
  expect(r.maxBatch).toBe(MAX_BATCH);
  expect(r.top).toHaveLength(3);
  expect(r.top[0]![0]!.logit).toBeCloseTo(Math.max(...expected.subarray(0, 10)), 4);
  expect(r.labels).toEqual(LABELS);
  r.all.forEach((row, b) => {
    // Every class once, ordered by logit; labels by index; probabilities the softmax of the row's logits.
    expect(row.map((p) => p.index).sort((x, y) => x - y)).toEqual([...LABELS.keys()]);
    const image = expected.subarray(b * 10, (b + 1) * 10);
    const denominator = image.reduce((a, x) => a + Math.exp(x), 0);
    for (const [i, p] of row.entries()) {
      expect(p.label).toBe(LABELS[p.index]);
      expect(p.value).toBe(p.logit);
      expect(p.logit).toBeCloseTo(image[p.index]!, 4);
      expect(p.prob).toBeCloseTo(Math.exp(image[p.index]!) / denominator, 4);
      if (i > 0) expect(p.prob).toBeLessThanOrEqual(row[i - 1]!.prob);
    }
    expect(row.reduce((a, p) => a + p.prob, 0)).toBeCloseTo(1, 6);
    expect(r.top[b]).toEqual(row.slice(0, 3));
  });
  // Progress: from 0 to the whole file.
  const total = readFileSync(join(root, 'out', 'weights.bin')).length;
  expect(r.progress[0]).toEqual([0, total]);
  expect(r.progress[r.progress.length - 1]).toEqual([total, total]);
  expect(r.errors.length).toBe(
    'ModelError bad-input: input has 100 floats; batch 1 of [3, 32, 32] needs 3072 (3072 per image)',
  );
  expect(r.errors.notWhole).toMatch(
    /^ModelError bad-input: input has 100 floats, which is not a whole number/,
  );
  expect(r.errors.batch).toMatch(/^ModelError bad-input: batch 5 is out of range: .* 1 to 4/);
  expect(r.errors.nan).toBe('ModelError bad-input: input[7] is NaN, not a finite number');
  expect(r.errors.type).toMatch(/^ModelError bad-input: input must be a Float32Array .* got Array/);
  return err;
}

describe('polyc compile -> npm pack -> npm install -> node', () => {
  it('compiles with progress, into a complete package', async () => {
    const { out, progress, stdout } = await setup();
    expect(progress).toMatch(/importing weights from .*weights\.pt/);
    expect(progress).toMatch(/ts-morph/);
    expect(progress).toMatch(/esbuild/);
    expect(progress).toMatch(
      /note: tune cache .*tune\.json: \d+ tuned kernel choice\(s\) for adapter 'package test'/,
    );
    expect(progress).toMatch(/ [1-9]\d* of \d+ steps use a tuned kernel variant/);
    expect(stdout).toMatch(new RegExp(`wrote .*: npm package '${PKG}'`));
    expect(readdirSync(out).sort()).toEqual(
      [
        'README.md',
        'cpu.js',
        'index.d.ts',
        'index.js',
        'package.json',
        'runtime.d.ts',
        'runtime.js',
        'src',
        'webgpu.js',
        'weights.bin',
        'weights.json',
      ].sort(),
    );
    const pkg = JSON.parse(readFileSync(join(out, 'package.json'), 'utf8'));
    expect(pkg).toMatchObject({
      name: PKG,
      type: 'module',
      exports: { '.': { types: './index.d.ts', default: './index.js' } },
      peerDependencies: { webgpu: expect.any(String) },
      peerDependenciesMeta: { webgpu: { optional: true } },
    });
    expect(pkg.dependencies).toBeUndefined();
    expect(pkg.license).toBe(LICENSE);
    // Settings keep their types; the source is the model file's name, not this machine's path.
    const meta = goldenMeta(CASE);
    expect(pkg.polyc.settings).toMatchObject({ init_channels: meta.init_channels, num_classes: 10 });
    expect(pkg.polyc.source).toBe('cpolynext_lr.poly');
    const manifest = JSON.parse(readFileSync(join(out, 'weights.json'), 'utf8'));
    const bin = readFileSync(join(out, 'weights.bin'));
    expect(manifest).toMatchObject({ dtype: 'float32', byteOrder: 'little-endian', byteLength: bin.length });
    expect(manifest.length * 4).toBe(bin.length);
    const { createHash } = await import('node:crypto');
    expect(manifest.sha256).toBe(createHash('sha256').update(bin).digest('hex'));
    const readme = readFileSync(join(out, 'README.md'), 'utf8');
    expect(readme).toMatch(/\| parameters \| 304,906 /);
    expect(readme).toMatch(/\| FLOPs \| /);
    expect(readme).toMatch(/\| polynomial degree \| /);
    expect(readme).toMatch(/\| multiplicative depth \| /);
    expect(readme).toMatch(/resize so that the shorter side is 33 pixels/);
    expect(readme).not.toMatch(/random weights/i);
    expect(readme).toMatch(/\| license \| MIT \|/);
    expect(readme).toMatch(/\| labels \| 10 class names given at compile time/);
    expect(readme).toMatch(/@inproceedings\{polynext2026,[^`]*eprint += \{2605\.20839\}/);
    // Nothing names this machine's directories: the temp dir the package was written to, or the repo.
    for (const text of [
      readme,
      readFileSync(join(out, 'package.json'), 'utf8'),
      readFileSync(join(out, 'weights.json'), 'utf8'),
    ]) {
      expect(text).not.toContain(root);
      expect(text).not.toContain(process.cwd());
    }
    expect(readme).toMatch(/; [1-9]\d* steps use kernel variants tuned for the adapter 'package test' \|/);
    // The dispatch sequence is straight-line code with literal offsets, counts and kernel keys.
    const webgpu = readFileSync(join(out, 'src', 'webgpu.ts'), 'utf8');
    expect(webgpu).toMatch(
      /\/\/ step 0: .*\(kernel [\w]+#[0-9a-f]{8}\)\n\s*pass\.setPipeline\(pipelines\[0\]!\);/,
    );
    expect(webgpu).toMatch(/dispatch\(pass, \d+ \* batch, maxDim\);/);
    expect(webgpu).not.toMatch(/steps\.(forEach|map)|for \(const step/);
  });

  it('without the webgpu package: auto falls back to the CPU; weights are checked', async () => {
    const { consumer } = await setup();
    writeFileSync(join(consumer, 'check.mjs'), SCRIPT);
    const tmp = mkdtempSync(join(root, 'weights-'));
    const r = runNode<Record<string, string>>(consumer, 'check.mjs', ['weights', tmp]);
    expect(r.auto).toMatch(/^cpu: WebGPU is not available: the `webgpu` package/);
    expect(r.arrayBuffer).toBe('cpu');
    expect(r.fileUrl).toBe('cpu');
    expect(r.path).toBe('cpu');
    expect(r.truncated).toMatch(
      /^ModelError bad-weights: the weights file .*short\.bin has 1000 bytes, but this model's weights are \d+ bytes/,
    );
    expect(r.corrupt).toMatch(
      /^ModelError bad-weights: the weights file .*corrupt\.bin is corrupt or belongs to another model: its SHA-256 is [0-9a-f]{64}, expected [0-9a-f]{64}$/,
    );
    expect(r.missing).toMatch(
      /^ModelError bad-weights: cannot load the weights file .*missing\.bin: .*ENOENT/,
    );
    expect(r.badBackend).toBe("ModelError bad-options: backend must be 'auto', 'webgpu' or 'cpu', got tpu");
    expect(r.badThreads).toBe('ModelError bad-options: threads must be an integer from 1 to 64, got 0');
    // Node has no Web Workers; Model.create's kernels use worker_threads there.
    expect(r.inWorker).toMatch(/^ModelError bad-options: createInWorker needs Web Workers/);
    expect(r.webgpu).toMatch(/^RuntimeError no-webgpu: /);
  });

  it('runs on the CPU backend and reproduces the authors\u2019 logits (and the interpreter)', async () => {
    const { consumer } = await setup();
    const r = runScript(consumer, 'cpu');
    checkRun(r, 'cpu');
    expect(r.cpuKernels).toBe('wasm-simd');
    // Against the interpreter on the same weights. The package runs its WebAssembly SIMD kernels,
    // which accumulate in float32 where the interpreter (and the TypeScript loops, < 1e-5 in
    // cpu.test.ts) accumulate in float64: over this model's depth that is about 1.3e-5.
    const meta = goldenMeta(CASE);
    const m = buildExample('examples/cpolynext_lr.poly', {
      init_channels: String(meta.init_channels),
      layers: String(meta.layers),
      num_classes: String(meta.num_classes),
      image_size: String(meta.input_shape[2]),
    });
    const weights = loadWeights(
      m,
      new Uint8Array(readFileSync(`test/golden/${CASE}/weights.pt`)),
      'weights.pt',
    );
    const [ref] = interpret(m, [{ shape: meta.input_shape, data: goldenInput() }], weights);
    const err = relError(Float32Array.from(r.logits), ref!.data);
    console.log(`${PKG} CPU backend vs interpreter: max rel error ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
    // Threads: by default min(4, hardware threads) in Node; 2 and 1 on request, the same logits
    // (each output channel is computed by one thread, in the same order).
    expect(r.threads).toBe(Math.min(4, availableParallelism()));
    const two = runScript(consumer, 'cpu', 2);
    checkRun(two, 'cpu');
    expect(two.threads).toBe(2);
    expect(two.adapterInfo).toBe('CPU (WebAssembly SIMD kernels, 2 threads)');
    const one = runScript(consumer, 'cpu', 1);
    expect(one.threads).toBe(1);
    expect(two.logits).toEqual(one.logits);
  });

  it('runs on WebGPU in node once the webgpu package is installed; auto leaves a software adapter for the CPU', async () => {
    const { consumer } = await setup();
    linkWebGpu(consumer);
    const forced = runScript(consumer, 'webgpu');
    checkRun(forced, 'webgpu');
    // The adapter here is SwiftShader (a CPU emulating a GPU): 'auto' runs the CPU backend and says why.
    expect(forced.adapterInfo).toMatch(/swiftshader/i);
    const auto = runScript(consumer, 'auto');
    checkRun(auto, 'cpu');
    expect(auto.fallbackReason).toMatch(
      /^WebGPU adapter '[^']*swiftshader[^']*' is a software \(fallback\) adapter; the CPU backend is faster$/i,
    );
    const tmp = mkdtempSync(join(root, 'weights-'));
    const r = runNode<Record<string, string>>(consumer, 'check.mjs', ['weights', tmp]);
    expect(r.auto).toMatch(
      /^cpu: WebGPU adapter '[^']*swiftshader[^']*' is a software \(fallback\) adapter/i,
    );
  }, 180_000);

  it('retries a run once after a device loss, then names the stage it was lost in (as polyc run does)', async () => {
    const { out } = await setup();
    // The package in this process (its runtime.js finds the GPU on navigator.gpu, which the check replaces).
    const pkg = (await import(pathToFileURL(join(out, 'index.js')).href)) as {
      IMAGE_FLOATS: number;
      Model: {
        create(options: { backend: 'webgpu' }): Promise<{
          run(input: Float32Array): Promise<{ logits: Float32Array }>;
          destroy(): void;
        }>;
      };
    };
    const input = goldenInput().slice(0, pkg.IMAGE_FLOATS);
    await checkDeviceLossDuringRun({
      create: async () => {
        const m = await pkg.Model.create({ backend: 'webgpu' });
        return { run: async () => Array.from((await m.run(input)).logits), destroy: () => m.destroy() };
      },
    });
    // Three devices and their pipelines (the first run's, the retry's, the failed retry's): slow on SwiftShader.
  }, 150_000);

  it('typechecks a TypeScript consumer; wrong calls fail to typecheck', async () => {
    const { consumer, pkgDir } = await setup();
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2022', 'DOM'],
          types: [],
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: false,
          noEmit: true,
        },
        files: ['consumer.ts'],
      }),
    );
    writeFileSync(
      join(consumer, 'consumer.ts'),
      `import { type ImageSource, INPUT_SHAPE, LABELS, MAX_BATCH, Model, ModelError, preprocess, type Prediction, readImage } from '${PKG}';

const shape: readonly [3, 32, 32] = INPUT_SHAPE;
const max: 4 = MAX_BATCH;
const model = await Model.create({ backend: 'auto', onProgress: (loaded: number, total: number) => void [loaded, total] });
const input: Float32Array = preprocess({ data: new Uint8ClampedArray(40 * 50 * 4), width: 40, height: 50 });
const { logits } = await model.run(input, { batch: 1 });
const top: Prediction[][] = model.topk(logits, 3);
const first = top[0]?.[0];
const named: string | null = first ? first.label : null;
const numbers: number[] = first ? [first.index, first.logit, first.prob, first.value] : [];
const labels: readonly string[] | null = LABELS;
const backend: 'webgpu' | 'cpu' = model.backend;
try {
  await model.run(new Float32Array(7));
} catch (e) {
  if (e instanceof ModelError && e.code === 'bad-input') console.log(e.message);
}
void [shape, max, top, backend, named, numbers, labels];
const predictions: Prediction[] = await model.classify({ data: new Uint8Array(12), width: 2, height: 2 }, 3);
const sources = (img: HTMLImageElement, blob: Blob, file: File, bitmap: ImageBitmap): unknown[] => [
  preprocess([img, document.createElement('canvas'), new OffscreenCanvas(2, 2), bitmap, new ImageData(2, 2)]),
  model.classify(blob),
  model.classify(file, 1),
  model.classify('/cat.png'),
  readImage(new URL('https://example.com/cat.png')),
];
const source: ImageSource = 'cat.png';
void [predictions, sources, source];

// @ts-expect-error the input is a Float32Array, not a number[]
await model.run([1, 2, 3]);
// @ts-expect-error 'tpu' is not a backend
await Model.create({ backend: 'tpu' });
// @ts-expect-error logits are a Float32Array
model.topk([0.5, 0.25]);
// @ts-expect-error LABELS is readonly
LABELS?.push('x');
// @ts-expect-error a label may be null
const label: string = first!.label;
void label;
// @ts-expect-error the input shape is a tuple of literals
const wrong: readonly [3, 224, 224] = INPUT_SHAPE;
void wrong;
// @ts-expect-error a number is not an image
await model.classify(42);
// @ts-expect-error preprocess is synchronous: a Blob needs readImage (or classify)
preprocess(new Blob([]));
`,
    );
    const tsc = resolve('node_modules/typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: consumer, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
    // Without the @ts-expect-error lines each wrong call is an error.
    const text = readFileSync(join(consumer, 'consumer.ts'), 'utf8');
    writeFileSync(join(consumer, 'consumer.ts'), text.replace(/^\/\/ @ts-expect-error.*\n/gm, ''));
    const bad = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], {
      cwd: consumer,
      encoding: 'utf8',
    });
    expect(bad.stdout.match(/error TS/g)).toHaveLength(8);

    // A Node program with Node's types and no DOM types: the DOM image sources are never there, raw
    // bytes still typecheck. (tsc runs three times in this test, hence its timeout.)
    writeFileSync(
      join(consumer, 'tsconfig.node.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2022'],
          types: ['node'],
          typeRoots: [resolve('node_modules/@types')],
          strict: true,
          skipLibCheck: false,
          noEmit: true,
        },
        files: ['node-consumer.ts'],
      }),
    );
    writeFileSync(
      join(consumer, 'node-consumer.ts'),
      `import { Model, preprocess } from '${PKG}';
const model = await Model.create({ backend: 'cpu' });
const image = { data: new Uint8Array(12), width: 2, height: 2 };
const top = await model.classify(image, 2);
void [preprocess([image, image]), top[0]?.label];
`,
    );
    const node = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.node.json'], {
      cwd: consumer,
      encoding: 'utf8',
    });
    expect(`${node.stdout}${node.stderr}`).toBe('');

    // The shipped TypeScript sources typecheck (strict, with WebGPU's types) against runtime.d.ts,
    // and the bundled support code satisfies runtime.d.ts.
    const webgpuTypes = resolve('node_modules/@webgpu/types/dist/index.d.ts');
    writeFileSync(
      join(pkgDir, 'src', 'check-support.ts'),
      `import type * as Declared from './runtime.js';
import * as Implemented from '${resolve('runtime/src/package/index.ts')}';
export const check: typeof Declared = Implemented;
`,
    );
    writeFileSync(
      join(pkgDir, 'src', 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'ESNext',
          moduleResolution: 'Bundler',
          lib: ['ES2022', 'DOM'],
          types: [],
          strict: true,
          noEmit: true,
          allowImportingTsExtensions: true,
          skipLibCheck: true,
        },
        files: ['index.ts', 'cpu.ts', 'webgpu.ts', 'check-support.ts', webgpuTypes],
      }),
    );
    const src = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], {
      cwd: join(pkgDir, 'src'),
      encoding: 'utf8',
    });
    expect(`${src.stdout}${src.stderr}`).toBe('');
  }, 120_000);
});
