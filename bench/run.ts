/**
 * `npm run bench`: polyc on WebGPU (fused, and with fusion off) against onnxruntime-node's WebGPU
 * execution provider running polyc's own ONNX export, on the same adapter in the same process.
 * Random weights (deterministic); median wall time of `--runs` inferences after `--warmup`.
 * Writes a markdown report (default docs/benchmarks.md). Numbers from SwiftShader (WebGPU on the
 * CPU) say little about a real GPU: read the ratios, the dispatch counts and the bytes.
 *
 *   npm run bench -- [--models cpolynext_t,apolynext_t] [--batches 1,8] [--size 224]
 *                    [--runs 3] [--warmup 1] [--out docs/benchmarks.md] [--section webgpu]
 */
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { exportOnnx } from '../compiler/src/codegen/onnx/export.js';
import { randomInput } from '../compiler/src/driver/random-weights.js';
import { syntheticWeights } from '../compiler/src/driver/run.js';
import { compileForWebGpu, packWeights } from '../compiler/src/driver/webgpu.js';
import { runPasses } from '../compiler/src/passes/manager.js';
import { parsePipeline } from '../compiler/src/passes/pipeline.js';
import { WebGpuModel } from '../runtime/src/index.js';
import { buildExampleModel, timeRuns, writeSection } from './report.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'cpolynext_t,apolynext_t' },
    batches: { type: 'string', default: '1,8' },
    size: { type: 'string', default: '224' },
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    out: { type: 'string', default: 'docs/benchmarks.md' },
    section: { type: 'string', default: 'webgpu' },
  },
});
const runs = Number(values.runs);
const warmup = Number(values.warmup);
const size = Number(values.size);
const batches = values.batches.split(',').map(Number);
process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';

interface Row {
  model: string;
  batch: number;
  variant: string;
  medianMs: number;
  dispatches: string;
  movedMiB: string;
  peakMiB: string;
  maxRelDiff: string;
}

const time = (fn: () => Promise<Float32Array>) => timeRuns(fn, warmup, runs);

function relDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return d / s;
}

const rows: Row[] = [];
let adapter = '';
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
for (const name of values.models.split(',')) {
  const m = buildExampleModel(name, { image_size: String(size) }).module;
  const weights = syntheticWeights(m);
  const maxBatch = Math.max(...batches);
  const polyc = new Map<string, WebGpuModel>();
  const plans = new Map<string, ReturnType<typeof compileForWebGpu>>();
  for (const [variant, passes] of [
    ['polyc webgpu (fused)', 'default'],
    ['polyc webgpu (fusion off)', 'none'],
  ] as const) {
    const opt = runPasses(m, parsePipeline(passes)).module;
    const compiled = compileForWebGpu(opt, maxBatch);
    plans.set(variant, compiled);
    const model = await WebGpuModel.create(compiled.plan, packWeights(opt, compiled, weights));
    adapter = model.adapterInfo;
    polyc.set(variant, model);
  }
  const session = await ort.InferenceSession.create(exportOnnx(m, weights), {
    executionProviders: ['webgpu'],
  });
  for (const batch of batches) {
    const input = randomInput([batch, 3, size, size], 42);
    const ortRun = async () =>
      (await session.run({ image: new ort.Tensor('float32', input.data, input.shape) })).logits!
        .data as Float32Array;
    const reference = await time(ortRun);
    for (const [variant, model] of polyc) {
      const r = await time(async () => (await model.run([input.data], batch))[0]!);
      const plan = plans.get(variant)!.plan;
      rows.push({
        model: name,
        batch,
        variant,
        medianMs: r.ms,
        dispatches: String(model.stats.dispatches),
        movedMiB: mib(model.stats.bytesMoved),
        peakMiB: `${mib(model.stats.peakMemoryBytes)} (activations ${mib(plan.memory.plannedBytes * (batch / maxBatch))})`,
        maxRelDiff: relDiff(r.out, reference.out).toExponential(1),
      });
      console.log(rows[rows.length - 1]);
    }
    rows.push({
      model: name,
      batch,
      variant: 'onnxruntime-node webgpu EP',
      medianMs: reference.ms,
      dispatches: 'n/a',
      movedMiB: 'n/a',
      peakMiB: 'n/a',
      maxRelDiff: '(reference)',
    });
    console.log(rows[rows.length - 1]);
  }
  for (const model of polyc.values()) model.destroy();
  await session.release();
}

const ortMs = (model: string, batch: number) =>
  rows.find((r) => r.model === model && r.batch === batch && r.variant.startsWith('onnxruntime'))!.medianMs;
const table = [
  '| model | batch | variant | median ms | polyc / ORT | dispatches | MiB moved | GPU memory MiB | max rel diff vs ORT |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.model} | ${r.batch} | ${r.variant} | ${r.medianMs.toFixed(0)} | ${(r.medianMs / ortMs(r.model, r.batch)).toFixed(2)} | ${r.dispatches} | ${r.movedMiB} | ${r.peakMiB} | ${r.maxRelDiff} |`,
  ),
];
const report = `## WebGPU: polyc vs onnxruntime's WebGPU EP

Generated by \`npm run bench -- --models ${values.models} --batches ${values.batches} --size ${size} --runs ${runs} --warmup ${warmup} --section ${values.section}\`
on ${new Date().toISOString().slice(0, 10)}.

- Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${mib(totalmem())} MiB RAM, Node ${process.version}.
- Adapter: ${adapter} (WebGPU on the CPU: absolute times say little about a real GPU; compare the ratio).
- Weights: deterministic random (seed 0, BatchNorm statistics calibrated); input ${size}x${size}.
- Each time is the median of ${runs} inferences after ${warmup} warm-up run(s), measured from submit to
  results on the host (one command encoder and one submit per inference for polyc).
- "polyc / ORT" divides by onnxruntime-node ${ort.env.versions?.common ?? ''} running polyc's ONNX export with the
  WebGPU execution provider on the same adapter, in the same process. "MiB moved" is polyc's
  estimate of bytes read and written by its kernels; "max rel diff" compares the logits with ORT's.

${table.join('\n')}
`;
writeSection(values.out, values.section, report);
console.log(report);
process.exit(0);
