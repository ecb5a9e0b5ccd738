import { isElementwise } from '../../ir/ops.js';
import type { Op, ValueId } from '../../ir/types.js';
import { ExprWriter, offsetExpr } from './expr.js';
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
 * - *polyconv*: `dw3(dw1(b) * flip(dw2(b)))`, all "same" stride-1 convs: a workgroup stages the
 *   input tiles of b (both channels the flip pairs) in workgroup memory, then m = dw1 * flip(dw2)
 *   for the output tile and dw3's halo (each element once, with sliding windows over the staged b),
 *   then dw3 from there.
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

/** The geometry of `op` if it is a depthwise conv (one input channel per output channel). */
function depthwise(op: Op | undefined, byId: ReadonlyMap<ValueId, Op>): Depthwise | null {
  if (op?.op !== 'conv2d' || op.type.shape.length !== 4) return null;
  const [, c, h, w] = byId.get(op.operands[0]!)!.type.shape as [unknown, number, number, number];
  const [co, cig, kh, kw] = byId.get(op.operands[1]!)!.type.shape as [number, number, number, number];
  const [, , oh, ow] = op.type.shape as [unknown, number, number, number];
  if (op.attrs.groups !== c || co !== c || cig !== 1) return null;
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
    `  let xs = i % ${segments}u;`,
    `  let y = (i / ${segments}u) % ${oh}u;`,
    `  let c = (i / ${segments * oh}u) % ${channels}u;`,
    `  let b = i / ${segments * oh * channels}u;`,
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
  const memo = new Map<string, string>();
  const stores: string[] = [];
  for (let j = 0; j < tx; j++) {
    // Clamped so the epilogue's reads stay in bounds for the idle outputs of the last segment.
    body.push(`  let ox${j} = min(x0 + ${j}u, ${ow - 1}u);`);
    const at = ['b', 'c', 'y', `ox${j}`];
    accumulators.set(at.join(), `a${j}`);
    const value = writer.inline(unit.result, at, body, memo);
    stores.push(
      `  if (x0 + ${j}u < ${ow}u) {`,
      `    arena[${offsetExpr(0)} + ((b * ${channels}u + c) * ${oh}u + y) * ${ow}u + x0 + ${j}u] = ${value};`,
      '  }',
    );
  }
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

/** Invocations per PolyConv workgroup to aim for, and its workgroup memory (WebGPU's default 16 KiB). */
const POLYCONV_INVOCATIONS = 128;
const SHARED_FLOATS = 4096;

/**
 * PolyConv `dw3(m)`, m = dw1(b) * flip(dw2(b)) (flip over channels, so channel c multiplies dw1 of
 * channel c by dw2 of channel C-1-c). A workgroup computes a tile of `gy` rows by `gx * tx` columns
 * for each of `gc` channels (several channels per workgroup when images are small):
 * 1. it copies the two input tiles of b (channels c and C-1-c, with the halos dw1, dw2 and dw3 need)
 *    into workgroup memory, each element read from the arena once;
 * 2. it computes m over the output tile and dw3's halo, zero outside the image (dw3's padding):
 *    each element once, a row segment per invocation step with sliding windows over the staged b;
 * 3. each invocation computes `tx` outputs of one row from the staged m, with dw3's weights in
 *    registers and a sliding window per kernel row.
 * Returns null unless the unit has exactly this shape with "same" stride-1 convolutions.
 */
export function renderPolyconv(unit: Unit): RenderedKernel | null {
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
