import type { ChangeData } from '../../inspector/data.js';
import type { Module, Op, ValueId } from '../ir/types.js';

/**
 * What a pass changed, from the modules before and after it. Passes renumber ids densely, so ops
 * are matched by their signature (kind, scope, source location, type, attributes and, for a fused
 * op, its region's signatures), a multiset match: operand ids play no part. An unmatched op of the
 * new module's region that matches an old top-level op (or an op of an old region) was merged into
 * that fused op; unmatched old ops whose source location and scope a new op shares were folded
 * into it; the rest were removed or added. Matched ops are `kept`: the old id and the new.
 */
export function diffStages(
  before: Module,
  after: Module,
  pass: string,
): { changes: ChangeData[]; kept: [ValueId, ValueId][] } {
  // Old ops by signature; an old region's ops stand for their fused op.
  const pool = new Map<string, ValueId[]>();
  const take = (sig: string): ValueId | undefined => {
    const ids = pool.get(sig);
    return ids?.shift();
  };
  const put = (sig: string, id: ValueId) => {
    const ids = pool.get(sig);
    if (ids) ids.push(id);
    else pool.set(sig, [id]);
  };
  for (const op of before.ops) put(signature(op), op.id);

  const added: Op[] = [];
  const newFused: Op[] = [];
  const kept: [ValueId, ValueId][] = [];
  for (const op of after.ops) {
    const old = take(signature(op));
    if (old !== undefined) {
      kept.push([old, op.id]);
      continue;
    }
    if (op.op === 'fused') newFused.push(op);
    else added.push(op);
  }
  const leftOver = new Set([...pool.values()].flat());
  // Old fused ops not kept whole give their region's ops to the regions that absorb them.
  const inner = new Map<string, ValueId[]>();
  for (const op of before.ops) {
    if (op.op !== 'fused' || !leftOver.has(op.id)) continue;
    for (const o of op.attrs.body.ops) {
      if (o.op === 'arg') continue;
      const sig = signature(o);
      inner.set(sig, [...(inner.get(sig) ?? []), op.id]);
    }
  }

  const changes: ChangeData[] = [];
  const merged = new Set<ValueId>();
  for (const f of newFused) {
    if (f.op !== 'fused') continue;
    const members = new Set<ValueId>();
    for (const o of f.attrs.body.ops) {
      if (o.op === 'arg') continue;
      const sig = signature(o);
      const id = take(sig) ?? inner.get(sig)?.shift();
      if (id !== undefined) members.add(id);
    }
    for (const id of members) merged.add(id);
    changes.push({
      kind: 'merged',
      before: [...members],
      after: [f.id],
      text: `${members.size} op(s) merged into fused ${f.attrs.kind} %${f.id} (${f.scope})`,
    });
  }

  const unmatched = new Set([...pool.values()].flat());
  const removed = before.ops.filter((o) => unmatched.has(o.id) && !merged.has(o.id));
  const place = (o: Op) => `${o.scope}@${o.loc ? `${o.loc.file}:${o.loc.line}:${o.loc.col}` : '-'}`;
  const addedAt = new Map<string, Op[]>();
  for (const o of added) addedAt.set(place(o), [...(addedAt.get(place(o)) ?? []), o]);
  const foldedInto = new Set<ValueId>();
  for (const o of removed) {
    const into = addedAt.get(place(o));
    if (into) {
      for (const n of into) foldedInto.add(n.id);
      changes.push({
        kind: 'folded',
        before: [o.id],
        after: into.map((n) => n.id),
        text: `${o.op} %${o.id} folded into ${into.map((n) => `${n.op} %${n.id}`).join(', ')} (${o.scope})`,
      });
    } else {
      changes.push({
        kind: 'removed',
        before: [o.id],
        after: [],
        text: `${o.op} %${o.id} removed (${o.scope})`,
      });
    }
  }
  for (const o of added) {
    if (foldedInto.has(o.id)) continue;
    changes.push({
      kind: 'added',
      before: [],
      after: [o.id],
      text: `${o.op} %${o.id} added by ${pass} (${o.scope})`,
    });
  }
  return { changes, kept };
}

/** What identifies an op across a pass, operands aside. */
function signature(op: Op): string {
  const loc = op.loc ? `${op.loc.file}:${op.loc.line}:${op.loc.col}:${op.loc.length}` : '-';
  const attrs =
    op.op === 'fused'
      ? `${op.attrs.kind}[${op.attrs.body.ops.map(signature).join(';')}]`
      : JSON.stringify(op.attrs);
  return `${op.op}|${op.scope}|${loc}|${op.type.shape.join(',')}|${attrs}`;
}
