import type { Module, Op, ValueId } from '../ir/types.js';
import type { Pass } from './pass.js';

/**
 * Dead code elimination: keeps the ops that module outputs depend on, and every `input` op (inputs
 * are bound by position, so dropping one would change the calling convention). A fused op is
 * opaque: it is live or dead as a whole, and its operands are live when it is.
 *
 * A dead `param` disappears with its checkpoint key added to `ignoredKeys`, so that a full
 * checkpoint still loads into the optimised module.
 */
export const dce: Pass = {
  name: 'dce',
  summary: 'remove ops whose results are unused; keys of removed params become ignored checkpoint keys',
  run(m: Module): Module {
    const live = liveValues(m);
    if (m.ops.every((op) => live.has(op.id))) return m;

    const ignoredKeys = [...m.ignoredKeys];
    const renumber = new Map<ValueId, ValueId>();
    const ops: Op[] = [];
    for (const op of m.ops) {
      if (!live.has(op.id)) {
        if (op.op === 'param' && !ignoredKeys.includes(op.attrs.key)) ignoredKeys.push(op.attrs.key);
        continue;
      }
      const id = ops.length;
      renumber.set(op.id, id);
      ops.push({ ...op, id, operands: op.operands.map((x) => renumber.get(x)!) } as Op);
    }
    return { ...m, ops, outputs: m.outputs.map((x) => renumber.get(x)!), ignoredKeys };
  },
};

/** Module outputs, inputs and everything they use, transitively. */
function liveValues(m: Module): Set<ValueId> {
  const live = new Set<ValueId>(m.outputs);
  for (const op of m.ops) if (op.op === 'input') live.add(op.id);
  // Ops are topologically ordered, so one backward sweep sees every user before its operands.
  for (let i = m.ops.length - 1; i >= 0; i--) {
    const op = m.ops[i]!;
    if (live.has(op.id)) for (const x of op.operands) live.add(x);
  }
  return live;
}
