import type { Module, Op, OpKind, ValueId } from '../ir/types.js';
import type { Analysis, AnalysisContext } from './context.js';

/**
 * Polynomial degree and multiplicative depth of every value in the model input.
 *
 * Degrees are exact bigints: products of products double them at every PolyConv/PolyMLP node, so a
 * BatchNorm network's degree overflows a double long before the head. The few non-polynomial ops
 * (LayerNorm's rsqrt, the attention's L1 division, and anything a pass lowers them to) are
 * *barriers*: their output is treated as a fresh variable of degree 1 and depth 0, which starts a
 * new *segment*. A value that mixes segments (a residual around a LayerNorm) is a polynomial in the
 * input and all barrier outputs together, and is attributed to the latest segment it depends on.
 *
 * Multiplicative depth counts data x data products only (what costs a level under homomorphic
 * encryption); a product with a constant-derived value is free. It is computed twice: as the IR
 * is written, and as it would be after `balance-products` and codegen's repeated squaring.
 */

export interface ValueFacts {
  /** Degree in the input and the barrier outputs; 0 for constant-derived values. */
  readonly degree: bigint;
  readonly depthAsWritten: number;
  readonly depthBalanced: number;
  /** Index into `DegreeFacts.segments`; -1 for constant-derived values. */
  readonly segment: number;
}

export interface Barrier {
  /** The top-level op: the barrier itself, or the fused op whose region holds it. */
  readonly id: ValueId;
  /** The barrier's id inside the fused region, or null at top level. */
  readonly innerId: ValueId | null;
  readonly kind: OpKind;
  readonly op: Op;
  /** The segment this barrier starts. */
  readonly segment: number;
  /** Facts of the barrier's data operand(s) (the max over them), in their own segment. */
  readonly input: ValueFacts;
}

export interface DegreeFacts {
  /** Facts of every top-level value. */
  readonly values: ReadonlyMap<ValueId, ValueFacts>;
  /** In op order; barrier i starts segment i + 1 (segment 0 starts at the model input). */
  readonly barriers: readonly Barrier[];
  /** Per segment: the maximum of each fact over the values attributed to it. */
  readonly segments: readonly { degree: bigint; depthAsWritten: number; depthBalanced: number }[];
}

const CONSTANT: ValueFacts = { degree: 0n, depthAsWritten: 0, depthBalanced: 0, segment: -1 };

/** Ops whose result is not a polynomial in a data operand. */
const NON_POLYNOMIAL: ReadonlySet<OpKind> = new Set(['layernorm2d', 'l1norm', 'rsqrt', 'max', 'sigmoid']);

/** Ops whose result multiplies operands: degrees add, and two data operands cost a level. */
const PRODUCTS: ReadonlySet<OpKind> = new Set(['mul', 'matmul', 'conv2d', 'linear']);

export const degreeAnalysis: Analysis<DegreeFacts> = {
  name: 'degree',
  summary: 'polynomial degree (exact), non-polynomial barriers and multiplicative depth of every value',
  compute(m: Module): DegreeFacts {
    const barriers: Barrier[] = [];
    const segments: { degree: bigint; depthAsWritten: number; depthBalanced: number }[] = [
      { degree: 1n, depthAsWritten: 0, depthBalanced: 0 },
    ];
    const values = analyseOps(m.ops, m.outputs, [], null, (op, fused, input) => {
      const segment = segments.length;
      segments.push({ degree: 1n, depthAsWritten: 0, depthBalanced: 0 });
      barriers.push({
        id: fused?.id ?? op.id,
        innerId: fused ? op.id : null,
        kind: op.op,
        op,
        segment,
        input,
      });
      return segment;
    });
    const record = (f: ValueFacts): void => {
      const s = segments[f.segment];
      if (!s) return;
      s.degree = maxBig(s.degree, f.degree);
      s.depthAsWritten = Math.max(s.depthAsWritten, f.depthAsWritten);
      s.depthBalanced = Math.max(s.depthBalanced, f.depthBalanced);
    };
    for (const f of values.all) record(f);
    return { values: values.top, barriers, segments };
  },
};

/** Records barrier `op` (inside region `fused`, if any) and returns the segment it starts. */
type OnBarrier = (op: Op, fused: Op | null, input: ValueFacts) => number;

/**
 * Facts for a straight-line op list: the module's, or a fused region's with `args` as the facts of
 * the fused op's operands. `all` also holds the facts of region-internal values.
 */
function analyseOps(
  ops: readonly Op[],
  outputs: readonly ValueId[],
  args: readonly ValueFacts[],
  fused: Op | null,
  onBarrier: OnBarrier,
): { top: Map<ValueId, ValueFacts>; all: ValueFacts[] } {
  const facts = new Map<ValueId, ValueFacts>();
  const all: ValueFacts[] = [];
  const uses = useCounts(ops, outputs);
  const of = (id: ValueId): ValueFacts => facts.get(id)!;
  const isData = (id: ValueId): boolean => of(id).segment >= 0;

  /**
   * Kraft sums (sum of 2^depth over the leaves) of the maximal data x data `mul` trees rooted at
   * each product seen so far whose inner nodes are single-use: memoised, so that a chain of n
   * products costs O(n) additions instead of collecting O(n) leaves at each of its n nodes.
   */
  const kraft = new Map<ValueId, bigint>();
  const leafSum = (op: Op): bigint => {
    let sum = 0n;
    for (const x of op.operands) {
      const inner = kraft.get(x);
      sum += inner !== undefined && uses.get(x) === 1 ? inner : 1n << BigInt(of(x).depthBalanced);
    }
    return sum;
  };
  const balanced = (op: Op): number => {
    const sum = leafSum(op);
    kraft.set(op.id, sum);
    return ceilLog2(sum);
  };

  for (const op of ops) {
    let f: ValueFacts;
    if (op.op === 'fused') {
      const inner = analyseOps(op.attrs.body.ops, [op.attrs.body.result], op.operands.map(of), op, onBarrier);
      all.push(...inner.all);
      f = inner.top.get(op.attrs.body.result)!;
    } else if (op.op === 'arg') {
      f = args[op.attrs.index] ?? CONSTANT;
    } else if (op.op === 'input') {
      f = { degree: 1n, depthAsWritten: 0, depthBalanced: 0, segment: 0 };
    } else if (!op.operands.some(isData)) {
      f = CONSTANT;
    } else if (isBarrier(op, isData)) {
      const segment = onBarrier(op, fused, joinFacts(op.operands.filter(isData).map(of)));
      f = { degree: 1n, depthAsWritten: 0, depthBalanced: 0, segment };
    } else {
      f = polynomialFacts(op, op.operands.map(of), isData, balanced);
    }
    facts.set(op.id, f);
    all.push(f);
  }
  return { top: facts, all };
}

function isBarrier(op: Op, isData: (id: ValueId) => boolean): boolean {
  if (NON_POLYNOMIAL.has(op.op)) return true;
  // A data-dependent divisor, or BatchNorm statistics that depend on the data (never at inference).
  if (op.op === 'div') return isData(op.operands[1]!);
  if (op.op === 'channel_bn') return op.operands.slice(1).some(isData);
  return false;
}

function isDataProduct(op: Op, isData: (id: ValueId) => boolean): boolean {
  return op.op === 'mul' && op.operands.length === 2 && op.operands.every(isData);
}

/** Facts of a polynomial op with at least one data operand. */
function polynomialFacts(
  op: Op,
  operands: readonly ValueFacts[],
  isData: (id: ValueId) => boolean,
  balanced: (op: Op) => number,
): ValueFacts {
  const joined = joinFacts(operands);
  if (op.op === 'pow') {
    const e = op.attrs.exponent;
    return {
      ...joined,
      degree: joined.degree * BigInt(e),
      depthAsWritten: joined.depthAsWritten + e - 1,
      depthBalanced: joined.depthBalanced + Math.ceil(Math.log2(e)),
    };
  }
  if (!PRODUCTS.has(op.op)) return joined;
  // Operands 0 and 1 are the factors; linear's optional bias is added, so it only joins the max.
  const [a, b] = operands as [ValueFacts, ValueFacts];
  const degree = maxBig(a.degree + b.degree, joined.degree);
  if (!isData(op.operands[0]!) || !isData(op.operands[1]!)) return { ...joined, degree };
  return {
    segment: joined.segment,
    degree,
    depthAsWritten: joined.depthAsWritten + 1,
    depthBalanced: isDataProduct(op, isData) ? balanced(op) : joined.depthBalanced + 1,
  };
}

/** The max of each fact; the latest segment wins (segments are numbered in op order). */
function joinFacts(fs: readonly ValueFacts[]): ValueFacts {
  return fs.reduce(
    (a, b) => ({
      degree: maxBig(a.degree, b.degree),
      depthAsWritten: Math.max(a.depthAsWritten, b.depthAsWritten),
      depthBalanced: Math.max(a.depthBalanced, b.depthBalanced),
      segment: Math.max(a.segment, b.segment),
    }),
    CONSTANT,
  );
}

/** Math.max does not take bigints. */
const maxBig = (a: bigint, b: bigint): bigint => (a > b ? a : b);

/**
 * Depth of the best product tree over leaves of the given depths (a node is one deeper than its
 * deeper child). Huffman's rule, combining the two shallowest leaves first, reaches
 * ceil(log2(sum 2^depth)): no tree does better (Kraft's inequality), and that sum is additive
 * over subtrees, which lets the analysis compute it once per product.
 */
export function balancedDepth(leaves: readonly number[]): number {
  if (leaves.length === 0) return 0;
  const low = leaves.reduce((a, b) => Math.min(a, b));
  let sum = 0n;
  for (const d of leaves) sum += 1n << BigInt(d - low);
  return low + ceilLog2(sum);
}

/** ceil(log2(x)) of a positive bigint: the bit length of x - 1. */
function ceilLog2(x: bigint): number {
  return x <= 1n ? 0 : (x - 1n).toString(2).length;
}

function useCounts(ops: readonly Op[], outputs: readonly ValueId[]): Map<ValueId, number> {
  const n = new Map<ValueId, number>();
  for (const x of [...ops.flatMap((op) => op.operands), ...outputs]) n.set(x, (n.get(x) ?? 0) + 1);
  return n;
}

/** log2 of a non-negative bigint from its bit length and top 53 bits; null for 0. */
export function log2Big(x: bigint): number | null {
  if (x <= 0n) return null;
  const bits = x.toString(2).length;
  const shift = Math.max(0, bits - 53);
  return Math.log2(Number(x >> BigInt(shift))) + shift;
}

// ---- the report: plain JSON-ready data --------------------------------------------------------

export interface DegreeFactsJson {
  /** Exact, as a decimal string. */
  readonly degree: string;
  readonly log2: number | null;
  readonly depthAsWritten: number;
  readonly depthBalanced: number;
}

export interface DegreeReport {
  readonly module: string;
  /** No barriers: every output is a polynomial in the input of exactly its `degree`. */
  readonly polynomial: boolean;
  readonly outputs: readonly (DegreeFactsJson & { id: ValueId; segment: number })[];
  readonly barriers: readonly {
    id: ValueId;
    innerId: ValueId | null;
    kind: OpKind;
    /** `file:line:col`, or null for ops a pass created without a location. */
    loc: string | null;
    scope: string;
    segment: number;
    inputSegment: number;
    input: DegreeFactsJson;
  }[];
  readonly segments: readonly (DegreeFactsJson & { index: number; startsAt: 'input' | ValueId })[];
}

export function factsJson(f: {
  degree: bigint;
  depthAsWritten: number;
  depthBalanced: number;
}): DegreeFactsJson {
  return {
    degree: f.degree.toString(),
    log2: log2Big(f.degree),
    depthAsWritten: f.depthAsWritten,
    depthBalanced: f.depthBalanced,
  };
}

export function degreeReport(m: Module, ctx: AnalysisContext): DegreeReport {
  const facts = ctx.get(degreeAnalysis, m);
  return {
    module: m.name,
    polynomial: facts.barriers.length === 0,
    outputs: m.outputs.map((id) => {
      const f = facts.values.get(id)!;
      return { id, segment: f.segment, ...factsJson(f) };
    }),
    barriers: facts.barriers.map((b) => ({
      id: b.id,
      innerId: b.innerId,
      kind: b.kind,
      loc: b.op.loc ? `${b.op.loc.file}:${b.op.loc.line}:${b.op.loc.col}` : null,
      scope: b.op.scope,
      segment: b.segment,
      inputSegment: b.input.segment,
      input: factsJson(b.input),
    })),
    segments: facts.segments.map((s, index) => ({
      index,
      startsAt: index === 0 ? 'input' : facts.barriers[index - 1]!.id,
      ...factsJson(s),
    })),
  };
}

const KIND_NAMES: Partial<Record<OpKind, string>> = {
  layernorm2d: 'LayerNorm',
  l1norm: 'L1 normalisation',
  rsqrt: 'rsqrt',
  max: 'max',
  div: 'division by data',
  sigmoid: 'sigmoid of data',
  channel_bn: 'BatchNorm with data statistics',
};

const log2Text = (x: number | null): string => (x === null ? '-inf' : x.toFixed(1));

/** The text `polyc degree` prints. */
export function formatDegreeReport(r: DegreeReport): string {
  const lines: string[] = [];
  if (r.polynomial) {
    for (const o of r.outputs) {
      lines.push(
        `polynomial: yes \u2014 degree ${o.degree} (log2 \u2248 ${log2Text(o.log2)}), multiplicative depth ` +
          `${o.depthAsWritten} as written, ${o.depthBalanced} balanced`,
      );
    }
    return lines.join('\n');
  }
  const depth = (f: DegreeFactsJson): string =>
    `depth ${f.depthAsWritten} as written, ${f.depthBalanced} balanced`;
  lines.push(
    `polynomial: no \u2014 ${r.barriers.length} non-polynomial op(s) on data split it into ` +
      `${r.segments.length} segments (segment 0 starts at the input, segment i at barrier i)`,
  );
  lines.push('barriers, in op order, with the degree and depth of their input within its segment:');
  for (const b of r.barriers) {
    const id = b.innerId === null ? `%${b.id}` : `%${b.innerId} in fused %${b.id}`;
    lines.push(
      `  ${String(b.segment).padStart(3)}  ${b.loc ?? '<no location>'}  ${KIND_NAMES[b.kind] ?? b.kind}  ` +
        `${id} ${b.scope}: degree ${b.input.degree} in segment ${b.inputSegment}, ${depth(b.input)}`,
    );
  }
  const top = r.segments.reduce((a, s) => (BigInt(s.degree) > BigInt(a.degree) ? s : a));
  lines.push(
    `segments: max degree ${top.degree} (segment ${top.index}), max multiplicative depth ` +
      `${Math.max(...r.segments.map((s) => s.depthAsWritten))} as written, ` +
      `${Math.max(...r.segments.map((s) => s.depthBalanced))} balanced`,
  );
  for (const o of r.outputs) {
    lines.push(`output %${o.id}: degree ${o.degree} in segment ${o.segment}, multiplicative ${depth(o)}`);
  }
  return lines.join('\n');
}
