import { constnessAnalysis } from '../../analysis/constness.js';
import type { AnalysisContext } from '../../analysis/context.js';
import { planArena } from '../../analysis/memory-plan.js';
import { fail, InternalError } from '../../diagnostics/diagnostic.js';
import { broadcastStrides, contiguousStrides } from '../../ir/layout.js';
import { type ElementwiseOp, isElementwise, type ScalarLang, scalarExpr } from '../../ir/ops.js';
import { numel } from '../../ir/shapes.js';
import type { Dim, Module, Op, OpOfKind, ValueId } from '../../ir/types.js';
import { buildWasmModule, type WasmKernel, wasmKernel } from '../wasm/kernels.js';
import type { ConstantSlot } from '../wgsl/plan.js';

/**
 * The CPU backend of a generated package: the model's data path as specialised TypeScript loops.
 *
 * Every data-path op of the (optimised) module, with fused regions expanded to their body ops,
 * becomes one loop nest with every shape, stride and trip count a literal, writing into one
 * preallocated Float32Array arena (offsets planned by liveness, for one image: images run one after
 * the other, so a batch needs no more memory). Reshapes are aliases, not copies. Load-time constants
 * are read from the same packed weights buffer as the WebGPU backend, at the offsets of
 * `compiled.constants`; scalar constants inside regions become a small literal table.
 *
 * Numerics follow the interpreter (compiler/src/ir/interpret.ts): every op's result is stored as
 * float32, reductions and dot products accumulate in float64 in the same order.
 */

/** Where a value lives: the arena (placed later, by the root value it aliases), the weights, the literal table. */
type Loc =
  | { readonly buf: 'A'; readonly root: number }
  | { readonly buf: 'W' | 'K'; readonly offset: number };

interface FlatOp {
  readonly id: number;
  readonly op: Op;
  readonly operands: readonly number[];
  readonly label: string;
}

export interface CpuKernel {
  readonly name: string;
  /** Number of operands (each passed as an array and an offset, after the output's). */
  readonly arity: number;
  readonly body: readonly string[];
  /** One line saying what it computes. */
  readonly doc: string;
}

export interface CpuCall {
  readonly kernel: string;
  /** Arguments after the kernel name: `A, 1024, W, 96, ...`. */
  readonly args: string;
  readonly label: string;
  /** The WebAssembly kernel doing the same (export `k<index>`), with its byte-pointer arguments. */
  readonly wasm?: {
    readonly index: number;
    readonly args: string;
    /** Set when the kernel splits over threads: its output channels in whole tiles (WasmKernel.split). */
    readonly split?: number;
  };
}

/**
 * The WebAssembly SIMD kernels of a program (codegen/wasm/kernels.ts): one module whose memory holds
 * the arena at byte 0 and the packed weights from `weightsOffset` (floats).
 */
export interface CpuWasm {
  readonly bytes: Uint8Array;
  readonly weightsOffset: number;
  readonly weightsFloats: number;
  readonly pages: number;
  /** Calls that run in WebAssembly, of all calls. */
  readonly calls: number;
}

export interface CpuProgram {
  readonly kernels: readonly CpuKernel[];
  readonly calls: readonly CpuCall[];
  /** Arena size in floats (one image). */
  readonly arenaFloats: number;
  readonly input: { readonly offset: number; readonly perImage: number };
  readonly output: { readonly offset: number; readonly perImage: number };
  /** Scalar constants of fused regions (float32 values). */
  readonly literals: readonly number[];
  /** Scratch float64 accumulators: convolution planes, matmul rows, reductions. */
  readonly scratch: { readonly acc: number; readonly row: number; readonly red: number };
  /** Null when no op has a WebAssembly kernel. */
  readonly wasm: CpuWasm | null;
}

const unsupported = (what: string): never =>
  fail('E1001', `polyc compile cannot generate CPU code for this model: ${what}`);

/** The shape of one image: the batch dimension (always axis 0) becomes 1. */
function imageShape(shape: readonly Dim[], what: string): number[] {
  return shape.map((d, i) => {
    if (typeof d === 'number') return d;
    if (i !== 0) unsupported(`${what} has the batch dimension at axis ${i}, not 0`);
    return 1;
  });
}

const batched = (shape: readonly Dim[]) => shape.length > 0 && typeof shape[0] === 'string';

export function buildCpuProgram(m: Module, slots: readonly ConstantSlot[], ctx: AnalysisContext): CpuProgram {
  const constant = ctx.get(constnessAnalysis, m);
  const slotOf = new Map(slots.map((s) => [s.id, s.offset]));
  const flat: FlatOp[] = [];
  const loc = new Map<number, Loc>();
  const shapes = new Map<number, number[]>();
  const dims = new Map<number, readonly Dim[]>();
  const literals: number[] = [];
  const outer = new Map<ValueId, number>();
  let next = 0;
  const fresh = (shape: readonly Dim[], what: string, where: Loc | null): number => {
    const id = next++;
    shapes.set(id, imageShape(shape, what));
    dims.set(id, shape);
    loc.set(id, where ?? { buf: 'A', root: id });
    return id;
  };

  /** A data-path op (outer or inside a region) with operands already mapped to flat ids. */
  const add = (op: Op, operands: number[], label: string): number => {
    if (op.op === 'reshape') {
      const x = operands[0]!;
      if (batched(op.type.shape) !== batched(dims.get(x)!)) {
        unsupported(`${label} reshapes across the batch dimension`);
      }
      return fresh(op.type.shape, label, loc.get(x)!);
    }
    checkBatch(
      op,
      operands.map((x) => dims.get(x)!),
      label,
    );
    const id = fresh(op.type.shape, label, null);
    flat.push({ id, op, operands, label });
    return id;
  };

  for (const op of m.ops) {
    const label = `${op.scope} ${op.op === 'fused' ? `fused ${op.attrs.kind}` : op.op} %${op.id}`;
    if (constant.has(op.id)) {
      const offset = slotOf.get(op.id);
      if (offset !== undefined) outer.set(op.id, fresh(op.type.shape, label, { buf: 'W', offset }));
      continue;
    }
    if (op.op === 'input') {
      outer.set(op.id, fresh(op.type.shape, label, null));
      continue;
    }
    const ref = (x: ValueId): number => {
      const id = outer.get(x);
      if (id === undefined)
        throw new InternalError(`${label}: operand %${x} has no value (an unpacked constant?)`);
      return id;
    };
    if (op.op !== 'fused') {
      outer.set(op.id, add(op, op.operands.map(ref), label));
      continue;
    }
    const inner = new Map<ValueId, number>();
    for (const o of op.attrs.body.ops) {
      const innerLabel = `${o.scope} ${o.op} %${op.id}.${o.id}`;
      if (o.op === 'arg') {
        inner.set(o.id, ref(op.operands[o.attrs.index]!));
      } else if (o.op === 'const') {
        literals.push(Math.fround(o.attrs.value));
        inner.set(o.id, fresh(o.type.shape, innerLabel, { buf: 'K', offset: literals.length - 1 }));
      } else {
        inner.set(
          o.id,
          add(
            o,
            o.operands.map((x) => inner.get(x)!),
            innerLabel,
          ),
        );
      }
    }
    outer.set(op.id, inner.get(op.attrs.body.result)!);
  }

  const inputs = m.ops.filter((o) => o.op === 'input');
  if (inputs.length !== 1 || m.outputs.length !== 1) {
    unsupported(`it has ${inputs.length} inputs and ${m.outputs.length} outputs (one of each is supported)`);
  }
  const inputId = outer.get(inputs[0]!.id)!;
  const outputId = outer.get(m.outputs[0]!);
  const outputLoc = outputId === undefined ? undefined : loc.get(outputId);
  if (outputLoc?.buf !== 'A') unsupported('its output does not depend on the input');

  // Arena roots placed by their lifetimes in flat-op steps, as for the WebGPU arena.
  const rootOf = (id: number): number | undefined => {
    const l = loc.get(id)!;
    return l.buf === 'A' ? l.root : undefined;
  };
  const outRoot = (outputLoc as { root: number }).root;
  const size = (root: number) => numel(shapes.get(root)!);
  const placement = planArena({
    inputs: [inputId],
    steps: flat.map((f) => ({
      writes: f.id,
      reads: f.operands.map(rootOf).filter((r) => r !== undefined),
    })),
    outputs: [outRoot],
    size,
  });
  const where = (id: number): [string, number] => {
    const l = loc.get(id)!;
    if (l.buf !== 'A') return [l.buf, l.offset];
    return ['A', placement.offsets.get(l.root)!];
  };

  const weightsFloats = Math.max(4, ...slots.map((s) => s.offset + Math.ceil(s.size / 4) * 4));
  const weightsOffset = Math.ceil(Math.max(1, placement.total) / 4) * 4;
  const wasmKernels = new Map<string, { index: number; kernel: WasmKernel }>();
  /** Literals are constants of the wasm kernels: their pointer argument is unused. */
  const bytePointer = (id: number): string => {
    const [b, o] = where(id);
    return String(b === 'K' ? 0 : (b === 'A' ? o : weightsOffset + o) * 4);
  };
  const kernels = new Map<string, CpuKernel>();
  const names = new Set<string>();
  const scratch = { acc: 1, row: 1, red: 1 };
  const calls: CpuCall[] = flat.map((f) => {
    const out = shapes.get(f.id)!;
    const ins = f.operands.map((x) => shapes.get(x)!);
    const k = kernelBody(f.op, out, ins, scratch);
    const key = `${f.operands.length}\n${k.body.join('\n')}`;
    let kernel = kernels.get(key);
    if (!kernel) {
      const base = `${f.op.op}_${out.filter((d) => d !== 1).join('x') || 'scalar'}`;
      let name = base;
      for (let i = 1; names.has(name); i++) name = `${base}_${i}`;
      names.add(name);
      kernel = { name, arity: f.operands.length, body: k.body, doc: k.doc };
      kernels.set(key, kernel);
    }
    const args = [where(f.id), ...f.operands.map(where)].map(([b, o]) => `${b}, ${o}`).join(', ');
    const consts = f.operands.map((x) => {
      const l = loc.get(x)!;
      return l.buf === 'K' ? literals[l.offset]! : null;
    });
    const wk = wasmKernel(f.op, out, ins, consts);
    if (!wk) return { kernel: kernel.name, args, label: f.label };
    let w = wasmKernels.get(wk.key);
    if (!w) {
      w = { index: wasmKernels.size, kernel: wk };
      wasmKernels.set(wk.key, w);
    }
    const wasmArgs = [f.id, ...f.operands].map(bytePointer).join(', ');
    const split = wk.split === undefined ? {} : { split: wk.split };
    return { kernel: kernel.name, args, label: f.label, wasm: { index: w.index, args: wasmArgs, ...split } };
  });
  const wasmScratch = weightsOffset + weightsFloats;
  const scratchFloats = Math.max(0, ...[...wasmKernels.values()].map((w) => w.kernel.scratchFloats));
  const pages = Math.ceil(((wasmScratch + scratchFloats) * 4) / 65536);
  // A 32-bit memory holds at most 65536 pages (4 GiB): beyond it, the TypeScript loops.
  const wasm: CpuWasm | null =
    wasmKernels.size === 0 || pages > 65536
      ? null
      : {
          bytes: buildWasmModule(
            [...wasmKernels.values()].map((w) => w.kernel),
            pages,
            wasmScratch * 4,
          ),
          weightsOffset,
          weightsFloats,
          pages,
          calls: calls.filter((c) => c.wasm).length,
        };

  return {
    kernels: [...kernels.values()],
    calls,
    arenaFloats: Math.max(1, placement.total),
    input: { offset: placement.offsets.get(inputId)!, perImage: size(inputId) },
    output: { offset: where(outputId!)[1], perImage: size(outRoot) },
    literals,
    scratch,
    wasm,
  };
}

/** Images run one at a time: no op may mix the images of a batch. */
function checkBatch(op: Op, operands: readonly (readonly Dim[])[], label: string): void {
  const x = operands[0];
  const onBatch = x !== undefined && batched(x);
  switch (op.op) {
    case 'slice':
    case 'flip':
    case 'l1norm':
      if (onBatch && op.attrs.axis === 0) unsupported(`${label} works along the batch axis`);
      break;
    case 'mean':
    case 'sum':
      if (onBatch && op.attrs.axes.includes(0)) unsupported(`${label} reduces over the batch`);
      break;
    case 'transpose':
      if (onBatch && op.attrs.perm[0] !== 0) unsupported(`${label} moves the batch axis`);
      break;
    default:
      for (const s of operands) {
        if (batched(s) && s.length !== op.type.shape.length) {
          unsupported(
            `${label} broadcasts a batched operand of rank ${s.length} to rank ${op.type.shape.length}`,
          );
        }
      }
  }
}

// ---- loop nests ------------------------------------------------------------------------------

class Code {
  readonly lines: string[] = [];
  private depth = 0;
  line(s: string): void {
    this.lines.push(`${'  '.repeat(this.depth)}${s}`);
  }
  open(s: string): void {
    this.line(`${s} {`);
    this.depth++;
  }
  close(): void {
    this.depth--;
    this.line('}');
  }
  for(v: string, from: number | string, to: number | string): void {
    this.open(`for (let ${v} = ${from}; ${v} < ${to}; ${v}++)`);
  }
}

/** `base + i*s + ...`, leaving out zero strides and unit multipliers. */
function index(base: string, terms: readonly (readonly [string, number])[]): string {
  const parts = base === '0' ? [] : [base];
  for (const [v, s] of terms) {
    if (s === 0) continue;
    parts.push(s === 1 ? v : `${v} * ${s}`);
  }
  return parts.length === 0 ? '0' : parts.join(' + ');
}

const times = (v: string, k: number) => (k === 1 ? v : `${v} * ${k}`);

/** A number as a JavaScript literal that reads back exactly. */
const lit = (x: number): string => String(x);

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** [outer, n, inner] around `axis`. */
function around(shape: readonly number[], axis: number): [number, number, number] {
  return [size(shape.slice(0, axis)), shape[axis]!, size(shape.slice(axis + 1))];
}

/** Elementwise templates (ir/ops.ts) in TypeScript. */
const TS: ScalarLang = {
  num: lit,
  max: (a, b) => `Math.max(${a}, ${b})`,
  sqrt: (a) => `Math.sqrt(${a})`,
  exp: (a) => `Math.exp(${a})`,
  pow: (a, e) => `${a} ** ${e}`,
};

/** The same templates as kernel documentation (`y = max(a, b)`). */
const DOC: ScalarLang = {
  num: lit,
  max: (a, b) => `max(${a}, ${b})`,
  sqrt: (a) => `sqrt(${a})`,
  exp: (a) => `exp(${a})`,
  pow: (a, e) => `${a}^${e}`,
};

interface Body {
  readonly body: string[];
  readonly doc: string;
}

function kernelBody(
  op: Op,
  out: readonly number[],
  ins: readonly (readonly number[])[],
  scratch: { acc: number; row: number; red: number },
): Body {
  const x = ins[0]!;
  if (isElementwise(op)) return elementwise(op, out, ins);
  switch (op.op) {
    case 'conv2d':
      return conv2d(op, out, x, ins[1]!, scratch);
    case 'layernorm2d':
      return layernorm2d(op.attrs.eps, x, ins.length > 1);
    case 'channel_bn':
      return channelBn(op.attrs.eps, x);
    case 'slice': {
      const axis = op.attrs.axis;
      const [outerN, n, inner] = around(x, axis);
      const { start, end } = op.attrs;
      const len = (end - start) * inner;
      const c = new Code();
      c.for('o', 0, outerN);
      c.line(`const s = ${index('o0', [['o', n * inner]])} + ${start * inner};`);
      c.line(`const d = ${index('yo', [['o', len]])};`);
      c.for('i', 0, len);
      c.line('y[d + i] = x0[s + i];');
      c.close();
      c.close();
      return { body: c.lines, doc: `y = x[${start}:${end}] along axis ${axis} of [${x.join(', ')}]` };
    }
    case 'flip': {
      const axis = op.attrs.axis;
      const [outerN, n, inner] = around(x, axis);
      const c = new Code();
      c.for('o', 0, outerN);
      c.for('i', 0, n);
      c.line(`const s = o0 + (o * ${n} + i) * ${inner};`);
      c.line(`const d = yo + (o * ${n} + ${n - 1} - i) * ${inner};`);
      c.for('j', 0, inner);
      c.line('y[d + j] = x0[s + j];');
      c.close();
      c.close();
      c.close();
      return { body: c.lines, doc: `y = flip(x) along axis ${axis} of [${x.join(', ')}]` };
    }
    case 'transpose':
      return transpose(op.attrs.perm, x, out);
    case 'matmul':
      return matmul(out, x, scratch);
    case 'l1norm': {
      const axis = op.attrs.axis;
      const [outerN, n, inner] = around(x, axis);
      const c = new Code();
      c.for('o', 0, outerN);
      c.for('j', 0, inner);
      c.line(`const b = o * ${n * inner} + j;`);
      c.line('let s = 0;');
      c.line(`for (let i = 0; i < ${n}; i++) s += Math.abs(x0[o0 + b + i * ${inner}]);`);
      c.line(`const d = Math.max(s, ${lit(op.attrs.eps)});`);
      c.line(`for (let i = 0; i < ${n}; i++) y[yo + b + i * ${inner}] = x0[o0 + b + i * ${inner}] / d;`);
      c.close();
      c.close();
      return { body: c.lines, doc: `y = x / max(sum(|x|, axis ${axis}), eps) for x [${x.join(', ')}]` };
    }
    case 'mean':
    case 'sum':
      return reduce(op, x, out, scratch);
    case 'linear':
      return linear(x, ins[1]!, ins.length > 2);
    case 'input':
    case 'param':
    case 'const':
    case 'arg':
    case 'fused':
    case 'reshape':
      throw new InternalError(`'${op.op}' has no CPU kernel`);
    default: {
      const never: never = op;
      throw new InternalError(`unknown op ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Elementwise with NumPy broadcasting: each operand gets one stride per output axis (0 where it is
 * broadcast), axes of size 1 are dropped and adjacent axes merged where every operand allows, so
 * most ops become one flat loop.
 */
function elementwise(op: ElementwiseOp, out: readonly number[], ins: readonly (readonly number[])[]): Body {
  const f = (vals: readonly string[]) => scalarExpr(op, vals, TS);
  const doc = `y = ${scalarExpr(op, ins.length === 1 ? ['x'] : ['a', 'b'], DOC)}`;
  const aligned = ins.map((s) => broadcastStrides(s, out));
  // Drop size-1 axes, then merge mergeable neighbours.
  let axes = out.map((d, i) => ({ d, s: aligned.map((a) => a[i]!) })).filter((a) => a.d !== 1);
  const merged: typeof axes = [];
  for (const a of axes) {
    const prev = merged[merged.length - 1];
    if (prev?.s.every((s, j) => s === a.s[j]! * a.d)) {
      merged[merged.length - 1] = { d: prev.d * a.d, s: a.s };
    } else {
      merged.push(a);
    }
  }
  axes = merged;
  const c = new Code();
  const shapes = ins.map((s) => `[${s.join(', ')}]`).join(', ');
  if (axes.length === 0) {
    c.line(`y[yo] = ${f(ins.map((_, j) => `x${j}[o${j}]`))};`);
    return { body: c.lines, doc: `${doc}, one value` };
  }
  c.line('let p = yo;');
  const bases = ins.map((_, j) => `o${j}`);
  axes.forEach((a, level) => {
    const i = `i${level}`;
    c.for(i, 0, a.d);
    if (level < axes.length - 1) {
      ins.forEach((_, j) => {
        const s = a.s[j]!;
        if (s === 0) return;
        const name = `b${j}_${level}`;
        c.line(`const ${name} = ${index(bases[j]!, [[i, s]])};`);
        bases[j] = name;
      });
    }
  });
  const lastLevel = axes.length - 1;
  const lastAxis = axes[lastLevel]!;
  const vals = ins.map((_, j) => `x${j}[${index(bases[j]!, [[`i${lastLevel}`, lastAxis.s[j]!]])}]`);
  c.line(`y[p++] = ${f(vals)};`);
  for (let l = 0; l < axes.length; l++) c.close();
  return { body: c.lines, doc: `${doc} for [${out.join(', ')}] from ${shapes}` };
}

function conv2d(
  op: OpOfKind<'conv2d'>,
  out: readonly number[],
  x: readonly number[],
  w: readonly number[],
  scratch: { acc: number },
): Body {
  const [, cin, h, wd] = x as [number, number, number, number];
  const [, cout, oh, ow] = out as [number, number, number, number];
  const [, cinG, kh, kw] = w as [number, number, number, number];
  const { stride, pad, dilation, groups } = op.attrs;
  const coutG = cout / groups;
  const plane = oh * ow;
  scratch.acc = Math.max(scratch.acc, plane);
  const c = new Code();
  const doc =
    `y[${cout},${oh},${ow}] = conv2d(x[${cin},${h},${wd}], w[${cout},${cinG},${kh},${kw}]), ` +
    `stride ${stride.join('x')}, pad ${pad.join('x')}, dilation ${dilation.join('x')}, groups ${groups}`;
  c.for('oc', 0, cout);
  c.line(`ACC.fill(0, 0, ${plane});`);
  // The group's first input channel.
  const ic0 = groups === 1 ? '0' : times(coutG === 1 ? 'oc' : `Math.floor(oc / ${coutG})`, cinG);
  c.for('icg', 0, cinG);
  c.line(`const plane = o0 + ${ic0 === '0' ? 'icg' : `(${ic0} + icg)`} * ${h * wd};`);
  c.line(
    `const wb = o1 + ${cinG === 1 ? 'oc' : `(oc * ${cinG} + icg)`}${kh * kw === 1 ? '' : ` * ${kh * kw}`};`,
  );
  const pointwise =
    kh === 1 && kw === 1 && stride[0] === 1 && stride[1] === 1 && pad[0] === 0 && pad[1] === 0;
  if (pointwise) {
    c.line('const wv = x1[wb];');
    c.open('if (wv !== 0)');
    c.line(`for (let i = 0; i < ${plane}; i++) ACC[i] += wv * x0[plane + i];`);
    c.close();
  } else {
    // The output rows (columns) whose input row (column) is inside the image, for this ky (kx):
    // lo = ceil((pad - k*dilation) / stride), hi = floor((size - 1 + pad - k*dilation) / stride) + 1.
    const range = (
      lo: string,
      hi: string,
      k: string,
      p: number,
      d: number,
      s: number,
      n: number,
      o: number,
    ) => {
      const kd = times(k, d);
      if (s === 1) {
        c.line(`const ${lo} = Math.max(0, ${p} - ${kd});`);
        c.line(`const ${hi} = Math.min(${o}, ${n + p} - ${kd});`);
      } else {
        c.line(`const ${lo} = Math.max(0, Math.ceil((${p} - ${kd}) / ${s}));`);
        c.line(`const ${hi} = Math.min(${o}, Math.floor((${n - 1 + p} - ${kd}) / ${s}) + 1);`);
      }
    };
    c.for('ky', 0, kh);
    range('oy0', 'oy1', 'ky', pad[0], dilation[0], stride[0], h, oh);
    c.for('kx', 0, kw);
    c.line(`const wv = x1[wb + ${times('ky', kw)} + kx];`);
    c.line('if (wv === 0) continue;');
    range('ox0', 'ox1', 'kx', pad[1], dilation[1], stride[1], wd, ow);
    c.for('oy', 'oy0', 'oy1');
    c.line(
      `const row = plane + (${times('oy', stride[0])} + ${times('ky', dilation[0])} - ${pad[0]}) * ${wd} + ${times(
        'kx',
        dilation[1],
      )} - ${pad[1]};`,
    );
    c.line(`const a = ${times('oy', ow)};`);
    c.line(
      `for (let ox = ox0; ox < ox1; ox++) ACC[a + ox] += wv * x0[${index('row', [['ox', stride[1]]])}];`,
    );
    c.close();
    c.close();
    c.close();
  }
  c.close();
  c.line(`const d = yo + oc * ${plane};`);
  c.line(`for (let i = 0; i < ${plane}; i++) y[d + i] = ACC[i];`);
  c.close();
  return { body: c.lines, doc };
}

function layernorm2d(eps: number, x: readonly number[], weighted: boolean): Body {
  const [, ch, h, w] = x as [number, number, number, number];
  const hw = h * w;
  const c = new Code();
  c.for('p', 0, hw);
  c.line('let s1 = 0;');
  c.line('let s2 = 0;');
  c.for('c', 0, ch);
  c.line(`const v = x0[o0 + c * ${hw} + p];`);
  c.line('s1 += v;');
  c.line('s2 += v * v;');
  c.close();
  c.line(`const u = s1 / ${ch};`);
  c.line(`const r = 1 / Math.sqrt(Math.max(s2 / ${ch} - u * u, 0) + ${lit(eps)});`);
  c.for('c', 0, ch);
  c.line(`const i = c * ${hw} + p;`);
  c.line(`y[yo + i] = (x0[o0 + i] - u) * r${weighted ? ' * x1[o1 + c]' : ''};`);
  c.close();
  c.close();
  return {
    body: c.lines,
    doc: `y = LayerNorm over ${ch} channels of x[${ch},${h},${w}]${weighted ? ' * weight[c]' : ''}, eps ${eps}`,
  };
}

function channelBn(eps: number, x: readonly number[]): Body {
  const [, ch, h, w] = x as [number, number, number, number];
  const hw = h * w;
  const c = new Code();
  c.for('c', 0, ch);
  c.for('p', 0, hw);
  c.line(`const i = c * ${hw} + p;`);
  c.line(
    `y[yo + i] = ((x0[o0 + i] - x3[o3 + p]) / Math.sqrt(x4[o4 + p] + ${lit(eps)})) * x2[o2 + p] * x1[o1 + c];`,
  );
  c.close();
  c.close();
  return { body: c.lines, doc: `y = ChannelBatchNorm of x[${ch},${h},${w}], eps ${eps}` };
}

function transpose(perm: readonly number[], x: readonly number[], out: readonly number[]): Body {
  const inStrides = contiguousStrides(x);
  const axes = out.map((d, i) => ({ d, s: inStrides[perm[i]!]! })).filter((a) => a.d !== 1);
  const c = new Code();
  c.line('let p = yo;');
  let base = 'o0';
  axes.forEach((a, level) => {
    c.for(`i${level}`, 0, a.d);
    if (level < axes.length - 1) {
      c.line(`const b${level} = ${index(base, [[`i${level}`, a.s]])};`);
      base = `b${level}`;
    }
  });
  if (axes.length === 0) {
    c.line('y[p] = x0[o0];');
  } else {
    const l = axes.length - 1;
    c.line(`y[p++] = x0[${index(base, [[`i${l}`, axes[l]!.s]])}];`);
    for (let i = 0; i < axes.length; i++) c.close();
  }
  return { body: c.lines, doc: `y = transpose(x[${x.join(', ')}], [${perm.join(', ')}])` };
}

function matmul(out: readonly number[], x: readonly number[], scratch: { row: number }): Body {
  const r = out.length;
  const m = out[r - 2]!;
  const n = out[r - 1]!;
  const k = x[r - 1]!;
  const batches = size(out.slice(0, r - 2));
  scratch.row = Math.max(scratch.row, n);
  const c = new Code();
  c.for('b', 0, batches);
  c.for('i', 0, m);
  c.line(`ROW.fill(0, 0, ${n});`);
  c.line(`const xr = o0 + b * ${m * k} + i * ${k};`);
  c.for('p', 0, k);
  c.line('const xv = x0[xr + p];');
  c.line(`const wr = o1 + b * ${k * n} + p * ${n};`);
  c.line(`for (let j = 0; j < ${n}; j++) ROW[j] += xv * x1[wr + j];`);
  c.close();
  c.line(`const d = yo + b * ${m * n} + i * ${n};`);
  c.line(`for (let j = 0; j < ${n}; j++) y[d + j] = ROW[j];`);
  c.close();
  c.close();
  return { body: c.lines, doc: `y[${batches}x${m}x${n}] = x[${m}x${k}] @ w[${k}x${n}]` };
}

function reduce(
  op: OpOfKind<'mean'> | OpOfKind<'sum'>,
  x: readonly number[],
  out: readonly number[],
  scratch: { red: number },
): Body {
  const axes = op.attrs.axes;
  const kept = x.map((d, i) => (axes.includes(i) ? 1 : d));
  const keptStrides = contiguousStrides(kept);
  const n = size(out);
  scratch.red = Math.max(scratch.red, n);
  const count = size(x) / n;
  const loops = x.map((d, i) => ({ d, s: axes.includes(i) ? 0 : keptStrides[i]! })).filter((a) => a.d !== 1);
  const c = new Code();
  c.line(`RED.fill(0, 0, ${n});`);
  c.line('let p = o0;');
  let base = '0';
  loops.forEach((a, level) => {
    c.for(`i${level}`, 0, a.d);
    if (level < loops.length - 1 && a.s !== 0) {
      c.line(`const b${level} = ${index(base, [[`i${level}`, a.s]])};`);
      base = `b${level}`;
    }
  });
  const l = loops.length - 1;
  const target = l < 0 ? base : index(base, [[`i${l}`, loops[l]!.s]]);
  c.line(`RED[${target}] += x0[p++];`);
  for (let i = 0; i < loops.length; i++) c.close();
  c.line(`for (let i = 0; i < ${n}; i++) y[yo + i] = ${op.op === 'mean' ? `RED[i] / ${count}` : 'RED[i]'};`);
  return { body: c.lines, doc: `y = ${op.op}(x[${x.join(', ')}], axes [${axes.join(', ')}])` };
}

function linear(x: readonly number[], w: readonly number[], bias: boolean): Body {
  const k = x[x.length - 1]!;
  const o = w[0]!;
  const c = new Code();
  c.for('j', 0, o);
  c.line(`let s = ${bias ? 'x2[o2 + j]' : '0'};`);
  c.line(`const wr = o1 + j * ${k};`);
  c.line(`for (let p = 0; p < ${k}; p++) s += x0[o0 + p] * x1[wr + p];`);
  c.line('y[yo + j] = s;');
  c.close();
  return { body: c.lines, doc: `y[${o}] = w[${o}x${k}] x[${k}]${bias ? ' + b' : ''}` };
}
