/**
 * `npm run bench`: polyc on WebGPU (fused; fused with every value NCHW, i.e. without assign-layouts;
 * fusion off) against onnxruntime-node's WebGPU execution provider running polyc's own ONNX export,
 * on the same adapter in the same process.
 * Random weights (deterministic); median wall time of `--runs` inferences after `--warmup`.
 * Writes a markdown report (default docs/benchmarks.md). Numbers from SwiftShader (WebGPU on the
 * CPU) say little about a real GPU: read the ratios, the dispatch counts and the bytes.
 *
 *   npm run bench -- [--models cpolynext_t,apolynext_t] [--batches 1,8] [--size 224]
 *                    [--runs 3] [--warmup 1] [--out docs/benchmarks.md] [--section webgpu]
 *                    [--profile] [--profile-repeats 3] [--require-gpu] [--no-ort]
 *                    [--tune-cache <file>] [--tune-runs 3] [--tune-budget-s 300] [--no-tune]
 *
 * The tuned row renders the fused model's kernels as `polyc tune` chooses them: tuned in-process
 * on this adapter for that model and batch first (bounded by --tune-budget-s), or the choices
 * --tune-cache holds for this adapter; --no-tune leaves the row out.
 * --profile adds each polyc variant's top kernels (WebGpuModel.profile) to the report;
 * --require-gpu refuses a fallback (software) adapter; --no-ort skips onnxruntime (also skipped,
 * with a warning, when its WebGPU session cannot be created).
 */
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { exportOnnx } from '../compiler/src/codegen/onnx/export.js';
import { describeTiming, profileMarkdown } from '../compiler/src/driver/profile.js';
import { randomInput } from '../compiler/src/driver/random-weights.js';
import { syntheticWeights } from '../compiler/src/driver/run.js';
import { formatTuneTable, tuneModule } from '../compiler/src/driver/tune.js';
import { adapterKey, parseTuneCache, tunedChoices } from '../compiler/src/driver/tune-cache.js';
import {
  compileForWebGpu,
  describeTuned,
  packWeights,
  type TunedKernels,
} from '../compiler/src/driver/webgpu.js';
import type { Module } from '../compiler/src/ir/types.js';
import { runPasses } from '../compiler/src/passes/manager.js';
import { DEFAULT_PIPELINE, parsePipeline } from '../compiler/src/passes/pipeline.js';
import { queryAdapter, WebGpuModel } from '../runtime/src/index.js';
import {
  buildExampleModel,
  MODEL_BENCH_OPTIONS,
  relDiff,
  timing,
  WORK_SPLIT_HEAD,
  workSplit,
  writeSection,
} from './report.js';

const { values } = parseArgs({
  options: {
    ...MODEL_BENCH_OPTIONS,
    models: { type: 'string', default: 'cpolynext_t,apolynext_t' },
    batches: { type: 'string', default: '1,8' },
    section: { type: 'string', default: 'webgpu' },
    profile: { type: 'boolean', default: false },
    'profile-repeats': { type: 'string', default: '3' },
    'require-gpu': { type: 'boolean', default: false },
    'no-ort': { type: 'boolean', default: false },
    'tune-cache': { type: 'string' },
    'tune-runs': { type: 'string', default: '3' },
    'tune-budget-s': { type: 'string', default: '300' },
    'no-tune': { type: 'boolean', default: false },
  },
});
const { runs, warmup, interleaved } = timing(values);
const size = Number(values.size);
const batches = values.batches.split(',').map(Number);
const profileRepeats = Number(values['profile-repeats']);
// SwiftShader unless the caller chose a Vulkan driver (scripts/gpu-bench.sh sets the GPU's).
process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
/** Software adapters: their times say little about a GPU. */
const isFallback = (adapter: string) => /fallback|swiftshader|llvmpipe|lavapipe/i.test(adapter);

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

const rows: Row[] = [];
/** How each tuned row was tuned, for the report. */
const tuning: string[] = [];
/** Markdown sections with the top kernels, with --profile. */
const profiles: string[] = [];
let profileTiming = '';
let adapter = '';
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
for (const name of values.models.split(',')) {
  const m = buildExampleModel(name, { image_size: String(size) }).module;
  const weights = syntheticWeights(m);
  const maxBatch = Math.max(...batches);
  const polyc = new Map<string, WebGpuModel>();
  const plans = new Map<string, ReturnType<typeof compileForWebGpu>>();
  let fused = m;
  for (const [variant, passes] of [
    ['polyc webgpu (fused)', 'default'],
    // The same kernels with every value NCHW: what assign-layouts' NC4HW4 values gain.
    ['polyc webgpu (fused, NCHW only)', DEFAULT_PIPELINE.filter((p) => p !== 'assign-layouts').join(',')],
    ['polyc webgpu (fusion off)', 'none'],
  ] as const) {
    const opt = runPasses(m, parsePipeline(passes)).module;
    if (passes === 'default') fused = opt;
    const compiled = compileForWebGpu(opt, maxBatch);
    plans.set(variant, compiled);
    const model = await WebGpuModel.create(compiled.plan, packWeights(opt, compiled, weights), {
      powerPreference: 'high-performance',
      profiling: values.profile,
    });
    adapter = model.adapterInfo;
    if (values['require-gpu'] && isFallback(adapter)) {
      throw new Error(`--require-gpu: WebGPU gave a software adapter, ${adapter}`);
    }
    polyc.set(variant, model);
  }
  const session = values['no-ort'] ? undefined : await ortSession(exportOnnx(m, weights));
  for (const batch of batches) {
    const input = randomInput([batch, 3, size, size], 42);
    /** One per row: every variant's runs are interleaved (one of each per round), so that a change in the machine's load touches them alike. */
    const runners: {
      variant: string;
      model?: WebGpuModel;
      activations: number;
      run: () => Promise<Float32Array>;
    }[] = [];
    for (const [variant, model] of polyc) {
      runners.push({
        variant,
        model,
        activations: plans.get(variant)!.plan.memory.plannedBytes * (batch / maxBatch),
        run: async () => (await model.run([input.data], batch))[0]!,
      });
    }
    let tuned: WebGpuModel | undefined;
    if (!values['no-tune']) {
      const compiled = compileForWebGpu(fused, batch, undefined, await tunedKernels(fused, batch));
      const model = await WebGpuModel.create(compiled.plan, packWeights(fused, compiled, weights), {
        powerPreference: 'high-performance',
      });
      tuned = model;
      console.log(describeTuned(compiled));
      runners.push({
        variant: 'polyc webgpu (tuned)',
        model,
        activations: compiled.plan.memory.plannedBytes,
        run: async () => (await model.run([input.data], batch))[0]!,
      });
    }
    if (session) {
      runners.push({
        variant: 'onnxruntime-node webgpu EP',
        activations: 0,
        run: async () =>
          (await session.run({ image: new ort.Tensor('float32', input.data, input.shape) })).logits!
            .data as Float32Array,
      });
    }
    const results = await interleaved(runners.map((r) => r.run));
    const reference = session ? results[results.length - 1] : undefined;
    for (const [i, { variant, model, activations }] of runners.entries()) {
      const r = results[i]!;
      rows.push(
        model
          ? {
              model: name,
              batch,
              variant,
              medianMs: r.ms,
              dispatches: String(model.stats.dispatches),
              movedMiB: mib(model.stats.bytesMoved),
              peakMiB: `${mib(model.stats.peakMemoryBytes)} (activations ${mib(activations)})`,
              maxRelDiff: reference ? relDiff(r.out, reference.out).toExponential(1) : 'n/a',
            }
          : {
              model: name,
              batch,
              variant,
              medianMs: r.ms,
              dispatches: 'n/a',
              movedMiB: 'n/a',
              peakMiB: 'n/a',
              maxRelDiff: '(reference)',
            },
      );
      console.log(rows[rows.length - 1]);
    }
    if (tuned) {
      const f = results[0]!.ms;
      const t = results[polyc.size]!.ms;
      tuning.push(
        `${name} batch ${batch}: fused ${f.toFixed(0)} ms, tuned ${t.toFixed(0)} ms (${(f / t).toFixed(2)}x)`,
      );
    }
    if (values.profile) {
      const split: string[] = [];
      for (const [variant, model] of polyc) {
        const p = await model.profile([input.data], batch, { repeats: profileRepeats });
        profileTiming = describeTiming(p);
        profiles.push(
          `### ${name}, batch ${batch}, ${variant}: ${p.ms.toFixed(1)} ms in ${p.calls} steps

${profileMarkdown(p)}
`,
        );
        split.push(workSplit(variant, p));
      }
      profiles.push(`#### ${name}, batch ${batch}: where the time goes

${WORK_SPLIT_HEAD}
${split.join('\n')}
`);
    }
    tuned?.destroy();
  }
  for (const model of polyc.values()) model.destroy();
  await session?.release();
}

/**
 * The tuned choices for the fused `m` at `batch` on the high-performance adapter: those of
 * --tune-cache for this adapter, else `polyc tune`'s measurement, in-process.
 */
async function tunedKernels(m: Module, batch: number): Promise<TunedKernels> {
  const file = values['tune-cache'];
  if (file) {
    const { adapter } = await queryAdapter({ powerPreference: 'high-performance' });
    const tuned = tunedChoices(parseTuneCache(readFileSync(file, 'utf8'), file), adapterKey(adapter), file);
    console.log(tuned.note);
    return tuned.choices;
  }
  const started = performance.now();
  const report = await tuneModule(m, {
    batch,
    runs: Number(values['tune-runs']),
    budgetMs: Number(values['tune-budget-s']) * 1000,
    powerPreference: 'high-performance',
    progress: (line) => console.log(line),
  });
  console.log(formatTuneTable(report));
  tuning.push(
    `${m.name} batch ${batch}: ${report.tuned.length} kernels tuned in ${((performance.now() - started) / 1000).toFixed(0)} s` +
      (report.skipped.length > 0 ? ` (${report.skipped.length} left by the budget)` : ''),
  );
  return new Map(report.tuned.map((t) => [t.signature, t.entry.variant]));
}

/** onnxruntime's WebGPU session, or undefined (with a warning) where it cannot create one. */
async function ortSession(onnx: Uint8Array): Promise<ort.InferenceSession | undefined> {
  try {
    return await ort.InferenceSession.create(onnx, { executionProviders: ['webgpu'] });
  } catch (e) {
    console.warn(`warning: onnxruntime's WebGPU EP failed, reporting polyc alone: ${(e as Error).message}`);
    return undefined;
  }
}

const ortRatio = (r: Row) => {
  const ref = rows.find(
    (o) => o.model === r.model && o.batch === r.batch && o.variant.startsWith('onnxruntime'),
  );
  return ref ? (r.medianMs / ref.medianMs).toFixed(2) : 'n/a';
};
const table = [
  '| model | batch | variant | median ms | polyc / ORT | dispatches | MiB moved | GPU memory MiB | max rel diff vs ORT |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.model} | ${r.batch} | ${r.variant} | ${r.medianMs.toFixed(0)} | ${ortRatio(r)} | ${r.dispatches} | ${r.movedMiB} | ${r.peakMiB} | ${r.maxRelDiff} |`,
  ),
];
const tuneFlags =
  (values['no-ort'] ? ' --no-ort' : '') +
  (values['no-tune']
    ? ' --no-tune'
    : values['tune-cache']
      ? ` --tune-cache ${values['tune-cache']}`
      : ` --tune-runs ${values['tune-runs']} --tune-budget-s ${values['tune-budget-s']}`);
const report = `## WebGPU: polyc vs onnxruntime's WebGPU EP

Generated by \`npm run bench -- --models ${values.models} --batches ${values.batches} --size ${size} --runs ${runs} --warmup ${warmup} --section ${values.section}${values.profile ? ` --profile --profile-repeats ${profileRepeats}` : ''}${tuneFlags}\`
on ${new Date().toISOString().slice(0, 10)}.

- Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${mib(totalmem())} MiB RAM, Node ${process.version}.
- Adapter: ${adapter}${isFallback(adapter) ? ' (WebGPU on the CPU: absolute times say little about a real GPU; compare the ratio)' : ''}.
- Weights: deterministic random (seed 0, BatchNorm statistics calibrated); input ${size}x${size}.
- Each time is the median of ${runs} inferences after ${warmup} warm-up run(s), measured from submit to
  results on the host (one command encoder and one submit per inference for polyc). The variants'
  runs are interleaved (one of each per round), so that a change in the machine's load touches them
  alike: compare the ratios.
- "polyc / ORT" divides by onnxruntime-node ${ort.env.versions?.common ?? ''} running polyc's ONNX export with the
  WebGPU execution provider on the same adapter, in the same process. "MiB moved" is polyc's
  estimate of bytes read and written by its kernels; "max rel diff" compares the logits with ORT's.
${
  values['no-tune']
    ? ''
    : values['tune-cache']
      ? `- "tuned" renders the fused model's kernels as \`${values['tune-cache']}\` chose them for this adapter;
  ${tuning.join('; ')}.\n`
      : `- "tuned" renders the fused model's kernels as \`polyc tune\` chose them, tuned first in the same
  process; ${tuning.join('; ')}.\n`
}
${table.join('\n')}
${
  profiles.length === 0
    ? ''
    : `
### Top kernels (\`--profile\`)

Per polyc variant, the 10 kernels that take the most time (${profileTiming}). "GFLOP" comes from
the cost analysis, "MiB" counts activations read and written (not weights); GFLOP/s and GB/s are
what the kernel achieved.

${profiles.join('\n')}`
}`;
writeSection(values.out, values.section, report);
console.log(report);
process.exit(0);
