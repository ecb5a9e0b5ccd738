import { numel } from '../ir/shapes.js';
import type { ValueId } from '../ir/types.js';
import type { Analysis } from '../passes/pass.js';
import { constnessAnalysis } from './constness.js';

export interface Liveness {
  /** Index in `m.ops` of the last op reading each data-path value (outputs: ops.length). */
  readonly lastUse: ReadonlyMap<ValueId, number>;
  /** The most bytes of data-path values live at once, per image (the memory planner's lower bound). */
  readonly peakBytesPerImage: number;
}

/**
 * Lifetimes of the data-path values in op order: a value is live from the op defining it to the
 * last op reading it. Load-time constants are excluded (they live in the weights buffer).
 */
export const livenessAnalysis: Analysis<Liveness> = {
  name: 'liveness',
  summary: 'lifetimes of data-path values and the peak bytes live at once',
  compute(m, ctx) {
    const constant = ctx.get(constnessAnalysis, m);
    const index = new Map(m.ops.map((o, i) => [o.id, i]));
    const lastUse = new Map<ValueId, number>();
    m.ops.forEach((op, i) => {
      for (const x of op.operands) if (!constant.has(x)) lastUse.set(x, i);
    });
    for (const x of m.outputs) lastUse.set(x, m.ops.length);
    const delta = new Array<number>(m.ops.length + 2).fill(0);
    for (const op of m.ops) {
      if (constant.has(op.id)) continue;
      const bytes = 4 * numel(op.type.shape.slice(1));
      delta[index.get(op.id)!]! += bytes;
      delta[(lastUse.get(op.id) ?? index.get(op.id)!) + 1]! -= bytes;
    }
    let live = 0;
    let peak = 0;
    for (const d of delta) {
      live += d;
      peak = Math.max(peak, live);
    }
    return { lastUse, peakBytesPerImage: peak };
  },
};
