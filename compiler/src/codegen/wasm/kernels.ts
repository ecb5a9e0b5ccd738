import binaryen from 'binaryen';
import { contiguousStrides } from '../../ir/layout.js';
import { isElementwise } from '../../ir/ops.js';
import type { Op } from '../../ir/types.js';
import { type Expr, Fn, f32, v128, ZERO } from './builder.js';
import { elementwiseAxes, elementwiseKernel, elementwiseTree, vectorizable } from './elementwise.js';
import { copies, l1norm, layernorm, linear, reduce, transpose } from './memory-bound.js';

/**
 * WebAssembly SIMD (f32x4) kernels of the CPU backend, specialised to one op's shapes. Every kernel
 * is an exported function of byte pointers `(y, x0, x1, ...)` into the module's one linear memory
 * (the arena, then the packed weights), with every size a constant.
 *
 * Ops with a wasm kernel (images in NCHW, one image per call, as the TypeScript loops):
 * - pointwise conv2d (1x1, stride 1, no padding, groups 1): a GEMM `Y[Cout, P] = W[Cout, Cin] · X[Cin, P]`
 *   over P = H*W pixels, register-blocked 4 output channels x 8 pixels (8 f32x4 accumulators),
 *   pixels outermost so the X panel of one block stays in L1 while the weights stream;
 * - matmul (attention): the same GEMM per batch matrix;
 * - other groups-1 conv2d (stem, downsampling): im2col into scratch memory, then the GEMM;
 * - depthwise conv2d (groups = channels), column stride 1 or 2: each plane copied into a
 *   zero-padded scratch plane, then 4 outputs per f32x4 with no bounds checks, the k*k weights in
 *   locals;
 * - elementwise ops (elementwise.ts, from ir/ops.ts's templates), LayerNorm, mean/sum over adjacent
 *   axes, L1 normalisation, transpose, slice and flip, linear (memory-bound.ts).
 *
 * Every other op runs as the TypeScript loop of codegen/ts/cpu.ts on the same arena. Accumulation is
 * float32 (the TypeScript loops and the interpreter accumulate in float64): the kernel tests keep
 * the difference under 1e-5 relative.
 */

export interface WasmKernel {
  /** Identical kernels (same op, same shapes) are emitted once. */
  readonly key: string;
  readonly doc: string;
  readonly arity: number;
  /**
   * A kernel whose work splits over threads (a large pointwise GEMM): it takes two more parameters,
   * `(c0, c1)`, output channels [c0, c1) in whole register tiles (multiples of 4 up to `split`, the
   * channels in whole tiles); the call whose c1 is `split` also does the last partial tile.
   */
  readonly split?: number;
  /** Floats of scratch memory it needs (at byte `scratch` of `build`). */
  readonly scratchFloats: number;
  readonly build: (f: Fn, scratch: number) => Expr[];
}

/** Bytes of floats 0, 2, 4, 6 of two concatenated f32x4. */
const EVEN_LANES = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];

/**
 * The wasm kernel of a data-path op with these per-image shapes, or null (a TypeScript loop then).
 * `consts[j]` is operand j's value where it is a scalar literal of a fused region (elementwise ops
 * only take those).
 */
export function wasmKernel(
  op: Op,
  out: readonly number[],
  ins: readonly (readonly number[])[],
  consts: readonly (number | null)[],
): WasmKernel | null {
  if (isElementwise(op)) {
    const tree = elementwiseTree(op, ins.length);
    const axes = elementwiseAxes(out, ins);
    if (!tree || !vectorizable(axes)) return null;
    return {
      key: `ew ${JSON.stringify([tree, axes, consts])}`,
      doc: `${op.op} over [${out.join(', ')}] from ${ins.map((s) => `[${s.join(', ')}]`).join(', ')}`,
      arity: ins.length,
      scratchFloats: 0,
      build: (f) => elementwiseKernel(f, tree, axes, consts),
    };
  }
  if (consts.some((c) => c !== null)) return null;
  if (op.op === 'matmul') {
    const r = out.length;
    const [rows, cols, k] = [out[r - 2]!, out[r - 1]!, ins[0]![r - 1]!];
    const batches = size(out.slice(0, r - 2));
    return {
      key: `mm ${batches} ${rows} ${k} ${cols}`,
      doc: `matmul [${batches}x${rows}x${k}] @ [${k}x${cols}] (GEMM, 4x8 register tiles)`,
      arity: 2,
      scratchFloats: 0,
      build: (f) => [
        f.loop('b', 0, batches, 1, [
          f.set('ab', f.m.i32.add(f.get('x0'), f.m.i32.mul(f.get('b'), f.int(rows * k * 4)))),
          f.set('bb', f.m.i32.add(f.get('x1'), f.m.i32.mul(f.get('b'), f.int(k * cols * 4)))),
          f.set('yb', f.m.i32.add(f.get('y'), f.m.i32.mul(f.get('b'), f.int(rows * cols * 4)))),
          ...pointwise(
            f,
            rows,
            k,
            cols,
            () => f.get('bb'),
            () => f.get('ab'),
            () => f.get('yb'),
          ),
        ]),
      ],
    };
  }
  const memoryBound = memoryBoundKernel(op, ins);
  if (memoryBound) return memoryBound;
  if (op.op !== 'conv2d' || ins.length !== 2) return null;
  const [, cin, h, w] = ins[0] as [number, number, number, number];
  const [, cout, oh, ow] = out as [number, number, number, number];
  const [, cinG, kh, kw] = ins[1] as [number, number, number, number];
  const { stride, pad, dilation, groups } = op.attrs;
  if (groups === 1 && kh === 1 && kw === 1 && stride.every((s) => s === 1) && pad.every((p) => p === 0)) {
    const p = h * w;
    const full = cout - (cout % TILE_ROWS);
    // Threads pay a wake-up per call (microseconds): only GEMMs with enough work and tiles split.
    if (cout * cin * p >= SPLIT_MACS && full >= 2 * TILE_ROWS) {
      return {
        key: `pw split ${cout} ${cin} ${p}`,
        doc: `pointwise conv ${cin} -> ${cout} channels over ${h}x${w} pixels (GEMM, 4x8 register tiles; output channels [c0, c1))`,
        arity: 2,
        split: full,
        scratchFloats: 0,
        build: (f) => pointwise(f, cout, cin, p, () => f.get('x0'), undefined, undefined, true),
      };
    }
    return {
      key: `pw ${cout} ${cin} ${p}`,
      doc: `pointwise conv ${cin} -> ${cout} channels over ${h}x${w} pixels (GEMM, 4x8 register tiles)`,
      arity: 2,
      scratchFloats: 0,
      build: (f) => pointwise(f, cout, cin, p, () => f.get('x0')),
    };
  }
  if (groups === 1) {
    const geo = { h, w, oh, ow, kh, kw, stride, pad, dilation };
    const k = cin * kh * kw;
    return {
      key: `conv ${cout} ${cin} ${JSON.stringify(geo)}`,
      doc:
        `conv ${kh}x${kw} ${cin} -> ${cout} channels, ${h}x${w} -> ${oh}x${ow}, stride ${stride.join('x')}: ` +
        'im2col to scratch, then the pointwise GEMM',
      arity: 2,
      scratchFloats: k * oh * ow,
      build: (f, scratch) => [
        ...im2col(f, cin, geo, scratch),
        ...pointwise(f, cout, k, oh * ow, () => f.int(scratch)),
      ],
    };
  }
  // The depthwise kernel unrolls its taps; binaryen recursed past the stack at 63x63 (k = 31 is
  // fine), so larger kernels keep the TypeScript loop.
  if (groups === cin && groups === cout && cinG === 1 && stride[1]! <= 2 && kh * kw <= MAX_UNROLLED_TAPS) {
    const geo = { h, w, oh, ow, kh, kw, stride, pad, dilation };
    return {
      key: `dw ${cout} ${JSON.stringify(geo)}`,
      doc:
        `depthwise conv ${kh}x${kw} over ${cout} channels of ${h}x${w}, stride ${stride.join('x')}, ` +
        `pad ${pad.join('x')}, dilation ${dilation.join('x')}`,
      arity: 2,
      scratchFloats: depthwiseScratch(geo),
      build: (f, scratch) => depthwise(f, cout, geo, scratch),
    };
  }
  return null;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function memoryBoundKernel(op: Op, ins: readonly (readonly number[])[]): WasmKernel | null {
  const x = ins[0]!;
  const kernel = (key: string, doc: string, build: (f: Fn) => Expr[]): WasmKernel => ({
    key: `${key} [${x.join(',')}]`,
    doc,
    arity: ins.length,
    scratchFloats: 0,
    build,
  });
  switch (op.op) {
    case 'layernorm2d': {
      const [, c, h, w] = x as [number, number, number, number];
      const weighted = ins.length > 1;
      return kernel(`ln ${op.attrs.eps} ${weighted}`, `LayerNorm over ${c} channels of ${h}x${w}`, (f) =>
        layernorm(f, c, h * w, op.attrs.eps, weighted),
      );
    }
    case 'mean':
    case 'sum': {
      const axes = [...op.attrs.axes].sort((a, b) => a - b);
      const first = axes[0]!;
      if (axes.some((a, i) => a !== first + i)) return null;
      const last = axes[axes.length - 1]! + 1;
      const [outer, n, inner] = [size(x.slice(0, first)), size(x.slice(first, last)), size(x.slice(last))];
      return kernel(
        `${op.op} ${outer} ${n} ${inner}`,
        `${op.op} over axes [${axes.join(', ')}] of [${x.join(', ')}]`,
        (f) => reduce(f, outer, n, inner, op.op === 'mean'),
      );
    }
    case 'linear': {
      const k = x[x.length - 1]!;
      const outputs = ins[1]![0]!;
      if (size(x) !== k) return null;
      return kernel(`fc ${outputs} ${k} ${ins.length}`, `linear ${k} -> ${outputs}`, (f) =>
        linear(f, outputs, k, ins.length > 2),
      );
    }
    case 'transpose': {
      const strides = contiguousStrides(x);
      const axes = op.attrs.perm.map((p) => ({ d: x[p]!, s: strides[p]! })).filter((a) => a.d !== 1);
      return kernel(
        `tr ${JSON.stringify(axes)}`,
        `transpose [${x.join(', ')}] by [${op.attrs.perm.join(', ')}]`,
        (f) => transpose(f, axes),
      );
    }
    case 'l1norm': {
      const axis = op.attrs.axis;
      const [outer, n, inner] = [size(x.slice(0, axis)), x[axis]!, size(x.slice(axis + 1))];
      return kernel(
        `l1 ${op.attrs.eps} ${axis}`,
        `L1 normalisation along axis ${axis} of [${x.join(', ')}]`,
        (f) => l1norm(f, outer, n, inner, op.attrs.eps),
      );
    }
    case 'slice':
    case 'flip': {
      const axis = op.attrs.axis;
      const [outer, n, inner] = [size(x.slice(0, axis)), x[axis]!, size(x.slice(axis + 1))];
      const what = op.op === 'flip' ? 'flip' : { start: op.attrs.start, end: op.attrs.end };
      return kernel(
        `${op.op} ${JSON.stringify(what)} ${axis}`,
        `${op.op} along axis ${axis} of [${x.join(', ')}]`,
        (f) => copies(f, outer, n, inner, what),
      );
    }
    default:
      return null;
  }
}

/** Multiply-adds from which a pointwise GEMM splits over threads. */
const SPLIT_MACS = 1 << 20;

/** Pixels of one GEMM tile: two f32x4. */
const TILE_VECTORS = 2;
/** Output channels of one GEMM tile: 4 x 2 accumulators and 2 X loads stay in 16 SIMD registers. */
const TILE_ROWS = 4;

/**
 * `Y[Cout, pixels] = W[Cout, cin] · X[cin, pixels]`, all row-major, at byte pointers `y()`, `w()`
 * and `x()` (a matmul `Y = A · B` is the same with W = A, X = B). With `ranged`, only output
 * channels [c0, c1) (parameters 3 and 4, multiples of 4), plus the partial tile when c1 is the last
 * whole tile's end.
 */
function pointwise(
  f: Fn,
  cout: number,
  cin: number,
  pixels: number,
  x: () => Expr,
  w: () => Expr = () => f.get('x1'),
  y: () => Expr = () => f.get('y'),
  ranged = false,
): Expr[] {
  const m = f.m;
  const wide = TILE_VECTORS * 4;
  const p1 = Math.floor(pixels / wide) * wide;
  const p2 = Math.floor(pixels / 4) * 4;
  const full = cout - (cout % TILE_ROWS);
  /** One tile of `rows` channels from `oc` by `vecs` f32x4 (or one scalar pixel when vecs = 0) from `p`. */
  const tile = (rows: number, vecs: number): Expr[] => {
    const scalar = vecs === 0;
    const type = scalar ? f32 : v128;
    const lanes = Math.max(vecs, 1);
    const acc = (r: number, v: number) => `a${r}_${v}${scalar ? 's' : ''}`;
    const xv = (v: number) => `xv${v}${scalar ? 's' : ''}`;
    const inner: Expr[] = [];
    for (let v = 0; v < lanes; v++) {
      inner.push(
        f.set(xv(v), scalar ? m.f32.load(0, 4, f.get('xp')) : m.v128.load(16 * v, 4, f.get('xp')), type),
      );
    }
    for (let r = 0; r < rows; r++) {
      const wv = scalar
        ? m.f32.load(r * cin * 4, 4, f.get('wp'))
        : m.v128.load32_splat(r * cin * 4, 4, f.get('wp'));
      inner.push(f.set(`w${scalar ? 's' : ''}`, wv, type));
      for (let v = 0; v < lanes; v++) {
        const prod = scalar
          ? m.f32.mul(f.get('ws', f32), f.get(xv(v), f32))
          : m.f32x4.mul(f.get('w', v128), f.get(xv(v), v128));
        const sum = scalar
          ? m.f32.add(f.get(acc(r, v), f32), prod)
          : m.f32x4.add(f.get(acc(r, v), v128), prod);
        inner.push(f.set(acc(r, v), sum, type));
      }
    }
    inner.push(f.set('xp', f.plus(f.get('xp'), pixels * 4)), f.set('wp', f.plus(f.get('wp'), 4)));
    const body: Expr[] = [];
    for (let r = 0; r < rows; r++) {
      for (let v = 0; v < lanes; v++)
        body.push(f.set(acc(r, v), scalar ? m.f32.const(0) : m.v128.const(ZERO), type));
    }
    body.push(
      f.set('xp', m.i32.add(x(), m.i32.shl(f.get('p'), f.int(2)))),
      f.set('wp', m.i32.add(w(), m.i32.mul(f.get('oc'), f.int(cin * 4)))),
      f.loop('ic', 0, cin, 1, inner),
      f.set(
        'yp',
        m.i32.add(y(), m.i32.shl(m.i32.add(m.i32.mul(f.get('oc'), f.int(pixels)), f.get('p')), f.int(2))),
      ),
    );
    for (let r = 0; r < rows; r++) {
      for (let v = 0; v < lanes; v++) {
        const offset = (r * pixels + 4 * v) * 4;
        body.push(
          scalar
            ? m.f32.store(offset, 4, f.get('yp'), f.get(acc(r, v), f32))
            : m.v128.store(offset, 4, f.get('yp'), f.get(acc(r, v), v128)),
        );
      }
    }
    return body;
  };
  const channels = (vecs: number): Expr[] =>
    ranged
      ? [
          f.range('oc', f.get('c0'), f.get('c1'), TILE_ROWS, tile(TILE_ROWS, vecs)),
          m.if(
            m.i32.eq(f.get('c1'), f.int(full)),
            f.loop('oc', full, cout, TILE_ROWS, tile(cout - full, vecs)),
          ),
        ]
      : [
          f.loop('oc', 0, full, TILE_ROWS, tile(TILE_ROWS, vecs)),
          f.loop('oc', full, cout, TILE_ROWS, tile(cout - full, vecs)),
        ];
  return [
    f.loop('p', 0, p1, wide, channels(TILE_VECTORS)),
    f.loop('p', p1, p2, 4, channels(1)),
    f.loop('p', p2, pixels, 1, channels(0)),
  ];
}

/**
 * The columns of a general conv as a [cin*kh*kw, oh*ow] matrix at byte `scratch` (zeros where a tap
 * falls in the padding), rows in the weights' (ic, ky, kx) order.
 */
function im2col(
  f: Fn,
  cin: number,
  g: Geometry & { readonly stride: readonly number[] },
  scratch: number,
): Expr[] {
  const m = f.m;
  const { h, w, oh, ow, kh, kw, stride, pad, dilation } = g;
  const [sh, sw] = stride as [number, number];
  const [ph, pw] = pad as [number, number];
  const [dh, dw] = dilation as [number, number];
  const iy = () =>
    m.i32.sub(m.i32.add(m.i32.mul(f.get('oy'), f.int(sh)), m.i32.mul(f.get('ky'), f.int(dh))), f.int(ph));
  const ix = () =>
    m.i32.sub(m.i32.add(m.i32.mul(f.get('ox'), f.int(sw)), m.i32.mul(f.get('kx'), f.int(dw))), f.int(pw));
  const inside = (v: () => Expr, n: number) => m.i32.lt_u(v(), f.int(n));
  const value = m.if(
    m.i32.and(inside(iy, h), inside(ix, w)),
    m.f32.load(
      0,
      4,
      m.i32.add(f.get('plane'), m.i32.shl(m.i32.add(m.i32.mul(iy(), f.int(w)), ix()), f.int(2))),
    ),
    m.f32.const(0),
  );
  return [
    f.set('dst', f.int(scratch)),
    f.loop('ic', 0, cin, 1, [
      f.set('plane', m.i32.add(f.get('x0'), m.i32.mul(f.get('ic'), f.int(h * w * 4)))),
      f.loop('ky', 0, kh, 1, [
        f.loop('kx', 0, kw, 1, [
          f.loop('oy', 0, oh, 1, [
            f.loop('ox', 0, ow, 1, [
              m.f32.store(0, 4, f.get('dst'), value),
              f.set('dst', f.plus(f.get('dst'), 4)),
            ]),
          ]),
        ]),
      ]),
    ]),
  ];
}

/** The most taps (kh x kw) a depthwise kernel unrolls. */
const MAX_UNROLLED_TAPS = 1024;

interface Geometry {
  readonly h: number;
  readonly w: number;
  readonly oh: number;
  readonly ow: number;
  readonly kh: number;
  readonly kw: number;
  readonly pad: readonly number[];
  readonly dilation: readonly number[];
}

/**
 * Depthwise, column stride 1 or 2. Each channel's plane is first copied into a zero-padded plane
 * in scratch memory (`memory.copy` per row; the border is zeroed once per call), so every tap of
 * every output is a plain load: no bounds checks, no border code. The k*k weights are splatted
 * into locals; each output row runs 4 outputs per f32x4, then a scalar tail. With stride 2, four
 * outputs' taps are the even lanes of two consecutive f32x4 (one shuffle); the padded rows carry 4
 * floats of slack for the one float that reads past a row.
 */
function depthwise(
  f: Fn,
  channels: number,
  g: Geometry & { readonly stride: readonly number[] },
  scratch: number,
): Expr[] {
  const m = f.m;
  const { h, w, oh, ow, kh, kw, stride, pad, dilation } = g;
  const [sh, sw] = stride as [number, number];
  const [ph, pw] = pad as [number, number];
  const [dh, dw] = dilation as [number, number];
  const rowFloats = paddedWidth(g);
  const vecEnd = Math.floor(ow / 4) * 4;
  const wName = (ky: number, kx: number) => `k${ky}_${kx}`;
  const wVec = (ky: number, kx: number) => `kv${ky}_${kx}`;
  /** Columns [from, to) of output row oy, `vector` 4 at a time. */
  const columns = (from: number, to: number, vector: boolean): Expr => {
    const body: Expr[] = [
      f.set(vector ? 'sv' : 'ss', vector ? m.v128.const(ZERO) : m.f32.const(0), vector ? v128 : f32),
    ];
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        // padded input (oy*sh + ky*dh, ox*sw + kx*dw): row pointer + (ox*sw + kx*dw)*4
        const ptr = () => m.i32.add(f.get(`row${ky}`), m.i32.mul(f.get('ox'), f.int(sw * 4)));
        const off = kx * dw * 4;
        if (vector) {
          const xv =
            sw === 1
              ? m.v128.load(off, 4, ptr())
              : m.i8x16.shuffle(m.v128.load(off, 4, ptr()), m.v128.load(off + 16, 4, ptr()), EVEN_LANES);
          body.push(
            f.set('sv', m.f32x4.add(f.get('sv', v128), m.f32x4.mul(f.get(wVec(ky, kx), v128), xv)), v128),
          );
        } else {
          const xs = m.f32.load(off, 4, ptr());
          body.push(f.set('ss', m.f32.add(f.get('ss', f32), m.f32.mul(f.get(wName(ky, kx), f32), xs)), f32));
        }
      }
    }
    const dst = m.i32.add(f.get('orow'), m.i32.shl(f.get('ox'), f.int(2)));
    body.push(vector ? m.v128.store(0, 4, dst, f.get('sv', v128)) : m.f32.store(0, 4, dst, f.get('ss', f32)));
    return f.loop('ox', from, to, vector ? 4 : 1, body);
  };
  const perChannel: Expr[] = [
    // the channel's rows into the padded plane
    f.loop('iy', 0, h, 1, [
      m.memory.copy(
        m.i32.add(f.int(scratch + (ph * rowFloats + pw) * 4), m.i32.mul(f.get('iy'), f.int(rowFloats * 4))),
        m.i32.add(f.get('plane'), m.i32.mul(f.get('iy'), f.int(w * 4))),
        f.int(w * 4),
      ),
    ]),
  ];
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) {
      const wv = m.f32.load((ky * kw + kx) * 4, 4, f.get('wp'));
      perChannel.push(
        f.set(wName(ky, kx), wv, f32),
        f.set(wVec(ky, kx), m.f32x4.splat(f.get(wName(ky, kx), f32)), v128),
      );
    }
  }
  const rows: Expr[] = [];
  for (let ky = 0; ky < kh; ky++) {
    rows.push(
      f.set(
        `row${ky}`,
        m.i32.add(
          f.int(scratch + ky * dh * rowFloats * 4),
          m.i32.mul(f.get('oy'), f.int(sh * rowFloats * 4)),
        ),
      ),
    );
  }
  perChannel.push(
    f.loop('oy', 0, oh, 1, [
      f.set('orow', m.i32.add(f.get('out'), m.i32.mul(f.get('oy'), f.int(ow * 4)))),
      ...rows,
      columns(0, vecEnd, true),
      columns(vecEnd, ow, false),
    ]),
  );
  return [
    m.memory.fill(f.int(scratch), m.i32.const(0), f.int(depthwiseScratch(g) * 4)),
    f.loop('c', 0, channels, 1, [
      f.set('plane', m.i32.add(f.get('x0'), m.i32.mul(f.get('c'), f.int(h * w * 4)))),
      f.set('out', m.i32.add(f.get('y'), m.i32.mul(f.get('c'), f.int(oh * ow * 4)))),
      f.set('wp', m.i32.add(f.get('x1'), m.i32.mul(f.get('c'), f.int(kh * kw * 4)))),
      ...perChannel,
    ]),
  ];
}

/** Floats per row of the padded plane: the image, both pads, 4 of slack. */
function paddedWidth(g: Geometry): number {
  return g.w + 2 * g.pad[1]! + 4;
}

/** Floats of the padded plane (rows covering every tap of every output row). */
function depthwiseScratch(g: Geometry & { readonly stride: readonly number[] }): number {
  const rows = Math.max(g.h + 2 * g.pad[0]!, (g.oh - 1) * g.stride[0]! + (g.kh - 1) * g.dilation[0]! + 1);
  return (rows + 1) * paddedWidth(g);
}

/**
 * The module of `kernels` (exported as k0, k1, ...) over an imported memory of `pages` 64 KiB pages,
 * with their scratch at byte `scratch`.
 */
export function buildWasmModule(kernels: readonly WasmKernel[], pages: number, scratch: number): Uint8Array {
  const m = new binaryen.Module();
  try {
    m.setFeatures(
      binaryen.Features.MVP |
        binaryen.Features.SIMD128 |
        binaryen.Features.BulkMemory |
        binaryen.Features.BulkMemoryOpt,
    );
    // The memory is imported (env.memory, `pages` pages, not shared): the host makes it, so that
    // with threads every worker's instance runs on the same one. The runtime marks the import
    // shared for that (runtime/src/package/wasm.ts); the kernels need no atomics, the host syncs.
    m.setMemory(pages, pages, null, [], false, false, 'memory');
    m.addMemoryImport('memory', 'env', 'memory', false);
    kernels.forEach((k, i) => {
      const params = ['y', ...Array.from({ length: k.arity }, (_, j) => `x${j}`)];
      const f = new Fn(m, k.split === undefined ? params : [...params, 'c0', 'c1']);
      f.finish(`k${i}`, k.build(f, scratch));
    });
    if (!m.validate()) throw new Error('polyc generated an invalid WebAssembly module');
    binaryen.setOptimizeLevel(3);
    m.optimize();
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}
