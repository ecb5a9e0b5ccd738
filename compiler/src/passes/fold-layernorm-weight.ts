import type { AnalysisContext } from '../analysis/context.js';
import type { Module } from '../ir/types.js';
import type { Pass } from './pass.js';
import { Facts, origin, scaleConvInput } from './patterns.js';
import { rewrite } from './rewriter.js';

/**
 * `conv(layernorm(x, g), W)` = `conv(layernorm(x), W * diag(g))`: when every user of a LayerNorm is
 * a convolution reading it (pointwise, or depthwise over the same channels), its weight moves into
 * those convs' weights (computed once at load time) and the LayerNorm only normalises.
 */
export const foldLayernormWeight: Pass = {
  name: 'fold-layernorm-weight',
  summary: 'move a LayerNorm weight into the weights of the convolutions that consume it',
  run(m: Module, ctx: AnalysisContext) {
    const f = new Facts(m, ctx);
    const foldable = (id: number): boolean => {
      const ln = f.def(id);
      if (ln.op !== 'layernorm2d' || ln.operands.length !== 2 || f.uses.outputs.has(id)) return false;
      const channels = ln.type.shape[1] as number;
      const users = f.users(id);
      return (
        users.length > 0 &&
        users.every(
          (u) =>
            u.op === 'conv2d' &&
            u.operands[0] === id &&
            u.operands[1] !== id &&
            // Depthwise only without a channel multiplier (see scaleConvInput's weight layout).
            (u.attrs.groups === 1 || (u.attrs.groups === channels && u.type.shape[1] === channels)),
        )
      );
    };
    return rewrite(m, (op, rw) => {
      if (op.op === 'layernorm2d' && foldable(op.id)) {
        rw.bind(op.id, rw.emit('layernorm2d', [rw.get(op.operands[0]!)], op.attrs, origin(op)));
        return true;
      }
      if (op.op === 'conv2d' && foldable(op.operands[0]!)) {
        const ln = f.def(op.operands[0]!);
        const channels = ln.type.shape[1] as number;
        const w = scaleConvInput(
          rw,
          op,
          rw.get(op.operands[1]!),
          rw.get(ln.operands[1]!),
          channels,
          origin(op),
        );
        rw.bind(op.id, rw.emit('conv2d', [rw.get(op.operands[0]!), w], op.attrs, origin(op)));
        return true;
      }
      return false;
    });
  },
};
