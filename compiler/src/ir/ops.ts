import { type Dim, FUSED_KINDS, type Op, type OpAttrs, type OpKind, type Region } from './types.js';

/**
 * The op table: what each op kind takes (operand roles, hence arity; attribute schema), what it
 * costs, how it maps onto a standard ONNX operator, and, for elementwise ops, its scalar semantics.
 * Every other place derives from here: the verifier's attribute and arity checks, `inferType`'s
 * elementwise shape rule, FLOPs, the interpreter's and constant folding's elementwise evaluation,
 * the CPU loops' and WGSL kernels' elementwise expressions, and ONNX export's one-to-one ops.
 *
 * Ops that are not elementwise (convolutions, normalisations, reductions, views) keep their
 * definitions in each executor: the interpreter's loops are the reference the others are tested
 * against, so they are deliberately not generated from a shared description.
 */

// ---- elementwise scalar semantics ---------------------------------------------------------------

/**
 * The functions an elementwise expression template may use, spelled for one target language
 * (TypeScript and WGSL implement it in codegen/; they differ in `Math.` prefixes, float literals
 * and integer powers).
 */
export interface ScalarLang {
  /** A float literal. */
  num(v: number): string;
  max(a: string, b: string): string;
  sqrt(a: string): string;
  exp(a: string): string;
  /** `a^e` for an integer e >= 1, `a` an atom. */
  pow(a: string, e: number): string;
}

/**
 * One elementwise op: `eval` computes it in float64 (the interpreter rounds the result to float32),
 * `expr` writes the same computation as source text. Operands of `expr` are atoms (names, calls,
 * array reads) and its result is only ever used whole (`let t = <expr>;`, `y[i] = <expr>;`), so
 * templates need no outer parentheses.
 */
export type ScalarOp<K extends OpKind> =
  | {
      readonly arity: 1;
      readonly eval: (x: number, attrs: OpAttrs[K]) => number;
      readonly expr: (x: string, lang: ScalarLang, attrs: OpAttrs[K]) => string;
    }
  | {
      readonly arity: 2;
      readonly eval: (x: number, y: number) => number;
      readonly expr: (x: string, y: string, lang: ScalarLang) => string;
    };

export type ElementwiseKind = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'neg' | 'pow' | 'rsqrt' | 'sigmoid';
export type ElementwiseOp = Extract<Op, { op: ElementwiseKind }>;

/** Binary elementwise ops broadcast their operands (NumPy rules); unary ones keep the shape. */
export const ELEMENTWISE: { readonly [K in ElementwiseKind]: ScalarOp<K> } = {
  add: { arity: 2, eval: (a, b) => a + b, expr: (a, b) => `${a} + ${b}` },
  sub: { arity: 2, eval: (a, b) => a - b, expr: (a, b) => `${a} - ${b}` },
  mul: { arity: 2, eval: (a, b) => a * b, expr: (a, b) => `${a} * ${b}` },
  div: { arity: 2, eval: (a, b) => a / b, expr: (a, b) => `${a} / ${b}` },
  max: { arity: 2, eval: (a, b) => Math.max(a, b), expr: (a, b, l) => l.max(a, b) },
  neg: { arity: 1, eval: (a) => -a, expr: (a) => `-${a}` },
  pow: {
    arity: 1,
    eval: (a, { exponent }) => a ** exponent,
    expr: (a, l, { exponent }) => l.pow(a, exponent),
  },
  rsqrt: { arity: 1, eval: (a) => 1 / Math.sqrt(a), expr: (a, l) => `${l.num(1)} / ${l.sqrt(a)}` },
  sigmoid: {
    arity: 1,
    eval: (a) => 1 / (1 + Math.exp(-a)),
    expr: (a, l) => `${l.num(1)} / (${l.num(1)} + ${l.exp(`-${a}`)})`,
  },
};

export function isElementwiseKind(kind: OpKind): kind is ElementwiseKind {
  return Object.hasOwn(ELEMENTWISE, kind);
}

export function isElementwise(op: Op): op is ElementwiseOp {
  return isElementwiseKind(op.op);
}

/**
 * An elementwise op as a float64 function of its operands (`y` is ignored by unary ops), with its
 * `attrs` bound.
 */
export function scalarFn(kind: ElementwiseKind, attrs: OpAttrs[OpKind]): (x: number, y: number) => number {
  const s = ELEMENTWISE[kind] as ScalarOp<ElementwiseKind>;
  if (s.arity === 2) return s.eval;
  return (x) => s.eval(x, attrs as OpAttrs[ElementwiseKind]);
}

/** The source text of an elementwise op over operand atoms `operands` in `lang`. */
export function scalarExpr(op: ElementwiseOp, operands: readonly string[], lang: ScalarLang): string {
  const s = ELEMENTWISE[op.op] as ScalarOp<ElementwiseKind>;
  return s.arity === 2
    ? s.expr(operands[0]!, operands[1]!, lang)
    : s.expr(operands[0]!, lang, op.attrs as OpAttrs[ElementwiseKind]);
}

// ---- axes ---------------------------------------------------------------------------------------

/**
 * A Python-style axis (negative counts from the last) as an index for a tensor of rank `rank`. An
 * axis outside [-rank, rank) is returned unchanged, so that the range check that follows reports
 * what the user wrote. Only code that builds ops from user input calls this: the IR stores
 * normalised axes (every axis attribute in [0, rank), checked by the verifier), so passes,
 * executors and codegen read axis attributes directly.
 */
export function normAxis(axis: number, rank: number): number {
  return axis < 0 && axis >= -rank ? axis + rank : axis;
}

/**
 * The attributes of `kind` that name axes of its first operand (`one`: an axis, `list`: axes), from
 * the op table. The IR invariant the verifier checks is that each lies in [0, rank).
 */
export function axisAttrs(kind: OpKind): readonly (readonly [string, 'one' | 'list'])[] {
  const out: (readonly [string, 'one' | 'list'])[] = [];
  const schema: Readonly<Record<string, AttrRule>> = opInfo(kind).attrs;
  for (const [key, r] of Object.entries(schema)) if (r.axes) out.push([key, r.axes]);
  return out;
}

/**
 * `attrs` with every axis attribute normalised (`normAxis`) for a first operand of rank `rank`: how
 * the front end turns the axes users write into the IR's.
 */
export function normaliseAxes<K extends OpKind>(kind: K, attrs: OpAttrs[K], rank: number): OpAttrs[K] {
  const axes = axisAttrs(kind);
  if (axes.length === 0) return attrs;
  const out: Record<string, unknown> = { ...attrs };
  for (const [key, form] of axes) {
    const v = out[key];
    out[key] = form === 'one' ? normAxis(v as number, rank) : (v as number[]).map((a) => normAxis(a, rank));
  }
  return out as OpAttrs[K];
}

// ---- attribute schema ---------------------------------------------------------------------------

export interface AttrRule {
  readonly test: (v: unknown) => boolean;
  /** What `test` accepts, for messages. */
  readonly what: string;
  /**
   * Set on attributes that name axes of the op's first operand: `one` an axis, `list` a list of
   * axes. The IR stores them normalised, in [0, rank) (see `normaliseAxes`).
   */
  readonly axes?: 'one' | 'list';
}

const isInt = (v: unknown): v is number => Number.isInteger(v);
const rule = (what: string, test: (v: unknown) => boolean): AttrRule => ({ test, what });
const arrayOf = (v: unknown, test: (x: unknown) => boolean): boolean => Array.isArray(v) && v.every(test);

const STR = rule('a string', (v) => typeof v === 'string');
const NUM = rule('a finite number', (v) => typeof v === 'number' && Number.isFinite(v));
const INT = rule('an integer', isInt);
const BOOL = rule('a boolean', (v) => typeof v === 'boolean');
const INTS = rule('an array of integers', (v) => arrayOf(v, isInt));
const AXIS: AttrRule = { ...INT, axes: 'one' };
const AXES: AttrRule = { ...INTS, axes: 'list' };
const DIMS = rule('an array of dimensions', (v) => arrayOf(v, (d) => isInt(d) || typeof d === 'string'));
const pair = (what: string, min: number): AttrRule =>
  rule(
    `a pair of ${what} integers`,
    (v) => arrayOf(v, (x) => isInt(x) && x >= min) && (v as unknown[]).length === 2,
  );

// ---- the table ----------------------------------------------------------------------------------

/** What FLOP counts may look at: sizes for batch 1. */
export interface FlopContext<K extends OpKind> {
  readonly attrs: OpAttrs[K];
  /** Elements of the result. */
  readonly out: number;
  /** How many operands the op has. */
  readonly operands: number;
  operandShape(i: number): readonly Dim[];
  operandNumel(i: number): number;
  /** FLOPs of a fused op's region. */
  regionFlops(body: Region): number;
}

export interface OpInfo<K extends OpKind> {
  /**
   * Operand roles in order; a trailing `?` marks an optional operand, `...` any number (a fused
   * op's operands). Arity derives from these.
   */
  readonly operands: readonly string[];
  /** The attrs the op carries (exactly these keys), mirroring `OpAttrs` in types.ts. */
  readonly attrs: Readonly<Record<keyof OpAttrs[K] & string, AttrRule>>;
  /** Floating-point operations for one image (a multiply-add counts 2). */
  readonly flops: (c: FlopContext<K>) => number;
  /** The standard ONNX operator computing exactly this op from the same inputs, if there is one. */
  readonly onnx?: string;
}

const zero = () => 0;
const perElement = (c: { readonly out: number }) => c.out;
/** Operand roles of an elementwise op, from its arity. */
const scalarRoles = (kind: ElementwiseKind) => (ELEMENTWISE[kind].arity === 2 ? ['a', 'b'] : ['x']);
const elementwise = <K extends ElementwiseKind>(kind: K, onnx?: string): OpInfo<K> => ({
  operands: scalarRoles(kind),
  attrs: {} as OpInfo<K>['attrs'],
  flops: perElement,
  ...(onnx === undefined ? {} : { onnx }),
});

export const OPS: { readonly [K in OpKind]: OpInfo<K> } = {
  input: { operands: [], attrs: { name: STR }, flops: zero },
  param: {
    operands: [],
    attrs: { key: STR, role: rule(`'param' or 'buffer'`, (v) => v === 'param' || v === 'buffer') },
    flops: zero,
  },
  const: { operands: [], attrs: { value: NUM }, flops: zero },
  add: elementwise('add', 'Add'),
  sub: elementwise('sub', 'Sub'),
  mul: elementwise('mul', 'Mul'),
  div: elementwise('div', 'Div'),
  max: elementwise('max', 'Max'),
  neg: elementwise('neg', 'Neg'),
  pow: {
    operands: scalarRoles('pow'),
    // Any number here: that it is a positive integer is the polynomial rule, reported on its own.
    attrs: { exponent: NUM },
    // Repeated squaring.
    flops: (c) => c.out * Math.ceil(Math.log2(c.attrs.exponent)),
  },
  rsqrt: { operands: scalarRoles('rsqrt'), attrs: {}, flops: (c) => 2 * c.out },
  sigmoid: elementwise('sigmoid', 'Sigmoid'),
  conv2d: {
    operands: ['x', 'weight'],
    attrs: {
      stride: pair('positive', 1),
      pad: pair('non-negative', 0),
      dilation: pair('positive', 1),
      groups: rule('a positive integer', (v) => isInt(v) && v >= 1),
    },
    flops: (c) => {
      const w = c.operandShape(1) as number[];
      return 2 * c.out * w[1]! * w[2]! * w[3]!;
    },
  },
  layernorm2d: { operands: ['x', 'weight?'], attrs: { eps: NUM }, flops: (c) => 6 * c.out },
  channel_bn: {
    operands: ['x', 'gamma_c', 'gamma_hw', 'running_mean', 'running_var'],
    attrs: { eps: NUM },
    flops: (c) => 6 * c.out,
  },
  slice: { operands: ['x'], attrs: { axis: AXIS, start: INT, end: INT }, flops: zero },
  flip: { operands: ['x'], attrs: { axis: AXIS }, flops: zero },
  reshape: { operands: ['x'], attrs: { shape: DIMS }, flops: zero },
  transpose: { operands: ['x'], attrs: { perm: INTS }, flops: zero },
  matmul: {
    operands: ['a', 'b'],
    attrs: {},
    flops: (c) => {
      const a = c.operandShape(0);
      return 2 * c.out * (a[a.length - 1] as number);
    },
    onnx: 'MatMul',
  },
  l1norm: { operands: ['x'], attrs: { axis: AXIS, eps: NUM }, flops: (c) => 3 * c.out },
  mean: { operands: ['x'], attrs: { axes: AXES, keepdims: BOOL }, flops: (c) => c.operandNumel(0) },
  sum: { operands: ['x'], attrs: { axes: AXES, keepdims: BOOL }, flops: (c) => c.operandNumel(0) },
  linear: {
    operands: ['x', 'weight', 'bias?'],
    attrs: {},
    flops: (c) => {
      const w = c.operandShape(1) as number[];
      return 2 * c.out * w[1]! + (c.operands > 2 ? c.out : 0);
    },
  },
  arg: {
    operands: [],
    attrs: { index: rule('a non-negative integer', (v) => isInt(v) && v >= 0) },
    flops: zero,
  },
  fused: {
    operands: ['...'],
    attrs: {
      kind: rule(`one of ${FUSED_KINDS.join(', ')}`, (v) => (FUSED_KINDS as readonly unknown[]).includes(v)),
      body: rule(
        'a region { ops, result }',
        (v) =>
          typeof v === 'object' &&
          v !== null &&
          Array.isArray((v as Region).ops) &&
          isInt((v as Region).result),
      ),
    },
    // A fused op costs what its region costs.
    flops: (c) => c.regionFlops(c.attrs.body),
  },
};

/** The table entry of `kind`, with attrs typed loosely (for code that handles every kind alike). */
export function opInfo(kind: OpKind): OpInfo<OpKind> {
  return OPS[kind] as unknown as OpInfo<OpKind>;
}

/**
 * The standard ONNX operator computing `kind` from the same inputs, if there is one. Takes any
 * string: a module from elsewhere may name kinds polyc does not know, which export reports.
 */
export function onnxOperator(kind: string): string | undefined {
  return Object.hasOwn(OPS, kind) ? opInfo(kind as OpKind).onnx : undefined;
}

/** [min, max] operand counts of `kind`, from its operand roles. */
export function arity(kind: OpKind): readonly [number, number] {
  const roles = OPS[kind].operands;
  if (roles.includes('...')) return [0, Number.POSITIVE_INFINITY];
  return [roles.filter((r) => !r.endsWith('?')).length, roles.length];
}
