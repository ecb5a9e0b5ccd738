import { printOp, printType } from '../ir/print.js';
import type { Op, Region, ValueId } from '../ir/types.js';
import type { Pass } from './pass.js';
import { rewrite } from './rewriter.js';

/**
 * Common subexpression elimination: an op with the same kind, operands, attrs and type as an
 * earlier op is replaced by that op. Attrs compare deeply (a fused op's body compares as printed
 * text, without source locations); `const` ops merge when their values are equal (0 and -0 differ).
 * `input` and `param` ops never merge: each stands for its own model input or checkpoint tensor.
 * The op that stays is the first one, with its source location and scope.
 */
export const cse: Pass = {
  name: 'cse',
  summary: 'merge ops with the same kind, operands and attrs (common subexpression elimination)',
  run(m) {
    const seen = new Map<string, ValueId>();
    return rewrite(m, (op, rw) => {
      if (op.op === 'input' || op.op === 'param') return false;
      const key = opKey(
        op,
        op.operands.map((x) => rw.get(x)),
      );
      const earlier = seen.get(key);
      if (earlier !== undefined) {
        rw.bind(op.id, earlier);
        return true;
      }
      seen.set(key, rw.keep(op));
      return true;
    });
  },
};

/** What makes two ops interchangeable: kind, (new) operands, attrs and result type. */
function opKey(op: Op, operands: readonly ValueId[]): string {
  const attrs =
    op.op === 'fused'
      ? `{kind=${JSON.stringify(op.attrs.kind)}} ${regionKey(op.attrs.body)}`
      : attrKey(op.attrs);
  return `${op.op}(${operands.join(',')}) ${attrs} : ${printType(op.type)}`;
}

/** A canonical text for an attr value: object keys sorted, -0 distinct from 0. */
function attrKey(v: unknown): string {
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (Array.isArray(v)) return `[${v.map(attrKey).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}=${attrKey(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? String(v);
}

/** A fused body as printed, minus provenance (loc and scope do not change what it computes). */
function regionKey(body: Region): string {
  const ops = body.ops.map((o) => printOp({ ...o, loc: null, scope: '' } as Op));
  return `{ ${ops.join('; ')}; yield %${body.result} }`;
}
