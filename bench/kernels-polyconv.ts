/**
 * `npx tsx bench/kernels-polyconv.ts`: CPolyNeXt-T's PolyConv units (one per model), timed with the
 * staged template (workgroup memory, two barriers) and the register template (sliding windows down
 * row strips) with the rule's tile and with forced tiles, in the same process on the same adapter.
 * Median wall time of `--runs` inferences (upload, one dispatch, readback) after `--warmup`. Not a
 * test; on SwiftShader read the ratios, not the times.
 *
 *   npx tsx bench/kernels-polyconv.ts [--runs 5] [--warmup 1] [--cases 48x56,...] [--tiles 4x8,4x2,...]
 */
import { parseArgs } from 'node:util';
import { AnalysisContext } from '../compiler/src/analysis/context.js';
import { polyconvTile } from '../compiler/src/codegen/wgsl/depthwise.js';
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
    tiles: { type: 'string', default: '' },
  },
});
process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';

// CPolyNeXt-T's PolyConv units: dw1 k3 dilation 2 in stage 1, k5 dilation 2 after; dw2 and dw3 k3.
const CASES = [
  [48, 56, 3],
  [96, 28, 5],
  [144, 14, 5],
  [216, 7, 5],
].map(([c, h, k1]) => ({
  name: `${c}x${h}`,
  c: c!,
  h: h!,
  source: `model m(x: f32[B, ${c}, ${h}, ${h}]) {
  return dwconv(self.m, dwconv(self.a1, x, k=${k1}, dilation=2) * flip(dwconv(self.a2, x, k=3)), k=3)
}`,
}));

const forced = values.tiles ? values.tiles.split(',') : [];
const runs = Number(values.runs);
const warmup = Number(values.warmup);
const only = values.cases ? new Set(values.cases.split(',')) : null;
const rows: string[] = [];
for (const c of CASES.filter((x) => !only || only.has(x.name))) {
  const built = buildModel('bench.poly', { readFile: () => c.source });
  if (!built.model) throw new Error(`${c.name}: ${JSON.stringify(built.diagnostics)}`);
  const m = runPasses(built.model.module, parsePipeline('default')).module;
  const weights = syntheticWeights(m);
  const input = randomInput([1, c.c, c.h, c.h], 1);
  const rule = polyconvTile(c.c, c.h, c.h);
  const variants: { name: string; options: KernelOptions }[] = [
    { name: 'staged', options: { polyconv: 'staged' } },
    { name: `registers ${rule.tw}x${rule.th} (rule)`, options: {} },
    ...forced.map((t) => {
      const [tw, th] = t.split('x').map(Number) as [number, number];
      return { name: `registers ${t}`, options: { polyconvTile: { tw, th } } };
    }),
  ];
  const cells: string[] = [];
  let staged = 0;
  let reference: Float32Array | null = null;
  let worst = 0;
  for (const v of variants) {
    const ctx = new AnalysisContext();
    const compiled = buildPlan(m, 1, ctx, (u) => renderKernel(u, v.options));
    const model = await WebGpuModel.create(compiled.plan, packWeights(m, compiled, weights, ctx));
    try {
      const t = await timeRuns(async () => (await model.run([input.data], 1))[0]!, warmup, runs);
      if (reference) worst = Math.max(worst, relDiff(t.out, reference));
      else reference = t.out;
      if (!staged) staged = t.ms;
      const invocations = compiled.plan.steps[0]?.invocationsPerBatch ?? 0;
      cells.push(`${v.name}: ${t.ms.toFixed(1)} ms (${(staged / t.ms).toFixed(2)}x, ${invocations} inv.)`);
    } finally {
      model.destroy();
    }
  }
  rows.push(`| ${c.name} | ${cells.join(' | ')} | ${worst.toExponential(1)} |`);
  console.log(rows.at(-1));
}
console.log(
  [
    `\nmedian of ${runs} runs (ms; speed-up over staged; invocations per image)\n`,
    '| case | variants… | max rel diff |',
    '|---|---|---|',
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
