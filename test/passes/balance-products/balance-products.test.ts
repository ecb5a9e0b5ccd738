import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AnalysisContext } from '../../../compiler/src/analysis/context.js';
import { degreeAnalysis } from '../../../compiler/src/analysis/degree.js';
import { buildModel } from '../../../compiler/src/driver/frontend.js';
import { syntheticWeights } from '../../../compiler/src/driver/run.js';
import { interpret, type Tensor } from '../../../compiler/src/ir/interpret.js';
import { readModule } from '../../../compiler/src/ir/read.js';
import type { Module } from '../../../compiler/src/ir/types.js';
import { balanceProducts } from '../../../compiler/src/passes/balance-products.js';
import { buildExample, relError } from '../../helpers.js';
import { discoverIrTests } from '../ir-test.js';

/**
 * balance-products beyond its test files (which ir-files.test.ts runs): multiplicative depth
 * before and after, on those files and on a source-level product tree.
 */

const DIR = 'test/passes/balance-products';

/** A deterministic input in [-1, 1) for the module's input, batch 2. */
function randomInput(m: Module, seed: number): Tensor {
  const input = m.ops.find((o) => o.op === 'input')!;
  const shape = input.type.shape.map((d) => (typeof d === 'number' ? d : 2));
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => next() * 2 - 1);
  return { shape, data };
}

function depths(m: Module): { written: number; balanced: number } {
  const f = new AnalysisContext().get(degreeAnalysis, m).values.get(m.outputs[0]!)!;
  return { written: f.depthAsWritten, balanced: f.depthBalanced };
}

/** A source-level tree: a right chain of five products over leaves of mixed shapes, plus x^4 by hand. */
function sourceTree(): Module {
  const src = `model t(x: f32[B, 4, 3, 3]) {
  a = pwconv(self.a, x, out=4)
  b = pwconv(self.b, x, out=4)
  c = pwconv(self.c, x, out=4)
  return a * (b * (c * (a * flip(b)))) * mean(x, [2, 3], keepdims=true) + x * x * x * x
}`;
  const r = buildModel('t.poly', { readFile: () => src });
  if (!r.model) throw new Error(JSON.stringify(r.diagnostics));
  return r.model.module;
}

describe('balance-products keeps results and lowers depth', () => {
  const modules: [string, Module][] = [
    ...discoverIrTests(DIR).map((f): [string, Module] => [f, readModule(readFileSync(f, 'utf8'), f)]),
    ['t.poly', sourceTree()],
  ];

  for (const [name, before] of modules) {
    it(`${name}: same outputs on random inputs (rel. error < 1e-6), depth as written = balanced, idempotent`, () => {
      const after = balanceProducts.run(before, new AnalysisContext());
      const weights = syntheticWeights(before);
      for (const seed of [1, 2, 3]) {
        const x = randomInput(before, seed);
        const [want] = interpret(before, [x], weights);
        const [got] = interpret(after, [x], weights);
        expect(relError(got!.data, want!.data)).toBeLessThan(1e-6);
      }
      const d = depths(after);
      expect(d.balanced).toBe(depths(before).balanced);
      // pow is counted e - 1 as written and left to codegen, so compare only pow-free modules.
      if (!after.ops.some((o) => o.op === 'pow')) expect(d.written).toBe(d.balanced);
      expect(balanceProducts.run(after, new AnalysisContext()), 'idempotent').toBe(after);
    });
  }

  it('t.poly: the six-factor product tree goes from depth 5 to 3', () => {
    const before = sourceTree();
    expect(depths(before)).toEqual({ written: 5, balanced: 3 });
    expect(depths(balanceProducts.run(before, new AnalysisContext()))).toEqual({ written: 3, balanced: 3 });
  });

  it('a chain of 10000 products (one tree 10000 deep) becomes depth 14, without recursion', () => {
    const lines = ['module chain batch B {', '  %0 = input {name="x"} : f32[B,4]'];
    for (let i = 1; i < 10000; i++) lines.push(`  %${i} = mul(%${i - 1}, %0) : f32[B,4]`);
    lines.push('  return %9999', '}');
    const before = readModule(lines.join('\n'));
    const after = balanceProducts.run(before, new AnalysisContext());
    expect(depths(after)).toEqual({ written: 14, balanced: 14 });
    expect(after.ops.filter((o) => o.op === 'mul')).toHaveLength(9999);
  });

  it('leaves the PolyNeXt examples as they are: their products are already pairs', () => {
    const m = buildExample('examples/apolynext_t_bn.poly', { layers: '5', image_size: '64' });
    expect(balanceProducts.run(m, new AnalysisContext())).toBe(m);
  });
});
