import type { AnalysisContext } from '../analysis/context.js';
import type { Module, Op } from '../ir/types.js';
import type { Pass } from './pass.js';
import { Facts, origin } from './patterns.js';
import { rewrite } from './rewriter.js';

/**
 * A weightless LayerNorm read only by pointwise convs is computed inside those GEMMs instead of as a
 * separate pass over memory. Per pixel, with mean u = E[x] and rstd = rsqrt(max(E[x^2] - u^2, 0) + eps),
 *   W (x - u) rstd = rstd * (W x - u * W 1),
 * so the GEMM reads x once, gathers sum(x) and sum(x^2) while it multiplies, and applies a rank-1
 * correction in its epilogue; `W 1` (the row sums of W) is a load-time constant.
 */
export const layernormIntoGemm: Pass = {
  name: 'layernorm-into-gemm',
  summary: 'compute a weightless LayerNorm inside the pointwise convs that consume it (rank-1 correction)',
  run(m: Module, ctx: AnalysisContext) {
    const f = new Facts(m, ctx);
    const isPointwise = (u: Op, ln: number): boolean =>
      u.op === 'conv2d' &&
      u.operands[0] === ln &&
      u.operands[1] !== ln &&
      u.attrs.groups === 1 &&
      u.attrs.stride.every((s) => s === 1) &&
      u.attrs.pad.every((p) => p === 0) &&
      (f.def(u.operands[1]!).type.shape as number[]).slice(2).every((k) => k === 1);
    const expandable = (id: number): boolean => {
      const ln = f.def(id);
      const users = f.users(id);
      return (
        ln.op === 'layernorm2d' &&
        ln.operands.length === 1 &&
        !f.uses.outputs.has(id) &&
        users.length > 0 &&
        users.every((u) => isPointwise(u, id))
      );
    };
    /** Per LayerNorm (old id): its input and the statistics, emitted once at the LayerNorm. */
    const stats = new Map<number, { x: number; mean: number; rstd: number }>();
    return rewrite(m, (op, rw) => {
      if (op.op === 'layernorm2d' && expandable(op.id)) {
        const o = origin(op);
        const x = rw.get(op.operands[0]!);
        const mean = rw.emit('mean', [x], { axes: [1], keepdims: true }, o);
        const meanSq = rw.emit('mean', [rw.emit('mul', [x, x], {}, o)], { axes: [1], keepdims: true }, o);
        const variance = rw.emit('sub', [meanSq, rw.emit('mul', [mean, mean], {}, o)], {}, o);
        const clamped = rw.emit('max', [variance, rw.constant(0, o)], {}, o);
        const rstd = rw.emit(
          'rsqrt',
          [rw.emit('add', [clamped, rw.constant(op.attrs.eps, o)], {}, o)],
          {},
          o,
        );
        stats.set(op.id, { x, mean, rstd });
        return true;
      }
      const s = op.op === 'conv2d' ? stats.get(op.operands[0]!) : undefined;
      if (op.op === 'conv2d' && s) {
        const o = origin(op);
        const w = rw.get(op.operands[1]!);
        const out = op.type.shape[1] as number;
        const acc = rw.emit('conv2d', [s.x, w], op.attrs, o);
        const rowSums = rw.emit(
          'reshape',
          [rw.emit('sum', [w], { axes: [1, 2, 3], keepdims: false }, o)],
          { shape: [1, out, 1, 1] },
          o,
        );
        const centred = rw.emit('sub', [acc, rw.emit('mul', [s.mean, rowSums], {}, o)], {}, o);
        rw.bind(op.id, rw.emit('mul', [centred, s.rstd], {}, o));
        return true;
      }
      return false;
    });
  },
};
