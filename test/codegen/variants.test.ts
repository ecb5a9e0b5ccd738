import { describe, expect, it } from 'vitest';
import { AnalysisContext } from '../../compiler/src/analysis/context.js';
import { renderKernel, type Unit } from '../../compiler/src/codegen/wgsl/kernels.js';
import { buildPlan } from '../../compiler/src/codegen/wgsl/plan.js';
import {
  type KernelVariant,
  renderVariant,
  unitSignature,
  variantSpace,
} from '../../compiler/src/codegen/wgsl/variants.js';
import { buildModel } from '../../compiler/src/driver/frontend.js';
import { randomInput } from '../../compiler/src/driver/random-weights.js';
import { syntheticWeights } from '../../compiler/src/driver/run.js';
import { compileForWebGpu, packWeights } from '../../compiler/src/driver/webgpu.js';
import { interpret } from '../../compiler/src/ir/interpret.js';
import type { Module } from '../../compiler/src/ir/types.js';
import { runPasses } from '../../compiler/src/passes/manager.js';
import { parsePipeline } from '../../compiler/src/passes/pipeline.js';
import { WebGpuModel } from '../../runtime/src/index.js';
import { relError } from '../helpers.js';
import { KERNEL_MODELS } from './kernel-models.js';

/**
 * Kernel variants (codegen/wgsl/variants.ts): every variant the tuner may choose, compiled into a
 * plan through tuned choices, must agree with the interpreter (< 1e-5), and signatures must name
 * what a unit computes, not where it sits in the model.
 */

function fused(source: string): Module {
  const r = buildModel('kernel.poly', { readFile: () => source });
  expect(r.diagnostics).toEqual([]);
  return runPasses(r.model!.module, parsePipeline('default')).module;
}

/** The plan's units, in step order. */
function units(m: Module): Unit[] {
  const out: Unit[] = [];
  buildPlan(m, 1, new AnalysisContext(), (u) => {
    out.push(u);
    return renderKernel(u);
  });
  return out;
}

/** Runs `opt` (the fused form of `m`) with `tuned` choices; the error against the interpreter at batches 1 and 3. */
async function tunedError(m: Module, opt: Module, tuned: ReadonlyMap<string, KernelVariant>) {
  const weights = syntheticWeights(m);
  const compiled = compileForWebGpu(opt, 3, new AnalysisContext(), tuned);
  const model = await WebGpuModel.create(compiled.plan, packWeights(opt, compiled, weights));
  try {
    const [, ...image] = m.ops.find((o) => o.op === 'input')!.type.shape as number[];
    let err = 0;
    for (const batch of [1, 3]) {
      const input = randomInput([batch, ...image], 7 + batch);
      const [ref] = interpret(m, [input], weights);
      const [got] = await model.run([input.data], batch);
      err = Math.max(err, relError(got!, ref!.data));
    }
    return { err, compiled };
  } finally {
    model.destroy();
  }
}

describe('kernel variants against the interpreter', () => {
  // A model per tunable template: implicit-GEMM convs, GEMMs with LayerNorm and PolyMLP
  // epilogues, pixel counts the vec4 does not divide, PolyConv, LayerNorm units, attention.
  const cases = [
    'attention-l1-3x30-8x8',
    'stem-and-downsample',
    'poly-mlp-ln-7x7',
    'gemm-odd-pixels-5x5',
    'polyconv-k5-13x11x11',
    'norm-odd-7x7',
  ];
  for (const name of cases) {
    it(`${name}: the k-th variant of every unit, for each k`, async () => {
      const source = KERNEL_MODELS[name]!.source;
      const m = buildModel('kernel.poly', { readFile: () => source }).model!.module;
      const opt = fused(source);
      const spaces = new Map(units(opt).map((u) => [unitSignature(u), variantSpace(u)]));
      const widest = Math.max(...[...spaces.values()].map((s) => s.others.length));
      expect(widest).toBeGreaterThan(0);
      for (let k = 0; k < widest; k++) {
        const tuned = new Map<string, KernelVariant>();
        for (const [sig, space] of spaces) {
          const v = space.others[Math.min(k, space.others.length - 1)];
          if (v) tuned.set(sig, v);
        }
        const { err, compiled } = await tunedError(m, opt, tuned);
        expect(err, `variant #${k}`).toBeLessThan(1e-5);
        expect(compiled.tuned.chosen).toBeGreaterThan(0);
      }
    });
  }

  it('a chosen GEMM variant is the plan kernel: 4 channels, workgroups of 128', async () => {
    const source = KERNEL_MODELS['stem-and-downsample']!.source;
    const m = buildModel('kernel.poly', { readFile: () => source }).model!.module;
    const opt = fused(source);
    const gemms = units(opt).filter((u) => variantSpace(u).default.template === 'gemm');
    expect(gemms.length).toBeGreaterThan(0);
    const choice: KernelVariant = { template: 'gemm', channels: 4, workgroupSize: 128 };
    const tuned = new Map(gemms.map((u) => [unitSignature(u), choice]));
    const { err, compiled } = await tunedError(m, opt, tuned);
    expect(err).toBeLessThan(1e-5);
    const names = new Set(gemms.map((u) => renderVariant(u, choice)!.name));
    const kernels = compiled.plan.kernels.filter((k) => names.has(k.name));
    expect(kernels.length).toBe(names.size);
    for (const k of kernels) {
      expect(k.name).toMatch(/_4x4$/);
      expect(k.workgroupSize).toBe(128);
      expect(k.wgsl).toContain('@workgroup_size(128)');
    }
    expect(compiled.tuned).toEqual({ chosen: gemms.length, stale: 0 });
    // Without choices: the rule, at the default workgroup size.
    const plain = compileForWebGpu(opt, 3);
    expect(plain.plan.kernels.filter((k) => k.workgroupSize === 128)).toEqual([]);
    expect(plain.tuned).toEqual({ chosen: 0, stale: 0 });
  });

  it('a choice whose template does not render the unit falls back to the default', () => {
    const opt = fused(KERNEL_MODELS['norm-odd-7x7']!.source);
    const [unit] = units(opt).filter((u) => variantSpace(u).default.template === 'norm');
    expect(unit).toBeDefined();
    expect(renderVariant(unit!, { template: 'gemm', channels: 4 })).toBeNull();
    const stale = new Map<string, KernelVariant>([
      [unitSignature(unit!), { template: 'polyconv', mode: 'staged' }],
    ]);
    const compiled = compileForWebGpu(opt, 1, new AnalysisContext(), stale);
    expect(compiled.tuned.stale).toBeGreaterThan(0);
    expect(compiled.plan).toEqual(compileForWebGpu(opt, 1).plan);
  });
});

describe('kernel signatures', () => {
  it('repeated blocks share one signature; other shapes do not', () => {
    const source = (size: number) => `block pw(self: path, x: tensor) {
  return dwconv(self.d, pwconv(self.p, x, out=16) * x + x, k=3)
}
model m(x: f32[B, 16, ${size}, ${size}]) {
  return pw(self.c, pw(self.b, pw(self.a, x)))
}`;
    const gemms = (size: number) =>
      units(fused(source(size)))
        .filter((u) => variantSpace(u).default.template === 'gemm')
        .map((u) => unitSignature(u));
    const eight = gemms(8);
    expect(eight.length).toBe(3);
    expect(new Set(eight).size).toBe(1);
    expect(eight[0]).toMatch(/^gemm:[a-z0-9]+_16x8x8#[0-9a-f]{8}$/);
    expect(gemms(4)[0]).not.toBe(eight[0]);
  });

  it("the default variant renders today's rule; the space has no duplicate of it by knobs", () => {
    for (const { source } of Object.values(KERNEL_MODELS)) {
      for (const u of units(fused(source))) {
        const space = variantSpace(u);
        expect(renderVariant(u, space.default)).toEqual(renderKernel(u));
        const keys = space.others.map((v) => JSON.stringify(v));
        expect(new Set(keys).size).toBe(keys.length);
      }
    }
  });
});
