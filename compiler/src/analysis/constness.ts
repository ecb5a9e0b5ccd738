import type { Module, ValueId } from '../ir/types.js';
import type { Analysis } from './context.js';

/**
 * Values computed only from parameters and constants. They are the load-time part of a model:
 * codegen evaluates them once when weights are loaded, never per inference; everything else is the
 * data path.
 */
export const constnessAnalysis: Analysis<ReadonlySet<ValueId>> = {
  name: 'constness',
  summary: 'values computed from parameters and constants only (evaluated once at load time)',
  compute(m: Module): ReadonlySet<ValueId> {
    const constant = new Set<ValueId>();
    for (const op of m.ops) {
      if (op.op === 'param' || op.op === 'const') constant.add(op.id);
      else if (op.op !== 'input' && op.operands.length > 0 && op.operands.every((x) => constant.has(x))) {
        constant.add(op.id);
      }
    }
    return constant;
  },
};
