import type { AnalysisContext } from '../analysis/context.js';
import { isElementwise } from '../ir/ops.js';
import type { Module, Op } from '../ir/types.js';
import { applyGroups, type Group, grow } from './fusion.js';
import type { Pass } from './pass.js';
import { Facts } from './patterns.js';

const SHAPE_OPS = new Set(['reshape', 'transpose']);

/**
 * Polynomial attention as one kernel: from the token reshapes of q, k, v through
 * S = q^T k, P = (S * s + 1)^4, its normalisation (L1 over keys, or the BN variant's constant
 * divisor) and O = v P^T, back to NCHW. P is non-negative, so the kernel needs no running maximum
 * and no exp: one sweep over keys accumulating sum_u P and sum_u P v.
 */
export const fuseAttention: Pass = {
  name: 'fuse-attention',
  summary: 'fuse polynomial attention ((q.k)s+1)^4, its normalisation and the product with v into one kernel',
  run(m: Module, ctx: AnalysisContext) {
    const f = new Facts(m, ctx);
    const claimed = new Set<number>();
    const groups: Group[] = [];
    const dataMatmul = (op: Op) => op.op === 'matmul' && op.operands.every((x) => f.isData(x));
    for (const op of m.ops) {
      if (op.op !== 'pow' || claimed.has(op.id) || f.isConst(op.id)) continue;
      const g = grow(
        f,
        'attention',
        [op.id],
        claimed,
        (p) => isElementwise(p) || SHAPE_OPS.has(p.op) || dataMatmul(p),
        (u) => isElementwise(u) || SHAPE_OPS.has(u.op) || u.op === 'l1norm' || dataMatmul(u),
      );
      const matmuls = g ? [...g.members].filter((id) => dataMatmul(f.def(id))).length : 0;
      if (!g || matmuls !== 2) continue;
      groups.push(g);
      for (const id of g.members) claimed.add(id);
    }
    return groups.length === 0 ? m : applyGroups(m, f, groups);
  },
};
