import type { AnalysisContext } from '../analysis/context.js';
import { isElementwise } from '../ir/ops.js';
import type { Module, Op } from '../ir/types.js';
import { applyGroups, type Group, grow } from './fusion.js';
import type { Pass } from './pass.js';
import { Facts } from './patterns.js';

/**
 * Gives every remaining data-path anchor (a convolution or a LayerNorm) its prologue and epilogue:
 * - a pointwise conv becomes a GEMM kernel: the PolyMLP product of its two output halves, the
 *   LayerNorm statistics and rank-1 correction (see layernorm-into-gemm), scales, BN affine maps and
 *   the residual add all happen in registers;
 * - other convs (stem, depthwise, downsampling) and LayerNorms take the same elementwise prologue
 *   and epilogue (the cell input's scaled sum, the residual add);
 * - elementwise ops left over are grouped into elementwise kernels.
 */
export const fuseKernels: Pass = {
  name: 'fuse-kernels',
  summary:
    'fuse elementwise prologues and epilogues (PolyMLP product, LN stats, scales, residual adds) into convs, GEMMs and norms',
  run(m: Module, ctx: AnalysisContext) {
    const f = new Facts(m, ctx);
    const claimed = new Set<number>();
    const groups: Group[] = [];
    const take = (g: Group | null): void => {
      if (!g || g.members.size < 2) return;
      groups.push(g);
      for (const id of g.members) claimed.add(id);
    };
    const pointwise = (op: Op & { op: 'conv2d' }) =>
      op.attrs.groups === 1 &&
      (f.def(op.operands[1]!).type.shape as number[]).slice(2).every((k) => k === 1) &&
      op.attrs.stride.every((s) => s === 1);
    for (const op of m.ops) {
      if (claimed.has(op.id) || f.isConst(op.id)) continue;
      if (op.op === 'conv2d') take(grow(f, pointwise(op) ? 'gemm' : 'conv', [op.id], claimed));
      else if (op.op === 'layernorm2d') take(grow(f, 'norm', [op.id], claimed));
    }
    for (const op of m.ops) {
      if (claimed.has(op.id) || f.isConst(op.id) || !isElementwise(op)) continue;
      take(grow(f, 'elementwise', [op.id], claimed));
    }
    return groups.length === 0 ? m : applyGroups(m, f, groups);
  },
};
