import { InternalError } from '../../diagnostics/diagnostic.js';
import { isElementwise, type ScalarLang, scalarExpr } from '../../ir/ops.js';
import type { Dim, Layout, Op, TensorType, ValueId } from '../../ir/types.js';

/**
 * Writes WGSL functions that compute one element of an IR value: `fn v<id>(c: vec4<u32>) -> f32`
 * returns the value at coordinates `c` (axis k in component k; unused components are 0). Each op
 * becomes a small function calling its operands' functions at the coordinates it needs: elementwise
 * ops at broadcast coordinates, convolutions and matmuls in loops over their reduction axes. A
 * kernel is then "evaluate the root at this invocation's coordinates": everything in between stays
 * in registers. Values are recomputed where they are used several times, which is cheap for the
 * shapes fusion builds (elementwise epilogues, per-pixel statistics, small depthwise windows).
 */

/** Where an operand of the kernel lives: the activation arena or the weights buffer, at `params.off[slot]`. */
export interface Source {
  readonly buffer: 'arena' | 'weights';
  /** Index into the step's offsets. */
  readonly slot: number;
  /** Its memory layout (absent: NCHW); weights are always NCHW. */
  readonly layout?: Layout;
}

const AXES = ['x', 'y', 'z', 'w'] as const;

/**
 * Options of an ExprWriter. `vec4Storage`: the kernel declares its storage buffers as
 * `array<vec4<f32>>` (for vector loads), so scalar reads index `buf[i >> 2u][i & 3u]`. `anchor`:
 * values the caller computes itself (a convolution's accumulators, a LayerNorm's normalised value):
 * given an op and coordinates, an expression holding its value there, or null to compute it as
 * usual. `inline` consults it and memoises what it returns like any other value.
 */
export interface ExprOptions {
  readonly vec4Storage?: boolean;
  readonly anchor?: (op: Op, c: readonly string[]) => string | null;
}

/** The i-th offset passed to a step. */
export function offsetExpr(slot: number): string {
  return `params.off[${slot >> 2}].${AXES[slot & 3]}`;
}

/** An exact f32 literal (bit pattern), so constants survive codegen unchanged. */
export function f32Literal(v: number): string {
  const bits = new Uint32Array(Float32Array.of(v).buffer)[0]!;
  return `bitcast<f32>(${bits}u)`;
}

/** Elementwise templates (ir/ops.ts) in WGSL. */
export const WGSL: ScalarLang = {
  num: (v) => (Number.isInteger(v) ? `${v}.0` : f32Literal(v)),
  max: (a, b) => `max(${a}, ${b})`,
  sqrt: (a) => `sqrt(${a})`,
  exp: (a) => `exp(${a})`,
  // WGSL's pow is undefined for negative bases: repeated squaring, x^4 being two multiplies as
  // balanced evaluation counts it (WGSL compilers share the repeated subexpressions).
  pow: (a, e) => {
    let result: string | null = null;
    let base = a;
    for (let k = e; k > 0; k >>= 1) {
      if (k & 1) result = result === null ? base : `${result} * ${base}`;
      if (k > 1) base = `(${base} * ${base})`;
    }
    return result ?? '1.0';
  },
};

/** A dimension's size: a constant, or the batch at run time. */
function dimExpr(d: Dim): string {
  return typeof d === 'number' ? `${d}u` : 'params.batch';
}

/** `vec4<u32>(a, b, c, d)` from up to four component expressions. */
function vec(parts: readonly string[]): string {
  const p = [...parts];
  while (p.length < 4) p.push('0u');
  return `vec4<u32>(${p.join(', ')})`;
}

/**
 * `let` statements splitting the invocation index `i` into coordinates, the fastest-varying first:
 * each `[name, size]` is `(i / <product of the sizes before it>) % size`, and `batch` takes the rest
 * (the batch is the one size known only at run time).
 */
export function splitInvocation(axes: readonly (readonly [string, number])[], batch = 'b'): string[] {
  let below = 1;
  const lines = axes.map(([name, size]) => {
    const line = `  let ${name} = ${below === 1 ? 'i' : `(i / ${below}u)`} % ${size}u;`;
    below *= size;
    return line;
  });
  lines.push(`  let ${batch} = i / ${below}u;`);
  return lines;
}

/** Contiguous row-major strides (in elements) of a shape whose leading dim may be the batch. */
export function strides(shape: readonly Dim[]): string[] {
  const out: string[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    out[i] = `${acc}u`;
    const d = shape[i];
    if (i > 0 && typeof d !== 'number') throw new InternalError('the batch may only be axis 0');
    if (typeof d === 'number') acc *= d;
  }
  return out;
}

/** Linear index of coordinates `c` in a contiguous tensor of `shape`. */
function linear(shape: readonly Dim[], c: string): string {
  const s = strides(shape);
  if (shape.length === 0) return '0u';
  return shape.map((_, i) => `${c}.${AXES[i]} * ${s[i]}`).join(' + ');
}

/**
 * Index, from the value's offset, of the element at coordinates `c` (WGSL u32 expressions, one per
 * axis) of a value of `type`, in its memory layout: the one place codegen turns logical coordinates
 * into addresses. NC4HW4 (ir/types.ts): `((b * ceil(C/4) + c/4) * H*W + y*W + x) * 4 + c%4`.
 */
export function elementIndex(type: TensorType, c: readonly string[]): string {
  if (type.layout === undefined) {
    if (type.shape.length === 0) return '0u';
    const s = strides(type.shape);
    return type.shape.map((_, i) => `${c[i]} * ${s[i]}`).join(' + ');
  }
  const [, channels, h, w] = type.shape as [Dim, number, number, number];
  const [b, ch, y, x] = c as [string, string, string, string];
  return `((${b} * ${blocksOf(channels)}u + ${ch} / 4u) * ${h * w}u + ${y} * ${w}u + ${x}) * 4u + ${ch} % 4u`;
}

/** `type` stored in `layout` (undefined: NCHW). */
export function withLayout(type: TensorType, layout: Layout | undefined): TensorType {
  const { layout: _, ...logical } = type;
  return layout === undefined ? logical : { ...logical, layout };
}

/** Channel blocks of 4 (NC4HW4). */
export function blocksOf(channels: number): number {
  return Math.ceil(channels / 4);
}

/** Is every operand and the output of `unit` stored in NCHW order? Templates that assume it check. */
export function allNchw(sources: readonly Source[], output: Layout | undefined): boolean {
  return output === undefined && sources.every((s) => s.layout === undefined);
}

/** Coordinates of linear index `l` (a WGSL u32 expression) in `shape`. */
function unlinear(shape: readonly Dim[], l: string): string {
  const s = strides(shape);
  return vec(shape.map((d, i) => (i === 0 ? `(${l}) / ${s[0]}` : `((${l}) / ${s[i]}) % ${dimExpr(d)}`)));
}

export class ExprWriter {
  private readonly fns = new Map<ValueId, string>();
  private readonly order: string[] = [];
  private readonly byId: ReadonlyMap<ValueId, Op>;

  constructor(
    ops: readonly Op[],
    /** The kernel operand behind each `arg` index. */
    private readonly sources: readonly Source[],
    private readonly options: ExprOptions = {},
  ) {
    this.byId = new Map(ops.map((o) => [o.id, o]));
    for (const op of ops) {
      if (op.type.shape.length > 4)
        throw new InternalError(
          `WGSL codegen supports rank <= 4, %${op.id} has rank ${op.type.shape.length}`,
        );
    }
  }

  /** The WGSL functions written so far, operands before users. */
  functions(): string {
    return this.order.join('\n\n');
  }

  op(id: ValueId): Op {
    const op = this.byId.get(id);
    if (!op) throw new InternalError(`no op %${id} in the kernel`);
    return op;
  }

  /** The name of the function computing value `id`, writing it (and its operands') on first use. */
  fn(id: ValueId): string {
    const name = `v${id}`;
    if (this.fns.has(id)) return name;
    const op = this.op(id);
    const body = this.body(op);
    const text = `fn ${name}(c: vec4<u32>) -> f32 {\n${body}\n}`;
    this.fns.set(id, text);
    this.order.push(text);
    return name;
  }

  /**
   * Statements computing value `id` at coordinates `c` (a WGSL vec4 variable) inside one function,
   * returning the expression holding the result. Elementwise ops and views are written inline and
   * every (value, coordinates) pair is computed once: a GEMM epilogue that reads the per-pixel mean
   * three times computes it once. Other ops are calls to their `fn` functions; values the
   * options' `anchor` supplies are used as it writes them.
   */
  inline(id: ValueId, c: readonly string[], out: string[], memo: Map<string, string> = new Map()): string {
    const key = `${id}@${c.join(',')}`;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    const op = this.op(id);
    const anchored = this.options.anchor?.(op, c);
    if (anchored != null) {
      memo.set(key, anchored);
      return anchored;
    }
    const rank = op.type.shape.length;
    const a = op.operands[0];
    /** Operand coordinates under NumPy broadcasting: size-1 axes read index 0. */
    const bcast = (x: ValueId): string[] => {
      const shape = this.op(x).type.shape;
      const lead = rank - shape.length;
      return shape.map((d, i) => (d === 1 ? '0u' : c[i + lead]!));
    };
    let expr: string;
    if (isElementwise(op)) {
      // Binary operands are read at broadcast coordinates; a unary op's operand has its shape.
      const args = op.operands.map((x) => this.inline(x, op.operands.length === 1 ? c : bcast(x), out, memo));
      expr = scalarExpr(op, args, WGSL);
    } else if (op.op === 'slice') {
      const axis = op.attrs.axis;
      return this.inline(
        a!,
        c.map((x, i) => (i === axis ? `(${x} + ${op.attrs.start}u)` : x)),
        out,
        memo,
      );
    } else if (op.op === 'const') {
      expr = f32Literal(op.attrs.value);
    } else {
      expr = this.call(id, vec(c.slice(0, Math.max(rank, 1))));
    }
    const name = `t${memo.size}`;
    out.push(`  let ${name} = ${expr};`);
    memo.set(key, name);
    return name;
  }

  /** Coordinates in operand `x` (of a broadcasting elementwise op of rank `rank`) for node coords `c`. */
  private broadcast(x: ValueId, rank: number, c: string): string {
    const shape = this.op(x).type.shape;
    const lead = rank - shape.length;
    return vec(shape.map((d, i) => (d === 1 ? '0u' : `${c}.${AXES[i + lead]}`)));
  }

  private call(x: ValueId, coords: string): string {
    return `${this.fn(x)}(${coords})`;
  }

  private body(op: Op): string {
    const rank = op.type.shape.length;
    const [a, b] = op.operands;
    if (isElementwise(op)) {
      if (op.operands.length === 1)
        return `  let x = ${this.call(a!, 'c')};\n  return ${scalarExpr(op, ['x'], WGSL)};`;
      const args = op.operands.map((x) => this.call(x, this.broadcast(x, rank, 'c')));
      return `  return ${scalarExpr(op, args, WGSL)};`;
    }
    switch (op.op) {
      case 'arg': {
        const src = this.sources[op.attrs.index];
        if (!src) throw new InternalError(`kernel has no operand ${op.attrs.index}`);
        const coords = AXES.slice(0, op.type.shape.length).map((ax) => `c.${ax}`);
        const at = `${offsetExpr(src.slot)} + ${elementIndex(withLayout(op.type, src.layout), coords)}`;
        if (!this.options.vec4Storage) return `  return ${src.buffer}[${at}];`;
        return `  let i = ${at};\n  return ${src.buffer}[i >> 2u][i & 3u];`;
      }
      case 'const':
        return `  return ${f32Literal(op.attrs.value)};`;
      case 'slice': {
        const axis = op.attrs.axis;
        const parts = AXES.slice(0, rank).map((ax, i) =>
          i === axis ? `c.${ax} + ${op.attrs.start}u` : `c.${ax}`,
        );
        return `  return ${this.call(a!, vec(parts))};`;
      }
      case 'flip': {
        const axis = op.attrs.axis;
        const n = op.type.shape[axis] as number;
        const parts = AXES.slice(0, rank).map((ax, i) => (i === axis ? `${n - 1}u - c.${ax}` : `c.${ax}`));
        return `  return ${this.call(a!, vec(parts))};`;
      }
      case 'reshape':
        return `  return ${this.call(a!, unlinear(this.op(a!).type.shape, linear(op.type.shape, 'c')))};`;
      case 'transpose': {
        const parts: string[] = [];
        op.attrs.perm.forEach((p, j) => {
          parts[p] = `c.${AXES[j]}`;
        });
        return `  return ${this.call(a!, vec(parts))};`;
      }
      case 'conv2d':
        return this.conv(op as Op & { op: 'conv2d' });
      case 'matmul': {
        const k = this.op(a!).type.shape[rank - 1] as number;
        const lead = AXES.slice(0, rank - 2).map((ax) => `c.${ax}`);
        const [i, j] = [AXES[rank - 2], AXES[rank - 1]];
        return [
          '  var acc = 0.0;',
          `  for (var k = 0u; k < ${k}u; k++) {`,
          `    acc += ${this.call(a!, vec([...lead, `c.${i}`, 'k']))} * ${this.call(b!, vec([...lead, 'k', `c.${j}`]))};`,
          '  }',
          '  return acc;',
        ].join('\n');
      }
      case 'linear': {
        const k = this.op(a!).type.shape[1] as number;
        const bias =
          op.operands[2] === undefined ? '' : ` + ${this.call(op.operands[2], 'vec4<u32>(c.y, 0u, 0u, 0u)')}`;
        return [
          '  var acc = 0.0;',
          `  for (var k = 0u; k < ${k}u; k++) {`,
          `    acc += ${this.call(a!, 'vec4<u32>(c.x, k, 0u, 0u)')} * ${this.call(b!, 'vec4<u32>(c.y, k, 0u, 0u)')};`,
          '  }',
          `  return acc${bias};`,
        ].join('\n');
      }
      case 'mean':
      case 'sum':
        return this.reduce(op as Op & { op: 'mean' | 'sum' });
      case 'layernorm2d': {
        const channels = op.type.shape[1] as number;
        const gain =
          op.operands[1] === undefined ? '' : ` * ${this.call(op.operands[1], 'vec4<u32>(c.y, 0u, 0u, 0u)')}`;
        return [
          '  var s1 = 0.0;',
          '  var s2 = 0.0;',
          `  for (var k = 0u; k < ${channels}u; k++) {`,
          `    let v = ${this.call(a!, 'vec4<u32>(c.x, k, c.z, c.w)')};`,
          '    s1 += v;',
          '    s2 += v * v;',
          '  }',
          `  let u = s1 / ${channels}.0;`,
          `  let rstd = 1.0 / sqrt(max(s2 / ${channels}.0 - u * u, 0.0) + ${f32Literal(op.attrs.eps)});`,
          `  return (${this.call(a!, 'c')} - u) * rstd${gain};`,
        ].join('\n');
      }
      case 'channel_bn': {
        const [x, gc, ghw, mean, variance] = op.operands as [number, number, number, number, number];
        const hw = 'vec4<u32>(0u, 0u, c.z, c.w)';
        return [
          `  let rstd = 1.0 / sqrt(${this.call(variance, hw)} + ${f32Literal(op.attrs.eps)});`,
          `  return (${this.call(x, 'c')} - ${this.call(mean, hw)}) * rstd * ${this.call(ghw, hw)} * ${this.call(gc, 'vec4<u32>(c.y, 0u, 0u, 0u)')};`,
        ].join('\n');
      }
      case 'l1norm': {
        const axis = op.attrs.axis;
        const n = op.type.shape[axis] as number;
        const at = vec(AXES.slice(0, rank).map((ax, i) => (i === axis ? 'k' : `c.${ax}`)));
        return [
          '  var s = 0.0;',
          `  for (var k = 0u; k < ${n}u; k++) {`,
          `    s += abs(${this.call(a!, at)});`,
          '  }',
          `  return ${this.call(a!, 'c')} / max(s, ${f32Literal(op.attrs.eps)});`,
        ].join('\n');
      }
      case 'input':
      case 'param':
      case 'fused':
        throw new InternalError(`'${op.op}' cannot appear inside a kernel`);
    }
  }

  private conv(op: Op & { op: 'conv2d' }): string {
    const [x, w] = op.operands as [number, number];
    const [, , h, wd] = this.op(x).type.shape as [Dim, number, number, number];
    const [cout, cinG, kh, kw] = this.op(w).type.shape as [number, number, number, number];
    const { stride, pad, dilation, groups } = op.attrs;
    const coutG = cout / groups;
    return [
      '  var acc = 0.0;',
      `  let g = c.y / ${coutG}u;`,
      `  for (var ky = 0u; ky < ${kh}u; ky++) {`,
      `    let iy = i32(c.z * ${stride[0]}u + ky * ${dilation[0]}u) - ${pad[0]};`,
      `    if (iy < 0 || iy >= ${h}) { continue; }`,
      `    for (var kx = 0u; kx < ${kw}u; kx++) {`,
      `      let ix = i32(c.w * ${stride[1]}u + kx * ${dilation[1]}u) - ${pad[1]};`,
      `      if (ix < 0 || ix >= ${wd}) { continue; }`,
      `      for (var ic = 0u; ic < ${cinG}u; ic++) {`,
      `        acc += ${this.call(x, `vec4<u32>(c.x, g * ${cinG}u + ic, u32(iy), u32(ix))`)} * ${this.call(w, 'vec4<u32>(c.y, ic, ky, kx)')};`,
      '      }',
      '    }',
      '  }',
      '  return acc;',
    ].join('\n');
  }

  private reduce(op: Op & { op: 'mean' | 'sum' }): string {
    const x = op.operands[0]!;
    const inShape = this.op(x).type.shape;
    const axes = op.attrs.axes;
    // Coordinates in the input: reduced axes take loop variables, kept axes read the output coords.
    let outAxis = 0;
    const parts = inShape.map((_, i) => {
      if (axes.includes(i)) {
        if (op.attrs.keepdims) outAxis++;
        return `r${i}`;
      }
      return `c.${AXES[outAxis++]}`;
    });
    const count = axes.reduce((n, i) => n * (inShape[i] as number), 1);
    const loops = axes.map((i) => `for (var r${i} = 0u; r${i} < ${inShape[i]}u; r${i}++) {`);
    return [
      '  var acc = 0.0;',
      ...loops.map((l, i) => `${'  '.repeat(i + 1)}${l}`),
      `${'  '.repeat(axes.length + 1)}acc += ${this.call(x, vec(parts))};`,
      ...axes.map((_, i) => `${'  '.repeat(axes.length - i)}}`),
      op.op === 'mean' ? `  return acc / ${count}.0;` : '  return acc;',
    ].join('\n');
  }
}
