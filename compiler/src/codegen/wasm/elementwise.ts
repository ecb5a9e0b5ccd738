import { broadcastStrides } from '../../ir/layout.js';
import { type ElementwiseOp, type ScalarLang, scalarExpr } from '../../ir/ops.js';
import { type Expr, type Fn, v128 } from './builder.js';

/**
 * Elementwise ops as WebAssembly SIMD kernels, from the one definition of their meaning: the
 * expression templates of ir/ops.ts, written in a small language (operands `$0`, `$1`, float
 * literals, `+ - * /`, unary minus, `max`, `sqrt`, integer powers as products) that is parsed here
 * into binaryen expressions, f32x4 or scalar. Templates that need `exp` (sigmoid, which only load-time
 * values use) have no kernel.
 *
 * Broadcasting as the TypeScript loops: one stride per operand and output axis (0 where broadcast),
 * size-1 axes dropped and neighbours merged; the innermost axis runs 4 elements per f32x4 where
 * every operand's stride there is 0 (a splat, loaded once per row) or 1 (a vector load), then a
 * scalar tail.
 */

type Node =
  | { readonly k: 'arg'; readonly i: number }
  | { readonly k: 'num'; readonly v: number }
  | { readonly k: 'neg'; readonly a: Node }
  | { readonly k: 'bin'; readonly op: string; readonly a: Node; readonly b: Node }
  | { readonly k: 'call'; readonly fn: 'max' | 'sqrt'; readonly args: readonly Node[] };

class Unsupported extends Error {}

const LANG: ScalarLang = {
  num: (v) => `(${v})`,
  max: (a, b) => `max(${a}, ${b})`,
  sqrt: (a) => `sqrt(${a})`,
  exp: () => {
    throw new Unsupported('exp');
  },
  pow: (a, e) => `(${Array.from({ length: e }, () => a).join(' * ')})`,
};

/** Parses a template written in LANG (precedence climbing). */
function parse(text: string): Node {
  const tokens = text.match(/\$\d+|\d+(\.\d+)?(e[-+]?\d+)?|[a-z]+|[-+*/(),]/g) ?? [];
  let at = 0;
  const peek = () => tokens[at];
  const take = (t?: string) => {
    const s = tokens[at++];
    if (s === undefined || (t !== undefined && s !== t)) throw new Unsupported(`'${text}' at ${at}`);
    return s;
  };
  const atom = (): Node => {
    const t = take();
    if (t === '-') return { k: 'neg', a: atom() };
    if (t === '(') {
      const e = sum();
      take(')');
      return e;
    }
    if (t.startsWith('$')) return { k: 'arg', i: Number(t.slice(1)) };
    if (t === 'max' || t === 'sqrt') {
      take('(');
      const args = [sum()];
      while (peek() === ',') {
        take(',');
        args.push(sum());
      }
      take(')');
      return { k: 'call', fn: t, args };
    }
    const v = Number(t);
    if (Number.isNaN(v)) throw new Unsupported(t);
    return { k: 'num', v };
  };
  const product = (): Node => {
    let a = atom();
    while (peek() === '*' || peek() === '/') a = { k: 'bin', op: take(), a, b: atom() };
    return a;
  };
  const sum = (): Node => {
    let a = product();
    while (peek() === '+' || peek() === '-') a = { k: 'bin', op: take(), a, b: product() };
    return a;
  };
  const e = sum();
  if (at !== tokens.length) throw new Unsupported(text);
  return e;
}

/** The parsed template of `op`, or null when it has no SIMD form. */
export function elementwiseTree(op: ElementwiseOp, arity: number): Node | null {
  try {
    return parse(
      scalarExpr(
        op,
        Array.from({ length: arity }, (_, i) => `$${i}`),
        LANG,
      ),
    );
  } catch (e) {
    if (e instanceof Unsupported) return null;
    throw e;
  }
}

/** `tree` as a binaryen expression over f32x4 (`vector`) or f32 operands. */
function emit(f: Fn, tree: Node, arg: (i: number) => Expr, vector: boolean): Expr {
  const m = f.m;
  const go = (n: Node): Expr => {
    switch (n.k) {
      case 'arg':
        return arg(n.i);
      case 'num':
        return vector ? m.f32x4.splat(m.f32.const(Math.fround(n.v))) : m.f32.const(Math.fround(n.v));
      case 'neg':
        return vector ? m.f32x4.neg(go(n.a)) : m.f32.neg(go(n.a));
      case 'call': {
        const [a, b] = n.args.map(go) as [Expr, Expr];
        if (n.fn === 'sqrt') return vector ? m.f32x4.sqrt(a) : m.f32.sqrt(a);
        return vector ? m.f32x4.max(a, b) : m.f32.max(a, b);
      }
      case 'bin': {
        const ops = vector ? m.f32x4 : m.f32;
        const a = go(n.a);
        const b = go(n.b);
        if (n.op === '+') return ops.add(a, b);
        if (n.op === '-') return ops.sub(a, b);
        if (n.op === '*') return ops.mul(a, b);
        return ops.div(a, b);
      }
    }
  };
  return go(tree);
}

interface Axis {
  readonly d: number;
  readonly s: readonly number[];
}

/** Merged axes (outermost first) of an elementwise op over `ins` broadcast to `out`. */
export function elementwiseAxes(out: readonly number[], ins: readonly (readonly number[])[]): Axis[] {
  const aligned = ins.map((s) => broadcastStrides(s, out));
  const merged: Axis[] = [];
  for (const a of out.map((d, i) => ({ d, s: aligned.map((x) => x[i]!) })).filter((a) => a.d !== 1)) {
    const prev = merged[merged.length - 1];
    if (prev?.s.every((s, j) => s === a.s[j]! * a.d)) merged[merged.length - 1] = { d: prev.d * a.d, s: a.s };
    else merged.push(a);
  }
  return merged;
}

/**
 * The kernel body: `y[...] = tree(x0[...], x1[...])` with `consts[j]` (a float) in place of operand j
 * where it is a literal. The innermost axis' strides must be 0 or 1 (`vectorizable`).
 */
export function vectorizable(axes: readonly Axis[]): boolean {
  return (axes[axes.length - 1]?.s ?? []).every((s) => s === 0 || s === 1);
}

export function elementwiseKernel(
  f: Fn,
  tree: Node,
  axes: readonly Axis[],
  consts: readonly (number | null)[],
): Expr[] {
  const m = f.m;
  const n = consts.length;
  const inner = axes[axes.length - 1] ?? { d: 1, s: consts.map(() => 0) };
  const outer = axes.slice(0, -1);
  const ptr = (j: number) => `p${j}`;
  /** Operand j at element `ix` (a local) of the innermost axis. */
  const arg = (vector: boolean) => (j: number) => {
    const c = consts[j];
    if (c !== null && c !== undefined) {
      return vector ? m.f32x4.splat(m.f32.const(c)) : m.f32.const(c);
    }
    if (inner.s[j] === 0) return vector ? f.get(`b${j}`, v128) : m.f32.load(0, 4, f.get(ptr(j)));
    const at = m.i32.add(f.get(ptr(j)), m.i32.shl(f.get('i'), f.int(2)));
    return vector ? m.v128.load(0, 4, at) : m.f32.load(0, 4, at);
  };
  const vecEnd = Math.floor(inner.d / 4) * 4;
  const rowBody: Expr[] = [];
  for (let j = 0; j < n; j++) {
    if (consts[j] === null && inner.s[j] === 0 && vecEnd > 0) {
      rowBody.push(f.set(`b${j}`, m.v128.load32_splat(0, 4, f.get(ptr(j))), v128));
    }
  }
  const dst = () => m.i32.add(f.get('yp'), m.i32.shl(f.get('i'), f.int(2)));
  rowBody.push(
    f.loop('i', 0, vecEnd, 4, [m.v128.store(0, 4, dst(), emit(f, tree, arg(true), true))]),
    f.loop('i', vecEnd, inner.d, 1, [m.f32.store(0, 4, dst(), emit(f, tree, arg(false), false))]),
    f.set('yp', f.plus(f.get('yp'), inner.d * 4)),
  );
  // Outer axes: loop counters o<l>; operand pointers recomputed from the bases at the innermost row.
  const setPointers: Expr[] = [];
  for (let j = 0; j < n; j++) {
    if (consts[j] !== null) continue;
    let p: Expr = f.get(`x${j}`);
    outer.forEach((a, l) => {
      if (a.s[j] !== 0) p = m.i32.add(p, m.i32.mul(f.get(`o${l}`), f.int(a.s[j]! * 4)));
    });
    setPointers.push(f.set(ptr(j), p));
  }
  let body: Expr = m.block(null, [...setPointers, ...rowBody]);
  for (let l = outer.length - 1; l >= 0; l--) body = f.loop(`o${l}`, 0, outer[l]!.d, 1, [body]);
  return [f.set('yp', f.get('y')), body];
}

export type { Node as ElementwiseTree };
