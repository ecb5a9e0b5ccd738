import { constnessAnalysis } from '../analysis/constness.js';
import type { AnalysisContext } from '../analysis/context.js';
import { supportsLayout } from '../analysis/kernel-layouts.js';
import { usesAnalysis } from '../analysis/uses.js';
import type { Module, Op } from '../ir/types.js';
import type { Pass } from './pass.js';

/**
 * Chooses the memory layout of every data-path value, once, for all kernels (codegen honours
 * exactly what the IR records; analysis/kernel-layouts.ts says which kernel kinds read and write
 * which layout). A value is stored NC4HW4 (4 channels of a pixel contiguous, a vec4) when
 * - it is rank 4 and neither a model input nor a model output (the runtime exchanges NCHW);
 * - the kernel producing it can write NC4HW4 and every kernel reading it can read NC4HW4, so no
 *   conversion ever appears between kernels (a view, read through by its consumers, is not a
 *   kernel: a value it reads stays NCHW);
 * - it pays: H*W is not a multiple of 4. In NCHW a GEMM reads its input as vec4s over 4
 *   consecutive pixels, which needs H*W % 4 == 0 (else scalar loads at clamped pixels and guarded
 *   stores); in NC4HW4 it reads 4 input channels of one pixel as a vec4 whatever H*W is. Where
 *   H*W % 4 == 0 NCHW already gives those kernels vector loads and stores.
 * Everything else keeps the default, NCHW. The pass changes no semantics: the interpreter, the
 * folds, the CPU backend and ONNX export see the logical (NCHW) value whatever its layout.
 */
export const assignLayouts: Pass = {
  name: 'assign-layouts',
  summary: 'store rank-4 values NC4HW4 where H*W % 4 != 0 and every kernel touching them supports it',
  run(m: Module, ctx: AnalysisContext) {
    const constant = ctx.get(constnessAnalysis, m);
    const { users, outputs } = ctx.get(usesAnalysis, m);
    const blocked = (op: Op): boolean => {
      const shape = op.type.shape;
      if (op.type.layout !== undefined || shape.length !== 4 || constant.has(op.id)) return false;
      if (op.op === 'input' || outputs.has(op.id)) return false;
      if (((shape[2] as number) * (shape[3] as number)) % 4 === 0) return false;
      const readers = users.get(op.id) ?? [];
      return (
        readers.length > 0 &&
        supportsLayout(op, 'nc4hw4', 'writes') &&
        readers.every((u) => supportsLayout(u, 'nc4hw4', 'reads'))
      );
    };
    let changed = false;
    const ops = m.ops.map((op): Op => {
      if (!blocked(op)) return op;
      changed = true;
      return { ...op, type: { ...op.type, layout: 'nc4hw4' } };
    });
    return changed ? { ...m, ops } : m;
  },
};
