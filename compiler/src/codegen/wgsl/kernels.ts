import { InternalError } from '../../diagnostics/diagnostic.js';
import { normAxis } from '../../ir/ops.js';
import { numel } from '../../ir/shapes.js';
import type { Op, ValueId } from '../../ir/types.js';
import { ExprWriter, f32Literal, offsetExpr, type Source, strides } from './expr.js';
import { renderGemm } from './gemm.js';
import { renderNorm } from './norm.js';

/**
 * Kernel selection and WGSL rendering. A unit of work (a fused region, or one op) becomes one
 * kernel. Polynomial attention has its own template (one invocation per query row, one sweep over
 * keys), pointwise convs a GEMM template (gemm.ts), LayerNorm units a per-pixel template (norm.ts);
 * everything else is rendered by the expression writer, one invocation per output element.
 */

/** One kernel's worth of IR: ops whose `arg` ops read `sources`, computing `result`. */
export interface Unit {
  readonly ops: readonly Op[];
  readonly result: ValueId;
  readonly sources: readonly Source[];
  /** The kernel template family, for names ('gemm', 'attention', 'conv2d', …). */
  readonly family: string;
}

export interface RenderedKernel {
  readonly name: string;
  readonly wgsl: string;
  readonly workgroupSize: number;
  readonly invocationsPerBatch: number;
}

export const WORKGROUP_SIZE = 64;

/** Bindings and parameters; `element` types the storage arrays (`vec4<f32>` for vector loads). */
const prelude = (element: string) => `struct Params {
  batch: u32,
  total: u32,
  _a: u32,
  _b: u32,
  off: array<vec4<u32>, 15>,
}

@group(0) @binding(0) var<storage, read_write> arena: array<${element}>;
@group(0) @binding(1) var<storage, read> weights: array<${element}>;
@group(0) @binding(2) var<uniform> params: Params;`;

const PRELUDE = prelude('f32');

const ENTRY = `@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${WORKGROUP_SIZE}u;
  if (i >= params.total) {
    return;
  }`;

export interface KernelOptions {
  /** Register-blocked GEMM kernels for pointwise convs (default true; false: the old path, for benchmarks). */
  readonly gemm?: boolean;
  /** Output channels per GEMM invocation, overriding the rule (benchmarks). */
  readonly gemmChannels?: number;
  /** The per-pixel LayerNorm template (default true; false: the generic path, for benchmarks). */
  readonly norm?: boolean;
}

export function renderKernel(unit: Unit, options: KernelOptions = {}): RenderedKernel {
  return renderAttention(unit) ?? renderPolyconv(unit) ?? renderElementwise(unit, options);
}

/** Output tile of the PolyConv kernel: one workgroup computes TILE x TILE pixels of one channel. */
const TILE = 8;

/**
 * PolyConv `dw3(m)`, m = dw1(b) * flip(dw2(b)): a workgroup computes an 8x8 tile of one channel.
 * It first writes m for the tile and the halo dw3 needs into workgroup memory (each element of m
 * computed once, zero outside the image: dw3's padding), then each invocation convolves its pixel
 * from there. Without the staging every output would recompute m at all k3 x k3 taps.
 * Returns null unless the root is a stride-1 "same" depthwise conv over a data value.
 */
function renderPolyconv(unit: Unit): RenderedKernel | null {
  if (unit.family !== 'polyconv') return null;
  const byId = new Map(unit.ops.map((o) => [o.id, o]));
  const root = byId.get(unit.result);
  if (root?.op !== 'conv2d') return null;
  const [x, w] = root.operands as [number, number];
  const [, channels, h, wd] = root.type.shape as [unknown, number, number, number];
  const [, , kh, kw] = byId.get(w)!.type.shape as number[] as [number, number, number, number];
  const { stride, pad, dilation, groups } = root.attrs;
  const same =
    stride.every((s) => s === 1) &&
    dilation.every((d) => d === 1) &&
    pad[0] === (kh - 1) / 2 &&
    pad[1] === (kw - 1) / 2;
  if (!same || groups !== channels || TILE * TILE !== WORKGROUP_SIZE) return null;
  const [py, px] = pad;
  const sy = TILE + 2 * py;
  const sx = TILE + 2 * px;
  const tilesY = Math.ceil(h / TILE);
  const tilesX = Math.ceil(wd / TILE);
  const writer = new ExprWriter(unit.ops, unit.sources);
  const mf = writer.fn(x);
  const wf = writer.fn(w);
  const wgsl = [
    PRELUDE,
    writer.functions(),
    `var<workgroup> tile: array<f32, ${sy * sx}>;

@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  // One workgroup per (image, channel, tile); the condition is uniform across the workgroup.
  let g = wid.x + wid.y * nwg.x;
  if (g >= params.total / ${WORKGROUP_SIZE}u) {
    return;
  }
  let tx = g % ${tilesX}u;
  let ty = (g / ${tilesX}u) % ${tilesY}u;
  let ch = (g / ${tilesX * tilesY}u) % ${channels}u;
  let b = g / ${tilesX * tilesY * channels}u;
  let y0 = i32(ty * ${TILE}u) - ${py};
  let x0 = i32(tx * ${TILE}u) - ${px};
  for (var k = l; k < ${sy * sx}u; k += ${WORKGROUP_SIZE}u) {
    let yy = y0 + i32(k / ${sx}u);
    let xx = x0 + i32(k % ${sx}u);
    var m = 0.0;
    if (yy >= 0 && yy < ${h} && xx >= 0 && xx < ${wd}) {
      m = ${mf}(vec4<u32>(b, ch, u32(yy), u32(xx)));
    }
    tile[k] = m;
  }
  workgroupBarrier();
  let oy = ty * ${TILE}u + l / ${TILE}u;
  let ox = tx * ${TILE}u + l % ${TILE}u;
  if (oy >= ${h}u || ox >= ${wd}u) {
    return;
  }
  var acc = 0.0;
  for (var ky = 0u; ky < ${kh}u; ky++) {
    for (var kx = 0u; kx < ${kw}u; kx++) {
      acc += tile[(l / ${TILE}u + ky) * ${sx}u + l % ${TILE}u + kx] * ${wf}(vec4<u32>(ch, 0u, ky, kx));
    }
  }
  arena[${offsetExpr(0)} + ((b * ${channels}u + ch) * ${h}u + oy) * ${wd}u + ox] = acc;
}`,
  ].join('\n\n');
  return {
    name: `polyconv_${channels}x${h}x${wd}`,
    wgsl: `${wgsl}\n`,
    workgroupSize: WORKGROUP_SIZE,
    invocationsPerBatch: channels * tilesY * tilesX * WORKGROUP_SIZE,
  };
}

function shapeName(op: Op): string {
  return op.type.shape.filter((d) => typeof d === 'number').join('x');
}

/** Output channels one GEMM invocation computes: they share the pixel's statistics and input reads. */
const GEMM_CHANNELS = 4;

/**
 * One invocation per element of the result; for GEMMs (pointwise convs with their prologue and
 * epilogue), per pixel and GEMM_CHANNELS consecutive output channels, so that per-pixel values (the
 * LayerNorm statistics) are computed once for all of them.
 */
function renderElementwise(unit: Unit, options: KernelOptions): RenderedKernel {
  if (options.gemm !== false) {
    const channels = options.gemmChannels;
    const gemm = renderGemm(unit, prelude('vec4<f32>'), WORKGROUP_SIZE, channels ? { channels } : {});
    if (gemm) return gemm;
  }
  const norm = options.norm === false ? null : renderNorm(unit, PRELUDE, WORKGROUP_SIZE);
  if (norm) return norm;
  const w = new ExprWriter(unit.ops, unit.sources);
  const root = w.op(unit.result);
  const shape = root.type.shape;
  const blocked = unit.family === 'gemm' && shape.length === 4 && (shape[1] as number) > 1;
  const per = blocked ? GEMM_CHANNELS : 1;
  const channels = blocked ? (shape[1] as number) : 1;
  // The invocation grid: the result's shape with the channel axis divided into blocks of `per`.
  const grid = blocked ? [shape[0]!, Math.ceil(channels / per), shape[2]!, shape[3]!] : [...shape];
  const gs = strides(grid);
  const names = ['b', 'q', 'y', 'x'];
  const stmts = grid.map(
    (d, k) => `  let ${names[k]} = ${k === 0 ? `i / ${gs[0]}` : `(i / ${gs[k]}) % ${d}u`};`,
  );
  const os = strides(shape);
  const stores: string[] = [];
  const memo = new Map<string, string>();
  for (let j = 0; j < per; j++) {
    let coords: string[];
    let index: string;
    let guard = '';
    if (blocked) {
      // Clamped so every statement stays at function scope (shared across channels); stored if in range.
      const ch = `c${j}`;
      stmts.push(`  let ${ch} = min(q * ${per}u + ${j}u, ${channels - 1}u);`);
      coords = ['b', ch, 'y', 'x'];
      index = `b * ${os[0]} + ${ch} * ${os[1]} + y * ${os[2]} + x`;
      guard = `q * ${per}u + ${j}u < ${channels}u`;
    } else {
      coords = names.slice(0, shape.length);
      index = 'i';
    }
    const value = w.inline(unit.result, coords.length > 0 ? coords : ['0u'], stmts, memo);
    const store = `arena[${offsetExpr(0)} + ${index}] = ${value};`;
    stores.push(guard ? `  if (${guard}) {\n    ${store}\n  }` : `  ${store}`);
  }
  const wgsl = [PRELUDE, w.functions(), `${ENTRY}\n${stmts.join('\n')}\n${stores.join('\n')}\n}`].join(
    '\n\n',
  );
  return {
    name: `${unit.family}_${shapeName(root)}`,
    wgsl: `${wgsl}\n`,
    workgroupSize: WORKGROUP_SIZE,
    invocationsPerBatch: numel(grid.slice(1)),
  };
}

/**
 * `O = V @ transpose(Pn)` (optionally reshaped back to NCHW), where Pn is P or l1norm(P) over keys
 * and P is any expression of (batch, head, query, key): one invocation per (batch, head, query)
 * sweeps the keys once, accumulating sum |P| and P * V for every channel of the head in registers.
 * P >= 0 for polynomial attention, and no max or exp is needed. Returns null if the unit does not
 * have this shape.
 */
function renderAttention(unit: Unit): RenderedKernel | null {
  const byId = new Map(unit.ops.map((o) => [o.id, o]));
  let o = byId.get(unit.result);
  if (o?.op === 'reshape') o = byId.get(o.operands[0]!);
  if (o?.op !== 'matmul' || o.type.shape.length !== 4) return null;
  const [v, t] = o.operands.map((x) => byId.get(x)) as [Op | undefined, Op | undefined];
  if (!v || t?.op !== 'transpose' || t.attrs.perm.join(',') !== '0,1,3,2') return null;
  const pn = byId.get(t.operands[0]!);
  if (!pn) return null;
  const l1 = pn.op === 'l1norm' && normAxis(pn.attrs.axis, pn.type.shape.length) === 3 ? pn : null;
  const p = l1 ? byId.get(l1.operands[0]!)! : pn;
  const [, heads, d, n] = o.type.shape as [unknown, number, number, number];
  if (d > 256) return null;
  const w = new ExprWriter(unit.ops, unit.sources);
  const pf = w.fn(p.id);
  const vf = w.fn(v.id);
  const os = strides(o.type.shape);
  const scale = l1 ? `1.0 / max(rs, ${f32Literal(l1.attrs.eps)})` : '1.0';
  const wgsl = [
    PRELUDE,
    w.functions(),
    `${ENTRY}
  let t = i % ${n}u;
  let h = (i / ${n}u) % ${heads}u;
  let b = i / ${n * heads}u;
  var acc: array<f32, ${d}>;
  var rs = 0.0;
  for (var u = 0u; u < ${n}u; u++) {
    let p = ${pf}(vec4<u32>(b, h, t, u));
    rs += abs(p);
    for (var k = 0u; k < ${d}u; k++) {
      acc[k] += p * ${vf}(vec4<u32>(b, h, k, u));
    }
  }
  let scale = ${scale};
  let base = ${offsetExpr(0)} + b * ${os[0]} + h * ${os[1]} + t;
  for (var k = 0u; k < ${d}u; k++) {
    arena[base + k * ${os[2]}] = acc[k] * scale;
  }
}`,
  ].join('\n\n');
  if (unit.result !== o.id && byId.get(unit.result)?.op !== 'reshape')
    throw new InternalError('unexpected attention root');
  return {
    name: `attention_${heads}x${d}x${n}`,
    wgsl: `${wgsl}\n`,
    workgroupSize: WORKGROUP_SIZE,
    invocationsPerBatch: heads * n,
  };
}
