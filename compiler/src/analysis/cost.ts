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
 * FLOPs of one op for batch 1, given the ops its operands may refer to. Parameter-only ops (e.g.
 * sigmoid of a scale) are counted too; a fused op costs what its region costs.
 */
export function opFlops(op: Op, scope: ReadonlyMap<number, Op>): number {
  const out = numel(op.type.shape);
  const operand = (i: number) => scope.get(op.operands[i]!)!;
  switch (op.op) {
    case 'fused': {
      const body = new Map(op.attrs.body.ops.map((o) => [o.id, o]));
      return op.attrs.body.ops.reduce((sum, o) => sum + opFlops(o, body), 0);
    }
    case 'input':
    case 'param':
    case 'const':
    case 'arg':
    case 'slice':
    case 'flip':
    case 'reshape':
    case 'transpose':
      return 0;
    case 'conv2d': {
      const w = operand(1).type.shape as number[];
      return 2 * out * w[1]! * w[2]! * w[3]!;
    }
    case 'matmul': {
      const a = operand(0).type.shape;
      return 2 * out * (a[a.length - 1] as number);
    }
    case 'linear': {
      const w = operand(1).type.shape as number[];
      return 2 * out * w[1]! + (op.operands.length > 2 ? out : 0);
    }
    case 'pow':
      return out * Math.ceil(Math.log2(op.attrs.exponent));
    case 'rsqrt':
      return 2 * out;
    case 'layernorm2d':
    case 'channel_bn':
      return 6 * out;
    case 'l1norm':
      return 3 * out;
    case 'mean':
    case 'sum':
      return numel(operand(0).type.shape);
    default:
      return out;
  }
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
