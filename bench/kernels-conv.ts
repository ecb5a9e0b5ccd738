/**
 * `npx tsx bench/kernels-conv.ts`: general convs (the CPolyNeXt-T stem and stride-2 downsampling
 * 3x3 convs) timed with the implicit-GEMM template (conv.ts) against the generic one-output-per-
 * invocation path, in the same process on the same adapter. Median wall time of `--runs`
 * inferences (upload, one dispatch, readback) after `--warmup`. Not a test; on SwiftShader read
 * the ratios, not the times.
 *
 *   npx tsx bench/kernels-conv.ts [--runs 5] [--warmup 1] [--cases stem3->48@224,...]
 */
import { parseArgs } from 'node:util';
import { AnalysisContext } from '../compiler/src/analysis/context.js';
import { type KernelOptions, renderKernel } from '../compiler/src/codegen/wgsl/kernels.js';
import { buildPlan } from '../compiler/src/codegen/wgsl/plan.js';
import { buildModel } from '../compiler/src/driver/frontend.js';
import { randomInput } from '../compiler/src/driver/random-weights.js';
import { syntheticWeights } from '../compiler/src/driver/run.js';
import { packWeights } from '../compiler/src/driver/webgpu.js';
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

const conv = (cin: number, cout: number, size: number, k: number, stride: number) => ({
  name: `${k}x${k}s${stride} ${cin}->${cout}@${size}`,
  cin,
  size,
  source: `model m(x: f32[B, ${cin}, ${size}, ${size}]) {\n  return conv2d(self.c, x, out=${cout}, k=${k}, stride=${stride})\n}`,
});

const CASES = [
  conv(3, 48, 224, 7, 4), // CPolyNeXt-T's stem
  conv(72, 144, 56, 3, 2), // CPolyNeXt-S's first downsampling conv
  conv(144, 288, 28, 3, 2),
  conv(72, 72, 32, 3, 1), // CPolyNeXt-LR's 3x3 conv
];

const VARIANTS: { name: string; options: KernelOptions }[] = [
  { name: 'generic', options: { conv: false } },
  { name: 'implicit GEMM', options: {} },
];

const runs = Number(values.runs);
const warmup = Number(values.warmup);
const only = values.cases ? new Set(values.cases.split(',')) : null;
const rows: string[] = [];
for (const c of CASES.filter((x) => !only || only.has(x.name))) {
  const built = buildModel('bench.poly', { readFile: () => c.source });
  if (!built.model) throw new Error(`${c.name}: ${JSON.stringify(built.diagnostics)}`);
  const m = built.model.module;
  const weights = syntheticWeights(m);
  const input = randomInput([1, c.cin, c.size, c.size], 1);
  const times: number[] = [];
  const kernels: string[] = [];
  let reference: Float32Array | null = null;
  let worst = 0;
  for (const v of VARIANTS) {
    const ctx = new AnalysisContext();
    const compiled = buildPlan(m, 1, ctx, (u) => renderKernel(u, v.options));
    kernels.push(compiled.plan.kernels.map((k) => k.name).join('+'));
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
  const [base, fast] = times as [number, number];
  rows.push(
    `| ${c.name} | ${kernels[1]} | ${base.toFixed(0)} | ${fast.toFixed(0)} | ${(base / fast).toFixed(1)}x | ${worst.toExponential(1)} |`,
  );
  console.log(rows.at(-1));
}
console.log(
  [
    `\nmedian of ${runs} runs (ms)\n`,
    `| case | kernel | ${VARIANTS.map((v) => v.name).join(' | ')} | speed-up | max rel diff |`,
    '|---|---|---|---|---|---|',
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
