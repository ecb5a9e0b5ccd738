import type { PackedTensor } from '../codegen/package/float16.js';
import { interpret } from '../ir/interpret.js';
import type { Module, Op } from '../ir/types.js';
import { randomInput } from './random-weights.js';

/**
 * What `--weights-dtype f16` costs in accuracy, measured at compile time: the optimised module run
 * by the interpreter on one deterministic input image (uniform in [-1, 1), seed 1), once as
 * compiled and once with every packed tensor replaced by its float16-rounded values (exactly what
 * the package's kernels read after widening on load). One image keeps it cheap: two interpreter
 * runs at batch 1.
 */

export interface Float16Error {
  /** max |logit_f16 - logit_f32| / max |logit_f32|. */
  readonly relative: number;
  readonly maxAbsDiff: number;
  readonly maxAbsLogit: number;
}

/** Key prefix of the packed tensors standing in for the module's load-time constants. */
const PACKED = 'polyc.packed.';

export function float16LogitError(
  m: Module,
  tensors: readonly PackedTensor[],
  rounded: Float32Array,
  weights: ReadonlyMap<string, Float32Array>,
): Float16Error {
  const input = m.ops.find((o) => o.op === 'input')!;
  const image = randomInput(input.type.shape.map((d) => (typeof d === 'number' ? d : 1)));
  const reference = interpret(m, [image], weights)[0]!.data;

  // Each packed constant becomes a checkpoint tensor holding its rounded values; the ops that
  // computed it still run (from the checkpoint) but nothing reads them.
  const packed = new Map(tensors.map((t) => [t.id, t]));
  const swapped: Op[] = m.ops.map((op) =>
    packed.has(op.id)
      ? {
          id: op.id,
          op: 'param',
          operands: [],
          attrs: { key: `${PACKED}${op.id}`, role: 'buffer' },
          type: op.type,
          loc: op.loc,
          scope: op.scope,
        }
      : op,
  );
  const withRounded = new Map(weights);
  for (const t of tensors) withRounded.set(`${PACKED}${t.id}`, rounded.subarray(t.offset, t.offset + t.size));
  const f16 = interpret({ ...m, ops: swapped }, [image], withRounded)[0]!.data;

  let maxAbsDiff = 0;
  let maxAbsLogit = 0;
  for (let i = 0; i < reference.length; i++) {
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(f16[i]! - reference[i]!));
    maxAbsLogit = Math.max(maxAbsLogit, Math.abs(reference[i]!));
  }
  return { relative: maxAbsLogit > 0 ? maxAbsDiff / maxAbsLogit : maxAbsDiff, maxAbsDiff, maxAbsLogit };
}
