import { arity as arityOf, ELEMENTWISE, isElementwiseKind } from './ops.js';
import type { Dim, OpAttrs, OpKind, TensorType } from './types.js';

/**
 * Result-type inference for every op kind: the single definition of what shapes an op accepts.
 * The front end uses it to build the IR, the verifier to check it. Arity and the elementwise rule
 * (binary ops broadcast, unary ops keep the shape) come from the op table (ops.ts).
 */

export type Inferred = { ok: true; type: TensorType } | { ok: false; message: string };

const ok = (shape: readonly Dim[]): Inferred => ({ ok: true, type: { dtype: 'f32', shape } });
const bad = (message: string): Inferred => ({ ok: false, message });

export function formatShape(shape: readonly Dim[]): string {
  return `[${shape.join(', ')}]`;
}

export function formatType(t: TensorType): string {
  return `${t.dtype}[${t.shape.join(',')}]`;
}

/** NumPy broadcasting of two shapes; null when incompatible. */
export function broadcastShapes(a: readonly Dim[], b: readonly Dim[]): Dim[] | null {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x === y) out.push(x);
    else if (x === 1) out.push(y);
    else if (y === 1) out.push(x);
    else return null;
  }
  return out;
}

export function numel(shape: readonly Dim[], batch = 1): number {
  let n = 1;
  for (const d of shape) n *= typeof d === 'number' ? d : batch;
  return n;
}

/**
 * `axis`, or null when it is not an index into a rank-`rank` shape. Axes are normalised before
 * types are inferred (the builder normalises what users write; the verifier checks the IR's).
 */
function axisIn(axis: number, rank: number): number | null {
  return axis >= 0 && axis < rank ? axis : null;
}

function convOut(size: Dim, k: number, stride: number, pad: number, dilation: number): number | null {
  if (typeof size !== 'number') return null;
  const out = Math.floor((size + 2 * pad - dilation * (k - 1) - 1) / stride) + 1;
  return out >= 1 ? out : null;
}

function sameDim(a: Dim | undefined, b: Dim | undefined): boolean {
  return a === b;
}

export function inferType<K extends OpKind>(
  kind: K,
  operands: readonly TensorType[],
  attrs: OpAttrs[K],
): Inferred {
  const s = operands.map((t) => t.shape);
  const arity = arityOf(kind);
  if (s.length < arity[0] || s.length > arity[1]) {
    return bad(
      `'${kind}' takes ${arity[0]}${arity[1] !== arity[0] ? `..${arity[1]}` : ''} operands, got ${s.length}`,
    );
  }
  const x = s[0] ?? [];
  if (kind === 'pow') {
    const e = (attrs as OpAttrs['pow']).exponent;
    if (!(Number.isInteger(e) && e >= 1)) return bad(`power must be a positive integer, got ${e}`);
  }
  if (isElementwiseKind(kind)) {
    if (ELEMENTWISE[kind].arity === 1) return ok(x);
    const out = broadcastShapes(x, s[1]!);
    return out ? ok(out) : bad(`shapes ${formatShape(x)} and ${formatShape(s[1]!)} do not broadcast`);
  }
  switch (kind) {
    case 'input':
    case 'param':
    case 'const':
    case 'arg':
      return bad(`'${kind}' has no operands; its type is declared`);
    case 'fused': {
      const body = (attrs as OpAttrs['fused']).body;
      const result = body.ops.find((o) => o.id === body.result);
      return result ? ok(result.type.shape) : bad(`fused region result %${body.result} is not defined`);
    }
    case 'conv2d': {
      const a = attrs as OpAttrs['conv2d'];
      const w = s[1]!;
      if (x.length !== 4) return bad(`conv2d input must be rank 4 (NCHW), got ${formatShape(x)}`);
      if (w.length !== 4) return bad(`conv2d weight must be rank 4, got ${formatShape(w)}`);
      const [cout, cinG, kh, kw] = w as number[];
      const cin = x[1];
      if (typeof cin !== 'number' || a.groups < 1 || cin % a.groups !== 0 || cout! % a.groups !== 0) {
        return bad(`conv2d: channels ${cin} and ${cout} must both be divisible by groups=${a.groups}`);
      }
      if (cin / a.groups !== cinG) {
        return bad(
          `conv2d weight ${formatShape(w)} expects ${cinG! * a.groups} input channels (groups=${a.groups}), input has ${cin}`,
        );
      }
      const oh = convOut(x[2]!, kh!, a.stride[0], a.pad[0], a.dilation[0]);
      const ow = convOut(x[3]!, kw!, a.stride[1], a.pad[1], a.dilation[1]);
      if (oh === null || ow === null) return bad(`conv2d output would be empty for input ${formatShape(x)}`);
      return ok([x[0]!, cout!, oh, ow]);
    }
    case 'layernorm2d': {
      if (x.length !== 4) return bad(`layernorm2d input must be rank 4, got ${formatShape(x)}`);
      const w = s[1];
      if (w && (w.length !== 1 || w[0] !== x[1])) {
        return bad(`layernorm2d weight ${formatShape(w)} does not match ${x[1]} channels`);
      }
      return ok(x);
    }
    case 'channel_bn': {
      if (x.length !== 4) return bad(`channel_bn input must be rank 4, got ${formatShape(x)}`);
      const [gc, ghw, mean, variance] = [s[1]!, s[2]!, s[3]!, s[4]!];
      if (gc.length !== 1 || gc[0] !== x[1])
        return bad(`gamma_c ${formatShape(gc)} does not match ${x[1]} channels`);
      const hw = [1, 1, x[2]!, x[3]!];
      for (const [name, t] of [
        ['gamma_hw', ghw],
        ['running_mean', mean],
        ['running_var', variance],
      ] as const) {
        if (t.length !== 4 || !t.every((d, i) => sameDim(d, hw[i]))) {
          return bad(`${name} ${formatShape(t)} must be ${formatShape(hw)} for input ${formatShape(x)}`);
        }
      }
      return ok(x);
    }
    case 'slice': {
      const a = attrs as OpAttrs['slice'];
      const axis = axisIn(a.axis, x.length);
      if (axis === null) return bad(`slice axis ${a.axis} out of range for ${formatShape(x)}`);
      const n = x[axis]!;
      if (typeof n !== 'number') return bad(`cannot slice the symbolic batch dimension`);
      if (!(0 <= a.start && a.start < a.end && a.end <= n)) {
        return bad(`slice ${a.start}:${a.end} out of range for axis ${axis} of size ${n}`);
      }
      const out = [...x];
      out[axis] = a.end - a.start;
      return ok(out);
    }
    case 'flip': {
      const a = attrs as OpAttrs['flip'];
      return axisIn(a.axis, x.length) === null ? bad(`flip axis ${a.axis} out of range`) : ok(x);
    }
    case 'reshape': {
      const target = (attrs as OpAttrs['reshape']).shape;
      const symIn = x.filter((d) => typeof d === 'string');
      const symOut = target.filter((d) => typeof d === 'string');
      if (symIn.length !== symOut.length || !symIn.every((d, i) => d === symOut[i])) {
        return bad(`reshape from ${formatShape(x)} to ${formatShape(target)} must keep the batch dimension`);
      }
      if (numel(x) !== numel(target) || target.some((d) => typeof d === 'number' && d < 1)) {
        return bad(`cannot reshape ${formatShape(x)} to ${formatShape(target)}: element counts differ`);
      }
      return ok(target);
    }
    case 'transpose': {
      const perm = (attrs as OpAttrs['transpose']).perm;
      const sorted = [...perm].sort((p, q) => p - q);
      if (perm.length !== x.length || !sorted.every((p, i) => p === i)) {
        return bad(`transpose permutation [${perm.join(', ')}] is not a permutation of ${x.length} axes`);
      }
      return ok(perm.map((p) => x[p]!));
    }
    case 'matmul': {
      const y = s[1]!;
      if (x.length < 2 || x.length !== y.length) {
        return bad(`matmul needs operands of equal rank >= 2, got ${formatShape(x)} and ${formatShape(y)}`);
      }
      const r = x.length;
      for (let i = 0; i < r - 2; i++) {
        if (x[i] !== y[i]) return bad(`matmul batch axes differ: ${formatShape(x)} @ ${formatShape(y)}`);
      }
      if (x[r - 1] !== y[r - 2]) {
        return bad(`matmul inner dimensions differ: ${formatShape(x)} @ ${formatShape(y)}`);
      }
      return ok([...x.slice(0, r - 2), x[r - 2]!, y[r - 1]!]);
    }
    case 'l1norm': {
      const a = attrs as OpAttrs['l1norm'];
      return axisIn(a.axis, x.length) === null ? bad(`l1norm axis ${a.axis} out of range`) : ok(x);
    }
    case 'mean':
    case 'sum': {
      const a = attrs as OpAttrs['mean'];
      const axes = a.axes.map((ax) => axisIn(ax, x.length));
      if (axes.some((ax) => ax === null)) return bad(`reduction axes [${a.axes.join(', ')}] out of range`);
      const out: Dim[] = [];
      x.forEach((d, i) => {
        if (!axes.includes(i)) out.push(d);
        else if (a.keepdims) out.push(1);
      });
      return ok(out);
    }
    case 'linear': {
      const w = s[1]!;
      if (x.length !== 2 || w.length !== 2) {
        return bad(
          `linear needs x [N, in] and weight [out, in], got ${formatShape(x)} and ${formatShape(w)}`,
        );
      }
      if (x[1] !== w[1]) return bad(`linear weight ${formatShape(w)} expects ${w[1]} inputs, got ${x[1]}`);
      const b = s[2];
      if (b && (b.length !== 1 || b[0] !== w[0]))
        return bad(`linear bias ${formatShape(b)} must be [${w[0]}]`);
      return ok([x[0]!, w[0]!]);
    }
  }
  return bad(`unknown op '${kind as string}'`);
}
