import { describe, expect, it } from 'vitest';
import { constnessAnalysis } from '../../compiler/src/analysis/constness.js';
import { AnalysisContext } from '../../compiler/src/analysis/context.js';
import { randomInput } from '../../compiler/src/driver/random-weights.js';
import { syntheticWeights } from '../../compiler/src/driver/run.js';
import { interpret } from '../../compiler/src/ir/interpret.js';
import type { Module } from '../../compiler/src/ir/types.js';
import { verifyModule } from '../../compiler/src/ir/verify.js';
import { runPasses } from '../../compiler/src/passes/manager.js';
import { DEFAULT_PIPELINE, parsePipeline } from '../../compiler/src/passes/pipeline.js';
import { PASSES } from '../../compiler/src/passes/registry.js';
import { buildExample, EXAMPLE_MODELS, relError } from '../helpers.js';

/**
 * Translation validation: every pass of the default pipeline, applied in order to every example
 * model (small settings), leaves the interpreter's outputs unchanged on random inputs
 * (max|d|/max|ref| < 1e-5) and the IR verified.
 */

it('the default pipeline uses every registered pass', () => {
  expect(new Set(DEFAULT_PIPELINE)).toEqual(new Set(PASSES.map((p) => p.name)));
});

describe('every pass preserves results on every example', () => {
  for (const name of EXAMPLE_MODELS) {
    it(name, () => {
      const size = name === 'cpolynext_lr' ? 32 : 64;
      const m = buildExample(`examples/${name}.poly`, {
        init_channels: '16',
        num_classes: '10',
        image_size: String(size),
      });
      const weights = syntheticWeights(m);
      const input = randomInput([2, 3, size, size], 3);
      const [ref] = interpret(m, [input], weights);
      let current = m;
      for (const pass of parsePipeline('default')) {
        const next = runPasses(current, [pass], { verifyEach: true }).module;
        if (next === current) continue;
        expect(verifyModule(next)).toEqual([]);
        const [got] = interpret(next, [input], weights);
        expect(relError(got!.data, ref!.data), `${name} after ${pass.name}`).toBeLessThan(1e-5);
        current = next;
      }
    });
  }
});

/** Counts the data-path ops (computed per inference) at the top level, by kind; fused ops by template. */
function dataPathKinds(m: Module): Map<string, number> {
  const constant = new AnalysisContext().get(constnessAnalysis, m);
  const counts = new Map<string, number>();
  for (const op of m.ops) {
    if (constant.has(op.id) || op.op === 'input') continue;
    const key =
      op.op === 'fused'
        ? `fused:${op.attrs.kind}`
        : op.op === 'layernorm2d' && op.operands.length === 2
          ? 'layernorm2d+weight'
          : op.op;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

describe('the optimised CPolyNeXt-T', () => {
  it('has no standalone LayerNorm-weight multiply, sigmoid, Hadamard product or residual add', () => {
    const m = buildExample('examples/cpolynext_t.poly');
    const opt = runPasses(m, parsePipeline('default'), { verifyEach: true }).module;
    const before = dataPathKinds(m);
    const after = dataPathKinds(opt);
    const kinds = [...new Set([...before.keys(), ...after.keys()])].sort();
    const table = [
      'data-path ops of cpolynext_t (224x224), before -> after the default pipeline:',
      ...kinds.map(
        (k) =>
          `  ${k.padEnd(20)} ${String(before.get(k) ?? 0).padStart(5)} -> ${String(after.get(k) ?? 0).padStart(5)}`,
      ),
    ];
    console.log(table.join('\n'));
    // Hadamard products and residual adds happen inside fused kernels only.
    expect(after.get('mul') ?? 0).toBe(0);
    expect(after.get('add') ?? 0).toBe(0);
    // sigmoid(skip_weight) is load-time only; it was never on the data path, and stays off it.
    expect(after.get('sigmoid') ?? 0).toBe(0);
    // A LayerNorm that keeps its weight is one whose output is not only read by convs (a residual).
    const weighted = opt.ops.filter((o) => o.op === 'layernorm2d' && o.operands.length === 2);
    for (const ln of weighted) {
      const users = opt.ops.filter((o) => o.operands.includes(ln.id));
      expect(users.every((u) => u.op === 'conv2d')).toBe(false);
    }
    expect(before.get('mul')).toBeGreaterThan(100);
    expect(after.get('fused:polyconv')).toBe(36);
    // PolyConv's end and the PolyMLP (36 each) and 3 cell inputs are tile kernels.
    expect(after.get('fused:tile')).toBe(75);
    expect((after.get('fused:gemm') ?? 0) + (after.get('fused:norm') ?? 0)).toBeGreaterThan(0);
  });
});
