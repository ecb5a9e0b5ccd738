/**
 * Micro-benchmark of the depthwise and PolyConv kernels at CPolyNeXt-T / APolyNeXt-T shapes: each
 * case is a small model whose only kernels are the unit under test (PolyConv units chained
 * `--chain` times so the upload and readback weigh less), compiled with today's codegen and with
 * the WGSL codegen of a base revision (`--base`, default the merge-base with main), timed in the same
 * process on the same device, alternating old and new. Not a CI test; on SwiftShader read the
 * ratios, not the milliseconds.
 *
 *   npx tsx bench/kernels-depthwise.ts [--base <rev>] [--runs 5] [--warmup 1] [--chain 4] [--only polyconv]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { CompiledPlan } from '../compiler/src/codegen/wgsl/plan.js';
import { buildModel } from '../compiler/src/driver/frontend.js';
import { randomInput } from '../compiler/src/driver/random-weights.js';
import { syntheticWeights } from '../compiler/src/driver/run.js';
import { compileForWebGpu, packWeights } from '../compiler/src/driver/webgpu.js';
import type { Module } from '../compiler/src/ir/types.js';
import { runPasses } from '../compiler/src/passes/manager.js';
import { parsePipeline } from '../compiler/src/passes/pipeline.js';
import { WebGpuModel } from '../runtime/src/index.js';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    runs: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    chain: { type: 'string', default: '4' },
    only: { type: 'string', default: '' },
  },
});
process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
const runs = Number(values.runs);
const warmup = Number(values.warmup);
const chain = Number(values.chain);
const root = resolve(import.meta.dirname, '..');
const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
const base = values.base ?? git('merge-base', 'HEAD', 'main');

/**
 * The base revision's `codegen/wgsl/` in a temporary folder, its imports of anything outside that
 * folder pointed at today's files, so only the kernel code differs.
 */
async function baseBuildPlan(): Promise<{ build: (m: Module, b: number) => CompiledPlan; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'polyc-wgsl-base-'));
  const folder = 'compiler/src/codegen/wgsl';
  for (const path of git('ls-tree', '--name-only', base, `${folder}/`).split('\n')) {
    const text = git('show', `${base}:${path}`).replace(/from '(\.[^']*)'/g, (all, spec: string) => {
      const target = resolve(root, dirname(path), spec);
      return relative(resolve(root, folder), target).startsWith('..')
        ? `from '${pathToFileURL(target).href.replace(/\.js$/, '.ts')}'`
        : all;
    });
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const mod = (await import(pathToFileURL(join(dir, folder, 'plan.ts')).href)) as {
    buildPlan: (m: Module, b: number) => CompiledPlan;
  };
  return { build: mod.buildPlan, dir };
}

const polyconv = (c: number, h: number, k1: number) => ({
  name: `polyconv ${c}x${h}x${h} dw1 k${k1} d2`,
  source: `block pc(self: path, x: tensor) {
  return dwconv(self.m, dwconv(self.a1, x, k=${k1}, dilation=2) * flip(dwconv(self.a2, x, k=3)), k=3)
}
model m(x: f32[B, ${c}, ${h}, ${h}]) {
  y0 = x
${Array.from({ length: chain }, (_, i) => `  y${i + 1} = pc(self.p${i}, y${i})`).join('\n')}
  return y${chain}
}`,
});
const dw = (c: number, h: number, k: number, stride: number) => ({
  name: `depthwise ${c}x${h}x${h} k${k} s${stride}`,
  source: `model m(x: f32[B, ${c}, ${h}, ${h}]) {
  return dwconv(self.d, x, k=${k}, stride=${stride})
}`,
});
const CASES = [
  // CPolyNeXt-T's PolyConv units (dw1 is k3 dilation 2 in stage 1, k5 dilation 2 after).
  polyconv(48, 56, 3),
  polyconv(96, 28, 5),
  polyconv(144, 14, 5),
  polyconv(216, 7, 5),
  // The downsampling depthwise convs (stride 2), and APolyNeXt-T's attention q/k/v convs.
  dw(48, 56, 3, 2),
  dw(96, 28, 3, 2),
  dw(192, 14, 3, 2),
  dw(96, 14, 5, 1),
  dw(160, 7, 5, 1),
].filter((c) => c.name.includes(values.only));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const old = await baseBuildPlan();
try {
  console.log(`base ${base.slice(0, 10)} vs working tree; median of ${runs} runs after ${warmup} warm-up`);
  console.log('| case | old ms | new ms | old / new | max rel diff |\n|---|---|---|---|---|');
  for (const c of CASES) {
    const r = buildModel('bench.poly', { readFile: () => c.source });
    if (!r.model) throw new Error(JSON.stringify(r.diagnostics));
    const m = r.model.module;
    const opt = runPasses(m, parsePipeline('default')).module;
    const weights = syntheticWeights(m);
    const shape = m.ops.find((o) => o.op === 'input')!.type.shape.map((d) => (typeof d === 'number' ? d : 1));
    const input = randomInput(shape, 1);
    const models = await Promise.all(
      [old.build(opt, 1), compileForWebGpu(opt, 1)].map((p) =>
        WebGpuModel.create(p.plan, packWeights(opt, p, weights)),
      ),
    );
    try {
      const times: number[][] = [[], []];
      const outs: Float32Array[] = [];
      for (let i = 0; i < warmup + runs; i++) {
        for (const [k, model] of models.entries()) {
          const t0 = performance.now();
          [outs[k]] = (await model.run([input.data], 1)) as [Float32Array];
          if (i >= warmup) times[k]!.push(performance.now() - t0);
        }
      }
      let diff = 0;
      let scale = 0;
      outs[0]!.forEach((v, i) => {
        diff = Math.max(diff, Math.abs(v - outs[1]![i]!));
        scale = Math.max(scale, Math.abs(v));
      });
      const [a, b] = times.map(median) as [number, number];
      console.log(
        `| ${c.name} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(a / b).toFixed(2)} | ${(diff / scale).toExponential(1)} |`,
      );
    } finally {
      for (const model of models) model.destroy();
    }
  }
} finally {
  rmSync(old.dir, { recursive: true, force: true });
}
