import { InternalError } from '../../diagnostics/diagnostic.js';
import { isElementwise } from '../../ir/ops.js';
import type { Dim, Op, ValueId } from '../../ir/types.js';
import { allNchw, ExprWriter, f32Literal, offsetExpr, splitInvocation, strides } from './expr.js';
import { LANES } from './gemm.js';
import { ENTRY, PRELUDE, prelude, type RenderedKernel, type Unit, WORKGROUP_SIZE } from './kernels.js';

/**
 * Polynomial attention: `O = V @ transpose(Pn)` (optionally reshaped back to NCHW), where Pn is P
 * or l1norm(P) over keys and P is any expression of (batch, head, query t, key u), in polynomial
 * attention a polynomial of the scores S = Q' @ K' and per-head constants. P >= 0 there, and no max
 * or exp is needed: one sweep over the keys accumulates sum |P| and P * V' for every channel of
 * the head.
 *
 * The register template (`renderRegisters`) takes units whose Q', K' and V' are views (reshape,
 * transpose, slice) of kernel operands that are affine in their coordinates, so every address is
 * `base + b*sb + h*sh + k*sk + u*su` with the strides known at compile time (no `/` or `%` per
 * load). One invocation computes `queries` consecutive queries of one (batch, head):
 *
 * - the queries' rows of Q' are loaded once into named registers (or, `qRows: 'reload'`, reloaded
 *   per key group: one vec4 over 4 queries per channel where the query axis is contiguous);
 * - keys are swept in groups of 4: the scores of a query for 4 keys are one vec4, sum over k of
 *   `q_k * K'[k, u..u+3]`, each K' row segment loaded once for all the invocation's queries (one
 *   vec4 load where the key axis is contiguous and aligned, else 4 scalars);
 * - P is the expression writer's evaluation of the unit at each (query, key) lane with the score
 *   matmul anchored to its lane of the vec4, so any polynomial of S works; what does not depend
 *   on the key (per-head constants) is hoisted out of the loop;
 * - the output accumulators are named registers updated with `dot(P4, V'[k, u..u+3])`, again one
 *   V' load per channel for all queries; keys left over (N not a multiple of 4) are one last group
 *   with the missing lanes zero;
 * - the L1 scale `1 / max(sum |P|, eps)` multiplies the accumulators at the end, and 4 queries'
 *   outputs of a channel are one vec4 store (the query axis is the output's last).
 *
 * Invocations next to each other are the queries of one (batch, head), so a workgroup reads the
 * same K' and V' addresses at the same time (broadcast loads on a GPU). Head dims above
 * MAX_HEAD_DIM (registers would spill) and views that are not affine take the generic template
 * (`renderGeneric`): one query per invocation, P and V' through the writer's functions.
 */

/** The most channels per head the register template keeps in named registers (Q' and V' rows). */
const MAX_HEAD_DIM = 64;

/** The generic template's limit: its accumulators are an array. */
const MAX_GENERIC_HEAD_DIM = 256;

/** Queries per invocation the register template offers (the rule: `defaultQueries`). */
export const ATTENTION_QUERIES = [1, 2, 4] as const;

export interface AttentionOptions {
  /** Queries per invocation of the register template (tuned variants); default the rule. */
  readonly queries?: number;
  /**
   * Where the queries' Q' rows live: loaded once into registers, or reloaded for every key group
   * (fewer registers); default the rule.
   */
  readonly qRows?: 'registers' | 'reload';
}

/** A kernel operand read through views: the element at `c` is at `offset(slot) + base + Σ c_i * strides[i]`. */
interface Affine {
  readonly buffer: 'arena' | 'weights';
  readonly slot: number;
  readonly base: number;
  readonly strides: readonly number[];
}

/** The parts of an attention unit, or null if the unit does not have its shape. */
interface Parts {
  readonly byId: ReadonlyMap<ValueId, Op>;
  /** `V @ transpose(Pn)`, of shape [B, heads, d, queries]. */
  readonly out: Op;
  readonly v: Op;
  readonly p: Op;
  readonly l1: (Op & { op: 'l1norm' }) | null;
}

function attentionParts(unit: Unit): Parts | null {
  if (!allNchw(unit.sources, unit.layout)) return null;
  const byId = new Map(unit.ops.map((o) => [o.id, o]));
  let o = byId.get(unit.result);
  if (o?.op === 'reshape') o = byId.get(o.operands[0]!);
  if (o?.op !== 'matmul' || o.type.shape.length !== 4) return null;
  const [v, t] = o.operands.map((x) => byId.get(x)) as [Op | undefined, Op | undefined];
  if (!v || t?.op !== 'transpose' || t.attrs.perm.join(',') !== '0,1,3,2') return null;
  const pn = byId.get(t.operands[0]!);
  if (!pn) return null;
  const l1 = pn.op === 'l1norm' && pn.attrs.axis === 3 ? pn : null;
  const p = l1 ? byId.get(l1.operands[0]!)! : pn;
  if (unit.result !== o.id && byId.get(unit.result)?.op !== 'reshape')
    throw new InternalError('unexpected attention root');
  return { byId, out: o, v, p, l1 };
}

/** The register template, or the generic one where it does not apply; null if `unit` is not attention. */
export function renderAttention(unit: Unit, options: AttentionOptions = {}): RenderedKernel | null {
  const parts = attentionParts(unit);
  if (!parts) return null;
  return renderRegisters(unit, parts, options) ?? renderGeneric(unit, parts);
}

/** Does the register template (whose knob is the queries per invocation) render `unit`? */
export function takesQueries(unit: Unit): boolean {
  const parts = attentionParts(unit);
  return parts !== null && registerOperands(unit, parts) !== null;
}

/**
 * Strides of a view of shape `to` over elements of shape `from` laid out with `fromStrides`, or
 * null when the reshape is not affine (it merges axes that are not contiguous). Size-1 axes get
 * stride 0; the batch (a dim known only at run time) must be axis 0 of both.
 */
export function reshapeStrides(
  from: readonly Dim[],
  fromStrides: readonly number[],
  to: readonly Dim[],
): number[] | null {
  const out: number[] = to.map(() => 0);
  let first = 0;
  if (typeof from[0] !== 'number' || typeof to[0] !== 'number') {
    if (typeof from[0] === 'number' || typeof to[0] === 'number') return null;
    out[0] = fromStrides[0]!;
    first = 1;
  }
  const axes = (shape: readonly Dim[]): number[] | null => {
    const kept: number[] = [];
    for (let i = first; i < shape.length; i++) {
      const d = shape[i];
      if (typeof d !== 'number') return null;
      if (d !== 1) kept.push(i);
    }
    return kept;
  };
  const fa = axes(from);
  const ta = axes(to);
  if (!fa || !ta) return null;
  const size = (shape: readonly Dim[], i: number) => shape[i] as number;
  let i = 0;
  let j = 0;
  // Groups of axes with equal products, as NumPy reshapes without a copy: within a group the
  // source axes must be contiguous with each other, and the target axes split the innermost stride.
  while (i < fa.length && j < ta.length) {
    let fi = i + 1;
    let tj = j + 1;
    let fp = size(from, fa[i]!);
    let tp = size(to, ta[j]!);
    while (fp !== tp) {
      if (fp < tp) {
        if (fi >= fa.length) return null;
        fp *= size(from, fa[fi++]!);
      } else {
        if (tj >= ta.length) return null;
        tp *= size(to, ta[tj++]!);
      }
    }
    for (let k = i; k < fi - 1; k++)
      if (fromStrides[fa[k]!] !== size(from, fa[k + 1]!) * fromStrides[fa[k + 1]!]!) return null;
    out[ta[tj - 1]!] = fromStrides[fa[fi - 1]!]!;
    for (let k = tj - 1; k > j; k--) out[ta[k - 1]!] = out[ta[k]!]! * size(to, ta[k]!);
    i = fi;
    j = tj;
  }
  return i === fa.length && j === ta.length ? out : null;
}

/** Value `id` as an affine view of a kernel operand, or null (not a view chain, or not affine). */
function affine(unit: Unit, byId: ReadonlyMap<ValueId, Op>, id: ValueId): Affine | null {
  const o = byId.get(id);
  if (!o) return null;
  switch (o.op) {
    case 'arg': {
      const src = unit.sources[o.attrs.index];
      if (!src || src.layout !== undefined) return null;
      const s = strides(o.type.shape).map((x) => Number.parseInt(x, 10));
      return { buffer: src.buffer, slot: src.slot, base: 0, strides: s };
    }
    case 'transpose': {
      const a = affine(unit, byId, o.operands[0]!);
      return a && { ...a, strides: o.attrs.perm.map((p) => a.strides[p]!) };
    }
    case 'slice': {
      const a = affine(unit, byId, o.operands[0]!);
      return a && { ...a, base: a.base + o.attrs.start * a.strides[o.attrs.axis]! };
    }
    case 'reshape': {
      const a = affine(unit, byId, o.operands[0]!);
      const from = byId.get(o.operands[0]!)!.type.shape;
      const s = a && reshapeStrides(from, a.strides, o.type.shape);
      return a && s && { ...a, strides: s };
    }
    default:
      return null;
  }
}

/** The matmul whose value P is a function of, through elementwise ops: the scores. */
function scoreMatmul(byId: ReadonlyMap<ValueId, Op>, p: Op, shape: readonly Dim[]): Op | null {
  const seen = new Set<ValueId>();
  const stack = [p];
  while (stack.length > 0) {
    const o = stack.pop()!;
    if (seen.has(o.id)) continue;
    seen.add(o.id);
    if (o.op === 'matmul' && o.type.shape.join(',') === shape.join(',')) return o;
    if (!isElementwise(o)) continue;
    for (const x of o.operands) {
      const operand = byId.get(x);
      if (operand) stack.push(operand);
    }
  }
  return null;
}

/**
 * The most accumulators (queries x d) an invocation keeps by the rule, the GEMM template's budget
 * (gemm.ts): 4 queries of APolyNeXt's 32-channel heads. On SwiftShader 4 queries beat 2 by
 * 1.1-1.7x and 1 by 1.8-2.5x (`npm run bench:kernels -- --only attention`).
 */
const ACCUMULATORS = 128;

/**
 * The most Q' row values and accumulators (queries x (dk + d)) for which the rule keeps the Q'
 * rows in registers; above it they are reloaded per key group. On SwiftShader, 4 queries of 32
 * channels run 1.15-1.5x faster with the rows in registers than reloaded; a GPU whose registers
 * they would spill may prefer the reload, which `polyc tune` times.
 */
const ROW_REGISTERS = 256;

/** Queries per invocation by the rule: the most whose accumulators fit ACCUMULATORS. */
function defaultQueries(d: number): number {
  let q = 4;
  while (q > 1 && q * d > ACCUMULATORS) q /= 2;
  return q;
}

/**
 * What the register template reads, or null where it does not apply: the score matmul, its
 * reduction length dk, and Q', K', V' as affine views.
 */
function registerOperands(
  unit: Unit,
  parts: Parts,
): { score: Op; dk: number; qv: Affine; kv: Affine; vv: Affine } | null {
  const { byId, out, v, p } = parts;
  const [, heads, d, nq] = out.type.shape as [Dim, number, number, number];
  const nk = v.type.shape[3] as number;
  const score = scoreMatmul(byId, p, [out.type.shape[0]!, heads, nq, nk]);
  if (!score) return null;
  const dk = byId.get(score.operands[0]!)!.type.shape[3] as number;
  if (d > MAX_HEAD_DIM || dk > MAX_HEAD_DIM) return null;
  const qv = affine(unit, byId, score.operands[0]!);
  const kv = affine(unit, byId, score.operands[1]!);
  const vv = affine(unit, byId, v.id);
  return qv && kv && vv ? { score, dk, qv, kv, vv } : null;
}

function renderRegisters(unit: Unit, parts: Parts, options: AttentionOptions): RenderedKernel | null {
  const operands = registerOperands(unit, parts);
  if (!operands) return null;
  const { score, dk, qv, kv, vv } = operands;
  const { out, v, p, l1 } = parts;
  const [, heads, d, nq] = out.type.shape as [Dim, number, number, number];
  const nk = v.type.shape[3] as number;
  const tq = options.queries ?? defaultQueries(d);
  const qRows = options.qRows ?? (tq * (dk + d) <= ROW_REGISTERS ? 'registers' : 'reload');
  if (!(ATTENTION_QUERIES as readonly number[]).includes(tq))
    throw new InternalError(`attention: ${tq} queries per invocation is not one of ${ATTENTION_QUERIES}`);

  // A K'/V' row segment u..u+3 is one aligned vec4 when the key axis is contiguous, every other
  // stride and the base are multiples of 4 (arena and weight offsets are, plan.ts), and so is N.
  const aligned = (a: Affine) =>
    a.strides[3] === 1 && nk % 4 === 0 && [a.base, ...a.strides.slice(0, 3)].every((s) => s % 4 === 0);
  const vecK = aligned(kv);
  const vecV = aligned(vv);
  const os = strides(out.type.shape).map((x) => Number.parseInt(x, 10));
  // Four queries' outputs of a channel are one vec4 store (the query axis is the output's last).
  const vecO = tq === 4 && nq % 4 === 0;
  // Q' rows reloaded per key group: the 4 queries' q_k are one vec4 when the query axis is
  // contiguous and aligned.
  const reload = qRows === 'reload';
  const vecQ =
    reload &&
    tq === 4 &&
    nq % 4 === 0 &&
    qv.strides[2] === 1 &&
    [qv.base, qv.strides[0]!, qv.strides[1]!, qv.strides[3]!].every((x) => x % 4 === 0);
  const vec4 = vecK || vecV || vecO || vecQ;
  const load = (buffer: string, at: string) =>
    vec4 ? `${buffer}[(${at}) >> 2u][(${at}) & 3u]` : `${buffer}[${at}]`;

  const w = new ExprWriter(unit.ops, unit.sources, {
    vec4Storage: vec4,
    anchor: (op, c) => {
      if (op.id !== score.id) return null;
      const j = Number(/^qt(\d+)$/.exec(c[2] ?? '')?.[1] ?? -1);
      const l = Number(/^ku(\d)$/.exec(c[3] ?? '')?.[1] ?? -1);
      return j >= 0 && l >= 0 ? `s${j}.${LANES[l]}` : null;
    },
  });
  const qs = Array.from({ length: tq }, (_, j) => j);
  const blocks = Math.ceil(nq / tq);
  const head = (name: string, a: Affine) =>
    `  let ${name} = ${offsetExpr(a.slot)} + ${a.base}u + b * ${a.strides[0]}u + h * ${a.strides[1]}u;`;
  const pre = [
    ...splitInvocation([
      ['tb', blocks],
      ['h', heads],
    ]),
    ...qs.map((j) => `  let qt${j} = min(tb * ${tq}u + ${j}u, ${nq - 1}u);`),
    head('qa', qv),
    head('ka', kv),
    head('va', vv),
  ];
  const qLoad = (j: number, k: number) =>
    load(qv.buffer, `qa + qt${j} * ${qv.strides[2]}u + ${k * qv.strides[3]!}u`);
  const qName = (j: number, k: number) => (vecQ ? `qk${k}.${LANES[j]}` : `q${j}_${k}`);
  if (!reload)
    for (const j of qs) for (let k = 0; k < dk; k++) pre.push(`  let q${j}_${k} = ${qLoad(j, k)};`);
  for (const j of qs) {
    if (l1) pre.push(`  var r${j} = vec4<f32>(0.0);`);
    for (let k = 0; k < d; k++) pre.push(`  var a${j}_${k} = 0.0;`);
  }

  /**
   * One group of `lanes` keys from `ku`: scores, P, the accumulators' updates. P's statements
   * that do not depend on the keys go to `hoisted` when it is given.
   */
  const group = (lanes: number, memo: Map<string, string>, hoisted?: string[]): string[] => {
    const body = LANES.map((_, l) => `let ku${l} = ku + ${l}u;`);
    // A row segment of K' or V' at channel k: one vec4, or its lanes (missing ones zero).
    const row = (a: Affine, vec: boolean, base: string, k: number) => {
      if (vec && lanes === 4) return `${a.buffer}[(${base} + ${k * a.strides[2]!}u + ku) >> 2u]`;
      const lane = (l: number) =>
        l < lanes
          ? load(a.buffer, `${base} + ${k * a.strides[2]! + l * a.strides[3]!}u + ku * ${a.strides[3]}u`)
          : '0.0';
      return `vec4<f32>(${LANES.map((_, l) => lane(l)).join(', ')})`;
    };
    for (let k = 0; k < dk; k++) {
      body.push(`let k${k} = ${row(kv, vecK, 'ka', k)};`);
      if (vecQ) body.push(`let qk${k} = ${qv.buffer}[(qa + ${k * qv.strides[3]!}u + tb * 4u) >> 2u];`);
      else if (reload) for (const j of qs) body.push(`let q${j}_${k} = ${qLoad(j, k)};`);
      for (const j of qs)
        body.push(k === 0 ? `var s${j} = ${qName(j, 0)} * k0;` : `s${j} += ${qName(j, k)} * k${k};`);
    }
    const stmts: string[] = [];
    for (const j of qs) {
      const lane = (l: number) =>
        l < lanes ? w.inline(p.id, ['b', 'h', `qt${j}`, `ku${l}`], stmts, memo) : '0.0';
      const ps = LANES.map((_, l) => lane(l));
      stmts.push(`let p${j} = vec4<f32>(${ps.join(', ')});`);
      if (l1) stmts.push(`r${j} += abs(p${j});`);
    }
    // The writer's statements that name no key-dependent value move out of the loop.
    const variant = new Set(['ku', ...LANES.map((_, l) => `ku${l}`), ...qs.map((j) => `s${j}`)]);
    for (const s of stmts.map((x) => x.trim())) {
      const m = /^let (t\d+) = (.*);$/.exec(s);
      const names = m ? (m[2]!.match(/[A-Za-z_]\w*/g) ?? []) : [];
      if (m && hoisted && !names.some((x) => variant.has(x))) hoisted.push(`  ${s}`);
      else {
        if (m) variant.add(m[1]!);
        body.push(s);
      }
    }
    for (let k = 0; k < d; k++) {
      body.push(`let w${k} = ${row(vv, vecV, 'va', k)};`);
      for (const j of qs) body.push(`a${j}_${k} += dot(p${j}, w${k});`);
    }
    return body;
  };

  const full = Math.floor(nk / 4);
  const hoisted: string[] = [];
  const loop = group(4, new Map(), hoisted);
  const lines = [...pre, ...hoisted];
  if (full > 0)
    lines.push(
      `  for (var g = 0u; g < ${full}u; g++) {`,
      '    let ku = g * 4u;',
      ...loop.map((s) => `    ${s}`),
      '  }',
    );
  if (nk % 4 !== 0)
    lines.push(
      '  {',
      `    let ku = ${full * 4}u;`,
      ...group(nk % 4, new Map()).map((s) => `    ${s}`),
      '  }',
    );

  const eps = l1 ? f32Literal(l1.attrs.eps) : '';
  lines.push(`  let oa = ${offsetExpr(0)} + b * ${os[0]}u + h * ${os[1]}u;`);
  for (const j of qs)
    lines.push(
      l1 ? `  let c${j} = 1.0 / max(r${j}.x + r${j}.y + r${j}.z + r${j}.w, ${eps});` : `  let c${j} = 1.0;`,
    );
  if (vecO) {
    lines.push(`  let cs = vec4<f32>(${qs.map((j) => `c${j}`).join(', ')});`);
    for (let k = 0; k < d; k++)
      lines.push(
        `  arena[(oa >> 2u) + ${(k * os[2]!) / 4}u + tb] = vec4<f32>(${qs.map((j) => `a${j}_${k}`).join(', ')}) * cs;`,
      );
  } else {
    for (const j of qs) {
      const stores = Array.from({ length: d }, (_, k) => {
        const at = `oa + ${k * os[2]!}u + qt${j}`;
        return `${load('arena', at)} = a${j}_${k} * c${j};`;
      });
      // The last block's clamped queries repeat the last one: stored once.
      if (nq % tq !== 0 && j >= nq % tq)
        lines.push(`  if (tb * ${tq}u + ${j}u < ${nq}u) {`, ...stores.map((s) => `    ${s}`), '  }');
      else lines.push(...stores.map((s) => `  ${s}`));
    }
  }
  const wgsl = [vec4 ? prelude('vec4<f32>') : PRELUDE, w.functions(), `${ENTRY}\n${lines.join('\n')}\n}`]
    .filter((x) => x !== '')
    .join('\n\n');
  return {
    name: `attention_${heads}x${d}x${nq}_q${tq}`,
    wgsl: `${wgsl}\n`,
    workgroupSize: WORKGROUP_SIZE,
    invocationsPerBatch: heads * blocks,
  };
}

/**
 * One invocation per (batch, head, query) sweeps the keys once, P and V' through the expression
 * writer's functions, accumulating sum |P| and P * V' for every channel of the head in an array.
 */
function renderGeneric(unit: Unit, parts: Parts): RenderedKernel | null {
  const { out: o, v, p, l1 } = parts;
  const [, heads, d, n] = o.type.shape as [unknown, number, number, number];
  if (d > MAX_GENERIC_HEAD_DIM) return null;
  const w = new ExprWriter(unit.ops, unit.sources);
  const pf = w.fn(p.id);
  const vf = w.fn(v.id);
  const nk = v.type.shape[3] as number;
  const os = strides(o.type.shape);
  const scale = l1 ? `1.0 / max(rs, ${f32Literal(l1.attrs.eps)})` : '1.0';
  const wgsl = [
    PRELUDE,
    w.functions(),
    `${ENTRY}
  let t = i % ${n}u;
  let h = (i / ${n}u) % ${heads}u;
  let b = i / ${n * heads}u;
  var acc: array<f32, ${d}>;
  var rs = 0.0;
  for (var u = 0u; u < ${nk}u; u++) {
    let p = ${pf}(vec4<u32>(b, h, t, u));
    rs += abs(p);
    for (var k = 0u; k < ${d}u; k++) {
      acc[k] += p * ${vf}(vec4<u32>(b, h, k, u));
    }
  }
  let scale = ${scale};
  let base = ${offsetExpr(0)} + b * ${os[0]} + h * ${os[1]} + t;
  for (var k = 0u; k < ${d}u; k++) {
    arena[base + k * ${os[2]}] = acc[k] * scale;
  }
}`,
  ].join('\n\n');
  return {
    name: `attention_${heads}x${d}x${n}`,
    wgsl: `${wgsl}\n`,
    workgroupSize: WORKGROUP_SIZE,
    invocationsPerBatch: heads * n,
  };
}
