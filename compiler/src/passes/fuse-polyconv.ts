import type { AnalysisContext } from '../analysis/context.js';
import type { Module, Op } from '../ir/types.js';
import { applyGroups, type Group } from './fusion.js';
import type { Pass } from './pass.js';
import { Facts } from './patterns.js';

/**
 * PolyConv as one kernel: two depthwise branches of one input multiplied with the channel flip,
 * then the following depthwise conv: dw3(dw1(b) * flip(dw2(b))). The kernel reads a tile of b with
 * the halo all three convolutions need and writes one output; the two branch results and their
 * product never reach memory.
 */
export const fusePolyconv: Pass = {
  name: 'fuse-polyconv',
  summary: 'fuse the PolyConv shape dw(dw1(b) * flip(dw2(b))) into one kernel',
  run(m: Module, ctx: AnalysisContext) {
    const f = new Facts(m, ctx);
    const depthwise = (op: Op): op is Op & { op: 'conv2d' } =>
      op.op === 'conv2d' &&
      op.attrs.groups === op.type.shape[1] &&
      op.attrs.groups > 1 &&
      f.isData(op.operands[0]!);
    const groups: Group[] = [];
    for (const op of m.ops) {
      if (!depthwise(op)) continue;
      const product = f.def(op.operands[0]!);
      if (product.op !== 'mul' || !f.singleUse(product.id)) continue;
      const [a1, flipped] = product.operands.map((x) => f.def(x)) as [Op, Op];
      const a2 = flipped.op === 'flip' && flipped.attrs.axis === 1 ? f.def(flipped.operands[0]!) : undefined;
      if (!a2 || !depthwise(a1) || !depthwise(a2) || a1.operands[0] !== a2.operands[0]) continue;
      if (![a1.id, a2.id, flipped.id].every((x) => f.singleUse(x))) continue;
      groups.push({
        kind: 'polyconv',
        members: new Set([a1.id, a2.id, flipped.id, product.id, op.id]),
        root: op.id,
      });
    }
    return groups.length === 0 ? m : applyGroups(m, f, groups);
  },
};
