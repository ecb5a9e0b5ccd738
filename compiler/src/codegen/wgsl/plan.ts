import { PLAN_VERSION, type Plan, type PlanTensor, type Step } from '../../../../runtime/src/plan.js';
import { constnessAnalysis } from '../../analysis/constness.js';
import type { AnalysisContext } from '../../analysis/context.js';
import { opFlops } from '../../analysis/cost.js';
import { type Interval, lifetimes, placeTensors } from '../../analysis/memory-plan.js';
import { InternalError } from '../../diagnostics/diagnostic.js';
import { storageFloatsPerImage } from '../../ir/layout.js';
import { numel } from '../../ir/shapes.js';
import type { Dim, Module, Op, ValueId } from '../../ir/types.js';
import type { Source } from './expr.js';
import { type RenderedKernel, renderKernel, type Unit } from './kernels.js';

/**
 * Turns an (optimised) module into a runtime Plan: one step per data-path op or fused op, views
 * (slice, reshape, flip, transpose) folded into the kernels that read them, load-time constants
 * packed into the weights buffer, activations placed in one arena by liveness.
 */

export interface ConstantSlot {
  readonly id: ValueId;
  /** Offset in the packed weights buffer, in floats. */
  readonly offset: number;
  readonly size: number;
}

export interface CompiledPlan {
  readonly plan: Plan;
  /** Which module values fill the weights buffer (evaluated from the checkpoint at load time). */
  readonly constants: readonly ConstantSlot[];
  /** The module value each step computes, in step order (for profiles and the inspector). */
  readonly stepValues: readonly ValueId[];
  /** Every arena value's lifetime in steps and its offset (floats, at maxBatch): the memory plan. */
  readonly arena: readonly (Interval & { readonly offset: number })[];
}

const VIEWS = new Set(['slice', 'reshape', 'flip', 'transpose']);

export function buildPlan(
  m: Module,
  maxBatch: number,
  ctx: AnalysisContext,
  /** Renders each unit; benchmarks pass other kernel options. */
  render: (unit: Unit) => RenderedKernel = renderKernel,
): CompiledPlan {
  const constant = ctx.get(constnessAnalysis, m);
  const byId = new Map(m.ops.map((o) => [o.id, o]));
  const outputs = new Set(m.outputs);
  const isView = (op: Op) => VIEWS.has(op.op) && !constant.has(op.id) && !outputs.has(op.id);

  // Load-time constants read by the data path, packed in first-use order.
  const constants: ConstantSlot[] = [];
  const constantOffset = new Map<ValueId, number>();
  let weightFloats = 0;
  const constantSlot = (id: ValueId): number => {
    let offset = constantOffset.get(id);
    if (offset === undefined) {
      offset = weightFloats;
      const size = numel(byId.get(id)!.type.shape);
      constants.push({ id, offset, size });
      constantOffset.set(id, offset);
      weightFloats += Math.ceil(size / 4) * 4;
    }
    return offset;
  };

  interface PendingStep {
    readonly unit: Unit;
    readonly label: string;
    readonly output: ValueId;
    /** Per source slot (after the output): a materialised value or a constant. */
    readonly reads: readonly { readonly id: ValueId; readonly constant: boolean }[];
  }
  const pending: PendingStep[] = [];

  for (const op of m.ops) {
    if (constant.has(op.id) || op.op === 'input' || isView(op)) continue;
    const body: Op[] = [];
    const reads: { id: ValueId; constant: boolean }[] = [];
    const sources: Source[] = [];
    const local = new Map<ValueId, ValueId>();
    /** The body id standing for outer value `x`: a view is copied in, anything else is an arg. */
    const ref = (x: ValueId): ValueId => {
      const hit = local.get(x);
      if (hit !== undefined) return hit;
      const def = byId.get(x)!;
      let id: ValueId;
      if (isView(def)) {
        const operand = ref(def.operands[0]!);
        id = body.length;
        body.push({ ...def, id, operands: [operand] } as Op);
      } else {
        id = body.length;
        const isConst = constant.has(x);
        // The arg is the logical value; where it lives (its layout) is the source's business.
        const { layout, ...type } = def.type;
        body.push({
          id,
          op: 'arg',
          operands: [],
          attrs: { index: reads.length },
          type,
          loc: null,
          scope: '',
        });
        const buffer = isConst ? 'weights' : 'arena';
        sources.push(
          layout ? { buffer, slot: reads.length + 1, layout } : { buffer, slot: reads.length + 1 },
        );
        reads.push({ id: x, constant: isConst });
      }
      local.set(x, id);
      return id;
    };
    let result: ValueId;
    let family: string;
    if (op.op === 'fused') {
      const inner = new Map<ValueId, ValueId>();
      for (const o of op.attrs.body.ops) {
        if (o.op === 'arg') {
          inner.set(o.id, ref(op.operands[o.attrs.index]!));
          continue;
        }
        const id = body.length;
        body.push({ ...o, id, operands: o.operands.map((x) => inner.get(x)!) } as Op);
        inner.set(o.id, id);
      }
      result = inner.get(op.attrs.body.result)!;
      family = op.attrs.kind;
    } else {
      const operands = op.operands.map(ref);
      result = body.length;
      body.push({ ...op, id: result, operands } as Op);
      family = op.op;
    }
    const layout = op.type.layout;
    pending.push({
      unit: layout ? { ops: body, result, sources, family, layout } : { ops: body, result, sources, family },
      label: `${op.scope}/${op.op === 'fused' ? op.attrs.kind : op.op} %${op.id}`,
      output: op.id,
      reads,
    });
  }

  // Materialised values (inputs and step outputs) placed in the arena by their lifetimes in steps.
  const inputs = m.ops.filter((o) => o.op === 'input');
  const materialised = new Set([...inputs.map((o) => o.id), ...pending.map((p) => p.output)]);
  for (const id of m.outputs) {
    if (!materialised.has(id)) throw new InternalError(`output %${id} is not computed by any step`);
  }
  // NC4HW4 values take their padded size: the planner's lower bound counts the padding too.
  const perBatch = (id: ValueId) => storageFloatsPerImage(byId.get(id)!.type);
  const intervals = lifetimes({
    inputs: inputs.map((o) => o.id),
    steps: pending.map((p) => ({
      writes: p.output,
      reads: p.reads.filter((r) => !r.constant).map((r) => r.id),
    })),
    outputs: m.outputs,
    size: (id) => perBatch(id) * maxBatch,
  });
  const placement = placeTensors(intervals);
  const arena = (id: ValueId) => placement.offsets.get(id)!;

  // Kernels, deduplicated by their WGSL.
  const kernels = new Map<string, Plan['kernels'][number]>();
  const steps: Step[] = pending.map((p) => {
    const k = render(p.unit);
    const key = `${k.name}#${hash(k.wgsl)}`;
    if (!kernels.has(key))
      kernels.set(key, { name: k.name, key, wgsl: k.wgsl, workgroupSize: k.workgroupSize });
    const dataBytes = [p.output, ...p.reads.filter((r) => !r.constant).map((r) => r.id)].reduce(
      (s, id) => s + 4 * perBatch(id),
      0,
    );
    const offsets = [arena(p.output), ...p.reads.map((r) => (r.constant ? constantSlot(r.id) : arena(r.id)))];
    // GEMM kernels read and write vec4s at these offsets (gemm.ts).
    if (offsets.some((o) => o % 4 !== 0))
      throw new InternalError(`${p.label}: an offset is not a multiple of 4`);
    return {
      kernel: key,
      label: p.label,
      offsets,
      invocationsPerBatch: k.invocationsPerBatch,
      bytesPerBatch: dataBytes,
      flopsPerBatch: opFlops(byId.get(p.output)!, byId),
    };
  });

  // The runtime reads and writes model inputs and outputs in NCHW order (assign-layouts keeps them so).
  for (const o of [...inputs.map((o) => o.id), ...m.outputs]) {
    if (byId.get(o)!.type.layout !== undefined)
      throw new InternalError(`model input or output %${o} must be stored in NCHW order`);
  }
  const tensor = (id: ValueId, name: string): PlanTensor => ({
    name,
    shape: byId.get(id)!.type.shape.map((d: Dim) => (typeof d === 'number' ? d : 'batch')),
    offset: arena(id),
    perBatch: perBatch(id),
  });
  const plan: Plan = {
    version: PLAN_VERSION,
    name: m.name,
    maxBatch,
    // A whole number of vec4s: kernels may declare the arena array<vec4<f32>>.
    arenaFloats: Math.max(4, Math.ceil(placement.total / 4) * 4),
    weightFloats: Math.max(4, weightFloats),
    inputs: inputs.map((o) => tensor(o.id, o.op === 'input' ? o.attrs.name : 'input')),
    outputs: m.outputs.map((id, i) => tensor(id, m.outputs.length === 1 ? 'logits' : `output_${i}`)),
    kernels: [...kernels.values()],
    steps,
    memory: {
      plannedBytes: 4 * placement.total,
      lowerBoundBytes: 4 * placement.lowerBound,
      noReuseBytes: 4 * placement.noReuse,
      weightBytes: 4 * weightFloats,
    },
  };
  return {
    plan,
    constants,
    stepValues: pending.map((p) => p.output),
    arena: intervals.map((t) => ({ ...t, offset: arena(t.id) })),
  };
}

/** FNV-1a of a string, as 8 hex digits: a short, stable pipeline cache key. */
export function hash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}
