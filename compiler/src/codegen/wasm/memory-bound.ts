import { type Expr, type Fn, f32, v128, ZERO } from './builder.js';

/**
 * The memory-bound kernels: LayerNorm over channels, reductions over one block of adjacent axes,
 * and the copies that slices and flips along a non-batch axis are in NCHW.
 */

/**
 * One pixel column of a [n, inner] plane stack walked `vector`-wise (4 pixels per f32x4) or one
 * pixel at a time: the element at channel `c` of the current column `col` (a local, bytes).
 */
function column(f: Fn, vector: boolean) {
  const m = f.m;
  const ops = vector ? m.f32x4 : m.f32;
  const type = vector ? v128 : f32;
  return {
    type,
    ops,
    load: (ptr: Expr) => (vector ? m.v128.load(0, 4, ptr) : m.f32.load(0, 4, ptr)),
    store: (ptr: Expr, v: Expr) => (vector ? m.v128.store(0, 4, ptr, v) : m.f32.store(0, 4, ptr, v)),
    splat: (v: number) => (vector ? m.f32x4.splat(m.f32.const(v)) : m.f32.const(v)),
    splatOf: (e: Expr) => (vector ? m.f32x4.splat(e) : e),
    sqrt: (e: Expr) => (vector ? m.f32x4.sqrt(e) : m.f32.sqrt(e)),
  };
}

/** `for p in pixels (4 at a time, then 1)`: `body(vector)` with the column's byte offset in local `col`. */
function pixels(f: Fn, count: number, body: (vector: boolean) => Expr[]): Expr[] {
  const m = f.m;
  const vecEnd = Math.floor(count / 4) * 4;
  const col = () => f.set('col', m.i32.shl(f.get('p'), f.int(2)));
  return [
    f.loop('p', 0, vecEnd, 4, [col(), ...body(true)]),
    f.loop('p', vecEnd, count, 1, [col(), ...body(false)]),
  ];
}

/**
 * LayerNorm over the channels of x[C, H, W] (weight[c] at x1 when `weighted`), 4 pixels at a time.
 * Two passes for the statistics (mean, then the mean of squared deviations) keep float32 accurate
 * where the interpreter's one-pass E[x²] - E[x]² relies on float64.
 */
export function layernorm(f: Fn, channels: number, hw: number, eps: number, weighted: boolean): Expr[] {
  const m = f.m;
  return pixels(f, hw, (vector) => {
    const c = column(f, vector);
    const at = (base: string) =>
      m.i32.add(m.i32.add(f.get(base), f.get('col')), m.i32.mul(f.get('c'), f.int(hw * 4)));
    const s = vector ? 'v' : 's';
    const x = () => c.load(at('x0'));
    const d = () => c.ops.sub(x(), f.get(`u${s}`, c.type));
    let y = c.ops.mul(d(), f.get(`r${s}`, c.type));
    if (weighted)
      y = c.ops.mul(y, c.splatOf(m.f32.load(0, 4, m.i32.add(f.get('x1'), m.i32.shl(f.get('c'), f.int(2))))));
    return [
      f.set(`a${s}`, c.splat(0), c.type),
      f.loop('c', 0, channels, 1, [f.set(`a${s}`, c.ops.add(f.get(`a${s}`, c.type), x()), c.type)]),
      f.set(`u${s}`, c.ops.div(f.get(`a${s}`, c.type), c.splat(channels)), c.type),
      f.set(`a${s}`, c.splat(0), c.type),
      f.loop('c', 0, channels, 1, [
        f.set(`t${s}`, d(), c.type),
        f.set(
          `a${s}`,
          c.ops.add(f.get(`a${s}`, c.type), c.ops.mul(f.get(`t${s}`, c.type), f.get(`t${s}`, c.type))),
          c.type,
        ),
      ]),
      f.set(
        `r${s}`,
        c.ops.div(
          c.splat(1),
          c.sqrt(c.ops.add(c.ops.div(f.get(`a${s}`, c.type), c.splat(channels)), c.splat(eps))),
        ),
        c.type,
      ),
      f.loop('c', 0, channels, 1, [c.store(at('y'), y)]),
    ];
  });
}

/**
 * `y[o, i] = sum (or mean) over j of x[o, j, i]` for x of [outer, n, inner]: over inner 4 at a time
 * (channel statistics per pixel), or, when inner is 1, along the contiguous j with a horizontal sum
 * (global pooling).
 */
export function reduce(f: Fn, outer: number, n: number, inner: number, mean: boolean): Expr[] {
  const m = f.m;
  const scale = (c: ReturnType<typeof column>, v: Expr) => (mean ? c.ops.div(v, c.splat(n)) : v);
  if (inner > 1) {
    const body = pixels(f, inner, (vector) => {
      const c = column(f, vector);
      const s = vector ? 'v' : 's';
      const at = (base: string, stride: number) =>
        m.i32.add(m.i32.add(f.get(base), f.get('col')), m.i32.mul(f.get('j'), f.int(stride * 4)));
      return [
        f.set(`a${s}`, c.splat(0), c.type),
        f.loop('j', 0, n, 1, [
          f.set(`a${s}`, c.ops.add(f.get(`a${s}`, c.type), c.load(at('xo', inner))), c.type),
        ]),
        c.store(m.i32.add(f.get('yo'), f.get('col')), scale(c, f.get(`a${s}`, c.type))),
      ];
    });
    return [
      f.loop('o', 0, outer, 1, [
        f.set('xo', m.i32.add(f.get('x0'), m.i32.mul(f.get('o'), f.int(n * inner * 4)))),
        f.set('yo', m.i32.add(f.get('y'), m.i32.mul(f.get('o'), f.int(inner * 4)))),
        ...body,
      ]),
    ];
  }
  const c = column(f, false);
  return [
    f.loop('o', 0, outer, 1, [
      f.set('xo', m.i32.add(f.get('x0'), m.i32.mul(f.get('o'), f.int(n * 4)))),
      ...rowSum(f, n, (at, vector) => (vector ? m.v128.load(0, 4, at('xo')) : m.f32.load(0, 4, at('xo')))),
      m.f32.store(0, 4, m.i32.add(f.get('y'), m.i32.shl(f.get('o'), f.int(2))), scale(c, f.get('as', f32))),
    ]),
  ];
}

/**
 * A slice or flip along an axis of [outer, n, inner] as block copies (`memory.copy`): a slice
 * [start, end) copies one block of (end - start) * inner floats per outer index, a flip n blocks of
 * inner floats in reverse order.
 */
export function copies(
  f: Fn,
  outer: number,
  n: number,
  inner: number,
  kind: { start: number; end: number } | 'flip',
): Expr[] {
  const m = f.m;
  const copy = (dst: Expr, src: Expr, floats: number) => m.memory.copy(dst, src, f.int(floats * 4));
  if (kind === 'flip') {
    // block (o, j) -> (o, n - 1 - j), pointers in bytes advanced per block
    return [
      f.set('src', f.get('x0')),
      f.loop('o', 0, outer, 1, [
        f.set('dst', m.i32.add(f.get('y'), m.i32.mul(f.get('o'), f.int(n * inner * 4)))),
        f.set('dst', f.plus(f.get('dst'), (n - 1) * inner * 4)),
        f.loop('j', 0, n, 1, [
          copy(f.get('dst'), f.get('src'), inner),
          f.set('src', f.plus(f.get('src'), inner * 4)),
          f.set('dst', m.i32.sub(f.get('dst'), f.int(inner * 4))),
        ]),
      ]),
    ];
  }
  const len = (kind.end - kind.start) * inner;
  return [
    f.loop('o', 0, outer, 1, [
      copy(
        m.i32.add(f.get('y'), m.i32.mul(f.get('o'), f.int(len * 4))),
        m.i32.add(
          f.get('x0'),
          m.i32.add(m.i32.mul(f.get('o'), f.int(n * inner * 4)), f.int(kind.start * inner * 4)),
        ),
        len,
      ),
    ]),
  ];
}

/**
 * L1 normalisation along the middle axis of [outer, n, inner]: `y = x / max(sum |x|, eps)`, over
 * inner 4 at a time, or, when inner is 1 (attention rows), along the contiguous row with a
 * horizontal sum.
 */
export function l1norm(f: Fn, outer: number, n: number, inner: number, eps: number): Expr[] {
  const m = f.m;
  const rowBytes = n * inner * 4;
  if (inner > 1) {
    const body = pixels(f, inner, (vector) => {
      const c = column(f, vector);
      const s = vector ? 'v' : 's';
      const at = (base: string) =>
        m.i32.add(m.i32.add(f.get(base), f.get('col')), m.i32.mul(f.get('j'), f.int(inner * 4)));
      const abs = (e: Expr) => (vector ? m.f32x4.abs(e) : m.f32.abs(e));
      return [
        f.set(`a${s}`, c.splat(0), c.type),
        f.loop('j', 0, n, 1, [
          f.set(`a${s}`, c.ops.add(f.get(`a${s}`, c.type), abs(c.load(at('xo')))), c.type),
        ]),
        f.set(`d${s}`, c.ops.max(f.get(`a${s}`, c.type), c.splat(eps)), c.type),
        f.loop('j', 0, n, 1, [c.store(at('yo'), c.ops.div(c.load(at('xo')), f.get(`d${s}`, c.type)))]),
      ];
    });
    return [
      f.loop('o', 0, outer, 1, [
        f.set('xo', m.i32.add(f.get('x0'), m.i32.mul(f.get('o'), f.int(rowBytes)))),
        f.set('yo', m.i32.add(f.get('y'), m.i32.mul(f.get('o'), f.int(rowBytes)))),
        ...body,
      ]),
    ];
  }
  const vecEnd = Math.floor(n / 4) * 4;
  const at = (base: string) => m.i32.add(f.get(base), m.i32.shl(f.get('j'), f.int(2)));
  return [
    f.loop('o', 0, outer, 1, [
      f.set('xo', m.i32.add(f.get('x0'), m.i32.mul(f.get('o'), f.int(rowBytes)))),
      f.set('yo', m.i32.add(f.get('y'), m.i32.mul(f.get('o'), f.int(rowBytes)))),
      ...rowSum(f, n, (at, vector) =>
        vector ? m.f32x4.abs(m.v128.load(0, 4, at('xo'))) : m.f32.abs(m.f32.load(0, 4, at('xo'))),
      ),
      f.set('ds', m.f32.max(f.get('as', f32), m.f32.const(eps)), f32),
      f.set('dv', m.f32x4.splat(f.get('ds', f32)), v128),
      f.loop('j', 0, vecEnd, 4, [
        m.v128.store(0, 4, at('yo'), m.f32x4.div(m.v128.load(0, 4, at('xo')), f.get('dv', v128))),
      ]),
      f.loop('j', vecEnd, n, 1, [
        m.f32.store(0, 4, at('yo'), m.f32.div(m.f32.load(0, 4, at('xo')), f.get('ds', f32))),
      ]),
    ]),
  ];
}

/**
 * A transpose as a walk over the output in order (`axes`: output sizes with the input's stride
 * of each, size-1 axes left out), scalar: the input pointer is recomputed per outer index and
 * advanced by the innermost stride.
 */
export function transpose(f: Fn, axes: readonly { readonly d: number; readonly s: number }[]): Expr[] {
  const m = f.m;
  if (axes.length === 0) return [m.f32.store(0, 4, f.get('y'), m.f32.load(0, 4, f.get('x0')))];
  const last = axes[axes.length - 1]!;
  let src: Expr = f.get('x0');
  axes.slice(0, -1).forEach((a, l) => {
    src = m.i32.add(src, m.i32.mul(f.get(`o${l}`), f.int(a.s * 4)));
  });
  let body: Expr = m.block(null, [
    f.set('src', src),
    f.loop('i', 0, last.d, 1, [
      m.f32.store(0, 4, f.get('yp'), m.f32.load(0, 4, f.get('src'))),
      f.set('yp', f.plus(f.get('yp'), 4)),
      f.set('src', f.plus(f.get('src'), last.s * 4)),
    ]),
  ]);
  for (let l = axes.length - 2; l >= 0; l--) body = f.loop(`o${l}`, 0, axes[l]!.d, 1, [body]);
  return [f.set('yp', f.get('y')), body];
}

/**
 * `y[o] = w[o, :] · x + b[o]` (the classifier head): each weight row against x 4 floats at a time,
 * with a horizontal sum and a scalar tail.
 */
export function linear(f: Fn, outputs: number, k: number, bias: boolean): Expr[] {
  const m = f.m;
  const start = bias
    ? m.f32.load(0, 4, m.i32.add(f.get('x2'), m.i32.shl(f.get('o'), f.int(2))))
    : m.f32.const(0);
  return [
    f.loop('o', 0, outputs, 1, [
      f.set('wr', m.i32.add(f.get('x1'), m.i32.mul(f.get('o'), f.int(k * 4)))),
      ...rowSum(
        f,
        k,
        (at, vector) =>
          vector
            ? m.f32x4.mul(m.v128.load(0, 4, at('wr')), m.v128.load(0, 4, at('x0')))
            : m.f32.mul(m.f32.load(0, 4, at('wr')), m.f32.load(0, 4, at('x0'))),
        start,
      ),
      m.f32.store(0, 4, m.i32.add(f.get('y'), m.i32.shl(f.get('o'), f.int(2))), f.get('as', f32)),
    ]),
  ];
}

/**
 * `as` = start + the sum of `term` over a contiguous row of n floats: f32x4 terms for j below n
 * rounded down to 4 (accumulated in `av`, then summed across lanes), scalar terms for the rest.
 * `at(base)` is the byte address of element j from the pointer in local `base`.
 */
function rowSum(
  f: Fn,
  n: number,
  term: (at: (base: string) => Expr, vector: boolean) => Expr,
  start?: Expr,
): Expr[] {
  const m = f.m;
  const vecEnd = Math.floor(n / 4) * 4;
  const at = (base: string) => m.i32.add(f.get(base), m.i32.shl(f.get('j'), f.int(2)));
  return [
    f.set('av', m.v128.const(ZERO), v128),
    f.loop('j', 0, vecEnd, 4, [f.set('av', m.f32x4.add(f.get('av', v128), term(at, true)), v128)]),
    f.set('as', start ? m.f32.add(start, f.laneSum('av')) : f.laneSum('av'), f32),
    f.loop('j', vecEnd, n, 1, [f.set('as', m.f32.add(f.get('as', f32), term(at, false)), f32)]),
  ];
}
