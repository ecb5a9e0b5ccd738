import { describe, expect, it } from 'vitest';
import { randomInput } from '../../compiler/src/driver/random-weights.js';
import { syntheticWeights } from '../../compiler/src/driver/run.js';
import { compileForWebGpu, packWeights } from '../../compiler/src/driver/webgpu.js';
import { interpret } from '../../compiler/src/ir/interpret.js';
import { readModule } from '../../compiler/src/ir/read.js';
import { runPasses } from '../../compiler/src/passes/manager.js';
import { parsePipeline } from '../../compiler/src/passes/pipeline.js';
import { WebGpuModel } from '../../runtime/src/index.js';
import { buildExample, relError } from '../helpers.js';

/**
 * The per-pixel LayerNorm template (codegen/wgsl/norm.ts): which units it takes, and the units it
 * must leave to the generic path (still correct there). Numerics of the units it takes are in
 * webgpu.test.ts (the norm-* kernel models).
 */

const shape = [5, 3, 7] as const;
const numel = shape[0] * shape[1] * shape[2];
const pixels = shape[1] * shape[2];

/** A module computing one fused `norm` region of x (f32[B,5,3,7]) and a gain g (f32[5]). */
const region = (...body: string[]): string =>
  [
    'module m batch B {',
    '  %0 = input {name="x"} : f32[B,5,3,7]',
    '  %1 = param {key="g", role="param"} : f32[5]',
    '  %2 = fused(%0, %1) {kind="norm"} : f32[B,5,3,7] {',
    '    %0 = arg {index=0} : f32[B,5,3,7]',
    '    %1 = arg {index=1} : f32[5]',
    ...body.map((l) => `    ${l}`),
    '  }',
    '  return %2',
    '}',
  ].join('\n');

describe('norm template', () => {
  it('takes every LayerNorm unit of CPolyNeXt-T outside tile kernels: one invocation per pixel', () => {
    const m = runPasses(buildExample('examples/cpolynext_t.poly'), parsePipeline('default')).module;
    const plan = compileForWebGpu(m, 1).plan;
    const kernels = new Map(plan.kernels.map((k) => [k.key, k.name]));
    const norms = plan.steps.filter((s) => /^(norm|layernorm2d)_/.test(kernels.get(s.kernel)!));
    // 48 LayerNorms: 39 are in tile kernels with the pointwise conv they normalise (tile.ts).
    expect(norms.length).toBe(9);
    for (const s of norms) {
      const [, c, h, w] = kernels
        .get(s.kernel)!
        .match(/_(\d+)x(\d+)x(\d+)$/)!
        .map(Number) as number[];
      expect(s.invocationsPerBatch, `${s.label} (C=${c})`).toBe(h! * w!);
    }
  });

  const cases: Record<string, { body: string[]; template: boolean }> = {
    // The LayerNorm's input feeds the epilogue too; the gain is read per channel.
    'one LayerNorm': {
      body: [
        '%2 = layernorm2d(%0, %1) {eps=0.00001} : f32[B,5,3,7]',
        '%3 = mul(%2, %0) : f32[B,5,3,7]',
        'yield %3',
      ],
      template: true,
    },
    // Two LayerNorms on the root path: the generic path.
    'nested LayerNorms': {
      body: [
        '%2 = layernorm2d(%0, %1) {eps=0.00001} : f32[B,5,3,7]',
        '%3 = layernorm2d(%2) {eps=0.001} : f32[B,5,3,7]',
        'yield %3',
      ],
      template: false,
    },
    // The normalised value read at another pixel: the generic path.
    'LayerNorm read at a flipped pixel': {
      body: [
        '%2 = layernorm2d(%0, %1) {eps=0.00001} : f32[B,5,3,7]',
        '%3 = flip(%2) {axis=3} : f32[B,5,3,7]',
        '%4 = add(%3, %2) : f32[B,5,3,7]',
        'yield %4',
      ],
      template: false,
    },
  };
  for (const [name, { body, template }] of Object.entries(cases)) {
    it(`${name}: ${template ? 'per pixel' : 'generic path'}, agrees with the interpreter`, async () => {
      const m = readModule(region(...body));
      const compiled = compileForWebGpu(m, 5);
      expect(compiled.plan.steps.map((s) => s.invocationsPerBatch)).toEqual([template ? pixels : numel]);
      const weights = syntheticWeights(m);
      const model = await WebGpuModel.create(compiled.plan, packWeights(m, compiled, weights));
      try {
        for (const batch of [1, 5]) {
          const input = randomInput([batch, ...shape], 3 + batch);
          const [ref] = interpret(m, [input], weights);
          const [got] = await model.run([input.data], batch);
          expect(relError(got!, ref!.data)).toBeLessThan(1e-5);
        }
      } finally {
        model.destroy();
      }
    });
  }
});
