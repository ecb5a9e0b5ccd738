import { opInfo } from '../ir/ops.js';
import { numel } from '../ir/shapes.js';
import type { Module, Op } from '../ir/types.js';
import type { Analysis } from './context.js';

export interface Cost {
  /** Trainable parameters (buffers excluded), as PyTorch's `sum(p.numel() for p in parameters())`. */
  readonly params: number;
  /** Elements of non-trainable checkpoint tensors (running statistics). */
  readonly buffers: number;
  /** Floating-point operations for one image (a multiply-add counts 2). */
  readonly flops: number;
}

/**
 * FLOPs of one op for batch 1 (per op kind in ir/ops.ts), given the ops its operands may refer to.
 * Parameter-only ops (e.g. sigmoid of a scale) are counted too.
 */
export function opFlops(op: Op, scope: ReadonlyMap<number, Op>): number {
  const operand = (i: number) => scope.get(op.operands[i]!)!;
  return opInfo(op.op).flops({
    attrs: op.attrs,
    out: numel(op.type.shape),
    operands: op.operands.length,
    operandShape: (i) => operand(i).type.shape,
    operandNumel: (i) => numel(operand(i).type.shape),
    regionFlops: (body) => {
      const inner = new Map(body.ops.map((o) => [o.id, o]));
      return body.ops.reduce((sum, o) => sum + opFlops(o, inner), 0);
    },
  });
}

/** `cost` as a cached analysis. */
export const costAnalysis: Analysis<Cost> = {
  name: 'cost',
  summary: 'parameters, buffer elements and FLOPs per image',
  compute: (m) => cost(m),
};

export function cost(m: Module): Cost {
  let params = 0;
  let buffers = 0;
  let flops = 0;
  const scope = new Map(m.ops.map((o) => [o.id, o]));
  for (const op of m.ops) {
    if (op.op === 'param') {
      if (op.attrs.role === 'param') params += numel(op.type.shape);
      else buffers += numel(op.type.shape);
    }
    flops += opFlops(op, scope);
  }
  return { params, buffers, flops };
}
