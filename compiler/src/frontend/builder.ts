import type { Code } from '../diagnostics/codes.js';
import { fail, type Note, note, type Span } from '../diagnostics/diagnostic.js';
import { normaliseAxes } from '../ir/ops.js';
import { formatType, inferType } from '../ir/shapes.js';
import type { Dim, Module, Op, OpAttrs, OpKind, TensorType } from '../ir/types.js';
import { DEFAULT_LIMITS, type Limits, limitNote } from './limits.js';
import type { Value } from './values.js';

export type TensorValue = Extract<Value, { k: 'tensor' }>;

interface ParamEntry {
  readonly value: TensorValue;
  readonly span: Span;
}

/**
 * Appends ops to the module under construction. Every op's result type comes from `inferType`, so a
 * module built here is well-typed by construction; a shape error becomes a diagnostic that shows
 * both shapes and where each operand came from. Axis attributes may be given as users write them
 * (negative counts from the last): `emit` stores them normalised, as the IR requires.
 */
export class IrBuilder {
  private readonly ops: Op[] = [];
  private readonly params = new Map<string, ParamEntry>();
  private readonly ignored = new Set<string>();
  /** Provenance of ops emitted now: `<module path>:<block>`. */
  scope = ':model';
  private paramBytes = 0;

  constructor(
    readonly batch: string,
    private readonly limits: Limits = DEFAULT_LIMITS,
  ) {}

  emit<K extends OpKind>(
    kind: K,
    operands: readonly TensorValue[],
    attrs: OpAttrs[K],
    span: Span,
    what?: string,
  ): TensorValue {
    const normalised = normaliseAxes(kind, attrs, operands[0]?.type.shape.length ?? 0);
    const inferred = inferType(
      kind,
      operands.map((o) => o.type),
      normalised,
    );
    if (!inferred.ok) {
      const notes: Note[] = operands.map((o, i) =>
        note(
          `${operands.length > 1 ? `operand ${i + 1}` : 'the operand'} is ${formatType(o.type)}, produced here`,
          o.origin,
        ),
      );
      const code: Code =
        kind === 'conv2d' ? 'E0403' : kind === 'slice' || kind === 'reshape' ? 'E0402' : 'E0401';
      fail(code, `${what ?? kind}: ${inferred.message}`, span, notes);
    }
    return this.push(
      kind,
      operands,
      normalised,
      inferred.type,
      span,
      operands.every((o) => o.constant),
    );
  }

  input(name: string, shape: readonly Dim[], span: Span): TensorValue {
    return this.push('input', [], { name }, { dtype: 'f32', shape }, span, false);
  }

  constant(value: number, span: Span): TensorValue {
    return this.push('const', [], { value }, { dtype: 'f32', shape: [] }, span, true);
  }

  /** A checkpoint tensor; asking twice for one key returns the same value if the shapes agree. */
  param(key: string, shape: readonly number[], role: 'param' | 'buffer', span: Span): TensorValue {
    const prev = this.params.get(key);
    if (prev) {
      if (prev.value.type.shape.join(',') !== shape.join(',')) {
        fail('E0404', `parameter '${key}' is used with shape [${shape.join(', ')}]`, span, [
          note(`it was first declared with shape [${prev.value.type.shape.join(', ')}] here`, prev.span),
        ]);
      }
      return prev.value;
    }
    if (this.ignored.has(key)) fail('E0404', `parameter '${key}' was declared ignorable`, span);
    this.checkElements({ dtype: 'f32', shape }, span);
    // float32 storage; checked before the op exists, so nothing downstream sizes a buffer for it.
    const bytes = 4 * elements(shape);
    const max = this.limits['param-bytes'];
    if (this.paramBytes + bytes > max) {
      fail(
        'E0407',
        `parameter '${key}' [${shape.join(', ')}] brings the parameters to ${this.paramBytes + bytes} bytes, more than ${max}`,
        span,
        [limitNote('param-bytes')],
      );
    }
    this.paramBytes += bytes;
    const value = this.push('param', [], { key, role }, { dtype: 'f32', shape }, span, true);
    this.params.set(key, { value, span });
    return value;
  }

  ignore(key: string, span: Span): void {
    if (this.params.has(key))
      fail('E0404', `'${key}' is a parameter of the model and cannot be ignored`, span);
    this.ignored.add(key);
  }

  finish(name: string, outputs: readonly TensorValue[]): Module {
    return {
      name,
      batch: this.batch,
      ops: this.ops,
      outputs: outputs.map((o) => o.id),
      ignoredKeys: [...this.ignored],
    };
  }

  private checkElements(type: TensorType, span: Span): void {
    const n = elements(type.shape);
    const max = this.limits['tensor-elements'];
    if (n > max) {
      fail('E0407', `${formatType(type)} has ${n} elements per image, more than ${max}`, span, [
        limitNote('tensor-elements'),
      ]);
    }
  }

  private push<K extends OpKind>(
    kind: K,
    operands: readonly TensorValue[],
    attrs: OpAttrs[K],
    type: TensorType,
    span: Span,
    constant: boolean,
  ): TensorValue {
    const id = this.ops.length;
    if (id >= this.limits.ops) {
      fail('E0407', `the model has more than ${this.limits.ops} ops`, span, [limitNote('ops')]);
    }
    this.checkElements(type, span);
    const op = {
      id,
      op: kind,
      operands: operands.map((o) => o.id),
      attrs,
      type,
      loc: span,
      scope: this.scope,
    } as Op;
    this.ops.push(op);
    return { k: 'tensor', id, type, constant, origin: span };
  }
}

/** Elements of one image of a tensor: the batch dimension counts as 1. */
function elements(shape: readonly Dim[]): number {
  let n = 1;
  for (const d of shape) if (typeof d === 'number') n *= d;
  return n;
}
