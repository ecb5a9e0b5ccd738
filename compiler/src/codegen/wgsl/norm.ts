import type { Dim, Op } from '../../ir/types.js';
import { ExprWriter, elementIndex, f32Literal, offsetExpr, withLayout } from './expr.js';
import type { RenderedKernel, Unit } from './kernels.js';

/**
 * Channel LayerNorm with its fused prologue and epilogue (`norm` regions, standalone
 * `layernorm2d`): one invocation per pixel (b, y, x). Operands are read through the expression
 * writer and the result stored through its layout, so any layout is handled (in NC4HW4 a pixel's
 * 4 channels are neighbours: the channel loops walk contiguous memory).
 *
 * 1. Statistics: one loop over the channels evaluates the LayerNorm's input expression (the cell
 *    input's scaled sum, …) at (b, k, y, x) and accumulates the sum and sum of squares. Neighbouring
 *    invocations take neighbouring pixels, which are contiguous in NCHW: every read is coalesced.
 * 2. Output: a second loop over the channels evaluates the unit's root at (b, k, y, x) with the
 *    LayerNorm's value anchored to `(x - mean) * rstd * gain[k]` and stores it once.
 *
 * So each input of the unit is read twice (once per loop) instead of C + 1 times per output element
 * by the generic path, whose `layernorm2d` function recomputes the statistics for every element.
 *
 * The statistics are one pass, shifted by the pixel's channel-0 value: var = E[d²] - E[d]² with
 * d = x - x₀. That is the interpreter's formula (mean, biased variance clamped at 0, eps added
 * inside the square root) without the cancellation E[x²] - E[x]² suffers when |mean| ≫ std, at
 * the cost of one more evaluation of the input per pixel. A two-pass form (mean, then Σ(x - mean)²)
 * would be as safe but re-evaluates the whole prologue a third time: 1.5x the memory traffic of
 * a kernel that is nothing but memory traffic.
 *
 * Returns null (the generic path) unless the root is rank 4, the unit holds exactly one
 * `layernorm2d` of the root's shape, and every read of it is at the invocation's pixel (any
 * channel): an epilogue that reads the normalised value at another pixel (a convolution) would
 * need the statistics of that pixel too.
 */
export function renderNorm(unit: Unit, prelude: string, workgroupSize: number): RenderedKernel | null {
  const byId = new Map(unit.ops.map((o) => [o.id, o]));
  const root = byId.get(unit.result);
  const lns = unit.ops.filter((o): o is Op & { op: 'layernorm2d' } => o.op === 'layernorm2d');
  if (root?.type.shape.length !== 4 || lns.length !== 1) return null;
  const ln = lns[0]!;
  const shape = root.type.shape as [Dim, number, number, number];
  if (ln.type.shape.some((d, i) => d !== shape[i])) return null;
  const [, channels, h, w] = shape;
  const [input, gain] = ln.operands as [number, number | undefined];

  /** The invocation's coordinate names; a size-1 axis is read at '0u' (broadcasting). */
  const pixel = ['b', 'y', 'x'] as const;
  const atPixel = (c: readonly string[]) =>
    c.length === 4 && [0, 2, 3].every((a, j) => c[a] === pixel[j] || (shape[a] === 1 && c[a] === '0u'));
  // The output loop's statements and memo: the anchor evaluates the LayerNorm's input and gain
  // through them, so those land before the statement that uses the anchored value.
  let out: string[] = [];
  let memo = new Map<string, string>();
  const anchor = (op: Op, c: readonly string[]): string | null => {
    if (op.id !== ln.id || !atPixel(c)) return null;
    const x = writer.inline(input, c, out, memo);
    const g = gain === undefined ? '' : ` * ${writer.inline(gain, [c[1]!], out, memo)}`;
    return `((${x} - mean) * rstd${g})`;
  };
  const writer = new ExprWriter(unit.ops, unit.sources, { anchor });

  /** Statements computing `id`'s value at (b, ch, y, x), in a block of their own. */
  const evaluate = (id: number, ch: string) => {
    out = [];
    memo = new Map();
    const value = writer.inline(id, ['b', ch, 'y', 'x'], out, memo);
    return { stmts: out.map((s) => `  ${s}`), value };
  };
  const first = evaluate(input, '0u');
  const stat = evaluate(input, 'k');
  const result = evaluate(unit.result, 'k');
  // A read the anchor did not cover made the writer emit the LayerNorm's own function.
  const functions = writer.functions();
  if (functions.includes(`fn v${ln.id}(`)) return null;

  const hw = h * w;
  const n = `${channels}.0`;
  const entry = `@compute @workgroup_size(${workgroupSize})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${workgroupSize}u;
  if (i >= params.total) {
    return;
  }
  let p = i % ${hw}u;
  let b = i / ${hw}u;
  let y = p / ${w}u;
  let x = p % ${w}u;
  var x0: f32;
  {
${first.stmts.join('\n')}
    x0 = ${first.value};
  }
  var s1 = 0.0;
  var s2 = 0.0;
  for (var k = 0u; k < ${channels}u; k++) {
${stat.stmts.join('\n')}
    let d = ${stat.value} - x0;
    s1 += d;
    s2 += d * d;
  }
  let dm = s1 / ${n};
  let mean = x0 + dm;
  let rstd = 1.0 / sqrt(max(s2 / ${n} - dm * dm, 0.0) + ${f32Literal(ln.attrs.eps)});
  for (var k = 0u; k < ${channels}u; k++) {
${result.stmts.join('\n')}
    arena[${offsetExpr(0)} + ${elementIndex(withLayout(root.type, unit.layout), ['b', 'k', 'y', 'x'])}] = ${result.value};
  }
}`;
  const wgsl = [prelude, functions, entry].filter((s) => s).join('\n\n');
  return {
    name: `${unit.family}_${channels}x${h}x${w}`,
    wgsl: `${wgsl}\n`,
    workgroupSize,
    invocationsPerBatch: hw,
  };
}
