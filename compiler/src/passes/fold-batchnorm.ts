import type { Pass } from './pass.js';
import { origin } from './patterns.js';
import { rewrite } from './rewriter.js';

/**
 * ChannelBatchNorm at inference is an affine map per (c, h, w):
 *   y = x * A + B,  A = gamma_c[c] * gamma_hw[h,w] * rsqrt(running_var[h,w] + eps),  B = -running_mean * A.
 * A and B depend only on the checkpoint, so they are computed once at load time; the data path keeps
 * one multiply and one add, which fusion folds into the producing or consuming kernel.
 */
export const foldBatchnorm: Pass = {
  name: 'fold-batchnorm',
  summary: 'turn inference ChannelBatchNorm into a load-time per-(c,h,w) affine map x*A + B',
  run(m) {
    return rewrite(m, (op, rw) => {
      if (op.op !== 'channel_bn') return false;
      const o = origin(op);
      const [x, gc, ghw, mean, variance] = op.operands.map((v) => rw.get(v)) as [
        number,
        number,
        number,
        number,
        number,
      ];
      const channels = rw.typeOf(x).shape[1] as number;
      const gain = rw.emit('reshape', [gc], { shape: [1, channels, 1, 1] }, o);
      const rstd = rw.emit('rsqrt', [rw.emit('add', [variance, rw.constant(op.attrs.eps, o)], {}, o)], {}, o);
      const a = rw.emit('mul', [rw.emit('mul', [gain, ghw], {}, o), rstd], {}, o);
      const b = rw.emit('neg', [rw.emit('mul', [mean, a], {}, o)], {}, o);
      rw.bind(op.id, rw.emit('add', [rw.emit('mul', [x, a], {}, o), b], {}, o));
      return true;
    });
  },
};
