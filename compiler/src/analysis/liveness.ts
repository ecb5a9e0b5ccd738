import { storageFloatsPerImage } from '../ir/layout.js';
import { constnessAnalysis } from './constness.js';
import type { Analysis } from './context.js';
import { type Interval, lifetimes, peakLive } from './memory-plan.js';

export interface Liveness {
  /**
   * Each data-path value's lifetime in op indices, with its size in floats per image: from the op
   * defining it to the last op reading it (outputs: Infinity).
   */
  readonly lifetimes: readonly Interval[];
  /** The most bytes of data-path values live at once, per image (the memory planner's lower bound). */
  readonly peakBytesPerImage: number;
}

/**
 * Lifetimes of the data-path values, every op a step. Load-time constants are excluded (they live
 * in the weights buffer). The executors plan their arenas over their own schedules with the same
 * code (memory-plan.ts).
 */
export const livenessAnalysis: Analysis<Liveness> = {
  name: 'liveness',
  summary: 'lifetimes of data-path values and the peak bytes live at once',
  compute(m, ctx) {
    const constant = ctx.get(constnessAnalysis, m);
    const byId = new Map(m.ops.map((o) => [o.id, o]));
    const all = lifetimes({
      inputs: [],
      steps: m.ops.map((op) => ({ writes: op.id, reads: op.operands.filter((x) => !constant.has(x)) })),
      outputs: m.outputs,
      size: (id) => storageFloatsPerImage(byId.get(id)!.type),
    });
    const data = all.filter((t) => !constant.has(t.id));
    return { lifetimes: data, peakBytesPerImage: 4 * peakLive(data) };
  },
};
