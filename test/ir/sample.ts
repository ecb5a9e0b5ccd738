import type { Span } from '../../compiler/src/diagnostics/diagnostic.js';
import type { Dim, Module, Op, OpAttrs, OpKind, ValueId } from '../../compiler/src/ir/types.js';

/** Builds one op; types are spelled out by hand so that the verifier's inference is really tested. */
export function op<K extends OpKind>(
  id: ValueId,
  kind: K,
  operands: ValueId[],
  attrs: OpAttrs[K],
  shape: Dim[],
  loc: Span | null = null,
  scope = '',
): Op {
  return { id, op: kind, operands, attrs, type: { dtype: 'f32', shape }, loc, scope } as unknown as Op;
}

const at = (line: number, col: number, length: number): Span => ({
  file: 'examples/tiny.poly',
  line,
  col,
  length,
});
const none = {} as Record<string, never>;

/** A small module that uses every op kind once or more and verifies cleanly. */
export function sampleModule(): Module {
  const ops: Op[] = [
    op(0, 'input', [], { name: 'image' }, ['B', 3, 8, 8], at(10, 3, 5), ':model'),
    op(1, 'param', [], { key: 'stem.weight', role: 'param' }, [4, 3, 3, 3], at(11, 5, 4), 'stem:conv'),
    op(
      2,
      'conv2d',
      [0, 1],
      { stride: [1, 1], pad: [1, 1], dilation: [1, 1], groups: 1 },
      ['B', 4, 8, 8],
      at(11, 5, 4),
      'stem:conv',
    ),
    op(3, 'param', [], { key: 'stem.ln.weight', role: 'param' }, [4], at(12, 5, 2), 'stem:ln'),
    op(4, 'layernorm2d', [2, 3], { eps: 1e-6 }, ['B', 4, 8, 8], at(12, 5, 2), 'stem:ln'),
    op(5, 'param', [], { key: 'bn.gamma_c', role: 'param' }, [4], null, 'bn'),
    op(6, 'param', [], { key: 'bn.gamma_hw', role: 'param' }, [1, 1, 8, 8], null, 'bn'),
    op(7, 'param', [], { key: 'bn.running_mean', role: 'buffer' }, [1, 1, 8, 8], null, 'bn'),
    op(8, 'param', [], { key: 'bn.running_var', role: 'buffer' }, [1, 1, 8, 8], null, 'bn'),
    op(9, 'channel_bn', [4, 5, 6, 7, 8], { eps: 1e-5 }, ['B', 4, 8, 8], null, 'bn'),
    op(10, 'slice', [9], { axis: 1, start: 0, end: 2 }, ['B', 2, 8, 8], at(14, 9, 7), 'cell.0:poly'),
    op(11, 'slice', [9], { axis: 1, start: 2, end: 4 }, ['B', 2, 8, 8], at(14, 18, 7), 'cell.0:poly'),
    op(12, 'flip', [11], { axis: 3 }, ['B', 2, 8, 8], at(15, 9, 4), 'cell.0:poly'),
    op(13, 'mul', [10, 12], none, ['B', 2, 8, 8], at(16, 9, 1), 'cell.0:poly'),
    op(14, 'param', [], { key: 'cell.0.alpha', role: 'param' }, [1], at(17, 9, 5), 'cell.0:poly'),
    op(15, 'sigmoid', [14], none, [1], at(17, 1, 12), 'cell.0:poly'),
    op(16, 'mul', [13, 15], none, ['B', 2, 8, 8], null, 'cell.0:poly'),
    op(17, 'pow', [16], { exponent: 2 }, ['B', 2, 8, 8], null, 'cell.0:poly'),
    op(18, 'const', [], { value: 0.5 }, [], null, 'cell.0:poly'),
    op(19, 'sub', [17, 18], none, ['B', 2, 8, 8], null, 'cell.0:poly'),
    op(20, 'neg', [19], none, ['B', 2, 8, 8]),
    op(21, 'div', [20, 18], none, ['B', 2, 8, 8]),
    op(22, 'add', [21, 10], none, ['B', 2, 8, 8]),
    op(23, 'l1norm', [22], { axis: 1, eps: 1e-12 }, ['B', 2, 8, 8], null, 'cell.0:norm'),
    op(24, 'reshape', [23], { shape: ['B', 2, 64] }, ['B', 2, 64], null, 'cell.0:attn'),
    op(25, 'transpose', [24], { perm: [0, 2, 1] }, ['B', 64, 2], null, 'cell.0:attn'),
    op(26, 'matmul', [24, 25], none, ['B', 2, 2], null, 'cell.0:attn'),
    op(27, 'sum', [26], { axes: [2], keepdims: true }, ['B', 2, 1], null, 'cell.0:attn'),
    op(28, 'mean', [27], { axes: [2], keepdims: false }, ['B', 2], null, 'head'),
    op(29, 'param', [], { key: 'head.weight', role: 'param' }, [10, 2], null, 'head'),
    op(30, 'param', [], { key: 'head.bias', role: 'param' }, [10], null, 'head'),
    op(31, 'linear', [28, 29, 30], none, ['B', 10], at(20, 3, 11), 'head'),
  ];
  return {
    name: 'tiny',
    batch: 'B',
    ops,
    outputs: [31],
    ignoredKeys: ['head.2.p', 'bn.num_batches_tracked'],
  };
}

/** A copy of `m` with op `id` replaced by `f(op)`. */
export function withOp(m: Module, id: ValueId, f: (op: Op) => unknown): Module {
  return { ...m, ops: m.ops.map((o) => (o.id === id ? (f(o) as Op) : o)) };
}
