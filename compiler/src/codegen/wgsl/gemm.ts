import type { Dim, Op, ValueId } from '../../ir/types.js';
import {
  blocksOf,
  ExprWriter,
  elementIndex,
  offsetExpr,
  type Source,
  splitInvocation,
  withLayout,
} from './expr.js';
import type { RenderedKernel, Unit } from './kernels.js';

/**
 * Register-blocked GEMM for pointwise convolutions (1x1, stride 1, groups 1) with whatever prologue
 * and epilogue fusion put around them. In NCHW a pointwise conv is `Y[b] = W · X[b]` with W of
 * [Cout, K] and X[b] of [K, H*W], so one invocation computes a tile of `channels` output channels x
 * PIXELS consecutive pixels (flattened H*W), the layout onnxruntime's MatMul uses:
 *
 * - accumulators are named `vec4` variables, one per (conv, output channel), over the 4 pixels
 *   (an indexed array spills);
 * - each step of the K loop reads X as vec4 over 4 pixels (4 rows, k..k+3) and each weight row as
 *   vec4 over k..k+3: both are contiguous in the tensors' logical layouts, so the weights need no
 *   re-layout (and the packed buffer stays what the CPU backend of generated packages reads);
 * - the tile's result is stored as vec4 over its pixels, contiguous in NCHW.
 *
 * The epilogue is the unit evaluated by the expression writer at each (channel, pixel) of the tile
 * with the conv's value "anchored" to an accumulator: LayerNorm's rank-1 correction, the PolyMLP
 * product of two halves of one conv (two accumulators per channel), scales, residuals. Per-pixel
 * channel means of the conv's input (LayerNorm statistics folded into the GEMM) are accumulated in
 * the same K loop, from the same loads; activations the epilogue reads at the tile's pixels
 * (residuals) are one vec4 load per channel. Anything the anchors do not cover is computed by the
 * writer as usual, so an unusual unit is slower, never wrong.
 *
 * Storage is declared `array<vec4<f32>>`; vector loads need: arena offsets multiples of 4 (the
 * planner aligns to 16, buildPlan checks), weight slots multiples of 4 (plan.ts pads them), H*W and K multiples of 4.
 * Otherwise the kernel reads scalars (`buf[i >> 2u][i & 3u]`) at clamped coordinates and guards its
 * stores.
 *
 * Layouts (the IR records them, assign-layouts chooses): an NC4HW4 X is read as vec4s over 4 input
 * channels of each pixel (`channelLoop`), contiguous whatever H*W is; an NC4HW4 result is stored
 * as vec4s over 4 output channels of a pixel (`blockStores`), an NC4HW4 residual read the same
 * way. Any other read goes through the expression writer, which addresses every layout.
 */

/** Pixels per invocation: one vec4. */
export const PIXELS = 4;

/**
 * The most vec4 accumulators an invocation keeps. Measured on SwiftShader (96->192 at 56x56):
 * 8 channels x 4 pixels beats 4x4 and 8x8, and 16x4 spills; a real GPU has registers for 32
 * accumulators per invocation at a workgroup of 64 too (see `npm run bench:kernels -- --only gemm`).
 */
const MAX_ACCUMULATORS = 8;

export const LANES = ['x', 'y', 'z', 'w'] as const;

type Conv = Op & { op: 'conv2d' };

export interface GemmOptions {
  /** Output channels per invocation, overriding the rule (benchmarks). */
  readonly channels?: number;
}

/**
 * A pointwise conv of `x`'s pixels: 1x1, stride 1, no padding, groups 1, output of `h` x `w`.
 * The GEMM and tile templates anchor such convs to accumulators.
 */
export function isPointwise(o: Op, byId: ReadonlyMap<ValueId, Op>, h: number, w: number): o is Conv {
  if (o.op !== 'conv2d') return false;
  const ws = byId.get(o.operands[1]!)?.type.shape;
  const { stride, pad, dilation, groups } = o.attrs;
  return (
    groups === 1 &&
    [...stride, ...dilation].every((s) => s === 1) &&
    pad.every((p) => p === 0) &&
    ws?.[2] === 1 &&
    ws[3] === 1 &&
    o.type.shape[2] === h &&
    o.type.shape[3] === w
  );
}

/** The `arg` op `id` reads a kernel operand: where it lives. */
export function sourceOf(unit: Unit, byId: ReadonlyMap<ValueId, Op>, id: ValueId): Source | null {
  const o = byId.get(id);
  return o?.op === 'arg' ? (unit.sources[o.attrs.index] ?? null) : null;
}

/**
 * A register tile's computation: the value `root` at `tile` output channels (`c0`, `c1`, …) x
 * PIXELS pixels (`p<q>` at `y<q>`, `x<q>`, from `pbase`) of image `b`, with the pointwise convs in
 * `convs` (all of input `xId`, `k` channels) anchored to vec4 accumulators over the pixels.
 */
export interface TileSpec {
  readonly unit: Unit;
  readonly byId: ReadonlyMap<ValueId, Op>;
  readonly root: ValueId;
  readonly convs: ReadonlySet<ValueId>;
  readonly xId: ValueId;
  readonly k: number;
  readonly h: number;
  readonly w: number;
  /**
   * NCHW arena values at the tile's pixels are read as one vec4 per channel (H*W a multiple of 4).
   * NC4HW4 ones are read as one vec4 per block of 4 channels and pixel whatever this says (tiles of
   * a multiple of 4 channels, starting at `cb * tile`).
   */
  readonly vecRows: boolean;
  /**
   * Anchors tried before the accumulators, rows and statistics: `op`'s value at coordinates `c`,
   * pixel `q` of the tile, or null.
   */
  readonly anchor?: (op: Op, c: readonly string[], q: number) => string | null;
}

export interface Accumulator {
  readonly conv: Conv;
  /** The output channel's WGSL expression. */
  readonly channel: string;
  readonly name: string;
}

export interface Sweep {
  readonly writer: ExprWriter;
  readonly accs: readonly Accumulator[];
  /** Per-pixel sums of X (`s1`) and X² (`s2`) that the K loop must gather. */
  readonly stats: { readonly s1: boolean; readonly s2: boolean };
  /** Statements computing the tile's values after the K loop. */
  readonly epilogue: readonly string[];
  /** values[j][q]: channel `c<j>`, pixel q. */
  readonly values: readonly (readonly string[])[];
}

/**
 * One sweep over the tile: the epilogue's statements (the unit evaluated by the expression writer at
 * each (channel, pixel) with the convs anchored to accumulators) and what the K loop must
 * accumulate.
 */
export function sweepTile(spec: TileSpec, tile: number): Sweep {
  const { unit, byId, h, w, k } = spec;
  const hw = h * w;
  /** Which of the tile's pixels coordinates (y, x) name; size-1 axes are read at '0u'. */
  const pixelOf = (y: string, x: string): number => {
    for (let q = 0; q < PIXELS; q++) {
      if ((y === `y${q}` || (h === 1 && y === '0u')) && (x === `x${q}` || (w === 1 && x === '0u'))) return q;
    }
    return -1;
  };
  /** Is `o` the input of the convs, or its square (the LayerNorm statistics' operands)? */
  const isX = (id: ValueId) => id === spec.xId;
  const isX2 = (id: ValueId) => {
    const o = byId.get(id);
    return o?.op === 'mul' && isX(o.operands[0]!) && isX(o.operands[1]!);
  };
  const accs = new Map<string, Accumulator>();
  /** Rows of arena operands the epilogue reads at the tile's pixels (residuals): one vec4 each. */
  const rows = new Map<string, string>();
  const rowLoads: string[] = [];
  const stats = { s1: false, s2: false };
  const anchor = (op: Op, c: readonly string[]): string | null => {
    if (c.length !== 4 || c[0] !== 'b') return null;
    const q = pixelOf(c[2]!, c[3]!);
    if (q < 0) return null;
    const own = spec.anchor?.(op, c, q);
    if (own != null) return own;
    if (spec.convs.has(op.id)) {
      const key = `${op.id}@${c[1]}`;
      let acc = accs.get(key);
      if (!acc) {
        acc = { conv: op as Conv, channel: c[1]!, name: `a${accs.size}` };
        accs.set(key, acc);
      }
      return `${acc.name}.${LANES[q]}`;
    }
    const src = sourceOf(unit, byId, op.id);
    const shape = op.type.shape;
    const here = src?.buffer === 'arena' && shape.length === 4 && shape[2] === h && shape[3] === w;
    const j = /^c(\d+)$/.exec(c[1]!)?.[1];
    if (here && src.layout === 'nc4hw4' && tile % 4 === 0 && j !== undefined) {
      // A block of 4 channels at one pixel is one vec4: channel c<j> is lane j % 4 of block j / 4
      // of the tile (tile channels start at a multiple of 4, `cb * tile`). Blocks past the
      // operand's last (clamped channels, whose values are never stored) read its last block.
      const blocks = blocksOf(shape[1] as number);
      const block = Math.floor(Number(j) / 4);
      const key = `${op.id}@b${block}@${q}`;
      let row = rows.get(key);
      if (!row) {
        row = `e${rows.size}`;
        rows.set(key, row);
        const blk = `min(cb * ${tile / 4}u + ${block}u, ${blocks - 1}u)`;
        const at = `${offsetExpr(src.slot)} + ((b * ${blocks}u + ${blk}) * ${hw}u + p${q}) * 4u`;
        rowLoads.push(`  let ${row} = arena[(${at}) >> 2u];`);
      }
      return `${row}.${LANES[Number(j) % 4]}`;
    }
    if (spec.vecRows && here && src.layout === undefined) {
      const key = `${op.id}@${c[1]}`;
      let row = rows.get(key);
      if (!row) {
        row = `e${rows.size}`;
        rows.set(key, row);
        const at = `${offsetExpr(src.slot)} + b * ${(shape[1] as number) * hw}u + ${c[1]} * ${hw}u + pbase`;
        rowLoads.push(`  let ${row} = arena[(${at}) >> 2u];`);
      }
      return `${row}.${LANES[q]}`;
    }
    if ((op.op === 'mean' || op.op === 'sum') && op.attrs.keepdims && c[1] === '0u') {
      const { axes } = op.attrs;
      if (axes.length !== 1 || axes[0] !== 1) return null;
      const x = op.operands[0]!;
      const s = isX(x) ? 's1' : isX2(x) ? 's2' : null;
      if (!s) return null;
      stats[s] = true;
      return op.op === 'mean' ? `(${s}.${LANES[q]} / ${k}.0)` : `${s}.${LANES[q]}`;
    }
    return null;
  };
  const writer = new ExprWriter(unit.ops, unit.sources, { vec4Storage: true, anchor });
  const epilogue: string[] = [];
  const memo = new Map<string, string>();
  const values: string[][] = [];
  for (let j = 0; j < tile; j++) {
    values.push(
      Array.from({ length: PIXELS }, (_, q) =>
        writer.inline(spec.root, ['b', `c${j}`, `y${q}`, `x${q}`], epilogue, memo),
      ),
    );
  }
  return { writer, accs: [...accs.values()], stats, epilogue: [...rowLoads, ...epilogue], values };
}

/**
 * The tile's coordinates and accumulators, given `pbase` and `b`: its channels `c<j>` of block `cb`
 * clamped to `channels` (every read is in range; stores are guarded), its pixels clamped to H*W, the
 * weight row of each accumulator, and the accumulators and statistics set to zero.
 */
export function tileHead(spec: TileSpec, sweep: Sweep, channels: number): string[] {
  const { unit, byId, h, w, k } = spec;
  const tile = sweep.values.length;
  const weightBase = (conv: Conv) => offsetExpr(sourceOf(unit, byId, conv.operands[1]!)!.slot);
  return [
    ...Array.from({ length: tile }, (_, j) => `  let c${j} = min(cb * ${tile}u + ${j}u, ${channels - 1}u);`),
    ...Array.from({ length: PIXELS }, (_, q) =>
      [
        `  let p${q} = min(pbase + ${q}u, ${h * w - 1}u);`,
        `  let y${q} = p${q} / ${w}u;`,
        `  let x${q} = p${q} % ${w}u;`,
      ].join('\n'),
    ),
    ...sweep.accs.map((a) => `  let r${a.name} = ${weightBase(a.conv)} + ${a.channel} * ${k}u;`),
    ...sweep.accs.map((a) => `  var ${a.name} = vec4<f32>(0.0);`),
    ...(['s1', 's2'] as const).filter((s) => sweep.stats[s]).map((s) => `  var ${s} = vec4<f32>(0.0);`),
  ];
}

/**
 * The K loop: `loadX(kk)` is X at input channel `kk` over the tile's pixels (a vec4); weight rows are
 * read as vec4 over k..k+3 when K is a multiple of 4 (`ldw` scalars otherwise).
 */
export function kLoop(sweep: Sweep, k: number, loadX: (kk: string) => string): string[] {
  const { accs, stats } = sweep;
  const loop: string[] = [];
  if (k % 4 === 0) {
    loop.push(`  for (var k = 0u; k < ${k}u; k += 4u) {`);
    for (let u = 0; u < 4; u++) loop.push(`    let x${u}k = ${loadX(u === 0 ? 'k' : `(k + ${u}u)`)};`);
    if (stats.s1) loop.push('    s1 += (x0k + x1k) + (x2k + x3k);');
    if (stats.s2) loop.push('    s2 += (x0k * x0k + x1k * x1k) + (x2k * x2k + x3k * x3k);');
    for (const a of accs) {
      loop.push(`    let w${a.name} = weights[(r${a.name} + k) >> 2u];`);
      for (let u = 0; u < 4; u++) loop.push(`    ${a.name} += x${u}k * w${a.name}.${LANES[u]};`);
    }
  } else {
    loop.push(`  for (var k = 0u; k < ${k}u; k++) {`, `    let xk = ${loadX('k')};`);
    if (stats.s1) loop.push('    s1 += xk;');
    if (stats.s2) loop.push('    s2 += xk * xk;');
    for (const a of accs) loop.push(`    ${a.name} += xk * ldw(r${a.name} + k);`);
  }
  loop.push('  }');
  return loop;
}

/** X of an arena tensor (`xb`: its image's base) at input channel `kk` over the tile's pixels. */
export function arenaRows(hw: number, vector: boolean): (kk: string) => string {
  return (kk) =>
    vector
      ? `arena[(xb + ${kk} * ${hw}u + pbase) >> 2u]`
      : `vec4<f32>(${Array.from({ length: PIXELS }, (_, q) => `ld(xb + ${kk} * ${hw}u + p${q})`).join(', ')})`;
}

/**
 * The GEMM kernel for `unit`, or null when its root is not a rank-4 value that a pointwise conv of
 * an arena tensor by a weight tensor (inside the unit) produces per pixel.
 */
export function renderGemm(
  unit: Unit,
  prelude: string,
  workgroupSize: number,
  options: GemmOptions = {},
): RenderedKernel | null {
  if (unit.family !== 'gemm' && unit.family !== 'conv2d') return null;
  const byId = new Map(unit.ops.map((o) => [o.id, o]));
  const root = byId.get(unit.result);
  if (root?.type.shape.length !== 4) return null;
  const [, channels, h, w] = root.type.shape as [Dim, number, number, number];
  const hw = h * w;
  const fromArena = (o: Op): o is Conv =>
    isPointwise(o, byId, h, w) &&
    sourceOf(unit, byId, o.operands[0]!)?.buffer === 'arena' &&
    sourceOf(unit, byId, o.operands[1]!)?.buffer === 'weights';
  const main = unit.ops.find(fromArena);
  if (!main) return null;
  const xId = main.operands[0]!;
  const k = byId.get(xId)!.type.shape[1] as number;
  const convs = new Set(unit.ops.filter((o) => fromArena(o) && o.operands[0] === xId).map((o) => o.id));
  /** X in NC4HW4: each K step reads 4 input channels of a pixel as one vec4, whatever H*W is. */
  const chanX = sourceOf(unit, byId, xId)!.layout === 'nc4hw4';
  /** X in NCHW with H*W a multiple of 4: each K step reads 4 pixels of a channel as one vec4. */
  const vecX = !chanX && hw % PIXELS === 0;
  const spec: TileSpec = { unit, byId, root: unit.result, convs, xId, k, h, w, vecRows: hw % PIXELS === 0 };

  const tile = options.channels ?? chooseChannels(channels, sweepTile(spec, 1).accs.length);
  const sweep = sweepTile(spec, tile);
  const blocks = Math.ceil(channels / tile);
  const pixelBlocks = Math.ceil(hw / PIXELS);

  const head = [
    // Adjacent invocations take adjacent pixels: coalesced reads of X and stores of Y, and a
    // workgroup mostly shares its weight rows.
    ...splitInvocation([
      ['pb', pixelBlocks],
      ['cb', blocks],
    ]),
    `  let pbase = pb * ${PIXELS}u;`,
    `  let xb = ${offsetExpr(sourceOf(unit, byId, xId)!.slot)} + b * ${(chanX ? blocksOf(k) * 4 : k) * hw}u;`,
    ...tileHead(spec, sweep, channels),
  ];
  const outType = withLayout(root.type, unit.layout);
  const stores =
    unit.layout === 'nc4hw4' && tile % 4 === 0
      ? blockStores(sweep.values, channels, hw)
      : [
          `  let ob = ${offsetExpr(0)} + b * ${channels * hw}u;`,
          ...tileStores(sweep.values, channels, {
            at: (j) => `ob + c${j} * ${hw}u + pbase`,
            vector: hw % PIXELS === 0,
            inRange: (q) => `pbase + ${q}u < ${hw}u`,
            ...(unit.layout && {
              element: (j: number, q: number) =>
                `${offsetExpr(0)} + ${elementIndex(outType, ['b', `c${j}`, `y${q}`, `x${q}`])}`,
            }),
          }),
        ];

  const loop = chanX ? channelLoop(sweep, k, hw) : kLoop(sweep, k, arenaRows(hw, vecX));
  const wgsl = tiledKernel(
    prelude,
    sweep.writer.functions(),
    workgroupSize,
    { ld: !vecX && !chanX, ldw: k % 4 !== 0 },
    [...head, ...loop, ...sweep.epilogue, ...stores],
  );
  return {
    name: `${unit.family}_${channels}x${h}x${w}_k${k}_${tile}x${PIXELS}`,
    wgsl: `${wgsl}\n`,
    workgroupSize,
    invocationsPerBatch: blocks * pixelBlocks,
  };
}

/**
 * The K loop over an NC4HW4 X: per step, one vec4 of 4 input channels at each of the tile's pixels
 * (contiguous whatever H*W is), and per accumulator one weight vec4 over the same 4 channels (a
 * vector load when K % 4 == 0, the rows then aligned); each pixel's partial sum is a dot product.
 * When K % 4 != 0 the last, partial block is read after the loop with its padding lanes zeroed by
 * `select` (padding holds whatever the arena held: possibly NaN, which a zero weight would not
 * cancel).
 */
function channelLoop(sweep: Sweep, k: number, hw: number): string[] {
  const { accs, stats } = sweep;
  const vecW = k % 4 === 0;
  const full = k - (k % 4);
  const step = (kk: string, lanes: number, indent: string): string[] => {
    const mask = `vec4<bool>(${LANES.map((_, u) => u < lanes).join(', ')})`;
    const lines = Array.from({ length: PIXELS }, (_, q) => {
      const load = `arena[(xb + ${kk} * ${hw}u + p${q} * 4u) >> 2u]`;
      return `let xq${q} = ${lanes === 4 ? load : `select(vec4<f32>(0.0), ${load}, ${mask})`};`;
    });
    const each = (f: (x: string) => string) =>
      `vec4<f32>(${Array.from({ length: PIXELS }, (_, q) => f(`xq${q}`)).join(', ')})`;
    if (stats.s1) lines.push(`s1 += ${each((x) => `dot(${x}, vec4<f32>(1.0))`)};`);
    if (stats.s2) lines.push(`s2 += ${each((x) => `dot(${x}, ${x})`)};`);
    for (const a of accs) {
      const w =
        vecW && lanes === 4
          ? `weights[(r${a.name} + ${kk}) >> 2u]`
          : `vec4<f32>(${LANES.map((_, u) => (u < lanes ? `ldw(r${a.name} + ${kk} + ${u}u)` : '0.0')).join(', ')})`;
      lines.push(`let w${a.name} = ${w};`, `${a.name} += ${each((x) => `dot(${x}, w${a.name})`)};`);
    }
    return lines.map((l) => `${indent}${l}`);
  };
  const lines: string[] = [];
  if (full > 0) lines.push(`  for (var k = 0u; k < ${full}u; k += 4u) {`, ...step('k', 4, '    '), '  }');
  if (k % 4 !== 0) lines.push('  {', ...step(`${full}u`, k % 4, '    '), '  }');
  return lines;
}

/**
 * The stores of a tile into an NC4HW4 result: per block of 4 of the tile's channels and pixel, one
 * vec4 (the tile starts at a multiple of 4 channels). The last block's padding lanes get the
 * clamped channels' values: finite, never read as data.
 */
function blockStores(values: readonly (readonly string[])[], channels: number, hw: number): string[] {
  const blocks = blocksOf(channels);
  const tile = values.length;
  const lines = [`  let ob = ${offsetExpr(0)} + b * ${blocks * 4 * hw}u;`];
  for (let jb = 0; jb < tile / 4; jb++) {
    const block = `cb * ${tile / 4}u + ${jb}u`;
    for (let q = 0; q < PIXELS; q++) {
      const v = `vec4<f32>(${[0, 1, 2, 3].map((u) => values[jb * 4 + u]![q]).join(', ')})`;
      lines.push(
        `  if (${block} < ${blocks}u && pbase + ${q}u < ${hw}u) {`,
        `    arena[(ob + ((${block}) * ${hw}u + p${q}) * 4u) >> 2u] = ${v};`,
        '  }',
      );
    }
  }
  return lines;
}

/**
 * Output channels per invocation: as many as MAX_ACCUMULATORS allows given the accumulators each
 * channel needs (two for a PolyMLP product of halves), a power of two; halved while that wastes
 * guarded work on a channel count it does not divide, down to 4; never above what `channels` needs.
 */
export function chooseChannels(channels: number, perChannel: number): number {
  let t = 1;
  while (t * 2 * Math.max(1, perChannel) <= MAX_ACCUMULATORS) t *= 2;
  while (t > 4 && channels % t !== 0) t /= 2;
  while (t > 1 && t / 2 >= channels) t /= 2;
  return t;
}

/**
 * The stores of a tile of `values[j][q]` (output channel `c<j>`, pixel q of PIXELS consecutive ones
 * starting at `at(j)`): one vec4 store per channel when `vector` (aligned, all pixels in range), else
 * scalar stores guarded by `inRange(q)`; channels past `channels` (the tile's clamped ones) skipped.
 */
export function tileStores(
  values: readonly (readonly string[])[],
  channels: number,
  where: {
    at: (j: number) => string;
    vector: boolean;
    inRange: (q: number) => string;
    /** The index of element (j, q) when it is not `at(j) + q` (a layout other than NCHW): scalar stores. */
    element?: (j: number, q: number) => string;
    /** The vec4 stored to at a vec4 index (default the arena's). */
    vec4At?: (index: string) => string;
  },
): string[] {
  const tile = values.length;
  const at = where.vec4At ?? ((i: string) => `arena[${i}]`);
  const element = where.element ?? ((j: number, q: number) => `${where.at(j)} + ${q}u`);
  return values.map((row, j) => {
    const body =
      where.vector && !where.element
        ? [`${at(`(${where.at(j)}) >> 2u`)} = vec4<f32>(${row.join(', ')});`]
        : row.map(
            (v, q) =>
              `if (${where.inRange(q)}) { let o = ${element(j, q)}; ${at('o >> 2u')}[o & 3u] = ${v}; }`,
          );
    const guard = channels % tile === 0 ? null : `cb * ${tile}u + ${j}u < ${channels}u`;
    return guard
      ? `  if (${guard}) {\n${body.map((s) => `    ${s}`).join('\n')}\n  }`
      : body.map((s) => `  ${s}`).join('\n');
  });
}

/**
 * A register-tiled kernel's WGSL: the prelude (storage as vec4 arrays), scalar loaders where some
 * read is not a vector one (`ld` for the arena, `ldw` for the weights), the writer's functions and
 * an entry running `statements` once per invocation below `params.total`.
 */
export function tiledKernel(
  prelude: string,
  /** The expression writer's functions. */
  functions: string,
  workgroupSize: number,
  loaders: { readonly ld: boolean; readonly ldw: boolean },
  statements: readonly string[],
): string {
  const entry = `@compute @workgroup_size(${workgroupSize})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${workgroupSize}u;
  if (i >= params.total) {
    return;
  }
${statements.join('\n')}
}`;
  return [prelude, ...loaderFunctions(loaders), functions, entry].filter((s) => s).join('\n\n');
}

/** Scalar reads of vec4 storage: `ld` for the arena, `ldw` for the weights, where asked for. */
export function loaderFunctions(loaders: { readonly ld: boolean; readonly ldw: boolean }): string[] {
  return [
    loaders.ld ? 'fn ld(i: u32) -> f32 {\n  return arena[i >> 2u][i & 3u];\n}' : '',
    loaders.ldw ? 'fn ldw(i: u32) -> f32 {\n  return weights[i >> 2u][i & 3u];\n}' : '',
  ];
}
