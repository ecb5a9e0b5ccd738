import { fail, note, type Span } from '../diagnostics/diagnostic.js';
import { normAxis } from '../ir/ops.js';
import type { Dim } from '../ir/types.js';
import type { IrBuilder, TensorValue } from './builder.js';
import { type Limits, limitNote } from './limits.js';
import { bool, describeKind, float, int, safeInt, show, type Value } from './values.js';

/**
 * The builtin functions of the `.poly` language: compile-time helpers (`int`, `ceil`, `max`, …) and
 * the tensor builtins. Builtins that own checkpoint tensors take the module path first, like a
 * PyTorch submodule, and name their tensors exactly as PyTorch does (`<path>.weight`, …).
 */

export interface BuiltinCtx {
  readonly b: IrBuilder;
  readonly span: Span;
  argSpan(name: string): Span;
  path(p: Extract<Value, { k: 'path' }>): string;
  readonly limits: Limits;
  /** Charges the evaluation steps of making a list of `length` items. */
  work(length: number): void;
}

interface Builtin {
  readonly params: readonly { readonly name: string; readonly default?: Value }[];
  readonly summary: string;
  run(args: Map<string, Value>, ctx: BuiltinCtx): Value;
}

const NONE: Value = { k: 'none' };
const p = (name: string, dflt?: Value) => (dflt === undefined ? { name } : { name, default: dflt });

function get(args: Map<string, Value>, name: string): Value {
  return args.get(name)!;
}

function tensor(args: Map<string, Value>, name: string, ctx: BuiltinCtx): TensorValue {
  const v = get(args, name);
  if (v.k !== 'tensor')
    fail('E0301', `'${name}' must be a tensor, got ${describeKind(v)} (${show(v)})`, ctx.argSpan(name));
  return v;
}

function path(args: Map<string, Value>, name: string, ctx: BuiltinCtx): string {
  const v = get(args, name);
  if (v.k !== 'path') {
    fail(
      'E0301',
      `'${name}' must be a checkpoint path such as self.ops[3], got ${describeKind(v)}`,
      ctx.argSpan(name),
    );
  }
  return ctx.path(v);
}

function key(prefix: string, leaf: string): string {
  return prefix === '' ? leaf : `${prefix}.${leaf}`;
}

function integer(
  args: Map<string, Value>,
  name: string,
  ctx: BuiltinCtx,
  min = Number.NEGATIVE_INFINITY,
): number {
  const v = get(args, name);
  if (v.k !== 'int')
    fail('E0301', `'${name}' must be an int, got ${describeKind(v)} (${show(v)})`, ctx.argSpan(name));
  if (v.v < min) fail('E0301', `'${name}' must be at least ${min}, got ${v.v}`, ctx.argSpan(name));
  return v.v;
}

function number(args: Map<string, Value>, name: string, ctx: BuiltinCtx): number {
  const v = get(args, name);
  if (v.k !== 'int' && v.k !== 'float')
    fail('E0301', `'${name}' must be a number, got ${describeKind(v)}`, ctx.argSpan(name));
  return v.v;
}

function intList(args: Map<string, Value>, name: string, ctx: BuiltinCtx): number[] {
  const v = get(args, name);
  if (v.k === 'int') return [v.v];
  if (v.k !== 'list' || !v.items.every((i) => i.k === 'int')) {
    fail('E0301', `'${name}' must be a list of ints, got ${show(v)}`, ctx.argSpan(name));
  }
  return v.items.map((i) => (i as { v: number }).v);
}

/** A tensor shape as the user wrote it: every dimension at least 1, refused where it is written. */
function dims(args: Map<string, Value>, name: string, ctx: BuiltinCtx): number[] {
  const shape = intList(args, name, ctx);
  const bad = shape.find((d) => d < 1);
  if (bad !== undefined) {
    fail(
      'E0406',
      `tensor dimensions must be positive, got ${bad} in [${shape.join(', ')}]`,
      ctx.argSpan(name),
    );
  }
  return shape;
}

/** A shape list: ints, or the batch dimension (from `x.shape[0]`). */
function shapeList(args: Map<string, Value>, name: string, ctx: BuiltinCtx): Dim[] {
  const v = get(args, name);
  if (v.k !== 'list')
    fail('E0301', `'${name}' must be a list of dimensions, got ${show(v)}`, ctx.argSpan(name));
  return v.items.map((i) => {
    if (i.k === 'int') {
      if (i.v < 1) fail('E0406', `tensor dimensions must be positive, got ${i.v}`, ctx.argSpan(name));
      return i.v;
    }
    if (i.k === 'dim') return i.name;
    return fail('E0301', `dimensions must be ints or the batch dimension, got ${show(i)}`, ctx.argSpan(name));
  });
}

function channels(x: TensorValue, ctx: BuiltinCtx, what: string): number {
  const c = x.type.shape[1];
  if (x.type.shape.length !== 4 || typeof c !== 'number') {
    fail('E0405', `${what} needs an NCHW tensor, got ${show(x)}`, ctx.span, [
      note('the input was produced here', x.origin),
    ]);
  }
  return c;
}

function spatial(x: TensorValue): [number, number] {
  return [x.type.shape[2] as number, x.type.shape[3] as number];
}

function conv(
  ctx: BuiltinCtx,
  x: TensorValue,
  prefix: string,
  out: number,
  k: number,
  stride: number,
  padArg: Value,
  dilation: number,
  groups: number,
): TensorValue {
  const cin = channels(x, ctx, 'a convolution');
  if (cin % groups !== 0 || out % groups !== 0) {
    fail('E0403', `channels in (${cin}) and out (${out}) must be divisible by groups=${groups}`, ctx.span, [
      note(`the input ${show(x)} was produced here`, x.origin),
    ]);
  }
  // PyTorch's "same" padding for odd kernels, the convention of every conv in PolyNeXt.
  const pad = padArg.k === 'none' ? (dilation * (k - 1)) >> 1 : padArg.k === 'int' ? padArg.v : -1;
  if (pad < 0) fail('E0301', `'pad' must be a non-negative int, got ${show(padArg)}`, ctx.argSpan('pad'));
  const w = ctx.b.param(key(prefix, 'weight'), [out, cin / groups, k, k], 'param', ctx.span);
  return ctx.b.emit(
    'conv2d',
    [x, w],
    { stride: [stride, stride], pad: [pad, pad], dilation: [dilation, dilation], groups },
    ctx.span,
  );
}

function compileTimeNumber(name: string, f: (x: number) => number, toInt: boolean): Builtin {
  return {
    params: [p('x')],
    summary: `${name}(x): compile-time ${name}`,
    run: (a, ctx) => {
      const v = number(a, 'x', ctx);
      return toInt ? safeInt(f(v), ctx.argSpan('x')) : float(f(v));
    },
  };
}

function minMax(which: 'min' | 'max'): Builtin {
  return {
    params: [p('a'), p('b')],
    summary: `${which}(a, b): compile-time ${which} of two numbers`,
    run: (a, ctx) => {
      const x = get(a, 'a');
      const y = get(a, 'b');
      const nx = number(a, 'a', ctx);
      const ny = number(a, 'b', ctx);
      const pick = which === 'min' ? (nx <= ny ? x : y) : nx >= ny ? x : y;
      return pick;
    },
  };
}

export const BUILTINS: ReadonlyMap<string, Builtin> = new Map<string, Builtin>([
  // ---- compile-time helpers ----
  [
    'int',
    {
      params: [p('x')],
      summary: 'int(x): truncate a number toward zero, as Python does',
      run: (a, ctx) => safeInt(Math.trunc(number(a, 'x', ctx)), ctx.argSpan('x')),
    },
  ],
  ['float', compileTimeNumber('float', (x) => x, false)],
  ['ceil', compileTimeNumber('ceil', Math.ceil, true)],
  ['floor', compileTimeNumber('floor', Math.floor, true)],
  ['min', minMax('min')],
  ['max', minMax('max')],
  [
    'len',
    {
      params: [p('x')],
      summary: 'len(x): length of a list or map',
      run: (a, ctx) => {
        const v = get(a, 'x');
        if (v.k === 'list') return int(v.items.length);
        if (v.k === 'map') return int(v.entries.size);
        return fail('E0301', `len needs a list or map, got ${describeKind(v)}`, ctx.argSpan('x'));
      },
    },
  ],
  [
    'range',
    {
      params: [p('n')],
      summary: 'range(n): the list [0, 1, …, n-1]',
      run: (a, ctx) => {
        const n = integer(a, 'n', ctx, 0);
        const max = ctx.limits['list-length'];
        if (n > max) {
          fail('E0309', `range(${n}) would make a list longer than ${max}`, ctx.argSpan('n'), [
            limitNote('list-length'),
          ]);
        }
        ctx.work(n);
        return { k: 'list', items: Array.from({ length: n }, (_, i) => int(i)) };
      },
    },
  ],

  // ---- checkpoint tensors ----
  [
    'param',
    {
      params: [p('key'), p('shape')],
      summary: 'param(path, shape): a trainable checkpoint tensor',
      run: (a, ctx) => ctx.b.param(path(a, 'key', ctx), dims(a, 'shape', ctx), 'param', ctx.span),
    },
  ],
  [
    'buffer',
    {
      params: [p('key'), p('shape')],
      summary: 'buffer(path, shape): a non-trainable checkpoint tensor (running statistics)',
      run: (a, ctx) => ctx.b.param(path(a, 'key', ctx), dims(a, 'shape', ctx), 'buffer', ctx.span),
    },
  ],

  // ---- layers ----
  [
    'conv2d',
    {
      params: [
        p('m'),
        p('x'),
        p('out'),
        p('k'),
        p('stride', int(1)),
        p('pad', NONE),
        p('dilation', int(1)),
        p('groups', int(1)),
      ],
      summary: 'conv2d(m, x, out, k, stride=1, pad=same, dilation=1, groups=1): weight m.weight, no bias',
      run: (a, ctx) =>
        conv(
          ctx,
          tensor(a, 'x', ctx),
          path(a, 'm', ctx),
          integer(a, 'out', ctx, 1),
          integer(a, 'k', ctx, 1),
          integer(a, 'stride', ctx, 1),
          get(a, 'pad'),
          integer(a, 'dilation', ctx, 1),
          integer(a, 'groups', ctx, 1),
        ),
    },
  ],
  [
    'pwconv',
    {
      params: [p('m'), p('x'), p('out')],
      summary: 'pwconv(m, x, out): pointwise (1x1) conv, a matmul over channels',
      run: (a, ctx) =>
        conv(ctx, tensor(a, 'x', ctx), path(a, 'm', ctx), integer(a, 'out', ctx, 1), 1, 1, int(0), 1, 1),
    },
  ],
  [
    'dwconv',
    {
      params: [p('m'), p('x'), p('k'), p('stride', int(1)), p('pad', NONE), p('dilation', int(1))],
      summary: 'dwconv(m, x, k, stride=1, pad=same, dilation=1): depthwise conv (groups = channels)',
      run: (a, ctx) => {
        const x = tensor(a, 'x', ctx);
        const c = channels(x, ctx, 'dwconv');
        return conv(
          ctx,
          x,
          path(a, 'm', ctx),
          c,
          integer(a, 'k', ctx, 1),
          integer(a, 'stride', ctx, 1),
          get(a, 'pad'),
          integer(a, 'dilation', ctx, 1),
          c,
        );
      },
    },
  ],
  [
    'layernorm2d',
    {
      params: [p('m'), p('x'), p('eps', float(1e-5))],
      summary: 'layernorm2d(m, x, eps=1e-5): LayerNorm over channels, weight m.weight, no bias',
      run: (a, ctx) => {
        const x = tensor(a, 'x', ctx);
        const w = ctx.b.param(
          key(path(a, 'm', ctx), 'weight'),
          [channels(x, ctx, 'layernorm2d')],
          'param',
          ctx.span,
        );
        return ctx.b.emit('layernorm2d', [x, w], { eps: number(a, 'eps', ctx) }, ctx.span);
      },
    },
  ],
  [
    'batchnorm2d',
    {
      params: [p('m'), p('x'), p('eps', float(1e-5))],
      summary:
        'batchnorm2d(m, x, eps=1e-5): ChannelBatchNorm at inference (gamma_c, gamma_hw, running stats)',
      run: (a, ctx) => {
        const x = tensor(a, 'x', ctx);
        const m = path(a, 'm', ctx);
        const c = channels(x, ctx, 'batchnorm2d');
        const [h, w] = spatial(x);
        const hw = [1, 1, h, w];
        const t = [
          ctx.b.param(key(m, 'gamma_c'), [c], 'param', ctx.span),
          ctx.b.param(key(m, 'gamma_hw'), hw, 'param', ctx.span),
          ctx.b.param(key(m, 'running_mean'), hw, 'buffer', ctx.span),
          ctx.b.param(key(m, 'running_var'), hw, 'buffer', ctx.span),
        ];
        ctx.b.ignore(key(m, 'num_batches_tracked'), ctx.span);
        return ctx.b.emit('channel_bn', [x, ...t], { eps: number(a, 'eps', ctx) }, ctx.span);
      },
    },
  ],
  [
    'scale',
    {
      params: [p('m'), p('x')],
      summary: 'scale(m, x): per-channel scale x * m.scale ([1,C,1,1])',
      run: (a, ctx) => {
        const x = tensor(a, 'x', ctx);
        const s = ctx.b.param(
          key(path(a, 'm', ctx), 'scale'),
          [1, channels(x, ctx, 'scale'), 1, 1],
          'param',
          ctx.span,
        );
        return ctx.b.emit('mul', [s, x], {}, ctx.span, 'scale');
      },
    },
  ],
  [
    'linear',
    {
      params: [p('m'), p('x'), p('out'), p('bias', bool(true))],
      summary: 'linear(m, x, out, bias=true): x W^T + b with m.weight [out, in] and m.bias [out]',
      run: (a, ctx) => {
        const x = tensor(a, 'x', ctx);
        const m = path(a, 'm', ctx);
        const out = integer(a, 'out', ctx, 1);
        const inF = x.type.shape[x.type.shape.length - 1];
        if (x.type.shape.length !== 2 || typeof inF !== 'number') {
          fail('E0405', `linear needs a [N, features] tensor, got ${show(x)}`, ctx.span, [
            note('produced here', x.origin),
          ]);
        }
        const w = ctx.b.param(key(m, 'weight'), [out, inF], 'param', ctx.span);
        const useBias = get(a, 'bias');
        const ops = [x, w];
        if (useBias.k === 'bool' && useBias.v)
          ops.push(ctx.b.param(key(m, 'bias'), [out], 'param', ctx.span));
        return ctx.b.emit('linear', ops, {}, ctx.span);
      },
    },
  ],

  // ---- tensor functions ----
  [
    'sigmoid',
    {
      params: [p('x')],
      summary: 'sigmoid(x): only of parameters or constants (a learned scale), never of data',
      run: (a, ctx) => {
        const v = get(a, 'x');
        if (v.k === 'int' || v.k === 'float') return float(1 / (1 + Math.exp(-v.v)));
        const x = tensor(a, 'x', ctx);
        if (!x.constant) {
          fail(
            'E0501',
            'sigmoid of data is not polynomial: polyc networks must stay polynomial in their input',
            ctx.span,
            [
              note('the argument depends on the model input; it was produced here', x.origin),
              note('sigmoid may only scale by parameters, e.g. sigmoid(param(self.skip_weight, [6]))'),
            ],
          );
        }
        return ctx.b.emit('sigmoid', [x], {}, ctx.span);
      },
    },
  ],
  [
    'flip',
    {
      params: [p('x'), p('axis', int(1))],
      summary: 'flip(x, axis=1): reverse the order along an axis (the channel flip of PolyConv)',
      run: (a, ctx) => ctx.b.emit('flip', [tensor(a, 'x', ctx)], { axis: integer(a, 'axis', ctx) }, ctx.span),
    },
  ],
  [
    'chunk',
    {
      params: [p('x'), p('n'), p('axis', int(1))],
      summary: 'chunk(x, n, axis=1): split into n equal parts (like torch.chunk with divisible sizes)',
      run: (a, ctx) => {
        const x = tensor(a, 'x', ctx);
        const n = integer(a, 'n', ctx, 1);
        const axis = integer(a, 'axis', ctx);
        const size = x.type.shape[normAxis(axis, x.type.shape.length)];
        if (typeof size !== 'number' || size % n !== 0) {
          fail('E0402', `cannot chunk axis ${axis} of ${show(x)} into ${n} equal parts`, ctx.span, [
            note('the tensor was produced here', x.origin),
          ]);
        }
        const part = size / n;
        return {
          k: 'list',
          items: Array.from({ length: n }, (_, i) =>
            ctx.b.emit('slice', [x], { axis, start: i * part, end: (i + 1) * part }, ctx.span, 'chunk'),
          ),
        };
      },
    },
  ],
  [
    'reshape',
    {
      params: [p('x'), p('shape')],
      summary: 'reshape(x, shape): shape may contain the batch dimension x.shape[0]',
      run: (a, ctx) =>
        ctx.b.emit('reshape', [tensor(a, 'x', ctx)], { shape: shapeList(a, 'shape', ctx) }, ctx.span),
    },
  ],
  [
    'transpose',
    {
      params: [p('x'), p('perm')],
      summary: 'transpose(x, perm): permute axes',
      run: (a, ctx) =>
        ctx.b.emit('transpose', [tensor(a, 'x', ctx)], { perm: intList(a, 'perm', ctx) }, ctx.span),
    },
  ],
  [
    'l1norm',
    {
      params: [p('x'), p('axis', int(-1)), p('eps', float(1e-12))],
      summary: 'l1norm(x, axis=-1, eps=1e-12): x / max(sum |x|, eps) (F.normalize with p=1)',
      run: (a, ctx) =>
        ctx.b.emit(
          'l1norm',
          [tensor(a, 'x', ctx)],
          { axis: integer(a, 'axis', ctx), eps: number(a, 'eps', ctx) },
          ctx.span,
        ),
    },
  ],
  [
    'mean',
    {
      params: [p('x'), p('axes'), p('keepdims', bool(false))],
      summary: 'mean(x, axes, keepdims=false)',
      run: (a, ctx) => reduce('mean', a, ctx),
    },
  ],
  [
    'sum',
    {
      params: [p('x'), p('axes'), p('keepdims', bool(false))],
      summary: 'sum(x, axes, keepdims=false)',
      run: (a, ctx) => reduce('sum', a, ctx),
    },
  ],
  [
    'mean_hw',
    {
      params: [p('x')],
      summary: 'mean_hw(x): spatial mean of NCHW, giving [N, C]',
      run: (a, ctx) => {
        const x = tensor(a, 'x', ctx);
        channels(x, ctx, 'mean_hw');
        return ctx.b.emit('mean', [x], { axes: [2, 3], keepdims: false }, ctx.span);
      },
    },
  ],
]);

function reduce(kind: 'mean' | 'sum', a: Map<string, Value>, ctx: BuiltinCtx): Value {
  const k = get(a, 'keepdims');
  if (k.k !== 'bool') fail('E0301', `'keepdims' must be a bool`, ctx.argSpan('keepdims'));
  return ctx.b.emit(kind, [tensor(a, 'x', ctx)], { axes: intList(a, 'axes', ctx), keepdims: k.v }, ctx.span);
}

/** Activation functions a user might reach for, each refused with a hint. */
export const NON_POLYNOMIAL: ReadonlyMap<string, string> = new Map(
  [
    'relu',
    'gelu',
    'silu',
    'swish',
    'tanh',
    'exp',
    'log',
    'softmax',
    'sqrt',
    'rsqrt',
    'abs',
    'elu',
    'mish',
    'softplus',
  ].map(
    (n) =>
      [
        n,
        `PolyNeXt replaces '${n}' with products of linear branches (x * y) and integer powers (x ^ 4)`,
      ] as const,
  ),
);
