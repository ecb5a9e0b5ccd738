import { describe, expect, it } from 'vitest';
import { AnalysisContext } from '../../compiler/src/analysis/context.js';
import { costAnalysis } from '../../compiler/src/analysis/cost.js';
import { livenessAnalysis } from '../../compiler/src/analysis/liveness.js';
import { buildModel } from '../../compiler/src/driver/frontend.js';

describe('cached analyses', () => {
  const src = `model m(x: f32[B, 2, 2, 2]) {
  a = x * x          # live: x, a
  b = a + x          # x dies here
  return b * b
}`;
  const m = buildModel('t.poly', { readFile: () => src }).model!.module;

  it('liveness: the most bytes live at once, per image', () => {
    const ctx = new AnalysisContext();
    const l = ctx.get(livenessAnalysis, m);
    // x, a and b are 8 floats each; at `b = a + x` three are live: 96 bytes.
    expect(l.peakBytesPerImage).toBe(96);
    expect(ctx.get(livenessAnalysis, m)).toBe(l); // cached by module identity
  });

  it('cost is an analysis too', () => {
    expect(new AnalysisContext().get(costAnalysis, m)).toEqual({ params: 0, buffers: 0, flops: 24 });
  });
});
