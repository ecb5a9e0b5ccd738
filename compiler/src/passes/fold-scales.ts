import type { AnalysisContext } from '../analysis/context.js';
import type { Module } from '../ir/types.js';
import type { Pass } from './pass.js';
import { channelScaleLength, Facts, origin, reshapeScale, scaleConvInput } from './patterns.js';
import { rewrite } from './rewriter.js';

/**
 * Folds constant per-channel scales into the linear op next to them, so the data path loses a
 * multiply:
 * - `conv(x, W) * s` (s per output channel, e.g. the sigmoid residual scale r[i]) -> `conv(x, W*s)`;
 * - `layernorm(x, g) * s` -> `layernorm(x, g*s)`;
 * - `conv(x * s, W)` (s per input channel, a pre-scale) -> `conv(x, W*s)`, for each such conv;
 * - `(x * c1) * c2` -> `x * (c1*c2)` for constants, so chains of scales meet their producer.
 * The folded weights are computed from parameters once, at load time.
 */
export const foldScales: Pass = {
  name: 'fold-scales',
  summary:
    'fold constant channel scales (sigmoid residual scales, pre-scales) into neighbouring convs and norms',
  run(m: Module, ctx: AnalysisContext) {
    const f = new Facts(m, ctx);
    return rewrite(m, (op, rw) => {
      const o = origin(op);
      if (op.op === 'mul' && f.isData(op.operands[0]!) && f.isConst(op.operands[1]!)) {
        const [y, s] = op.operands as [number, number];
        const producer = f.def(y);
        const sType = f.def(s).type.shape;
        if (producer.op === 'conv2d' && f.singleUse(y)) {
          const channels = producer.type.shape[1] as number;
          const length = channelScaleLength(sType, channels);
          if (length === null) return false;
          const w = rw.emit(
            'mul',
            [rw.get(producer.operands[1]!), reshapeScale(rw, rw.get(s), length, [channels, 1, 1, 1], o)],
            {},
            o,
          );
          rw.bind(
            op.id,
            rw.emit('conv2d', [rw.get(producer.operands[0]!), w], producer.attrs, origin(producer)),
          );
          return true;
        }
        if (producer.op === 'layernorm2d' && producer.operands.length === 2 && f.singleUse(y)) {
          const channels = producer.type.shape[1] as number;
          const length = channelScaleLength(sType, channels);
          if (length === null) return false;
          const g = rw.emit(
            'mul',
            [rw.get(producer.operands[1]!), reshapeScale(rw, rw.get(s), length, [channels], o)],
            {},
            o,
          );
          rw.bind(
            op.id,
            rw.emit('layernorm2d', [rw.get(producer.operands[0]!), g], producer.attrs, origin(producer)),
          );
          return true;
        }
        if (producer.op === 'mul' && f.singleUse(y) && f.isConst(producer.operands[1]!)) {
          const c = rw.emit('mul', [rw.get(producer.operands[1]!), rw.get(s)], {}, o);
          rw.bind(op.id, rw.emit('mul', [rw.get(producer.operands[0]!), c], {}, origin(producer)));
          return true;
        }
        return false;
      }
      if (op.op === 'conv2d') {
        const input = f.def(op.operands[0]!);
        if (input.op !== 'mul' || !f.isConst(input.operands[1]!) || f.isConst(input.operands[0]!))
          return false;
        const channels = input.type.shape[1] as number;
        const length = channelScaleLength(f.def(input.operands[1]!).type.shape, channels);
        // Depthwise only without a channel multiplier: with one, output channel o reads input
        // channel o / k and the scale would have to be repeated k times along the weight.
        const depthwise = op.attrs.groups === channels && op.type.shape[1] === channels;
        if (length === null || (op.attrs.groups !== 1 && !depthwise)) return false;
        const w = scaleConvInput(rw, op, rw.get(op.operands[1]!), rw.get(input.operands[1]!), length, o);
        rw.bind(op.id, rw.emit('conv2d', [rw.get(input.operands[0]!), w], op.attrs, o));
        return true;
      }
      return false;
    });
  },
};
