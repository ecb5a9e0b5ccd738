import { constnessAnalysis } from '../analysis/constness.js';
import type { AnalysisContext } from '../analysis/context.js';
import { type Uses, useCount, usesAnalysis } from '../analysis/uses.js';
import type { Dim, Module, Op, ValueId } from '../ir/types.js';
import type { Origin, Rewriter } from './rewriter.js';

/** What pattern-matching passes ask about the module they rewrite (old ids). */
export class Facts {
  readonly uses: Uses;
  readonly constant: ReadonlySet<ValueId>;

  constructor(m: Module, ctx: AnalysisContext) {
    this.uses = ctx.get(usesAnalysis, m);
    this.constant = ctx.get(constnessAnalysis, m);
  }

  def(id: ValueId): Op {
    return this.uses.def.get(id)!;
  }

  users(id: ValueId): readonly Op[] {
    return this.uses.users.get(id) ?? [];
  }

  /** Used exactly once, by an op (not as a module output). */
  singleUse(id: ValueId): boolean {
    return useCount(this.uses, id) === 1 && this.users(id).length === 1;
  }

  isConst(id: ValueId): boolean {
    return this.constant.has(id);
  }

  isData(id: ValueId): boolean {
    return !this.constant.has(id);
  }
}

/**
 * If a constant of this shape scales channel axis 1 of an NCHW tensor with `channels` channels
 * uniformly over the other axes (a scalar, or [C,1,1], [1,C,1,1]), returns how many distinct
 * values it has (1 or `channels`); otherwise null.
 */
export function channelScaleLength(shape: readonly Dim[], channels: number): number | null {
  if (shape.every((d) => d === 1)) return 1;
  if (shape.length > 4) return null;
  const [n, c, h, w] = [...(new Array(4 - shape.length).fill(1) as number[]), ...shape];
  return n === 1 && c === channels && h === 1 && w === 1 ? channels : null;
}

/** Reshapes a channel scale (new id) to `shape` unless it is a scalar, which broadcasts anyway. */
export function reshapeScale(
  rw: Rewriter,
  scale: ValueId,
  length: number,
  shape: readonly number[],
  o: Origin,
): ValueId {
  const target = length === 1 ? [] : shape;
  const current = rw.typeOf(scale).shape;
  if (current.length === target.length && current.every((d, i) => d === target[i])) return scale;
  return rw.emit('reshape', [scale], { shape: target }, o);
}

/**
 * The conv weight that computes `conv(x * s, W)` as `conv(x, W')`, for a per-input-channel scale
 * `s` (new ids): W' = W * s over the weight's input-channel axis (axis 1, or axis 0 for depthwise).
 */
export function scaleConvInput(
  rw: Rewriter,
  conv: Op & { op: 'conv2d' },
  w: ValueId,
  s: ValueId,
  length: number,
  o: Origin,
): ValueId {
  const cin = length;
  const depthwise = conv.attrs.groups > 1;
  const shape = depthwise ? [cin, 1, 1, 1] : [1, cin, 1, 1];
  return rw.emit('mul', [w, reshapeScale(rw, s, length, shape, o)], {}, o);
}

export function origin(op: Op): Origin {
  return { loc: op.loc, scope: op.scope };
}
