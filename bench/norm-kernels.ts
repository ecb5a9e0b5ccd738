/**
 * `npx tsx bench/norm-kernels.ts`: CPolyNeXt-T's two LayerNorm units at each stage's shape, timed
 * with the per-pixel norm template (codegen/wgsl/norm.ts) against the generic path (one invocation
 * per element, statistics recomputed per element), in the same process on the same adapter. Median
 * wall time of `--runs` inferences (upload, one dispatch, readback) after `--warmup`. Not a test; on
 * SwiftShader read the ratios, not the times.
 *
 *   npx tsx bench/norm-kernels.ts [--runs 5] [--warmup 1] [--cases cell48@56,...]
 */
import { parseArgs } from 'node:util';
import { AnalysisContext } from '../compiler/src/analysis/context.js';
import { type KernelOptions, renderKernel } from '../compiler/src/codegen/wgsl/kernels.js';
import { buildPlan } from '../compiler/src/codegen/wgsl/plan.js';
import { buildModel } from '../compiler/src/driver/frontend.js';
import { randomInput } from '../compiler/src/driver/random-weights.js';
import { syntheticWeights } from '../compiler/src/driver/run.js';
import { packWeights } from '../compiler/src/driver/webgpu.js';
import { runPasses } from '../compiler/src/passes/manager.js';
import { parsePipeline } from '../compiler/src/passes/pipeline.js';
import { WebGpuModel } from '../runtime/src/index.js';
import { timeRuns } from './report.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    cases: { type: 'string', default: '' },
  },
});
process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';

interface Case {
  readonly name: string;
  readonly k: number;
  readonly size: number;
  readonly source: string;
}

/** The cell input's scaled sum of two tensors, normalised (`cells.*.postprocess:norm`). */
const cellInput = (c: number, size: number): Case => ({
  name: `cell${c}@${size}`,
  k: 2 * c,
  size,
  source: `model m(x: f32[B, ${2 * c}, ${size}, ${size}]) {
  return layernorm2d(self.n, scale(self.p0, x[:, :${c}]) + scale(self.p1, x[:, ${c}:]))
}`,
});

/** LayerNorm of a conv's output plus the residual (`cells.*:poly_conv`). */
const residual = (c: number, size: number): Case => ({
  name: `res${c}@${size}`,
  k: 2 * c,
  size,
  source: `model m(x: f32[B, ${2 * c}, ${size}, ${size}]) {
  return layernorm2d(self.n, x[:, :${c}]) + x[:, ${c}:]
}`,
});

const STAGES: [number, number][] = [
  [48, 56],
  [96, 28],
  [192, 14],
  [288, 7],
];
const CASES = STAGES.flatMap(([c, s]) => [cellInput(c, s), residual(c, s)]);

const VARIANTS: { name: string; options: KernelOptions }[] = [
  { name: 'old', options: { norm: false } },
  { name: 'norm', options: {} },
];

const runs = Number(values.runs);
const warmup = Number(values.warmup);
const only = values.cases ? new Set(values.cases.split(',')) : null;
const rows: string[] = [];
for (const c of CASES.filter((x) => !only || only.has(x.name))) {
  const built = buildModel('bench.poly', { readFile: () => c.source });
  if (!built.model) throw new Error(`${c.name}: ${JSON.stringify(built.diagnostics)}`);
  const m = runPasses(built.model.module, parsePipeline('default')).module;
  const weights = syntheticWeights(m);
  const input = randomInput([1, c.k, c.size, c.size], 1);
  const times: number[] = [];
  let reference: Float32Array | null = null;
  let worst = 0;
  for (const v of VARIANTS) {
    const ctx = new AnalysisContext();
    const compiled = buildPlan(m, 1, ctx, (u) => renderKernel(u, v.options));
    if (compiled.plan.steps.length !== 1) throw new Error(`${c.name}: expected one kernel`);
    const model = await WebGpuModel.create(compiled.plan, packWeights(m, compiled, weights, ctx));
    try {
      const t = await timeRuns(async () => (await model.run([input.data], 1))[0]!, warmup, runs);
      times.push(t.ms);
      if (reference) worst = Math.max(worst, relDiff(t.out, reference));
      else reference = t.out;
    } finally {
      model.destroy();
    }
  }
  const [old, ...rest] = times as [number, ...number[]];
  rows.push(
    `| ${c.name} | ${old.toFixed(1)} | ${rest
      .map((t) => `${t.toFixed(1)} (${(old / t).toFixed(2)}x)`)
      .join(' | ')} | ${worst.toExponential(1)} |`,
  );
  console.log(rows.at(-1));
}
console.log(
  [
    `\nmedian of ${runs} runs (ms; speed-up over the old path)\n`,
    `| case | ${VARIANTS.map((v) => v.name).join(' | ')} | max rel diff |`,
    `|---|${VARIANTS.map(() => '---').join('|')}|---|`,
    ...rows,
  ].join('\n'),
);

function relDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return d / s;
}
