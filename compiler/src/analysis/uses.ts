import type { Module, Op, ValueId } from '../ir/types.js';
import type { Analysis } from './context.js';

export interface Uses {
  /** Each value's defining op. */
  readonly def: ReadonlyMap<ValueId, Op>;
  /** The ops that use each value as an operand, in op order (an op using a value twice appears twice). */
  readonly users: ReadonlyMap<ValueId, readonly Op[]>;
  /** Values that are module outputs. */
  readonly outputs: ReadonlySet<ValueId>;
}

/** Def-use chains of the module's top-level ops. */
export const usesAnalysis: Analysis<Uses> = {
  name: 'uses',
  summary: 'def-use chains: each value\u2019s defining op and its users',
  compute(m: Module): Uses {
    const def = new Map<ValueId, Op>();
    const users = new Map<ValueId, Op[]>();
    for (const op of m.ops) {
      def.set(op.id, op);
      for (const x of op.operands) {
        const list = users.get(x);
        if (list) list.push(op);
        else users.set(x, [op]);
      }
    }
    return { def, users, outputs: new Set(m.outputs) };
  },
};

/** Number of uses, counting a module output as a use. */
export function useCount(u: Uses, id: ValueId): number {
  return (u.users.get(id)?.length ?? 0) + (u.outputs.has(id) ? 1 : 0);
}
