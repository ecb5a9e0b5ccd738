import { InternalError } from '../diagnostics/diagnostic.js';
import { type ElementwiseKind, isElementwiseKind, scalarFn } from '../ir/ops.js';
import { inferType } from '../ir/shapes.js';
import type { Dim, Module, OpAttrs, OpKind, TensorType, ValueId } from '../ir/types.js';
import type { Pass } from './pass.js';
import { type Rewriter, rewrite } from './rewriter.js';

/**
 * Local algebraic simplifications, each exact or exact up to float rounding:
 * - load-time values (params, consts and what is computed from them alone) go on the right of
 *   commutative ops (add, mul, max) whose other operand is data: `mul(s, x)` -> `mul(x, s)`;
 * - `x*1`, `1*x`, `x+0`, `0+x`, `x-0`, `x/1`, `x^1` -> `x`, for scalar `const` ops with those values
 *   and only when the result has x's type (dropping a broadcast would change the shape);
 * - `reshape(x)` to x's own shape -> `x`; `reshape(reshape(x))` -> one reshape;
 * - a slice covering its whole axis -> `x`; `flip(flip(x))` on the same axis -> `x`;
 * - `transpose(transpose(x))` -> one transpose, and a transpose by the identity permutation -> `x`;
 * - `neg(neg(x))` -> `x`;
 * - elementwise ops of scalar `const` ops fold to a `const` (their float64 semantics from
 *   ir/ops.ts; not folded when the result would not be finite).
 * Expressions of params are otherwise left alone (folding them is the job of the folding passes).
 * Fused ops are opaque. Ops that a simplification leaves unused stay: `dce` removes them.
 */
export const canonicalize: Pass = {
  name: 'canonicalize',
  summary:
    'local algebraic simplifications (identities, reshape/transpose/flip chains, scalar const folding)',
  run(m: Module): Module {
    const defs = new Map<ValueId, Node>();
    const loadTime = new Set<ValueId>();
    let c: Canon | undefined;
    return rewrite(m, (op, rw) => {
      c ??= new Canon(rw, defs, loadTime);
      const operands = op.operands.map((x) => rw.get(x));
      let node: Node = { kind: op.op, attrs: op.attrs, operands };
      let rewritten = false;
      if (op.op !== 'fused') {
        for (let step = 0; ; step++) {
          if (step > 100) throw new InternalError(`canonicalize does not converge on %${op.id} = ${op.op}`);
          const r = c.simplify(node);
          if (r === null) break;
          if (typeof r === 'number') {
            rw.bind(op.id, r);
            return true;
          }
          node = r;
          rewritten = true;
        }
      }
      const origin = { loc: op.loc, scope: op.scope };
      let id: ValueId;
      if (!rewritten) id = rw.keep(op);
      else {
        id =
          node.kind === 'const'
            ? rw.constant((node.attrs as OpAttrs['const']).value, origin)
            : rw.emit<OpKind>(node.kind, node.operands, node.attrs, origin);
        rw.bind(op.id, id);
      }
      defs.set(id, node);
      const isLoadTime =
        node.kind === 'param' ||
        node.kind === 'const' ||
        (node.kind !== 'input' && node.operands.length > 0 && node.operands.every((x) => loadTime.has(x)));
      if (isLoadTime) loadTime.add(id);
      return true;
    });
  },
};

/** An op of the new module, or one proposed to replace an op (operands are new ids). */
interface Node {
  readonly kind: OpKind;
  readonly attrs: OpAttrs[OpKind];
  readonly operands: readonly ValueId[];
}

const COMMUTATIVE: ReadonlySet<OpKind> = new Set(['add', 'mul', 'max']);

function sameShape(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

class Canon {
  constructor(
    private readonly rw: Rewriter,
    private readonly defs: ReadonlyMap<ValueId, Node>,
    /** Values computed from params and consts alone. */
    private readonly loadTime: ReadonlySet<ValueId>,
  ) {}

  private type(id: ValueId): TensorType {
    return this.rw.typeOf(id);
  }

  /** The value of a scalar `const` op, or null. */
  private constValue(id: ValueId): number | null {
    const d = this.defs.get(id);
    return d?.kind === 'const' ? (d.attrs as OpAttrs['const']).value : null;
  }

  private def<K extends OpKind>(id: ValueId, kind: K): (Node & { attrs: OpAttrs[K] }) | null {
    const d = this.defs.get(id);
    return d?.kind === kind ? (d as Node & { attrs: OpAttrs[K] }) : null;
  }

  /** `x` may replace `node` only if it has the node's result type. */
  private sameTypeAs(node: Node, x: ValueId): boolean {
    const t = inferType(
      node.kind,
      node.operands.map((o) => this.type(o)),
      node.attrs,
    );
    return t.ok && sameShape(t.type.shape, this.type(x).shape);
  }

  /**
   * One simplification step: a value that replaces the node, a simpler node, or null when no rule
   * applies.
   */
  simplify(node: Node): ValueId | Node | null {
    const [a, b] = node.operands as [ValueId, ValueId];
    const attrs = node.attrs;
    if (COMMUTATIVE.has(node.kind) && this.loadTime.has(a) && !this.loadTime.has(b)) {
      return { ...node, operands: [b, a] };
    }
    const ca = a === undefined ? null : this.constValue(a);
    const cb = b === undefined ? null : this.constValue(b);
    const kind = node.kind;
    if (isElementwiseKind(kind)) {
      const values = node.operands.map((x) => this.constValue(x));
      if (values.every((v) => v !== null)) return foldConst(kind, attrs, values as number[]);
    }
    switch (node.kind) {
      case 'add':
      case 'sub':
      case 'mul':
      case 'div': {
        const identity = node.kind === 'add' || node.kind === 'sub' ? 0 : 1;
        if (cb === identity && this.sameTypeAs(node, a)) return a;
        if ((node.kind === 'add' || node.kind === 'mul') && ca === identity && this.sameTypeAs(node, b)) {
          return b;
        }
        return null;
      }
      case 'neg': {
        const inner = this.def(a, 'neg');
        return inner ? inner.operands[0]! : null;
      }
      case 'pow':
        return (attrs as OpAttrs['pow']).exponent === 1 ? a : null;
      case 'reshape': {
        const shape = (attrs as OpAttrs['reshape']).shape;
        if (sameShape(shape, this.type(a).shape)) return a;
        const inner = this.def(a, 'reshape');
        return inner ? { ...node, operands: [inner.operands[0]!] } : null;
      }
      case 'slice': {
        const { axis, start, end } = attrs as OpAttrs['slice'];
        return start === 0 && end === this.type(a).shape[axis] ? a : null;
      }
      case 'flip': {
        const inner = this.def(a, 'flip');
        if (!inner) return null;
        return inner.attrs.axis === (attrs as OpAttrs['flip']).axis ? inner.operands[0]! : null;
      }
      case 'transpose': {
        const perm = (attrs as OpAttrs['transpose']).perm;
        if (perm.every((p, i) => p === i)) return a;
        const inner = this.def(a, 'transpose');
        if (!inner) return null;
        // transpose(transpose(x, p), q)[.., j, ..] reads axis p[q[j]] of x.
        const composed = perm.map((q) => inner.attrs.perm[q]!);
        return { kind: 'transpose', attrs: { perm: composed }, operands: [inner.operands[0]!] };
      }
      default:
        return null;
    }
  }
}

/** A scalar `const` node for an elementwise op of constants, or null when the result is not finite. */
function foldConst(kind: ElementwiseKind, attrs: Node['attrs'], values: readonly number[]): Node | null {
  const value = scalarFn(kind, attrs)(values[0]!, values[1] ?? 0);
  return Number.isFinite(value) ? { kind: 'const', attrs: { value }, operands: [] } : null;
}
