import { isElementwise } from '../../ir/ops.js';
import type { Op, TensorType, ValueId } from '../../ir/types.js';
import { allNchw, ExprWriter, elementIndex, offsetExpr, splitInvocation, withLayout } from './expr.js';
import { ENTRY, PRELUDE, type RenderedKernel, type Unit, WORKGROUP_SIZE } from './kernels.js';

/**
 * Depthwise convolution templates. Every invocation computes a row segment of `tx` neighbouring
 * outputs of one channel (contiguous in NCHW, so stores coalesce), with the channel's weights in
 * registers, loaded once per invocation. Each kernel row is a sliding window: the inputs any tap of
 * the segment reads are loaded once into registers and shared by every output that needs them
 * (K + tx - 1 loads per row for K taps at stride 1 instead of K * tx). Shapes, strides, pads and
 * dilations are constants; edges are guarded by clamped reads and `select`, not branches per tap.
 *
 * - *depthwise*: a depthwise conv with any elementwise prologue (read per window element) and
 *   epilogue (evaluated per output from the accumulator): stem-free units such as the downsampling
 *   stride-2 convs and the attention q/k/v convs, at any kernel size, stride and dilation.
 * - *polyconv*: `dw3(dw1(b) * flip(dw2(b)))`, all "same" stride-1 convs: each invocation walks a
 *   strip of rows keeping dw3's window of m = dw1 * flip(dw2) rows in registers, computing one new
 *   row of m and one output row per step, with no barriers (renderRegisters). The older template
 *   stages b and m in workgroup memory (renderStaged, `KernelOptions.polyconv: 'staged'`).
 */

type Conv = Op & { op: 'conv2d' };

interface Depthwise {
  readonly op: Conv;
  readonly channels: number;
  /** Input height and width. */
  readonly h: number;
  readonly w: number;
  /** Output height and width. */
  readonly oh: number;
  readonly ow: number;
  readonly kh: number;
  readonly kw: number;
  readonly stride: readonly [number, number];
  readonly dilation: readonly [number, number];
  readonly pad: readonly [number, number];
}

/**
 * The most taps (kh * kw) a depthwise kernel of these templates holds in registers, as the wasm
 * kernels' unrolling bound: a larger kernel (a 63x63 one would be 3969 weight registers and
 * thousands of lines of WGSL) is rendered by the generic path, which reads each weight in its loop.
 */
export const MAX_REGISTER_TAPS = 1024;

/** The geometry of `op` if it is a depthwise conv (one input channel per output channel). */
function depthwise(op: Op | undefined, byId: ReadonlyMap<ValueId, Op>): Depthwise | null {
  if (op?.op !== 'conv2d' || op.type.shape.length !== 4) return null;
  const [, c, h, w] = byId.get(op.operands[0]!)!.type.shape as [unknown, number, number, number];
  const [co, cig, kh, kw] = byId.get(op.operands[1]!)!.type.shape as [number, number, number, number];
  const [, , oh, ow] = op.type.shape as [unknown, number, number, number];
  if (op.attrs.groups !== c || co !== c || cig !== 1) return null;
  if (kh * kw > MAX_REGISTER_TAPS) return null;
  const { stride, dilation, pad } = op.attrs;
  return {
    op,
    channels: c,
    h,
    w,
    oh,
    ow,
    kh,
    kw,
    stride: [stride[0]!, stride[1]!],
    dilation: [dilation[0]!, dilation[1]!],
    pad: [pad[0]!, pad[1]!],
  };
}

/** Stride 1 with the output the size of the input. */
function same(d: Depthwise): boolean {
  return (
    d.stride.every((s) => s === 1) &&
    2 * d.pad[0] === (d.kh - 1) * d.dilation[0] &&
    2 * d.pad[1] === (d.kw - 1) * d.dilation[1]
  );
}

/**
 * Outputs per invocation along W: the width in 4..8 that leaves the fewest idle columns in the last
 * segment of a row (the smallest on ties: more invocations), or W itself when it is below 4.
 */
export function segmentWidth(w: number): number {
  if (w <= 4) return w;
  const waste = (t: number) => Math.ceil(w / t) * t - w;
  let best = 4;
  for (let t = 5; t <= 8; t++) if (waste(t) < waste(best)) best = t;
  return best;
}

/** `+ k` or `- k` for a constant integer offset. */
function plus(k: number): string {
  return k >= 0 ? `+ ${k}` : `- ${-k}`;
}

/**
 * One kernel row's contribution to `tx` neighbouring outputs: every window element some tap reads
 * is loaded once into a register (`read(e)`, e the offset from the segment's first input) and
 * shared by all the outputs that need it.
 */
function windowRow(
  tx: number,
  kw: number,
  stride: number,
  dilation: number,
  read: (e: number) => string,
  weight: (kx: number) => string,
  acc: (j: number) => string,
  indent: string,
): string[] {
  const taps = (j: number) => Array.from({ length: kw }, (_, kx) => j * stride + kx * dilation);
  const used = [...new Set(Array.from({ length: tx }, (_, j) => taps(j)).flat())].sort((a, b) => a - b);
  const lines = used.map((e) => `${indent}let r${e} = ${read(e)};`);
  for (let j = 0; j < tx; j++) {
    const terms = taps(j).map((e, kx) => `${weight(kx)} * r${e}`);
    lines.push(`${indent}${acc(j)} += ${terms.join(' + ')};`);
  }
  return lines;
}

/** `let <prefix><ky>_<kx> = weight of channel <ch> at (ky, kx);` for a whole depthwise kernel. */
function weightRegisters(prefix: string, fn: string, ch: string, kh: number, kw: number): string[] {
  const lines: string[] = [];
  for (let ky = 0; ky < kh; ky++)
    for (let kx = 0; kx < kw; kx++)
      lines.push(`  let ${prefix}${ky}_${kx} = ${fn}(vec4<u32>(${ch}, 0u, ${ky}u, ${kx}u));`);
  return lines;
}

/**
 * A unit whose only convolution is depthwise, with an elementwise epilogue: one invocation per
 * (image, channel, output row, segment of `tx` outputs). Returns null for other units.
 */
export function renderDepthwise(unit: Unit): RenderedKernel | null {
  const byId = new Map(unit.ops.map((o) => [o.id, o]));
  const convs = unit.ops.filter((o) => o.op === 'conv2d');
  const d = convs.length === 1 ? depthwise(convs[0], byId) : null;
  const root = byId.get(unit.result);
  if (!d || !root || root.type.shape.join() !== d.op.type.shape.join()) return null;
  // Everything downstream of the conv must be elementwise, so it can be evaluated per output.
  const downstream = new Set<ValueId>([d.op.id]);
  for (const o of unit.ops) {
    if (!o.operands.some((x) => downstream.has(x))) continue;
    if (!isElementwise(o)) return null;
    downstream.add(o.id);
  }
  const { channels, h, w, oh, ow, kh, kw, stride, dilation, pad } = d;
  const tx = segmentWidth(ow);
  const segments = Math.ceil(ow / tx);
  /** The accumulator holding the conv's value at each output's coordinates (`b,c,y,ox<j>` -> `a<j>`). */
  const accumulators = new Map<string, string>();
  const writer = new ExprWriter(unit.ops, unit.sources, {
    anchor: (op, c) => (op.id === d.op.id ? (accumulators.get(c.join()) ?? null) : null),
  });
  const xf = writer.fn(d.op.operands[0]!);
  const wf = writer.fn(d.op.operands[1]!);
  const body = [
    // Neighbouring invocations read neighbouring memory: in NCHW the next segment of the row, in
    // NC4HW4 the next channel (4 channels of a pixel are one vec4).
    ...splitInvocation(
      unit.sources.some((s) => s.layout === 'nc4hw4')
        ? [
            ['c', channels],
            ['xs', segments],
            ['y', oh],
          ]
        : [
            ['xs', segments],
            ['y', oh],
            ['c', channels],
          ],
    ),
    `  let x0 = xs * ${tx}u;`,
    `  let ix0 = i32(x0 * ${stride[1]}u) - ${pad[1]};`,
    ...weightRegisters('w', wf, 'c', kh, kw),
    ...Array.from({ length: tx }, (_, j) => `  var a${j} = 0.0;`),
  ];
  for (let ky = 0; ky < kh; ky++) {
    body.push(
      `  let iy${ky} = i32(y * ${stride[0]}u) ${plus(ky * dilation[0] - pad[0])};`,
      `  if (iy${ky} >= 0 && iy${ky} < ${h}) {`,
      ...windowRow(
        tx,
        kw,
        stride[1],
        dilation[1],
        (e) => `dw_in(b, c, u32(iy${ky}), ix0 + ${e})`,
        (kx) => `w${ky}_${kx}`,
        (j) => `a${j}`,
        '    ',
      ),
      '  }',
    );
  }
  const stores = segmentStores(writer, unit.result, accumulators, 'a', outType(unit), tx, body, '  ');
  const wgsl = [
    PRELUDE,
    writer.functions(),
    `/** The input at (b, c, y, x), zero in the padding. */
fn dw_in(b: u32, c: u32, y: u32, x: i32) -> f32 {
  return select(0.0, ${xf}(vec4<u32>(b, c, y, u32(clamp(x, 0, ${w - 1})))), x >= 0 && x < ${w});
}`,
    `${ENTRY}\n${body.join('\n')}\n${stores.join('\n')}\n}`,
  ].join('\n\n');
  return {
    name: `${unit.family}_dw${kh}x${kw}s${stride[1]}d${dilation[1]}_${channels}x${oh}x${ow}`,
    wgsl: `${wgsl}\n`,
    workgroupSize: WORKGROUP_SIZE,
    invocationsPerBatch: channels * oh * segments,
  };
}

/** The unit's result type in the layout it is stored in. */
function outType(unit: Unit): TensorType {
  const root = unit.ops.find((o) => o.id === unit.result)!;
  return withLayout(root.type, unit.layout);
}

/** Invocations per PolyConv workgroup to aim for, and its workgroup memory (WebGPU's default 16 KiB). */
const POLYCONV_INVOCATIONS = 128;
const SHARED_FLOATS = 4096;

/**
 * PolyConv `dw3(m)`, m = dw1(b) * flip(dw2(b)) (flip over channels, so channel c multiplies dw1 of
 * channel c by dw2 of channel C-1-c), all "same" stride-1 depthwise convs. Two variants: register
 * sliding windows down a strip of rows (the default, no barriers), or tiles staged in workgroup
 * memory (`variant: 'staged'`). Returns null unless the unit has exactly this shape.
 */
export function renderPolyconv(unit: Unit, options: PolyconvOptions = {}): RenderedKernel | null {
  const pc = matchPolyconv(unit);
  if (!pc) return null;
  return options.variant === 'staged' ? renderStaged(unit, pc) : renderRegisters(unit, pc, options);
}

/** The three depthwise convs of a PolyConv unit: m = dw1(b) * flip(dw2(b)), result dw3(m). */
interface Polyconv {
  readonly d1: Depthwise;
  readonly d2: Depthwise;
  readonly d3: Depthwise;
}

/** How to render PolyConv units (benchmarks; the defaults are the rule). */
export interface PolyconvOptions {
  /** 'registers' (default): barrier-free register sliding windows; 'staged': workgroup-memory tiles. */
  readonly variant?: 'staged' | 'registers';
  /** Outputs per invocation along W (registers variant), overriding the rule. */
  readonly tw?: number;
  /** Output rows per invocation (registers variant), overriding the rule. */
  readonly th?: number;
}

function matchPolyconv(unit: Unit): Polyconv | null {
  if (unit.family !== 'polyconv') return null;
  const byId = new Map(unit.ops.map((o) => [o.id, o]));
  const d3 = depthwise(byId.get(unit.result), byId);
  const product = d3 ? byId.get(d3.op.operands[0]!) : undefined;
  if (!d3 || !same(d3) || product?.op !== 'mul') return null;
  const factors = product.operands.map((x) => byId.get(x));
  const flipIndex = factors.findIndex((f) => f?.op === 'flip' && f.attrs.axis === 1);
  const flipped = factors[flipIndex];
  if (!flipped) return null;
  const d1 = depthwise(factors[1 - flipIndex], byId);
  const d2 = depthwise(byId.get(flipped.operands[0]!), byId);
  if (!d1 || !d2 || !same(d1) || !same(d2) || d1.op.operands[0] !== d2.op.operands[0]) return null;
  return { d1, d2, d3 };
}

/**
 * The staged variant, kept for benchmarks and real-GPU comparisons (`KernelOptions.polyconv:
 * 'staged'`). A workgroup computes a tile of `gy` rows by `gx * tx` columns for each of `gc`
 * channels (several channels per workgroup when images are small):
 * 1. it copies the two input tiles of b (channels c and C-1-c, with the halos dw1, dw2 and dw3 need)
 *    into workgroup memory, each element read from the arena once;
 * 2. it computes m over the output tile and dw3's halo, zero outside the image (dw3's padding):
 *    each element once, a row segment per invocation step with sliding windows over the staged b;
 * 3. each invocation computes `tx` outputs of one row from the staged m, with dw3's weights in
 *    registers and a sliding window per kernel row.
 * Two workgroup barriers; null when the tiles do not fit in workgroup memory.
 */
function renderStaged(unit: Unit, { d1, d2, d3 }: Polyconv): RenderedKernel | null {
  if (!allNchw(unit.sources, unit.layout)) return null;
  const { channels, h, w } = d3;
  const tx = segmentWidth(w);
  const gx = Math.min(Math.ceil(w / tx), 16);
  const tw = gx * tx;
  const [p1, p2, p3] = [d1.pad, d2.pad, d3.pad];
  /** Workgroup memory of one channel for a tile of `gy` rows: staged b for dw1 and dw2, and m. */
  const regions = (gy: number) => {
    const mr = gy + 2 * p3[0];
    const mc = tw + 2 * p3[1];
    // m is computed `tm` columns at a time, the width in 4..8 whose last round of steps over the
    // tile's invocations ends first (then the least work); the staged b is as wide as the last step reads.
    const rounds = (t: number) => Math.ceil((mr * Math.ceil(mc / t)) / (gx * gy)) * t;
    const work = (t: number) => mr * Math.ceil(mc / t) * t;
    let tm = Math.min(4, mc);
    for (let t = tm + 1; t <= Math.min(8, mc); t++)
      if (rounds(t) < rounds(tm) || (rounds(t) === rounds(tm) && work(t) < work(tm))) tm = t;
    const steps = Math.ceil(mc / tm);
    const b1 = [mr + 2 * p1[0], steps * tm + 2 * p1[1]] as const;
    const b2 = [mr + 2 * p2[0], steps * tm + 2 * p2[1]] as const;
    return { mr, mc, tm, steps, b1, b2, floats: mr * mc + b1[0] * b1[1] + b2[0] * b2[1] };
  };
  let gy = Math.min(h, Math.max(1, Math.floor(POLYCONV_INVOCATIONS / gx)));
  gy = Math.ceil(h / Math.ceil(h / gy));
  while (gy > 1 && regions(gy).floats > SHARED_FLOATS) gy--;
  const r = regions(gy);
  if (r.floats > SHARED_FLOATS) return null;
  const gc = Math.max(
    1,
    Math.min(channels, Math.floor(POLYCONV_INVOCATIONS / (gx * gy)), Math.floor(SHARED_FLOATS / r.floats)),
  );
  const slot = gx * gy;
  const wg = slot * gc;
  const tilesX = Math.ceil(w / tw);
  const tilesY = Math.ceil(h / gy);
  const groups = Math.ceil(channels / gc);
  const b1Size = r.b1[0] * r.b1[1];
  const b2Size = r.b2[0] * r.b2[1];
  const mSize = r.mr * r.mc;

  const writer = new ExprWriter(unit.ops, unit.sources);
  const bf = writer.fn(d1.op.operands[0]!);
  const w1 = writer.fn(d1.op.operands[1]!);
  const w2 = writer.fn(d2.op.operands[1]!);
  const w3 = writer.fn(d3.op.operands[1]!);
  const stage = (name: string, size: number, cols: number, ch: string, pad: readonly [number, number]) =>
    [
      `  for (var k = ll; k < ${size}u; k += ${slot}u) {`,
      `    ${name}[s * ${size}u + k] = b_at(b, ${ch}, y0 - ${pad[0]} + i32(k / ${cols}u), x0 - ${pad[1]} + i32(k % ${cols}u));`,
      '  }',
    ].join('\n');
  /** Rows of a depthwise kernel over a staged region, accumulating `n` outputs into `acc<j>`. */
  const rows = (
    n: number,

    d: Depthwise,
    wname: string,
    region: string,
    size: number,
    cols: number,
    row: string,
    col: string,
    acc: string,
  ) =>
    Array.from({ length: d.kh }, (_, ky) =>
      [
        '    {',
        `      let base = s * ${size}u + (${row} + ${ky * d.dilation[0]}u) * ${cols}u + ${col};`,
        ...windowRow(
          n,
          d.kw,
          1,
          d.dilation[1],
          (e) => `${region}[base + ${e}u]`,
          (kx) => `${wname}${ky}_${kx}`,
          (j) => `${acc}${j}`,
          '      ',
        ),
        '    }',
      ].join('\n'),
    );
  const zeros = (acc: string, n: number) => Array.from({ length: n }, (_, j) => `    var ${acc}${j} = 0.0;`);
  const mStores = Array.from({ length: r.tm }, (_, j) =>
    [
      `    if (mc + ${j}u < ${r.mc}u) {`,
      `      let mx = x0 + i32(mc + ${j}u);`,
      `      ms[s * ${mSize}u + mr * ${r.mc}u + mc + ${j}u] = select(0.0, u${j} * v${j}, inRow && mx >= 0 && mx < ${w});`,
      '    }',
    ].join('\n'),
  );
  const outStores = Array.from({ length: tx }, (_, j) =>
    [`    if (ox + ${j}u < ${w}u) {`, `      arena[base + ${j}u] = o${j};`, '    }'].join('\n'),
  );
  const main = `var<workgroup> b1s: array<f32, ${gc * b1Size}>;
var<workgroup> b2s: array<f32, ${gc * b2Size}>;
var<workgroup> ms: array<f32, ${gc * mSize}>;

/** b at (b, c, y, x), zero outside the image: dw1's and dw2's padding. */
fn b_at(b: u32, c: u32, y: i32, x: i32) -> f32 {
  if (y < 0 || y >= ${h} || x < 0 || x >= ${w}) {
    return 0.0;
  }
  return ${bf}(vec4<u32>(b, c, u32(y), u32(x)));
}

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  // One workgroup per (image, channel group, tile); the condition is uniform across the workgroup.
  let g = wid.x + wid.y * nwg.x;
  if (g >= params.total / ${wg}u) {
    return;
  }
  let tcol = g % ${tilesX}u;
  let trow = (g / ${tilesX}u) % ${tilesY}u;
  let cg = (g / ${tilesX * tilesY}u) % ${groups}u;
  let b = g / ${tilesX * tilesY * groups}u;
  // Invocation l works on channel slot s; the last group's extra slots compute a clamped channel
  // (keeping every invocation at the barriers) and store nothing.
  let s = l / ${slot}u;
  let ll = l % ${slot}u;
  let c = cg * ${gc}u + s;
  let cc = min(c, ${channels - 1}u);
  let cf = ${channels - 1}u - cc;
  // Image coordinates of m's staged region (the output tile and dw3's halo).
  let y0 = i32(trow * ${gy}u) - ${p3[0]};
  let x0 = i32(tcol * ${tw}u) - ${p3[1]};
${stage('b1s', b1Size, r.b1[1], 'cc', p1)}
${stage('b2s', b2Size, r.b2[1], 'cf', p2)}
  workgroupBarrier();
  // Each phase loads its weights when it starts: fewer registers live across the other phases.
${[...weightRegisters('p', w1, 'cc', d1.kh, d1.kw), ...weightRegisters('q', w2, 'cf', d2.kh, d2.kw)].join('\n')}
  for (var k = ll; k < ${r.mr * r.steps}u; k += ${slot}u) {
    let mr = k / ${r.steps}u;
    let mc = (k % ${r.steps}u) * ${r.tm}u;
${[...zeros('u', r.tm), ...zeros('v', r.tm)].join('\n')}
${rows(r.tm, d1, 'p', 'b1s', b1Size, r.b1[1], 'mr', 'mc', 'u').join('\n')}
${rows(r.tm, d2, 'q', 'b2s', b2Size, r.b2[1], 'mr', 'mc', 'v').join('\n')}
    let my = y0 + i32(mr);
    let inRow = my >= 0 && my < ${h};
${mStores.join('\n')}
  }
  workgroupBarrier();
${weightRegisters('w', w3, 'cc', d3.kh, d3.kw).join('\n')}
  let lx = ll % ${gx}u;
  let ly = ll / ${gx}u;
  {
${zeros('o', tx).join('\n')}
${rows(tx, d3, 'w', 'ms', mSize, r.mc, 'ly', `lx * ${tx}u`, 'o').join('\n')}
    let oy = trow * ${gy}u + ly;
    let ox = tcol * ${tw}u + lx * ${tx}u;
    if (c >= ${channels}u || oy >= ${h}u) {
      return;
    }
    let base = ${offsetExpr(0)} + ((b * ${channels}u + c) * ${h}u + oy) * ${w}u + ox;
${outStores.join('\n')}
  }
}`;
  const wgsl = [PRELUDE, writer.functions(), main].join('\n\n');
  return {
    name: `polyconv_${channels}x${h}x${w}`,
    wgsl: `${wgsl}\n`,
    workgroupSize: wg,
    invocationsPerBatch: groups * tilesY * tilesX * wg,
  };
}

/** Invocations per image the PolyConv strips aim for (a few thousand keep a GPU's cores busy at batch 1). */
const POLYCONV_PARALLELISM = 2048;
/** Most output rows per strip: beyond, the m halo (k3 - 1 rows per strip) is already amortised. */
const POLYCONV_MAX_ROWS = 16;

/**
 * The register variant's tile: `tw` outputs along W per invocation (segmentWidth: 4..8, the fewest
 * idle columns), and a strip of `th` rows, the tallest (at most POLYCONV_MAX_ROWS, strips of equal
 * height) that still gives POLYCONV_PARALLELISM invocations per image, and at least 2 rows: m rows
 * are recomputed at the strip edges, (th + k3 - 1) / th times the work of computing each once.
 */
export function polyconvTile(channels: number, h: number, w: number): { tw: number; th: number } {
  const tw = segmentWidth(w);
  const segments = Math.ceil(w / tw);
  const balanced = (t: number) => Math.ceil(h / Math.ceil(h / t));
  let th = balanced(Math.min(h, POLYCONV_MAX_ROWS));
  while (th > 2 && channels * segments * Math.ceil(h / th) < POLYCONV_PARALLELISM) th = balanced(th - 1);
  return { tw, th };
}

/**
 * The register variant, barrier-free. An invocation owns one channel c, a segment of `tw`
 * neighbouring outputs along W (contiguous stores) and a strip of `th` output rows, which it walks
 * down with dw3's window of m rows in registers (each row `tw + (k3 - 1) * d3` wide):
 * - per step it computes one new row of m: dw1 of channel c and dw2 of channel C-1-c at those
 *   columns, each kernel row of b loaded once into registers and shared by the outputs' taps (a
 *   sliding window along W), zero outside the image (dw3's padding);
 * - it shifts the window (register moves) and, once full, computes one output row of dw3 from it.
 * Every weight (dw1 and dw3 of c, dw2 of C-1-c) is loaded once into registers; all indices are
 * constants after generation, so the windows stay in registers. b is re-read per m row (k1 + k2
 * rows of it) rather than kept as a window of rows: dw1 dilated (k5 d2 spans 9 rows) would need
 * too many registers, and the re-reads hit the cache. The m rows of the k3 - 1 halo rows are
 * recomputed by the neighbouring strip.
 */
function renderRegisters(unit: Unit, { d1, d2, d3 }: Polyconv, options: PolyconvOptions): RenderedKernel {
  const { channels, h, w } = d3;
  const rule = polyconvTile(channels, h, w);
  const tw = Math.min(options.tw ?? rule.tw, w);
  const th = Math.min(options.th ?? rule.th, h);
  const segments = Math.ceil(w / tw);
  const strips = Math.ceil(h / th);
  // Rows of m dw3 reads for one output row (its window), and the window's width.
  const rows = (d3.kh - 1) * d3.dilation[0] + 1;
  const mw = tw + (d3.kw - 1) * d3.dilation[1];
  // b columns are numbered from xb, the leftmost column dw1 or dw2 reads; the m row starts at
  // xb + pad, that conv's window at m's start minus its own padding.
  const padB = Math.max(d1.pad[1], d2.pad[1]);
  const accs = new Map<string, string>();
  const writer = new ExprWriter(unit.ops, unit.sources, {
    anchor: (op, c) => (op.id === d3.op.id ? (accs.get(c.join()) ?? null) : null),
  });
  const bf = writer.fn(d1.op.operands[0]!);
  const wf = [d1, d2, d3].map((d) => writer.fn(d.op.operands[1]!));
  /** One m row's dw1 (or dw2) into `acc<e>`: the conv's kernel rows over b rows of channel `ch`. */
  const branch = (d: Depthwise, ch: string, wname: string, acc: string) =>
    Array.from({ length: d.kh }, (_, ky) => [
      `      let ${wname}y${ky} = ym ${plus(ky * d.dilation[0] - d.pad[0])};`,
      `      if (${wname}y${ky} >= 0 && ${wname}y${ky} < ${h}) {`,
      `        let row = u32(${wname}y${ky});`,
      ...windowRow(
        mw,
        d.kw,
        1,
        d.dilation[1],
        (e) => {
          const k = e + padB - d.pad[1];
          return `select(0.0, ${bf}(vec4<u32>(b, ${ch}, row, bx${k})), bi${k})`;
        },
        (kx) => `${wname}${ky}_${kx}`,
        (j) => `${acc}${j}`,
        '        ',
      ),
      '      }',
    ]).flat();
  const bCols = mw + 2 * padB;
  const body = [
    ...splitInvocation([
      ['xs', segments],
      ['ys', strips],
      ['c', channels],
    ]),
    `  let cf = ${channels - 1}u - c;`,
    `  let x0 = xs * ${tw}u;`,
    `  let y0 = ys * ${th}u;`,
    `  let xb = i32(x0) - ${d3.pad[1] + padB};`,
    // Columns of b (clamped, and whether inside the image) and of m (inside the image).
    ...Array.from({ length: bCols }, (_, k) => [
      `  let bx${k} = u32(clamp(xb + ${k}, 0, ${w - 1}));`,
      `  let bi${k} = xb + ${k} >= 0 && xb + ${k} < ${w};`,
    ]).flat(),
    ...Array.from(
      { length: mw },
      (_, e) => `  let mi${e} = xb + ${e + padB} >= 0 && xb + ${e + padB} < ${w};`,
    ),
    ...weightRegisters('p', wf[0]!, 'c', d1.kh, d1.kw),
    ...weightRegisters('q', wf[1]!, 'cf', d2.kh, d2.kw),
    ...weightRegisters('w', wf[2]!, 'c', d3.kh, d3.kw),
    ...Array.from({ length: rows }, (_, r) =>
      Array.from({ length: mw }, (_, e) => `  var m${r}_${e} = 0.0;`),
    ).flat(),
    // The last strip may be shorter; its m rows stop at the image's last output row's window.
    `  let steps = min(${th}u, ${h}u - y0) + ${rows - 1}u;`,
    '  for (var r = 0u; r < steps; r++) {',
    `    let ym = i32(y0 + r) - ${d3.pad[0]};`,
    ...Array.from({ length: mw }, (_, e) => `    var s1_${e} = 0.0;\n    var s2_${e} = 0.0;`),
    `    if (ym >= 0 && ym < ${h}) {`,
    ...branch(d1, 'c', 'p', 's1_'),
    ...branch(d2, 'cf', 'q', 's2_'),
    '    }',
    // Shift the window up one row; rows of m outside the image are zero (the sums are 0 there).
    ...Array.from({ length: rows - 1 }, (_, r) =>
      Array.from({ length: mw }, (_, e) => `    m${r}_${e} = m${r + 1}_${e};`),
    ).flat(),
    ...Array.from(
      { length: mw },
      (_, e) => `    m${rows - 1}_${e} = select(0.0, s1_${e} * s2_${e}, mi${e});`,
    ),
    `    if (r >= ${rows - 1}u) {`,
    `      let y = y0 + r - ${rows - 1}u;`,
    ...Array.from({ length: tw }, (_, j) => `      var o${j} = 0.0;`),
  ];
  for (let ky = 0; ky < d3.kh; ky++) {
    for (let j = 0; j < tw; j++) {
      const terms = Array.from(
        { length: d3.kw },
        (_, kx) => `w${ky}_${kx} * m${ky * d3.dilation[0]}_${j + kx * d3.dilation[1]}`,
      );
      body.push(`      o${j} += ${terms.join(' + ')};`);
    }
  }
  const stores: string[] = [];
  stores.push(...segmentStores(writer, unit.result, accs, 'o', outType(unit), tw, stores, '      '));
  const wgsl = [
    PRELUDE,
    writer.functions(),
    `${ENTRY}\n${body.join('\n')}\n${stores.join('\n')}\n    }\n  }\n}`,
  ].join('\n\n');
  return {
    name: `polyconv_${channels}x${h}x${w}`,
    wgsl: `${wgsl}\n`,
    workgroupSize: WORKGROUP_SIZE,
    invocationsPerBatch: channels * strips * segments,
  };
}

/**
 * The stores of a segment of `count` outputs along W at (b, c, y, x0 + j), accumulator `<acc>j`
 * each, stored through `type`'s layout: the epilogue of `root` is evaluated per output with the accumulator anchored at its
 * coordinates (its statements appended to `statements`), and each output is stored if inside the
 * row. `anchors` is the map the writer's anchor option reads.
 */
function segmentStores(
  writer: ExprWriter,
  root: ValueId,
  anchors: Map<string, string>,
  acc: string,
  type: TensorType,
  count: number,
  statements: string[],
  indent: string,
): string[] {
  const memo = new Map<string, string>();
  const stores: string[] = [];
  const w = type.shape[3] as number;
  for (let j = 0; j < count; j++) {
    // Clamped so the epilogue's reads stay in bounds for the idle outputs of the last segment.
    statements.push(`${indent}let ox${j} = min(x0 + ${j}u, ${w - 1}u);`);
    const at = ['b', 'c', 'y', `ox${j}`];
    anchors.set(at.join(), `${acc}${j}`);
    const value = writer.inline(root, at, statements, memo);
    stores.push(
      `${indent}if (x0 + ${j}u < ${w}u) {`,
      `${indent}  arena[${offsetExpr(0)} + ${elementIndex(type, ['b', 'c', 'y', `(x0 + ${j}u)`])}] = ${value};`,
      `${indent}}`,
    );
  }
  return stores;
}
