import type { Span } from '../diagnostics/diagnostic.js';
import { InternalError } from '../diagnostics/diagnostic.js';
import { inferType } from '../ir/shapes.js';
import type { Module, Op, OpAttrs, OpKind, TensorType, ValueId } from '../ir/types.js';

/** Where a new op comes from: the op it replaces lends it its source location and scope. */
export interface Origin {
  readonly loc: Span | null;
  readonly scope: string;
}

/**
 * Builds the op list of a new module in one forward sweep over an old one. Old values are mapped to
 * new ids; new ops get their type from `inferType`, so a rewrite cannot record a wrong type. Ids are
 * renumbered densely in op order.
 */
export class Rewriter {
  private readonly ops: Op[] = [];
  private readonly byId = new Map<ValueId, Op>();
  private readonly map = new Map<ValueId, ValueId>();
  private changed = false;

  constructor(readonly source: Module) {}

  /** The new id of old value `old`. */
  get(old: ValueId): ValueId {
    const id = this.map.get(old);
    if (id === undefined) throw new InternalError(`value %${old} was not rewritten before its use`);
    return id;
  }

  has(old: ValueId): boolean {
    return this.map.has(old);
  }

  typeOf(id: ValueId): TensorType {
    return this.byId.get(id)!.type;
  }

  /** Copies `op` unchanged apart from operand ids. */
  keep(op: Op): ValueId {
    const id = this.ops.length;
    const copy = { ...op, id, operands: op.operands.map((x) => this.get(x)) } as Op;
    if (id !== op.id || copy.operands.some((x, i) => x !== op.operands[i])) this.changed = true;
    this.push(copy);
    this.map.set(op.id, id);
    return id;
  }

  /** Appends a new op on new operand ids. */
  emit<K extends OpKind>(kind: K, operands: readonly ValueId[], attrs: OpAttrs[K], origin: Origin): ValueId {
    this.changed = true;
    const inferred = inferType(
      kind,
      operands.map((x) => this.typeOf(x)),
      attrs,
    );
    if (!inferred.ok) throw new InternalError(`rewrite built an ill-typed '${kind}': ${inferred.message}`);
    return this.emitTyped(kind, operands, attrs, inferred.type, origin);
  }

  /** Appends an op whose type is declared (param, const). */
  emitTyped<K extends OpKind>(
    kind: K,
    operands: readonly ValueId[],
    attrs: OpAttrs[K],
    type: TensorType,
    origin: Origin,
  ): ValueId {
    this.changed = true;
    const id = this.ops.length;
    this.push({ id, op: kind, operands, attrs, type, loc: origin.loc, scope: origin.scope } as Op);
    return id;
  }

  constant(value: number, origin: Origin): ValueId {
    return this.emitTyped('const', [], { value }, { dtype: 'f32', shape: [] }, origin);
  }

  /** Old value `old` is now new value `id` (the op that defined it was replaced). */
  bind(old: ValueId, id: ValueId): void {
    this.changed = true;
    this.map.set(old, id);
  }

  markChanged(): void {
    this.changed = true;
  }

  /** The new module, or the old one itself when nothing changed. */
  finish(): Module {
    if (!this.changed) return this.source;
    return { ...this.source, ops: this.ops, outputs: this.source.outputs.map((x) => this.get(x)) };
  }

  private push(op: Op): void {
    this.ops.push(op);
    this.byId.set(op.id, op);
  }
}

/**
 * Runs `visit` on every op in order. `visit` either handles the op (emitting replacement ops and
 * binding the op's id) and returns true, or returns false to keep it as it is.
 */
export function rewrite(m: Module, visit: (op: Op, rw: Rewriter) => boolean): Module {
  const rw = new Rewriter(m);
  for (const op of m.ops) {
    if (!visit(op, rw)) rw.keep(op);
    else if (!rw.has(op.id)) rw.markChanged(); // dropped, e.g. absorbed into a fused op
  }
  return rw.finish();
}
