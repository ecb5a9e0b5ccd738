import type { AnalysisContext } from '../analysis/context.js';
import { isElementwise } from '../ir/ops.js';
import { type Module, type Op, TILE_MAX_CHANNELS, type ValueId } from '../ir/types.js';
import { applyGroups, type Group, grow } from './fusion.js';
import type { Pass } from './pass.js';
import { Facts } from './patterns.js';

/**
 * Gives every remaining data-path anchor (a convolution or a LayerNorm) its prologue and epilogue:
 * - a pointwise conv becomes a GEMM kernel: the PolyMLP product of its two output halves, the
 *   LayerNorm statistics and rank-1 correction (see layernorm-into-gemm), scales, BN affine maps and
 *   the residual add all happen in registers;
 * - other convs (stem, depthwise, downsampling) and LayerNorms take the same elementwise prologue
 *   and epilogue (the cell input's scaled sum, the residual add);
 * - a pointwise conv (with its epilogue) whose value only one LayerNorm or GEMM unit reads, across
 *   channels, joins that unit as a `tile` region (see `tiles`);
 * - elementwise ops left over are grouped into elementwise kernels.
 */
export const fuseKernels: Pass = {
  name: 'fuse-kernels',
  summary:
    'fuse elementwise prologues and epilogues (PolyMLP product, LN stats, scales, residual adds) into convs, GEMMs and norms; a pointwise conv read across channels joins its LayerNorm or second GEMM (tile)',
  run(m: Module, ctx: AnalysisContext) {
    const f = new Facts(m, ctx);
    const claimed = new Set<number>();
    let groups: Group[] = [];
    const take = (g: Group | null): void => {
      if (!g || g.members.size < 2) return;
      groups.push(g);
      for (const id of g.members) claimed.add(id);
    };
    for (const op of m.ops) {
      if (claimed.has(op.id) || f.isConst(op.id)) continue;
      if (op.op === 'conv2d') take(grow(f, pointwise(f, op) ? 'gemm' : 'conv', [op.id], claimed));
      else if (op.op === 'layernorm2d') take(grow(f, 'norm', [op.id], claimed));
    }
    groups = tiles(m, f, groups);
    for (const g of groups) for (const id of g.members) claimed.add(id);
    for (const op of m.ops) {
      if (claimed.has(op.id) || f.isConst(op.id) || !isElementwise(op)) continue;
      take(grow(f, 'elementwise', [op.id], claimed));
    }
    return groups.length === 0 ? m : applyGroups(m, f, groups);
  },
};

/** A 1x1 conv with stride 1 and groups 1: a GEMM over the pixels. */
function pointwise(f: Facts, op: Op & { op: 'conv2d' }): boolean {
  return (
    op.attrs.groups === 1 &&
    (f.def(op.operands[1]!).type.shape as number[]).slice(2).every((k) => k === 1) &&
    op.attrs.stride.every((s) => s === 1)
  );
}

/** A pointwise conv of data by a load-time weight, with no padding: what a tile kernel multiplies. */
function tileConv(f: Facts, op: Op): boolean {
  return (
    op.op === 'conv2d' && pointwise(f, op) && op.attrs.pad.every((p) => p === 0) && f.isConst(op.operands[1]!)
  );
}

/**
 * Merges a producer P (a GEMM group, or a lone pointwise conv) into the unit C (a norm or GEMM
 * group, or a lone LayerNorm) when C holds every user of P's result R and reads R across channels:
 * a LayerNorm, a per-pixel channel mean or sum, or a pointwise conv whose input is R or one of C's
 * elementwise ops. The kernel then computes the value that is read across channels for a tile of
 * pixels into workgroup memory and finishes C from there: one dispatch and no round trip of R
 * through memory. Every op of the merged region must be per pixel (rank 4, one H x W), and that
 * value must have at most TILE_MAX_CHANNELS channels (so that a tile of 4 pixels fits in a
 * workgroup's memory); otherwise P and C stay separate kernels.
 */
function tiles(m: Module, f: Facts, groups: readonly Group[]): Group[] {
  const unitOf = new Map<ValueId, Group>();
  for (const g of groups) for (const id of g.members) unitOf.set(id, g);
  const lone = (op: Op): Group => ({
    kind: op.op === 'conv2d' ? 'gemm' : 'norm',
    members: new Set([op.id]),
    root: op.id,
  });
  const merged: Group[] = [];
  const replaced = new Set<Group>();
  for (const op of m.ops) {
    if (f.isConst(op.id) || !tileConv(f, op)) continue;
    const producer = unitOf.get(op.id) ?? lone(op);
    if (producer.kind !== 'gemm' || producer.members.has(op.operands[0]!)) continue;
    const r = producer.root;
    if (f.uses.outputs.has(r)) continue;
    const users = f.users(r);
    const first = users[0];
    if (!first) continue;
    let consumer = unitOf.get(first.id) ?? (first.op === 'layernorm2d' ? lone(first) : null);
    if (!consumer || consumer === producer || (consumer.kind !== 'norm' && consumer.kind !== 'gemm'))
      continue;
    if (!users.every((u) => consumer!.members.has(u.id))) continue;
    // A lone LayerNorm (one layernorm-into-gemm left) read only by one GEMM unit: that unit joins.
    const reading =
      first.op === 'layernorm2d' && consumer.members.size === 1 ? lnReader(f, first, unitOf) : null;
    if (reading) {
      replaced.add(reading);
      consumer = { kind: 'gemm', members: new Set([first.id, ...reading.members]), root: reading.root };
    }
    // The value read across channels: R, or an elementwise op of C computed from it.
    const staged = (x: ValueId) => x === r || (consumer.members.has(x) && isElementwise(f.def(x)));
    const reader = [...consumer.members]
      .map((id) => f.def(id))
      .find((u) => readsAcrossChannels(f, u, staged));
    if (!reader) continue;
    if ((f.def(reader.operands[0]!).type.shape[1] as number) > TILE_MAX_CHANNELS) continue;
    const members = new Set([...producer.members, ...consumer.members]);
    const [, , h, w] = op.type.shape;
    const perPixel = [...members].every((id) => {
      const s = f.def(id).type.shape;
      return s.length === 4 && s[2] === h && s[3] === w;
    });
    if (!perPixel) continue;
    const tile: Group = { kind: 'tile', members, root: consumer.root };
    for (const id of members) unitOf.set(id, tile);
    replaced.add(producer).add(consumer);
    merged.push(tile);
  }
  return [...groups, ...merged].filter((g) => !replaced.has(g));
}

/**
 * The GEMM unit (a group, or a lone conv) that holds every user of LayerNorm `ln` and multiplies it
 * by a pointwise conv; null if there is none.
 */
function lnReader(f: Facts, ln: Op, unitOf: ReadonlyMap<ValueId, Group>): Group | null {
  const users = f.users(ln.id);
  const first = users[0];
  if (!first || f.uses.outputs.has(ln.id)) return null;
  const unit =
    unitOf.get(first.id) ??
    (users.length === 1 ? { kind: 'gemm' as const, members: new Set([first.id]), root: first.id } : null);
  if (unit?.kind !== 'gemm' || !users.every((u) => unit.members.has(u.id))) return null;
  return users.some((u) => tileConv(f, u) && u.operands[0] === ln.id) ? unit : null;
}

/** `u` reads its first operand across channels at its own pixel, and that operand is `staged`. */
function readsAcrossChannels(f: Facts, u: Op, staged: (x: ValueId) => boolean): boolean {
  if (!staged(u.operands[0]!)) return false;
  if (u.op === 'layernorm2d') return true;
  if (u.op === 'conv2d') return tileConv(f, u);
  return (
    (u.op === 'mean' || u.op === 'sum') &&
    u.attrs.keepdims &&
    u.attrs.axes.length === 1 &&
    u.attrs.axes[0] === 1
  );
}
