import { interpret, type Tensor } from '../ir/interpret.js';
import type { Module } from '../ir/types.js';

/**
 * Gives random weights the running statistics a trained network would have, so that a fully
 * polynomial (BatchNorm) network stays bounded: one interpreter pass over a random batch, setting
 * each ChannelBatchNorm's running mean and variance to the statistics of its actual input, and each
 * constant divisor `buffer + c` (the BN attention's running_denom) to the mean row sum it divides.
 * Statistics are written into `weights` in place. Modules without such buffers are left unchanged.
 */
export function calibrateRunningStats(m: Module, weights: Map<string, Float32Array>, input: Tensor): void {
  const byId = new Map(m.ops.map((o) => [o.id, o]));
  const needs = m.ops.some(
    (o) => o.op === 'channel_bn' || (o.op === 'div' && divisorBuffer(o.operands[1]!) !== null),
  );
  if (!needs) return;

  function divisorBuffer(id: number): { key: string; offset: number } | null {
    const d = byId.get(id);
    if (d?.op === 'param' && d.attrs.role === 'buffer') return { key: d.attrs.key, offset: 0 };
    if (d?.op !== 'add') return null;
    const [a, b] = d.operands.map((o) => byId.get(o));
    if (a?.op === 'param' && a.attrs.role === 'buffer' && b?.op === 'const')
      return { key: a.attrs.key, offset: b.attrs.value };
    return null;
  }

  interpret(m, [input], weights, (op, args) => {
    if (op.op === 'channel_bn') {
      const x = args[0]!;
      const [n, c, h, w] = x.shape as [number, number, number, number];
      const hw = h * w;
      const mean = args[3]!.data;
      const variance = args[4]!.data;
      for (let p = 0; p < hw; p++) {
        let s1 = 0;
        let s2 = 0;
        for (let b = 0; b < n; b++) {
          for (let ch = 0; ch < c; ch++) {
            const v = x.data[(b * c + ch) * hw + p]!;
            s1 += v;
            s2 += v * v;
          }
        }
        const u = s1 / (n * c);
        mean[p] = u;
        variance[p] = Math.max(s2 / (n * c) - u * u, 1e-3);
      }
    } else if (op.op === 'div') {
      const target = divisorBuffer(op.operands[1]!);
      if (!target) return;
      const p = args[0]!;
      const divisor = args[1]!;
      const rows = divisor.data.length;
      const inner = p.shape[p.shape.length - 1]!;
      const batch = p.data.length / (rows * inner);
      const buffer = weights.get(target.key)!;
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let b = 0; b < batch; b++) {
          for (let j = 0; j < inner; j++) s += Math.abs(p.data[(b * rows + r) * inner + j]!);
        }
        const value = s / batch;
        buffer[r] = value - target.offset;
        divisor.data[r] = value;
      }
    }
  });
}
