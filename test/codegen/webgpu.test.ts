import { describe, expect, it } from 'vitest';
import { AnalysisContext } from '../../compiler/src/analysis/context.js';
import { type KernelOptions, renderKernel } from '../../compiler/src/codegen/wgsl/kernels.js';
import { buildPlan } from '../../compiler/src/codegen/wgsl/plan.js';
import { buildModel } from '../../compiler/src/driver/frontend.js';
import { randomInput } from '../../compiler/src/driver/random-weights.js';
import { syntheticWeights } from '../../compiler/src/driver/run.js';
import { compileForWebGpu, packWeights } from '../../compiler/src/driver/webgpu.js';
import { interpret } from '../../compiler/src/ir/interpret.js';
import type { Module } from '../../compiler/src/ir/types.js';
import { runPasses } from '../../compiler/src/passes/manager.js';
import { DEFAULT_PIPELINE, parsePipeline } from '../../compiler/src/passes/pipeline.js';
import { WebGpuModel } from '../../runtime/src/index.js';
import { buildExample, EXAMPLE_MODELS, relError } from '../helpers.js';
import { KERNEL_MODELS } from './kernel-models.js';

/**
 * polyc's WGSL kernels run on WebGPU (SwiftShader in CI: no skipping when it is missing, the runtime
 * throws with instructions) and must agree with the interpreter: < 1e-5 relative for each kernel
 * kind with awkward sizes, < 1e-4 for whole example models.
 */

async function runBoth(
  m: Module,
  passes: string,
  batches: readonly number[],
  options?: KernelOptions,
): Promise<{ err: number; steps: number; submits: number }[]> {
  const [, ...image] = m.ops.find((o) => o.op === 'input')!.type.shape as number[];
  const weights = syntheticWeights(m);
  const opt = runPasses(m, parsePipeline(passes), { verifyEach: true }).module;
  const maxBatch = Math.max(...batches);
  const compiled = options
    ? buildPlan(opt, maxBatch, new AnalysisContext(), (u) => renderKernel(u, options))
    : compileForWebGpu(opt, maxBatch);
  const model = await WebGpuModel.create(compiled.plan, packWeights(opt, compiled, weights));
  try {
    const results = [];
    for (const batch of batches) {
      const input = randomInput([batch, ...image], 20 + batch);
      const [ref] = interpret(m, [input], weights);
      const [got] = await model.run([input.data], batch);
      results.push({
        err: relError(got!, ref!.data),
        steps: compiled.plan.steps.length,
        submits: model.stats.submits,
      });
    }
    return results;
  } finally {
    model.destroy();
  }
}

describe('every kernel kind against the interpreter (batch 1 and 5)', () => {
  for (const [name, { source }] of Object.entries(KERNEL_MODELS)) {
    for (const passes of ['default', 'none']) {
      it(`${name}, ${passes === 'default' ? 'fused' : 'unfused'}`, async () => {
        const r = buildModel('kernel.poly', { readFile: () => source });
        expect(r.diagnostics).toEqual([]);
        const results = await runBoth(r.model!.module, passes, [1, 5]);
        for (const x of results) expect(x.err).toBeLessThan(1e-5);
        // One submit per inference, whatever the batch.
        expect(results.map((x) => x.submits)).toEqual([1, 2]);
      });
    }
  }
});

describe('PolyConv templates and tiles against the interpreter (batch 1 and 5)', () => {
  // The registers template with other tiles than the rule's (strips taller than the image, rows
  // and columns that the tile does not divide, one column per invocation), and the staged one.
  const variants: Record<string, KernelOptions> = {
    staged: { polyconv: 'staged' },
    'registers 4x5': { polyconvTile: { tw: 4, th: 5 } },
    'registers 8x16': { polyconvTile: { tw: 8, th: 16 } },
    'registers 1x3': { polyconvTile: { tw: 1, th: 3 } },
  };
  for (const name of Object.keys(KERNEL_MODELS).filter((n) => n.startsWith('polyconv'))) {
    for (const [variant, options] of Object.entries(variants)) {
      it(`${name}, ${variant}`, async () => {
        const r = buildModel('kernel.poly', { readFile: () => KERNEL_MODELS[name]!.source });
        const results = await runBoth(r.model!.module, 'default', [1, 5], options);
        for (const x of results) expect(x.err).toBeLessThan(1e-5);
      });
    }
  }
});

describe('attention templates against the interpreter (batch 1 and 5)', () => {
  // Every queries-per-invocation of the register template (4 queries over 49 or 1 queries leave
  // a partial last block), Q' rows in registers and reloaded per key group (one vec4 over 4
  // queries for 64 and 36), and which template each attention model's unit gets.
  const names = Object.keys(KERNEL_MODELS).filter((n) => n.startsWith('attention'));
  const variants: KernelOptions[] = [
    ...[1, 2, 4].map((q) => ({ attentionQueries: q, attentionQRows: 'registers' as const })),
    ...[2, 4].map((q) => ({ attentionQueries: q, attentionQRows: 'reload' as const })),
  ];
  for (const name of names.filter((n) => !n.includes('generic'))) {
    for (const options of variants) {
      it(`${name}, ${options.attentionQueries} queries, Q' rows ${options.attentionQRows}`, async () => {
        const r = buildModel('kernel.poly', { readFile: () => KERNEL_MODELS[name]!.source });
        const results = await runBoth(r.model!.module, 'default', [1, 5], options);
        for (const x of results) expect(x.err).toBeLessThan(1e-5);
      });
    }
  }
  it('renders the register template where the views are affine and the head dim fits, else the generic one', () => {
    const kernels = names.map((name) => {
      const r = buildModel('kernel.poly', { readFile: () => KERNEL_MODELS[name]!.source });
      const plan = compileForWebGpu(runPasses(r.model!.module, parsePipeline('default')).module, 1).plan;
      return [name, plan.kernels.filter((k) => k.name.startsWith('attention_')).map((k) => k.name)];
    });
    expect(Object.fromEntries(kernels)).toEqual({
      'attention-l1-7x7': ['attention_2x32x49_q4'],
      'attention-bn-1x1': ['attention_2x32x1_q4'],
      'attention-l1-3x30-8x8': ['attention_3x30x64_q4'],
      'attention-bn-4x6-6x6': ['attention_4x6x36_q4'],
      'attention-generic-1x72-5x5': ['attention_1x72x25'],
      'attention-generic-view-7x5': ['attention_2x16x35'],
    });
  });
});

describe('tile kernels: the PolyMLP with its LayerNorm left a layernorm2d (batch 1 and 5)', () => {
  // Without layernorm-into-gemm the second conv reads the LayerNorm itself: its K loop normalises
  // the staged product as it reads it. The whole MLP is still one kernel.
  const passes = DEFAULT_PIPELINE.filter((p) => p !== 'layernorm-into-gemm').join(',');
  for (const name of ['poly-mlp-ln-7x7', 'tile-mlp-150x7x7', 'gemm-odd-pixels-5x5']) {
    it(name, async () => {
      const r = buildModel('kernel.poly', { readFile: () => KERNEL_MODELS[name]!.source });
      const results = await runBoth(r.model!.module, passes, [1, 5]);
      for (const x of results) expect(x.err).toBeLessThan(1e-5);
      expect(results[0]!.steps).toBe(1);
    });
  }
});

describe('example models on WebGPU (small settings)', () => {
  for (const name of EXAMPLE_MODELS) {
    it(name, async () => {
      const size = name === 'cpolynext_lr' ? 32 : 64;
      const m = buildExample(`examples/${name}.poly`, {
        init_channels: '16',
        num_classes: '10',
        image_size: String(size),
      });
      const [r] = await runBoth(m, 'default', [2]);
      expect(r!.err).toBeLessThan(1e-4);
    });
  }
});

describe('CPolyNeXt-T at 224x224, batch 1', () => {
  it('plans at most 200 dispatches and activation memory within 1.1x of the lower bound', () => {
    const m = buildExample('examples/cpolynext_t.poly');
    const fused = compileForWebGpu(runPasses(m, parsePipeline('default')).module, 1).plan;
    const unfused = compileForWebGpu(m, 1).plan;
    const mib = (b: number) => (b / 2 ** 20).toFixed(2);
    console.log(
      `cpolynext_t 224x224 batch 1: ${fused.steps.length} dispatches fused, ${unfused.steps.length} unfused; ` +
        `activations ${mib(fused.memory.plannedBytes)} MiB planned, lower bound ${mib(fused.memory.lowerBoundBytes)} MiB, ` +
        `no reuse ${mib(fused.memory.noReuseBytes)} MiB`,
    );
    expect(fused.steps.length).toBeLessThanOrEqual(200);
    expect(unfused.steps.length).toBeGreaterThan(fused.steps.length);
    expect(fused.memory.plannedBytes).toBeLessThanOrEqual(1.1 * fused.memory.lowerBoundBytes);
  });

  it('renders every GEMM region and pointwise conv register-blocked, the epilogue without loops', () => {
    const m = buildExample('examples/cpolynext_t.poly');
    const plan = compileForWebGpu(runPasses(m, parsePipeline('default')).module, 1).plan;
    const blocked = plan.kernels.filter((k) => /_k\d+_\d+x4$/.test(k.name));
    expect(plan.kernels.filter((k) => k.name.startsWith('gemm_') && !blocked.includes(k))).toEqual([]);
    expect(blocked.some((k) => k.name.startsWith('conv2d_'))).toBe(true);
    // The K loop is the only loop: the conv and the LayerNorm statistics come from the accumulators.
    for (const k of blocked) expect(k.wgsl.match(/for \(/g)).toHaveLength(1);
  });

  it('stores the 7x7 stage NC4HW4 outside tile kernels: GEMMs on it read vec4 channel blocks', () => {
    const m = buildExample('examples/cpolynext_t.poly');
    const opt = runPasses(m, parsePipeline('default')).module;
    const blocked = opt.ops.filter((o) => o.type.layout === 'nc4hw4');
    // Tile kernels read and write NCHW only, so of the 7x7 stage's values only those no tile
    // touches are NC4HW4: the downsampling convs' outputs (read by a GEMM) and PolyConv's inputs.
    expect(blocked.length).toBeGreaterThan(0);
    expect(blocked.every((o) => o.type.shape[2] === 7 && o.type.shape[3] === 7)).toBe(true);
    const byId = new Map(opt.ops.map((o) => [o.id, o]));
    const tiles = opt.ops.filter((o) => o.op === 'fused' && o.attrs.kind === 'tile');
    expect(tiles.some((o) => o.type.shape[2] === 7)).toBe(true);
    for (const t of tiles) {
      expect(t.type.layout).toBeUndefined();
      for (const x of t.operands) expect(byId.get(x)!.type.layout).toBeUndefined();
    }
    const kernels = compileForWebGpu(opt, 1).plan.kernels;
    const gemms = kernels.filter((k) => /x7x7_k\d+_\d+x4$/.test(k.name));
    const channelBlocks = gemms.filter((k) => k.wgsl.includes('dot(xq0, w'));
    expect(channelBlocks.length).toBeGreaterThan(0);
    for (const k of channelBlocks) expect(k.wgsl).not.toContain('fn ld(');
    // PolyConv reads b through the expression writer, addressed in NC4HW4.
    const polyconv = kernels.find((k) => k.name === 'polyconv_216x7x7')!;
    expect(polyconv.wgsl).toContain('((c.x * 54u + c.y / 4u) * 49u + c.z * 7u + c.w) * 4u + c.y % 4u');
  });

  it('renders each PolyConv end and each PolyMLP as one tile kernel (tile.ts)', () => {
    const m = buildExample('examples/cpolynext_t.poly');
    const plan = compileForWebGpu(runPasses(m, parsePipeline('default')).module, 1).plan;
    const tiles = plan.steps.filter((s) => s.kernel.startsWith('tile_'));
    // 12 cells of 3 PolyConv + PolyMLP pairs, and the 3 cell inputs whose preprocess conv feeds a
    // LayerNorm (one more has its PolyMLP's epilogue scaled for the next cell: its label is that
    // cell input's).
    expect(tiles.filter((s) => s.label.includes(':poly_conv/')).length).toBe(36);
    expect(tiles.filter((s) => s.label.includes(':poly_mlp/')).length).toBe(35);
    expect(tiles.length).toBe(36 + 36 + 3);
    expect(
      plan.kernels.filter((k) => k.name.startsWith('tile_')).every((k) => k.wgsl.includes('var<workgroup>')),
    ).toBe(true);
  });

  it('renders the stem conv as an implicit GEMM (conv.ts) with 8x4 register tiles', () => {
    const m = buildExample('examples/cpolynext_t.poly');
    const plan = compileForWebGpu(runPasses(m, parsePipeline('default')).module, 1).plan;
    expect(plan.kernels.map((k) => k.name)).toContain('conv2d_48x56x56_7x7s4d1_8x4');
  });
});

describe('depthwise kernels past the register bound', () => {
  it('a 33x33 depthwise conv is rendered by the generic path, a 31x31 one by the register template', () => {
    const kernels = (k: number) => {
      const source = `model m(x: f32[B, 3, 9, 9]) {\n  return dwconv(self.a, x, k=${k}) * x\n}`;
      const r = buildModel('kernel.poly', { readFile: () => source });
      const opt = runPasses(r.model!.module, parsePipeline('default')).module;
      return compileForWebGpu(opt, 1).plan.kernels.map((k) => k.name);
    };
    // 961 taps: one kernel with the weights in registers; 1089: the generic conv loop.
    expect(kernels(31)).toEqual([expect.stringMatching(/_dw31x31s1d1_3x9x9$/)]);
    expect(kernels(33)).toEqual([expect.not.stringMatching(/_dw/)]);
  });
});
