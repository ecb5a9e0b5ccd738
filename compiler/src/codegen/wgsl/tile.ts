import { InternalError } from '../../diagnostics/diagnostic.js';
import {
  type Dim,
  type Op,
  TILE_MAX_CHANNELS,
  type ValueId,
  WORKGROUP_STORAGE_BYTES,
} from '../../ir/types.js';
import { allNchw, f32Literal, offsetExpr } from './expr.js';
import {
  arenaRows,
  chooseChannels,
  isPointwise,
  kLoop,
  LANES,
  loaderFunctions,
  PIXELS,
  type Sweep,
  sourceOf,
  sweepTile,
  type TileSpec,
  tileHead,
  tileStores,
} from './gemm.js';
import type { RenderedKernel, Unit } from './kernels.js';

/**
 * Invocations per workgroup of a tile kernel: one warp (NVIDIA, AMD's wave32, Apple's SIMD group).
 * A tile's items are independent register tiles, so a smaller workgroup runs the same tile in more
 * rounds, and half as many invocations wait at each barrier. SwiftShader runs a kernel with
 * barriers as one coroutine per subgroup of 4 invocations, switching between them at each barrier,
 * and that costs more the more subgroups a workgroup has: a GEMM with one barrier takes 1.3x its
 * time without it at 64 invocations, 1.05x at 16; the PolyMLP's tile kernel at 14x14 runs about
 * 7-10% faster at 32 than at 64, the PolyConv end's 15% (`bench/kernels.ts --only tile`).
 */
export const TILE_WORKGROUP_SIZE = 32;

/**
 * The round `tileBlocks` sizes tiles for, at least: a tile of 32 invocations covers the same
 * pixels as one of 64 (the same number of workgroups per image), in twice the rounds.
 */
const TILE_ROUND = 64;

/**
 * `tile` regions (fuse-kernels): a pointwise conv whose value S a channel LayerNorm, per-pixel
 * channel statistics or a second pointwise conv of the same region reads across all of S's
 * channels. A workgroup owns a tile of TP consecutive pixels (flattened H*W) of one image, all
 * channels:
 *
 * 1. S for the whole tile into workgroup memory (`ws`, channel-major, vec4 over 4 pixels): the
 *    register-blocked GEMM of gemm.ts (several channels x a vec4 of pixels per invocation, looping
 *    over the tile's (channel block, pixel block) items), its epilogue up to S included (the
 *    PolyMLP product of two halves, a cell's scaled sum); when the rest reads S's statistics, each
 *    item also writes its own per pixel (`partials`: the sum over its channels and the squared
 *    deviations from their mean, exact, from the values in registers).
 * 2. Per pixel block, the mean and variance of S merged from those partials (`merged`), when the
 *    rest reads them: a few vec4 reads per pixel block rather than two passes over all C_S staged
 *    values per pixel.
 * 3. The region's root for the tile: again the GEMM machinery, its K loop over S in workgroup
 *    memory when a second pointwise conv reads S (or S's LayerNorm), else no K loop; the LayerNorm,
 *    the channel means of S and S², and the variance E[S²] - E[S]² (layernorm-into-gemm's form)
 *    anchored to the merged statistics, everything else (rank-1 correction, `* r + p`) in
 *    registers; each output stored once, vec4 along pixels (NCHW) where H*W allows.
 *
 * Every read of S in stage 3 is a vec4 over a pixel block that the invocations of that pixel
 * block share (a broadcast) and neighbouring pixel blocks read neighbouring vec4s: no bank
 * conflicts. `tileBlocks` sizes the tile so that few invocations idle in stages 1 and 3.
 * Workgroup memory holds TP * (C_S + 2 * ceil(C_S / tile) + 2) floats (S, the partials, the
 * merged statistics) within WORKGROUP_STORAGE_BYTES (TILE_MAX_CHANNELS bounds C_S so that TP = 4
 * fits with tiles of 4 channels or more). Barriers stay in uniform control flow: the only early
 * return tests the workgroup's index; invocations past the image's last pixel skip their items.
 *
 * Returns null (the generic path) unless the unit has that shape.
 */
export function renderTile(unit: Unit, prelude: string, workgroupSize: number): RenderedKernel | null {
  if (unit.family !== 'tile') return null;
  // Its reads and stores address NCHW. 'tile' has no entry in assign-layouts' capability table, so
  // every value a tile kernel reads or writes stays NCHW; should one not, the generic path (which
  // addresses every layout) renders the unit.
  if (!allNchw(unit.sources, unit.layout)) return null;
  const byId = new Map(unit.ops.map((o) => [o.id, o]));
  const root = byId.get(unit.result);
  if (root?.type.shape.length !== 4) return null;
  const [, channels, h, w] = root.type.shape as [Dim, number, number, number];
  const hw = h * w;
  const withWeights = (o: Op) => sourceOf(unit, byId, o.operands[1]!)?.buffer === 'weights';
  const gemms = unit.ops.filter((o) => isPointwise(o, byId, h, w) && withWeights(o));
  const first = gemms.find((o) => sourceOf(unit, byId, o.operands[0]!)?.buffer === 'arena');
  const second = gemms.find((o) => sourceOf(unit, byId, o.operands[0]!) === null);
  const lns = unit.ops.filter((o): o is Op & { op: 'layernorm2d' } => o.op === 'layernorm2d');
  if (!first || lns.length > 1) return null;
  const ln = lns[0];
  // The staged value: the LayerNorm's input, else what the second conv reads.
  const sId = ln ? ln.operands[0]! : second?.operands[0];
  if (sId === undefined) return null;
  if (second && second.operands[0] !== sId && second.operands[0] !== ln?.id) return null;
  const sShape = byId.get(sId)!.type.shape;
  if (sShape.length !== 4 || sShape[2] !== h || sShape[3] !== w) return null;
  const cs = sShape[1] as number;
  if (cs > TILE_MAX_CHANNELS) return null;

  // Pixel blocks (of PIXELS) per tile: chosen once the channel tiles are known (below).
  let blocks = 0;
  const vecX = hw % PIXELS === 0;
  const x1 = first.operands[0]!;
  const k1 = byId.get(x1)!.type.shape[1] as number;
  const convsOf = (x: ValueId) => new Set(gemms.filter((o) => o.operands[0] === x).map((o) => o.id));

  /** The vec4 of S at a vec4 index of the tile, channel-major (see `memory`). */
  const staged4 = (i: string) => `ws[(${i}) >> 2u][(${i}) & 3u]`;

  // Stage 1: S at the tile's (channel, pixel) items, and the item's statistics of S per pixel
  // (`partials`) when stage 3 reads them.
  const spec1: TileSpec = { unit, byId, root: sId, convs: convsOf(x1), xId: x1, k: k1, h, w, vecRows: vecX };
  const probe1 = sweepTile(spec1, 1);
  const tile1 = chooseChannels(cs, probe1.accs.length);
  const cb1 = Math.ceil(cs / tile1);
  const stage1 = (sweep1: Sweep) => [
    ...tileHead(spec1, sweep1, cs),
    ...kLoop(sweep1, k1, arenaRows(hw, vecX)),
    ...sweep1.epilogue,
    ...sweep1.values.map((row, j) => `  let sv${j} = vec4<f32>(${row.join(', ')});`),
    ...tileStores(
      sweep1.values.map((_, j) => LANES.map((l) => `sv${j}.${l}`)),
      cs,
      {
        vec4At: staged4,
        at: (j) => `c${j} * ${blocks * PIXELS}u + pbl * ${PIXELS}u`,
        vector: true,
        inRange: () => 'true',
      },
    ),
    ...(stats ? partials(tile1, cs, blocks) : []),
  ];

  // Stage 3: the root, reading S, its statistics and its LayerNorm from workgroup memory.
  // A LayerNorm always reads both (its `rs` is computed per item, before the K loop reads it).
  const uses = { mean: ln !== undefined, variance: ln !== undefined };
  const staged = (c: string, q: number) => `${staged4(`${c} * ${blocks}u + pbl`)}.${LANES[q]}`;
  const isStaged = (id: ValueId) => id === sId;
  const isChannelMean = (o: Op | undefined, x: (id: ValueId) => boolean): o is Op & { op: 'mean' } =>
    o?.op === 'mean' && o.attrs.keepdims && o.attrs.axes.join() === '1' && x(o.operands[0]!);
  const isSquare = (id: ValueId) => {
    const o = byId.get(id);
    return o?.op === 'mul' && isStaged(o.operands[0]!) && isStaged(o.operands[1]!);
  };
  const gain = ln?.operands[1] === undefined ? null : sourceOf(unit, byId, ln.operands[1]);
  if (ln?.operands[1] !== undefined && gain?.buffer !== 'weights') return null;
  /** The LayerNorm of S at channel `c`, pixel q. */
  const normalised = (value: string, c: string, q: number | null) => {
    const lane = q === null ? '' : `.${LANES[q]}`;
    const g = gain ? ` * ldw(${offsetExpr(gain.slot)} + ${c})` : '';
    return `((${value} - mu${lane}) * rs${lane}${g})`;
  };
  const anchor = (op: Op, c: readonly string[], q: number): string | null => {
    if (isStaged(op.id)) return staged(c[1]!, q);
    if (ln && op.id === ln.id) return normalised(staged(c[1]!, q), c[1]!, q);
    if (c[1] !== '0u') return null;
    if (isChannelMean(op, isStaged)) {
      uses.mean = true;
      return `mu.${LANES[q]}`;
    }
    if (isChannelMean(op, isSquare)) {
      uses.mean = uses.variance = true;
      return `(va.${LANES[q]} + mu.${LANES[q]} * mu.${LANES[q]})`;
    }
    // layernorm-into-gemm's variance E[S²] - E[S]²: the two-pass one, without the cancellation.
    const [a, b] = op.operands.map((x) => byId.get(x));
    if (
      op.op === 'sub' &&
      isChannelMean(a, isSquare) &&
      b?.op === 'mul' &&
      b.operands[0] === b.operands[1] &&
      isChannelMean(byId.get(b.operands[0]!), isStaged)
    ) {
      uses.mean = uses.variance = true;
      return `va.${LANES[q]}`;
    }
    return null;
  };
  const x2 = second?.operands[0] ?? sId;
  const spec3: TileSpec = {
    unit,
    byId,
    root: unit.result,
    convs: convsOf(x2),
    xId: x2,
    k: cs,
    h,
    w,
    vecRows: vecX,
    anchor,
  };
  const probe3 = sweepTile(spec3, 1);
  const tile3 = chooseChannels(channels, probe3.accs.length);
  // Known once the probe has evaluated stage 3's anchors.
  const stats = uses.mean || uses.variance;
  const floatsPerPixel = cs + (stats ? 2 * cb1 + 2 : 0);
  if (floatsPerPixel * PIXELS * 4 > WORKGROUP_STORAGE_BYTES) return null;
  const kLoop3 = probe3.accs.length > 0 || probe3.stats.s1 || probe3.stats.s2;
  blocks = tileBlocks(hw, Math.max(workgroupSize, TILE_ROUND), floatsPerPixel, [
    { items: cb1, cost: k1 * probe1.accs.length * tile1 + tile1 },
    {
      items: Math.ceil(channels / tile3),
      cost: (kLoop3 ? cs * probe3.accs.length * tile3 : 0) + tile3,
    },
  ]);
  const tp = blocks * PIXELS;
  const tiles = Math.ceil(hw / tp);
  const sweep1 = sweepTile(spec1, tile1);
  const sweep3 = sweepTile(spec3, tile3);
  const loadS = (kk: string) => {
    const v = staged4(`${kk} * ${blocks}u + pbl`);
    return x2 === sId ? v : normalised(v, kk, null);
  };
  const stage3 = [
    ...(uses.mean ? ['  let mu = smean[pbl];'] : []),
    ...(uses.variance ? ['  let va = svar[pbl];'] : []),
    ...(ln ? [`  let rs = 1.0 / sqrt(va + vec4<f32>(${f32Literal(ln.attrs.eps)}));`] : []),
    ...tileHead(spec3, sweep3, channels),
    ...(kLoop3 ? kLoop(sweep3, cs, loadS) : []),
    ...sweep3.epilogue,
    `  let ob = ${offsetExpr(0)} + b * ${channels * hw}u;`,
    ...tileStores(sweep3.values, channels, {
      at: (j) => `ob + c${j} * ${hw}u + pbase`,
      vector: vecX,
      inRange: (q) => `pbase + ${q}u < ${hw}u`,
    }),
  ];
  if (sweep3.stats.s1 || sweep3.stats.s2) throw new InternalError('tile: statistics of S in the K loop');

  /** A loop of `items` (channel block, pixel block) items over the workgroup's invocations. */
  const items = (sweep: { values: readonly unknown[] }, n: number, body: readonly string[]) => {
    const count = Math.ceil(n / sweep.values.length) * blocks;
    return [
      `  for (var item = li; item < ${count}u; item += ${workgroupSize}u) {`,
      `    let pbl = item % ${blocks}u;`,
      `    let cb = item / ${blocks}u;`,
      `    let pbase = tile * ${tp}u + pbl * ${PIXELS}u;`,
      `    if (pbase >= ${hw}u) {`,
      '      continue;',
      '    }',
      ...body.map((s) => `  ${s.replaceAll('\n', '\n  ')}`),
      '  }',
    ];
  };
  const memory = [
    // mat4x4 elements, 4 vec4s each: Dawn zero-initialises workgroup memory in a loop over its
    // elements (see runtime/src/device.ts), a quarter as many iterations as with vec4s.
    `var<workgroup> ws: array<mat4x4<f32>, ${Math.ceil((cs * blocks) / 4)}>;`,
    ...(stats
      ? [
          `var<workgroup> psum: array<vec4<f32>, ${cb1 * blocks}>;`,
          `var<workgroup> pm2: array<vec4<f32>, ${cb1 * blocks}>;`,
          `var<workgroup> smean: array<vec4<f32>, ${blocks}>;`,
          `var<workgroup> svar: array<vec4<f32>, ${blocks}>;`,
        ]
      : []),
  ].join('\n');
  const entry = `@compute @workgroup_size(${workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  // One workgroup per (image, tile): the condition is uniform across the workgroup.
  let g = wid.x + wid.y * nwg.x;
  if (g >= params.total / ${workgroupSize}u) {
    return;
  }
  let tile = g % ${tiles}u;
  let b = g / ${tiles}u;
  let xb = ${offsetExpr(sourceOf(unit, byId, x1)!.slot)} + b * ${k1 * hw}u;
${items(sweep1, cs, stage1(sweep1)).join('\n')}
  workgroupBarrier();
${stats ? [...merged(tile1, cs, blocks, workgroupSize), '  workgroupBarrier();'].join('\n') : ''}
${items(sweep3, channels, stage3).join('\n')}
}`;
  // Both sweeps' writers write the same function for a value: keep one of each.
  const functions = [
    ...new Set([sweep1.writer.functions(), sweep3.writer.functions()].flatMap((f) => f.split('\n\n'))),
  ];
  const wgsl = [prelude, memory, ...loaderFunctions({ ld: true, ldw: true }), ...functions, entry]
    .filter((s) => s)
    .join('\n\n');
  return {
    name: `tile_${channels}x${h}x${w}_s${cs}_k${k1}_p${tp}`,
    wgsl: `${wgsl}\n`,
    workgroupSize,
    invocationsPerBatch: tiles * workgroupSize,
  };
}

/**
 * Stage 1's statistics of its item: per pixel (a vec4 over the item's 4), the sum of S over the
 * item's valid channels (the last block of a channel count that `tile` does not divide has fewer;
 * its clamped channels repeat the last one) and the sum of squared deviations from their mean,
 * exactly in two passes over the values in registers (`sv<j>`). Stage 3 merges them (`merged`).
 */
function partials(tile: number, cs: number, blocks: number): string[] {
  // Channels of the tile that every block has: the last block has cs - (blocks - 1) * tile.
  const always = cs % tile === 0 ? tile : cs % tile;
  const valid = (j: number, v: string) =>
    j < always ? v : `select(vec4<f32>(0.0), ${v}, cb * ${tile}u + ${j}u < ${cs}u)`;
  const js = Array.from({ length: tile }, (_, j) => j);
  const n = always === tile ? `${tile}.0` : `f32(min(${tile}u, ${cs}u - cb * ${tile}u))`;
  return [
    `  let bsum = ${js.map((j) => valid(j, `sv${j}`)).join(' + ')};`,
    `  let bmean = bsum / ${n};`,
    ...js.map((j) => `  let bd${j} = ${valid(j, `sv${j} - bmean`)};`),
    `  pm2[cb * ${blocks}u + pbl] = ${js.map((j) => `bd${j} * bd${j}`).join(' + ')};`,
    `  psum[cb * ${blocks}u + pbl] = bsum;`,
  ];
}

/**
 * Stage 2: per pixel block of the tile (a vec4 over its pixels), the mean (`smean`) and variance
 * (`svar`) of S over its `cs` channels, merged from stage 1's partials (Chan et al.'s pairwise
 * update: M2 = the sum of the blocks' M2 plus n_j (mean_j - mean)^2, without the cancellation of
 * E[S^2] - E[S]^2). Blocks of `tile` channels, the last one of what is left. One invocation per
 * pixel block: ceil(cs / tile) vec4 reads of each partial, once per tile, rather than in each of
 * stage 3's items (there, every channel block of a pixel block would repeat them).
 */
function merged(tile: number, cs: number, blocks: number, workgroupSize: number): string[] {
  const nb = Math.ceil(cs / tile);
  const last = cs - (nb - 1) * tile;
  const full = last === tile ? nb : nb - 1;
  const at = (j: string) => `${j} * ${blocks}u + pbl`;
  const m2 = (j: string, n: number) => [
    `      let d = psum[${at(j)}] / ${n}.0 - mu;`,
    `      m2 += pm2[${at(j)}] + ${n}.0 * d * d;`,
  ];
  return [
    `  for (var pbl = li; pbl < ${blocks}u; pbl += ${workgroupSize}u) {`,
    '    var bs = vec4<f32>(0.0);',
    `    for (var j = 0u; j < ${nb}u; j++) {`,
    `      bs += psum[${at('j')}];`,
    '    }',
    `    let mu = bs / ${cs}.0;`,
    '    var m2 = vec4<f32>(0.0);',
    ...(full > 0 ? [`    for (var j = 0u; j < ${full}u; j++) {`, ...m2('j', tile), '    }'] : []),
    ...(full < nb ? ['    {', ...m2(`${nb - 1}u`, last), '    }'] : []),
    '    smean[pbl] = mu;',
    `    svar[pbl] = m2 / ${cs}.0;`,
    '  }',
  ];
}

/**
 * Pixel blocks (of PIXELS) per tile. An item is a (channel block, pixel block) of a stage; a
 * workgroup runs a stage's `items * blocks` items in rounds of `workgroupSize`, so invocations idle
 * in a stage's last round and in a tile past the image's last pixel. The rule takes the blocks
 * that waste the least work (each stage's items weighted by their `cost`), the fewest among
 * those within 2% of it (more tiles: an image spreads over more workgroups at batch 1), with at
 * most two rounds of the stage with the most items, no more blocks than the image needs and what
 * fits in workgroup memory at `floatsPerPixel`.
 */
export function tileBlocks(
  hw: number,
  workgroupSize: number,
  floatsPerPixel: number,
  stages: readonly { readonly items: number; readonly cost: number }[],
): number {
  const need = Math.ceil(hw / PIXELS);
  const fit = Math.floor(WORKGROUP_STORAGE_BYTES / 4 / floatsPerPixel / PIXELS);
  const most = Math.max(...stages.map((s) => s.items));
  const limit = Math.max(1, Math.min(need, fit, Math.floor((2 * workgroupSize) / most)));
  const ideal = stages.reduce((n, s) => n + s.items * s.cost, 0) * need;
  const efficiency = (blocks: number) =>
    ideal /
    (Math.ceil(need / blocks) *
      stages.reduce((n, s) => n + Math.ceil((s.items * blocks) / workgroupSize) * workgroupSize * s.cost, 0));
  const candidates = Array.from({ length: limit }, (_, i) => i + 1);
  const best = Math.max(...candidates.map(efficiency));
  return candidates.find((b) => efficiency(b) >= best - 0.02)!;
}
