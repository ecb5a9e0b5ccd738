/**
 * `npx tsx bench/kernels.ts`: one pointwise conv (and one fused LayerNorm GEMM) per model, timed
 * with the register-blocked GEMM kernels (the channel tile from the rule, and forced to 4 and 16)
 * against the previous path (4 channels of one pixel per invocation, scalar loads), in the same
 * process on the same adapter. Median wall time of `--runs` inferences (upload, one dispatch,
 * readback) after `--warmup`. Not a test; on SwiftShader read the ratios, not the times.
 *
 *   npx tsx bench/kernels.ts [--runs 5] [--warmup 1] [--cases pw96x56,...]
 */
import { parseArgs } from 'node:util';
import { AnalysisContext } from '../compiler/src/analysis/context.js';
import { chooseChannels } from '../compiler/src/codegen/wgsl/gemm.js';
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

const pointwise = (k: number, cout: number, size: number): Case => ({
  name: `pw${k}->${cout}@${size}`,
  k,
  size,
  source: `model m(x: f32[B, ${k}, ${size}, ${size}]) {\n  return pwconv(self.p, x, out=${cout})\n}`,
});

const CASES: Case[] = [
  pointwise(96, 192, 56),
  pointwise(192, 384, 28),
  pointwise(384, 768, 14),
  pointwise(768, 1536, 7),
  // CPolyNeXt-T's PolyMLP down-projection: LayerNorm folded into the GEMM, plus the residual.
  {
    name: 'ln-gemm48->48@56',
    k: 48,
    size: 56,
    source: `model m(x: f32[B, 48, 56, 56]) {\n  return pwconv(self.p, layernorm2d(self.n, x), out=48) + x\n}`,
  },
];

const VARIANTS: { name: string; options: KernelOptions }[] = [
  { name: 'old', options: { gemm: false } },
  { name: 'gemm (rule)', options: {} },
  { name: 'gemm 4x4', options: { gemmChannels: 4 } },
  { name: 'gemm 16x4', options: { gemmChannels: 16 } },
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
  const cout = m.ops.find((o) => o.op === 'conv2d' || o.op === 'fused')!.type.shape[1] as number;
  rows.push(
    `| ${c.name} | ${chooseChannels(cout, 1)}x4 | ${old.toFixed(0)} | ${rest
      .map((t) => `${t.toFixed(0)} (${(old / t).toFixed(2)}x)`)
      .join(' | ')} | ${worst.toExponential(1)} |`,
  );
  console.log(rows.at(-1));
}
console.log(
  [
    `\nmedian of ${runs} runs (ms; speed-up over the old path)\n`,
    `| case | rule | ${VARIANTS.map((v) => v.name).join(' | ')} | max rel diff |`,
    `|---|---|${VARIANTS.map(() => '---').join('|')}|---|`,
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
