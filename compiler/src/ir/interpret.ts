import { assertNever, InternalError } from '../diagnostics/diagnostic.js';
import { broadcastStrides, contiguousStrides, loopNest, walkStrided } from './layout.js';
import { type ElementwiseOp, isElementwise, scalarFn } from './ops.js';
import { broadcastShapes } from './shapes.js';
import type { Dim, Module, Op, OpOfKind } from './types.js';

/**
 * The reference semantics of every IR op. Tensors are stored as float32 (each op's result is
 * rounded to f32); reductions and dot products accumulate in float64, which is at least as accurate
 * as PyTorch's float32 kernels. Formulas and eps values follow the
 * authors' PyTorch code, as summarised in the project's PolyNeXt reference (docs/ir.md gives each
 * op's meaning).
 */

export interface Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export type Weights = ReadonlyMap<string, Float32Array>;

/** Called before each op runs, with its operand values; used by weight calibration. */
export type OpObserver = (op: Op, operands: readonly Tensor[]) => void;

export function interpret(
  m: Module,
  inputs: readonly Tensor[],
  weights: Weights,
  observe?: OpObserver,
): Tensor[] {
  const inputOps = m.ops.filter((o) => o.op === 'input');
  if (inputs.length !== inputOps.length)
    throw new InternalError(`expected ${inputOps.length} inputs, got ${inputs.length}`);
  const batch = inputs[0]?.shape[0] ?? 1;
  const env = run(m.ops, { batch, inputs, args: [], weights, observe });
  return m.outputs.map((id) => env.get(id)!);
}

interface Frame {
  readonly batch: number;
  readonly inputs: readonly Tensor[];
  /** Operands of the enclosing fused op, inside a region. */
  readonly args: readonly Tensor[];
  readonly weights: Weights;
  readonly observe: OpObserver | undefined;
}

function run(ops: readonly Op[], f: Frame): Map<number, Tensor> {
  const env = new Map<number, Tensor>();
  let nextInput = 0;
  for (const op of ops) {
    const shape = resolve(op.type.shape, f.batch);
    const args = op.operands.map((id) => env.get(id)!);
    f.observe?.(op, args);
    let out: Tensor;
    if (op.op === 'input') {
      out = f.inputs[nextInput++]!;
      if (out.shape.join(',') !== shape.join(',')) {
        throw new InternalError(`input '${op.attrs.name}' has shape [${out.shape}], expected [${shape}]`);
      }
    } else if (op.op === 'arg') {
      out = f.args[op.attrs.index]!;
    } else if (op.op === 'fused') {
      out = run(op.attrs.body.ops, { ...f, args }).get(op.attrs.body.result)!;
    } else {
      out = { shape, data: evalOp(op, args, shape, f.weights) };
    }
    env.set(op.id, out);
  }
  return env;
}

function resolve(shape: readonly Dim[], batch: number): number[] {
  return shape.map((d) => (typeof d === 'number' ? d : batch));
}

function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function evalOp(op: Op, a: readonly Tensor[], shape: readonly number[], weights: Weights): Float32Array {
  const x = a[0]!;
  if (isElementwise(op)) return elementwise(op, a, shape);
  switch (op.op) {
    case 'input':
    case 'arg':
    case 'fused':
      throw new InternalError(`'${op.op}' is bound by the evaluation loop`);
    case 'param': {
      const w = weights.get(op.attrs.key);
      if (!w || w.length !== size(shape))
        throw new InternalError(`missing or mis-sized weight '${op.attrs.key}'`);
      return w;
    }
    case 'const':
      return Float32Array.of(op.attrs.value);
    case 'conv2d':
      return conv2d(op, x, a[1]!, shape);
    case 'layernorm2d':
      return layernorm2d(x, a[1], op.attrs.eps);
    case 'channel_bn':
      return channelBn(x, a as Tensor[], op.attrs.eps);
    case 'slice':
      return slice(x, op.attrs.axis, op.attrs.start, op.attrs.end);
    case 'flip':
      return flip(x, op.attrs.axis);
    case 'reshape':
      return x.data;
    case 'transpose':
      return transpose(x, op.attrs.perm, shape);
    case 'matmul':
      return matmul(x, a[1]!, shape);
    case 'l1norm':
      return l1norm(x, op.attrs.axis, op.attrs.eps);
    case 'mean':
    case 'sum':
      return reduce(x, op, shape);
    case 'linear':
      return linear(x, a[1]!, a[2]);
    default:
      return assertNever(op);
  }
}

/** An elementwise op (ir/ops.ts), its binary forms with NumPy broadcasting. */
function elementwise(op: ElementwiseOp, a: readonly Tensor[], shape: readonly number[]): Float32Array {
  const f = scalarFn(op.op, op.attrs);
  const x = a[0]!;
  if (a.length === 1) return x.data.map((v) => f(v, 0));
  const y = a[1]!;
  const n = size(shape);
  const out = new Float32Array(n);
  // Fast path: both operands already have the output shape.
  if (x.data.length === n && y.data.length === n) {
    binaryRun(op.op, f, out, 0, n, x.data, 0, 1, y.data, 0, 1);
    return out;
  }
  if (!broadcastShapes(x.shape, y.shape)) throw new InternalError('operands do not broadcast');
  const it = loopNest(shape, [broadcastStrides(x.shape, shape), broadcastStrides(y.shape, shape)]);
  const [px, py] = it.inner;
  const [sx, sy] = it.strides;
  const { dims, length } = it;
  const outer = dims.length;
  const idx = new Array<number>(outer).fill(0);
  let ox = 0;
  let oy = 0;
  for (let i = 0; i < n; i += length) {
    binaryRun(op.op, f, out, i, length, x.data, ox, px!, y.data, oy, py!);
    for (let d = outer - 1; d >= 0; d--) {
      idx[d]!++;
      ox += sx![d]!;
      oy += sy![d]!;
      if (idx[d]! < dims[d]!) break;
      ox -= sx![d]! * dims[d]!;
      oy -= sy![d]! * dims[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * `out[o + j] = f(x[ox + j * px], y[oy + j * py])` for j < length. The arithmetic ops get loops of
 * their own: one shared loop calling `f` is a call per element that V8 cannot inline (every kind
 * passes through it), and load-time constants (folded BatchNorm, scales and LayerNorm weights:
 * a per-channel factor times a whole convolution kernel) run tens of millions of elements here.
 */
function binaryRun(
  kind: ElementwiseOp['op'],
  f: (x: number, y: number) => number,
  out: Float32Array,
  o: number,
  length: number,
  x: Float32Array,
  ox: number,
  px: number,
  y: Float32Array,
  oy: number,
  py: number,
): void {
  switch (kind) {
    case 'add':
      for (let j = 0; j < length; j++) out[o + j] = x[ox + j * px]! + y[oy + j * py]!;
      return;
    case 'sub':
      for (let j = 0; j < length; j++) out[o + j] = x[ox + j * px]! - y[oy + j * py]!;
      return;
    case 'mul':
      for (let j = 0; j < length; j++) out[o + j] = x[ox + j * px]! * y[oy + j * py]!;
      return;
    case 'div':
      for (let j = 0; j < length; j++) out[o + j] = x[ox + j * px]! / y[oy + j * py]!;
      return;
    default:
      for (let j = 0; j < length; j++) out[o + j] = f(x[ox + j * px]!, y[oy + j * py]!);
  }
}

function conv2d(op: OpOfKind<'conv2d'>, x: Tensor, w: Tensor, shape: readonly number[]): Float32Array {
  const [n, cin, h, wd] = x.shape as [number, number, number, number];
  const [, cout, oh, ow] = shape as [number, number, number, number];
  const [, cinG, kh, kw] = w.shape as [number, number, number, number];
  const { stride, pad, dilation, groups } = op.attrs;
  const coutG = cout / groups;
  const out = new Float32Array(n * cout * oh * ow);
  const acc = new Float64Array(oh * ow);
  for (let b = 0; b < n; b++) {
    for (let oc = 0; oc < cout; oc++) {
      acc.fill(0);
      const g = Math.floor(oc / coutG);
      for (let icg = 0; icg < cinG; icg++) {
        const ic = g * cinG + icg;
        const plane = (b * cin + ic) * h * wd;
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            const wv = w.data[((oc * cinG + icg) * kh + ky) * kw + kx]!;
            if (wv === 0) continue;
            for (let oy = 0; oy < oh; oy++) {
              const iy = oy * stride[0] - pad[0] + ky * dilation[0];
              if (iy < 0 || iy >= h) continue;
              const row = plane + iy * wd;
              const arow = oy * ow;
              for (let ox = 0; ox < ow; ox++) {
                const ix = ox * stride[1] - pad[1] + kx * dilation[1];
                if (ix >= 0 && ix < wd) acc[arow + ox]! += wv * x.data[row + ix]!;
              }
            }
          }
        }
      }
      out.set(acc, (b * cout + oc) * oh * ow);
    }
  }
  return out;
}

/** y = (x - u) * rsqrt(max(E[x^2] - u^2, 0) + eps) * weight[c], statistics over channels per pixel. */
function layernorm2d(x: Tensor, weight: Tensor | undefined, eps: number): Float32Array {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const hw = h * w;
  const out = new Float32Array(x.data.length);
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < hw; p++) {
      let s1 = 0;
      let s2 = 0;
      for (let ch = 0; ch < c; ch++) {
        const v = x.data[(b * c + ch) * hw + p]!;
        s1 += v;
        s2 += v * v;
      }
      const u = s1 / c;
      const r = 1 / Math.sqrt(Math.max(s2 / c - u * u, 0) + eps);
      for (let ch = 0; ch < c; ch++) {
        const i = (b * c + ch) * hw + p;
        out[i] = (x.data[i]! - u) * r * (weight ? weight.data[ch]! : 1);
      }
    }
  }
  return out;
}

function channelBn(x: Tensor, a: readonly Tensor[], eps: number): Float32Array {
  const [gc, ghw, mean, variance] = [a[1]!, a[2]!, a[3]!, a[4]!];
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const hw = h * w;
  const out = new Float32Array(x.data.length);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let p = 0; p < hw; p++) {
        const i = (b * c + ch) * hw + p;
        out[i] =
          ((x.data[i]! - mean.data[p]!) / Math.sqrt(variance.data[p]! + eps)) * ghw.data[p]! * gc.data[ch]!;
      }
    }
  }
  return out;
}

/** Views a tensor as [outer, axis, inner] around `axis`. */
function around(shape: readonly number[], axis: number): [number, number, number] {
  return [size(shape.slice(0, axis)), shape[axis]!, size(shape.slice(axis + 1))];
}

function slice(x: Tensor, axis: number, start: number, end: number): Float32Array {
  const [outer, n, inner] = around(x.shape, axis);
  const len = end - start;
  const out = new Float32Array(outer * len * inner);
  for (let o = 0; o < outer; o++) {
    out.set(x.data.subarray((o * n + start) * inner, (o * n + end) * inner), o * len * inner);
  }
  return out;
}

function flip(x: Tensor, axis: number): Float32Array {
  const [outer, n, inner] = around(x.shape, axis);
  const out = new Float32Array(x.data.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < n; i++) {
      out.set(x.data.subarray((o * n + i) * inner, (o * n + i + 1) * inner), (o * n + (n - 1 - i)) * inner);
    }
  }
  return out;
}

function transpose(x: Tensor, perm: readonly number[], shape: readonly number[]): Float32Array {
  const inStrides = contiguousStrides(x.shape);
  const out = new Float32Array(size(shape));
  walkStrided(shape, [perm.map((p) => inStrides[p]!)], [0], (i, p) => {
    out[i] = x.data[p[0]!]!;
  });
  return out;
}

function matmul(x: Tensor, y: Tensor, shape: readonly number[]): Float32Array {
  const r = shape.length;
  const m = shape[r - 2]!;
  const n = shape[r - 1]!;
  const k = x.shape[r - 1]!;
  const batches = size(shape.slice(0, r - 2));
  const out = new Float32Array(batches * m * n);
  const row = new Float64Array(n);
  for (let b = 0; b < batches; b++) {
    const xo = b * m * k;
    const yo = b * k * n;
    for (let i = 0; i < m; i++) {
      row.fill(0);
      for (let p = 0; p < k; p++) {
        const xv = x.data[xo + i * k + p]!;
        const yrow = yo + p * n;
        for (let j = 0; j < n; j++) row[j]! += xv * y.data[yrow + j]!;
      }
      out.set(row, b * m * n + i * n);
    }
  }
  return out;
}

function l1norm(x: Tensor, axis: number, eps: number): Float32Array {
  const [outer, n, inner] = around(x.shape, axis);
  const out = new Float32Array(x.data.length);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += Math.abs(x.data[(o * n + i) * inner + j]!);
      const d = Math.max(s, eps);
      for (let i = 0; i < n; i++) {
        const idx = (o * n + i) * inner + j;
        out[idx] = x.data[idx]! / d;
      }
    }
  }
  return out;
}

function reduce(x: Tensor, op: OpOfKind<'mean'> | OpOfKind<'sum'>, shape: readonly number[]): Float32Array {
  const axes = op.attrs.axes;
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const keptStrides = contiguousStrides(kept);
  const acc = new Float64Array(size(shape));
  // x is read in order, so every output element sums its inputs in increasing index order.
  const it = loopNest(x.shape, [
    keptStrides.map((s, d) => (axes.includes(d) ? 0 : s)),
    contiguousStrides(x.shape),
  ]);
  const po = it.inner[0]!;
  const so = it.strides[0]!;
  const { dims, length } = it;
  const outer = dims.length;
  const idx = new Array<number>(outer).fill(0);
  let o = 0;
  for (let i = 0; i < x.data.length; i += length) {
    if (po === 0) {
      // The whole inner loop sums into one element (a reduced last axis): keep it in a register.
      let sum = acc[o]!;
      for (let j = 0; j < length; j++) sum += x.data[i + j]!;
      acc[o] = sum;
    } else {
      for (let j = 0; j < length; j++) acc[o + j * po]! += x.data[i + j]!;
    }
    for (let d = outer - 1; d >= 0; d--) {
      idx[d]!++;
      o += so[d]!;
      if (idx[d]! < dims[d]!) break;
      o -= so[d]! * dims[d]!;
      idx[d] = 0;
    }
  }
  const count = op.op === 'mean' ? x.data.length / acc.length : 1;
  return Float32Array.from(acc, (v) => v / count);
}

function linear(x: Tensor, w: Tensor, bias: Tensor | undefined): Float32Array {
  const [n, k] = x.shape as [number, number];
  const o = w.shape[0]!;
  const out = new Float32Array(n * o);
  for (let b = 0; b < n; b++) {
    for (let j = 0; j < o; j++) {
      let s = bias ? bias.data[j]! : 0;
      for (let p = 0; p < k; p++) s += x.data[b * k + p]! * w.data[j * k + p]!;
      out[b * o + j] = s;
    }
  }
  return out;
}
