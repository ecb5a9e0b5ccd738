import type { Dim, Op, ValueId } from '../../ir/types.js';
import { ExprWriter, elementIndex, offsetExpr, type Source, splitInvocation, withLayout } from './expr.js';
import { chooseChannels, PIXELS, tiledKernel, tileStores } from './gemm.js';
import type { RenderedKernel, Unit } from './kernels.js';

/**
 * Implicit GEMM for general convolutions (any kernel size, stride, dilation and padding; groups 1,
 * or grouped when the channel tile stays inside one group): the stem, the stride-2 downsampling
 * convs, 3x3 convs. Seen as a GEMM, `Y[b] = W · im2col(X[b])` with W of [Cout, Cin/g·kh·kw]; the
 * im2col matrix is never built, its elements are read from X at coordinates computed on the fly.
 *
 * - An invocation computes `channels` output channels x PIXELS consecutive outputs of one row, in
 *   named vec4 accumulators over the pixels (an indexed array spills); adjacent invocations take
 *   adjacent row segments of the same channels, so input reads and output stores coalesce and a
 *   workgroup shares its weight reads.
 * - The reduction runs over kernel rows (row bounds checked once per row, outside the channel
 *   loop), input channels, then the kernel columns, unrolled: per (row, channel) the inputs the
 *   segment's taps read are loaded once into registers as a sliding window (the union of the
 *   taps: 19 loads for 4 outputs of a 7-wide stride-4 kernel instead of 28) and each tap is one
 *   vec4 FMA per output channel, the weight one scalar load shared by the PIXELS outputs (weights
 *   stay [Cout][Cin][kh][kw], as packed: no re-layout).
 * - Padding is zero by `select` on clamped reads; the clamped columns and their masks are computed
 *   once per invocation, outside the reduction, and only for window offsets that some segment can
 *   read outside the image (one code path: no divergence, half the code of an interior/edge split,
 *   which SwiftShader also compiles several times faster).
 * - The epilogue is the unit evaluated by the expression writer per output with the conv's value
 *   anchored to the accumulators; a prologue on the conv's input is evaluated per read (the writer's
 *   function of the input), otherwise the input is read from the arena directly.
 *
 * Storage is declared `array<vec4<f32>>`: outputs are stored as vec4 when the output width is a
 * multiple of PIXELS, else as guarded scalars.
 */

const LANES = ['x', 'y', 'z', 'w'] as const;
/** Kernel rows unrolled up to this many; taller kernels loop over rows. */
const UNROLL_ROWS = 3;

type Conv = Op & { op: 'conv2d' };

export interface ConvOptions {
  /** Output channels per invocation, overriding the rule (benchmarks). */
  readonly channels?: number;
}

/** Is `op` a conv the GEMM template takes (1x1, stride 1, no padding, groups 1)? */
function pointwise(op: Conv, kh: number, kw: number): boolean {
  const { stride, pad, dilation, groups } = op.attrs;
  return (
    groups === 1 &&
    kh === 1 &&
    kw === 1 &&
    [...stride, ...dilation].every((s) => s === 1) &&
    pad.every((p) => p === 0)
  );
}

/**
 * The implicit-GEMM kernel for `unit`, or null unless its only convolution is a non-pointwise,
 * non-depthwise conv by a weight tensor whose output has the root's shape.
 */
export function renderConv(
  unit: Unit,
  prelude: string,
  workgroupSize: number,
  options: ConvOptions = {},
): RenderedKernel | null {
  const byId = new Map(unit.ops.map((o) => [o.id, o]));
  const convs = unit.ops.filter((o): o is Conv => o.op === 'conv2d');
  const root = byId.get(unit.result);
  const conv = convs[0];
  if (convs.length !== 1 || !conv || root?.type.shape.length !== 4) return null;
  if (root.type.shape.join() !== conv.type.shape.join()) return null;
  const source = (id: ValueId): Source | null => {
    const o = byId.get(id);
    return o?.op === 'arg' ? (unit.sources[o.attrs.index] ?? null) : null;
  };
  const [xId, wId] = conv.operands as [ValueId, ValueId];
  const wSource = source(wId);
  if (wSource?.buffer !== 'weights') return null;
  const [, cin, h, w] = byId.get(xId)!.type.shape as [Dim, number, number, number];
  const [, cout, oh, ow] = conv.type.shape as [Dim, number, number, number];
  const [, cinG, kh, kw] = byId.get(wId)!.type.shape as [number, number, number, number];
  const { groups } = conv.attrs;
  if (pointwise(conv, kh, kw)) return null;
  const [sy, sx] = conv.attrs.stride as [number, number];
  const [py, px] = conv.attrs.pad as [number, number];
  const [dy, dx] = conv.attrs.dilation as [number, number];
  const coutG = cout / groups;
  const tile = options.channels ?? chooseChannels(coutG, 1);
  // Grouped: every channel of a tile must read the same input channels.
  if (groups > 1 && coutG % tile !== 0) return null;

  const segments = Math.ceil(ow / PIXELS);
  const blocks = Math.ceil(cout / tile);
  const kk = cinG * kh * kw;
  /** Window offsets from the segment's first input column that some tap of some pixel reads. */
  const taps = (q: number) => Array.from({ length: kw }, (_, kx) => q * sx + kx * dx);
  const used = [...new Set(Array.from({ length: PIXELS }, (_, q) => taps(q)).flat())].sort((a, b) => a - b);
  /** Per window offset: can some segment read left of the image, or right of it (padding)? */
  const starts = Array.from({ length: segments }, (_, g) => g * PIXELS * sx - px);
  const left = (e: number) => starts[0]! + e < 0;
  const right = (e: number) => starts.at(-1)! + e >= w;

  const xSource = source(xId);
  // Read straight from the arena when NCHW; any other layout goes through the writer's function.
  const direct = xSource?.buffer === 'arena' && xSource.layout === undefined;

  // The epilogue, per output, with the conv anchored to the accumulators.
  const anchor = (op: Op, c: readonly string[]): string | null => {
    if (op.id !== conv.id || c[0] !== 'b' || c[2] !== 'oy') return null;
    const j = /^c(\d+)$/.exec(c[1]!)?.[1];
    const q = /^ox(\d+)$/.exec(c[3]!)?.[1];
    return j !== undefined && q !== undefined ? `a${j}.${LANES[Number(q)]}` : null;
  };
  const writer = new ExprWriter(unit.ops, unit.sources, { vec4Storage: true, anchor });
  const xf = direct ? null : writer.fn(xId);
  const epilogue: string[] = [];
  const memo = new Map<string, string>();
  const values = Array.from({ length: tile }, (_, j) =>
    Array.from({ length: PIXELS }, (_, q) =>
      writer.inline(unit.result, ['b', `c${j}`, 'oy', `ox${q}`], epilogue, memo),
    ),
  );

  const head = [
    ...splitInvocation([
      ['sg', segments],
      ['oy', oh],
      ['cb', blocks],
    ]),
    `  let x0 = sg * ${PIXELS}u;`,
    `  let ix0 = i32(x0 * ${sx}u) - ${px};`,
    `  let iy0 = i32(oy * ${sy}u) - ${py};`,
    // Clamped so every read is in range (the epilogue's too); stores are guarded.
    ...Array.from({ length: tile }, (_, j) => `  let c${j} = min(cb * ${tile}u + ${j}u, ${cout - 1}u);`),
    ...Array.from({ length: PIXELS }, (_, q) => `  let ox${q} = min(x0 + ${q}u, ${ow - 1}u);`),
    // The group's first input channel.
    `  let ci0 = ${groups > 1 ? `(cb * ${tile}u / ${coutG}u) * ${cinG}u` : '0u'};`,
    ...(direct ? [`  let xb = ${offsetExpr(xSource.slot)} + b * ${cin * h * w}u + ci0 * ${h * w}u;`] : []),
    // Window columns, clamped into the image, and whether they are inside it (zero padding):
    // computed once, outside the reduction loops; only where some segment needs them.
    ...used.map((e) =>
      left(e) || right(e)
        ? `  let xc${e} = u32(clamp(ix0 + ${e}, 0, ${w - 1}));`
        : `  let xc${e} = u32(ix0 + ${e});`,
    ),
    ...used
      .filter((e) => left(e) || right(e))
      .map(
        (e) =>
          `  let xm${e} = ${[left(e) ? `ix0 + ${e} >= 0` : '', right(e) ? `ix0 + ${e} < ${w}` : ''].filter((t) => t).join(' && ')};`,
      ),
    ...Array.from({ length: tile }, (_, j) => `  let w${j} = ${offsetExpr(wSource.slot)} + c${j} * ${kk}u;`),
    ...Array.from({ length: tile }, (_, j) => `  var a${j} = vec4<f32>(0.0);`),
  ];

  /** The input at window offset `e` of row `iy`, channel `k` of the group; zero in the padding. */
  const read = (e: number): string => {
    const v = direct ? `ld(xr + xc${e})` : `${xf}(vec4<u32>(b, ci0 + k, u32(iy), xc${e}))`;
    return left(e) || right(e) ? `select(0.0, ${v}, xm${e})` : v;
  };
  /** One kernel row `ky` (a WGSL expression) over every input channel of the group. */
  const row = (ky: string, indent: string): string[] => {
    const lines = [`for (var k = 0u; k < ${cinG}u; k++) {`];
    if (direct) lines.push(`  let xr = xb + k * ${h * w}u + u32(iy) * ${w}u;`);
    lines.push(`  let wk = k * ${kh * kw}u + ${ky} * ${kw}u;`);
    for (const e of used) lines.push(`  let r${e} = ${read(e)};`);
    for (let kx = 0; kx < kw; kx++) {
      lines.push(`  let xv${kx} = vec4<f32>(${LANES.map((_, q) => `r${q * sx + kx * dx}`).join(', ')});`);
      for (let j = 0; j < tile; j++) lines.push(`  a${j} += xv${kx} * ldw(w${j} + wk + ${kx}u);`);
    }
    lines.push('}');
    return lines.map((l) => indent + l);
  };
  /** Every kernel row, each checked against the image's height once, outside the channel loop. */
  const body = (ky: string, ind: string) => [
    `${ind}let iy = iy0 + i32(${dy === 1 ? ky : `${ky} * ${dy}u`});`,
    `${ind}if (iy >= 0 && iy < ${h}) {`,
    ...row(ky, `${ind}  `),
    `${ind}}`,
  ];
  const loop =
    kh <= UNROLL_ROWS
      ? Array.from({ length: kh }, (_, ky) => ['  {', ...body(`${ky}u`, '    '), '  }']).flat()
      : [`  for (var ky = 0u; ky < ${kh}u; ky++) {`, ...body('ky', '    '), '  }'];

  const ohw = oh * ow;
  const stores = [
    `  let ob = ${offsetExpr(0)} + b * ${cout * ohw}u + oy * ${ow}u + x0;`,
    ...tileStores(values, cout, {
      at: (j) => `ob + c${j} * ${ohw}u`,
      vector: ow % PIXELS === 0,
      inRange: (q) => `x0 + ${q}u < ${ow}u`,
      ...(unit.layout && {
        element: (j: number, q: number) =>
          `${offsetExpr(0)} + ${elementIndex(withLayout(conv.type, unit.layout), ['b', `c${j}`, 'oy', `(x0 + ${q}u)`])}`,
      }),
    }),
  ];
  const wgsl = tiledKernel(prelude, writer.functions(), workgroupSize, { ld: direct, ldw: true }, [
    ...head,
    ...loop,
    ...epilogue,
    ...stores,
  ]);
  const g = groups > 1 ? `g${groups}` : '';
  return {
    name: `${unit.family}_${cout}x${oh}x${ow}_${kh}x${kw}s${sx}d${dx}${g}_${tile}x${PIXELS}`,
    wgsl: `${wgsl}\n`,
    workgroupSize,
    invocationsPerBatch: blocks * oh * segments,
  };
}
