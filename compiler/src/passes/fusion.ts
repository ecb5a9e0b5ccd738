import { isElementwise } from '../ir/ops.js';
import type { FusedKind, Module, Op, Region, ValueId } from '../ir/types.js';
import type { Facts } from './patterns.js';
import { origin } from './patterns.js';
import { rewrite } from './rewriter.js';

/**
 * Fusion groups: a set of data-path ops that becomes one `fused` op (one kernel). Exactly one member,
 * the root, is used outside the group; every other member's users are members. Operands from
 * outside (data, weights, load-time constants) become the fused op's operands.
 */
export interface Group {
  readonly kind: FusedKind;
  readonly members: ReadonlySet<ValueId>;
  readonly root: ValueId;
}

/** A reduction over the channel axis that keeps it: per-pixel statistics a kernel gathers as it reads. */
function isChannelStat(op: Op): boolean {
  return (
    (op.op === 'mean' || op.op === 'sum') &&
    op.attrs.keepdims &&
    op.attrs.axes.length === 1 &&
    op.attrs.axes[0] === 1
  );
}

/** The members used outside the group (by non-members or as module outputs). */
function escaping(f: Facts, members: ReadonlySet<ValueId>): ValueId[] {
  return [...members].filter((id) => f.uses.outputs.has(id) || f.users(id).some((u) => !members.has(u.id)));
}

/**
 * Grows a group from `seed` until nothing changes:
 * - epilogue: of the epilogue-able ops reachable forward from the group, take the latest one `r`
 *   such that the group plus `r` and its ancestors among them has `r` as its only escaping member
 *   (so the PolyMLP takes both halves and their product, a residual chain takes every step);
 * - prologue: producers whose users are all members (LayerNorm statistics, a cell's scaled sum).
 * `claimed` ops belong to other groups and are never taken.
 */
export function grow(
  f: Facts,
  kind: FusedKind,
  seed: readonly ValueId[],
  claimed: ReadonlySet<ValueId>,
  prologue: (op: Op) => boolean = (op) => isElementwise(op) || isChannelStat(op),
  epilogue: (op: Op) => boolean = (op) => isElementwise(op) || op.op === 'slice',
): Group | null {
  const members = new Set(seed);
  const free = (id: ValueId) => !members.has(id) && !claimed.has(id) && f.isData(id);
  let changed = true;
  while (changed) {
    changed = false;
    // Forward closure of epilogue candidates, in op order.
    const reach = new Set<ValueId>();
    const queue = [...members];
    while (queue.length > 0) {
      for (const u of f.users(queue.pop()!)) {
        if (reach.has(u.id) || !free(u.id) || !epilogue(u)) continue;
        reach.add(u.id);
        queue.push(u.id);
      }
    }
    const candidates = [...reach].sort((a, b) => b - a);
    for (const r of candidates) {
      const next = new Set(members);
      const stack = [r];
      while (stack.length > 0) {
        const id = stack.pop()!;
        if (next.has(id) || !reach.has(id)) continue;
        next.add(id);
        stack.push(...f.def(id).operands);
      }
      const out = escaping(f, next);
      if (out.length === 1 && out[0] === r) {
        for (const id of next) members.add(id);
        changed = true;
        break;
      }
    }
    // Prologue: producers every one of whose users is already a member.
    for (const id of [...members]) {
      for (const x of f.def(id).operands) {
        const p = f.def(x);
        if (!free(x) || p.op === 'input' || !prologue(p) || f.uses.outputs.has(x)) continue;
        if (f.users(x).every((u) => members.has(u.id))) {
          members.add(x);
          changed = true;
        }
      }
    }
  }
  const out = escaping(f, members);
  if (out.length !== 1) return null;
  return { kind, members, root: out[0]! };
}

/** Replaces each group by one fused op at its root's position. */
export function applyGroups(m: Module, f: Facts, groups: readonly Group[]): Module {
  const groupOf = new Map<ValueId, Group>();
  for (const g of groups) for (const id of g.members) groupOf.set(id, g);
  return rewrite(m, (op, rw) => {
    const g = groupOf.get(op.id);
    if (!g) return false;
    if (op.id !== g.root) return true; // emitted inside the region at the root
    const members = m.ops.filter((o) => g.members.has(o.id));
    const externals: ValueId[] = [];
    const local = new Map<ValueId, ValueId>();
    const body: Op[] = [];
    for (const member of members) {
      for (const x of member.operands) {
        if (g.members.has(x) || local.has(x)) continue;
        local.set(x, body.length);
        body.push({
          id: body.length,
          op: 'arg',
          operands: [],
          attrs: { index: externals.length },
          type: f.def(x).type,
          loc: null,
          scope: '',
        });
        externals.push(x);
      }
    }
    for (const member of members) {
      const id = body.length;
      body.push({ ...member, id, operands: member.operands.map((x) => local.get(x)!) } as Op);
      local.set(member.id, id);
    }
    const region: Region = { ops: body, result: local.get(g.root)! };
    const fused = rw.emit(
      'fused',
      externals.map((x) => rw.get(x)),
      { kind: g.kind, body: region },
      origin(op),
    );
    rw.bind(op.id, fused);
    return true;
  });
}
