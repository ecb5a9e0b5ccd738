import {
  type AdapterIdentity,
  acquireDevice,
  median,
  type Plan,
  type PlanTensor,
  type ProfileTiming,
  RuntimeError,
  WebGpuModel,
} from '../../../runtime/src/index.js';
import { AnalysisContext } from '../analysis/context.js';
import { type RenderedKernel, renderKernel, type Unit } from '../codegen/wgsl/kernels.js';
import { buildPlan, hash } from '../codegen/wgsl/plan.js';
import {
  describeVariant,
  type KernelVariant,
  renderVariant,
  unitSignature,
  variantSpace,
} from '../codegen/wgsl/variants.js';
import { storageFloatsPerImage } from '../ir/layout.js';
import { numel } from '../ir/shapes.js';
import type { Layout, Module, TensorType } from '../ir/types.js';
import { table } from './profile.js';
import { randomInput } from './random-weights.js';
import { adapterKey, type TuneCandidate, type TuneEntry } from './tune-cache.js';

/**
 * `polyc tune`: for each distinct kernel signature of a module's WebGPU plan, every variant of its
 * template (codegen/wgsl/variants.ts) is rendered, run alone on random data and checked against
 * the default variant's output, then timed on the adapter; the fastest that passed is the choice.
 * Kernels are tuned most expensive first (FLOPs and bytes over all their steps) until the time
 * budget runs out. A variant that does not compile or computes something else is recorded as
 * rejected and never chosen.
 */

export interface TuneOptions {
  /** The batch the kernels are timed at. */
  readonly batch: number;
  /** Timed repeats per variant (the median is kept), after one warm-up. */
  readonly runs: number;
  /** Stop starting new kernels after this many milliseconds. */
  readonly budgetMs: number;
  /** Back-to-back dispatches per timed repeat (their mean is one sample); default 4. */
  readonly dispatches?: number;
  /** Passed to `requestAdapter`: tune the adapter the model will run on. */
  readonly powerPreference?: GPUPowerPreference;
  /** A line per kernel as it is tuned. */
  readonly progress?: (line: string) => void;
  readonly ctx?: AnalysisContext;
}

export interface TunedKernel {
  readonly signature: string;
  /** Steps of the plan that run this kernel. */
  readonly steps: number;
  readonly entry: TuneEntry;
}

export interface TuneReport {
  readonly adapter: AdapterIdentity;
  readonly adapterKey: string;
  readonly adapterInfo: string;
  readonly timing: ProfileTiming | null;
  /** Kernels with a choice, in the order tuned. */
  readonly tuned: readonly TunedKernel[];
  /** Signatures with alternatives that the budget left untuned. */
  readonly skipped: readonly string[];
  /** Signatures whose template has no alternatives (attention, depthwise, elementwise). */
  readonly fixed: number;
}

/** How much faster than the default a variant must be when re-timed against it to be chosen. */
export const CONFIRM_MARGIN = 0.03;

/** The largest relative difference (max |a - b| / max |b|) a variant may show from the default. */
export const TUNE_TOLERANCE = 1e-5;

/**
 * The summary `polyc tune` prints: one row per tuned kernel (signature, chosen variant, steps,
 * default and best ms per dispatch, speed-up, rejected variants), then the total over the steps.
 */
export function formatTuneTable(report: TuneReport): string {
  const rows = [
    ['signature', 'chosen variant', 'steps', 'default ms', 'best ms', 'speedup', 'rejected'],
    ...report.tuned.map(({ signature, steps, entry: e }) => [
      signature,
      describeVariant(e.variant),
      String(steps),
      e.defaultMs.toFixed(3),
      e.ms.toFixed(3),
      `${speedup(e.defaultMs, e.ms).toFixed(2)}x`,
      String(e.candidates.filter((c) => c.rejected).length),
    ]),
  ];
  const total = (ms: (e: TuneEntry) => number) => report.tuned.reduce((s, t) => s + t.steps * ms(t.entry), 0);
  const before = total((e) => e.defaultMs);
  const after = total((e) => e.ms);
  const left =
    report.skipped.length > 0 ? `, ${report.skipped.length} left for lack of time (--budget-s)` : '';
  return [
    ...table(rows, 2),
    '',
    `tuned ${report.tuned.length} kernel(s) (${report.fixed} have no variants${left}); their steps take ` +
      `${before.toFixed(2)} ms by default, ${after.toFixed(2)} ms tuned (${speedup(before, after).toFixed(2)}x)`,
  ].join('\n');
}

const speedup = (before: number, after: number) => (after > 0 ? before / after : 1);

interface Work {
  readonly signature: string;
  readonly unit: Unit;
  /** Whether its template has variants besides the rule. */
  readonly tunable: boolean;
  steps: number;
  /** FLOPs plus bytes over its steps: the order kernels are tuned in. */
  cost: number;
}

export async function tuneModule(m: Module, options: TuneOptions): Promise<TuneReport> {
  const started = performance.now();
  const { batch, runs } = options;
  const dispatches = options.dispatches ?? 4;
  const units: Unit[] = [];
  const { plan } = buildPlan(m, batch, options.ctx ?? new AnalysisContext(), (unit) => {
    units.push(unit);
    return renderKernel(unit);
  });
  const work = new Map<string, Work>();
  units.forEach((unit, i) => {
    const step = plan.steps[i]!;
    const signature = unitSignature(unit);
    let w = work.get(signature);
    if (!w) {
      w = { signature, unit, tunable: variantSpace(unit).others.length > 0, steps: 0, cost: 0 };
      work.set(signature, w);
    }
    w.steps++;
    w.cost += (step.flopsPerBatch ?? 0) + step.bytesPerBatch;
  });
  const fixed = [...work.values()].filter((w) => !w.tunable).length;
  const queue = [...work.values()].filter((w) => w.tunable).sort((a, b) => b.cost - a.cost);

  const acquired = await acquireDevice({
    ...(options.powerPreference ? { powerPreference: options.powerPreference } : {}),
    optionalFeatures: ['timestamp-query'],
  });
  const tuned: TunedKernel[] = [];
  const skipped: string[] = [];
  let timing: ProfileTiming | null = null;
  try {
    for (const [i, w] of queue.entries()) {
      if (performance.now() - started > options.budgetMs) {
        skipped.push(w.signature);
        continue;
      }
      const t0 = performance.now();
      const result = await tuneUnit(w.unit, acquired.device, { batch, runs, dispatches });
      timing = result.timing ?? timing;
      const entry = result.entry;
      tuned.push({ signature: w.signature, steps: w.steps, entry });
      options.progress?.(
        `[${i + 1}/${queue.length}] ${entry.kernel} (${w.steps} step(s)): default ${entry.defaultMs.toFixed(3)} ms, ` +
          `best ${describeVariant(entry.variant)} ${entry.ms.toFixed(3)} ms (${speedup(entry.defaultMs, entry.ms).toFixed(2)}x), ` +
          `${entry.candidates.length} variants, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
    }
  } finally {
    acquired.device.destroy();
  }
  return {
    adapter: acquired.adapter,
    adapterKey: adapterKey(acquired.adapter),
    adapterInfo: acquired.adapterInfo,
    timing,
    tuned,
    skipped,
    fixed,
  };
}

interface Candidate {
  readonly variant: KernelVariant;
  readonly kernel: RenderedKernel | null;
  rejected?: string;
  /** The earlier candidate with the same WGSL, whose time this one shares. */
  same?: Candidate;
  model?: WebGpuModel;
  samples: number[];
}

/**
 * Every variant of one unit, validated against the default and timed; the fastest valid one,
 * confirmed against the default in a second round (the entry's `ms` and `defaultMs` come from it).
 */
async function tuneUnit(
  unit: Unit,
  device: GPUDevice,
  o: { batch: number; runs: number; dispatches: number },
): Promise<{ entry: TuneEntry; timing: ProfileTiming | null }> {
  const space = variantSpace(unit);
  const byWgsl = new Map<string, Candidate>();
  const candidates: Candidate[] = [space.default, ...space.others].map((variant) => {
    let kernel: RenderedKernel | null = null;
    let rejected: string | undefined;
    try {
      kernel = renderVariant(unit, variant);
      if (!kernel) rejected = 'the template does not apply to this unit';
    } catch (e) {
      rejected = `rendering failed: ${(e as Error).message}`;
    }
    const c: Candidate = { variant, kernel, samples: [], ...(rejected ? { rejected } : {}) };
    if (kernel) {
      const same = byWgsl.get(kernel.wgsl);
      if (same) c.same = same;
      else byWgsl.set(kernel.wgsl, c);
    }
    return c;
  });
  const [first] = candidates as [Candidate];
  const data = unitData(unit, o.batch);
  let timing: ProfileTiming | null = null;
  let best = first;
  let defaultMs = 0;
  let bestMs = 0;
  try {
    let reference: Float32Array | undefined;
    for (const c of candidates) {
      if (c.rejected || c.same || !c.kernel) continue;
      try {
        c.model = await WebGpuModel.create(
          unitPlan(unit, c.kernel, o.batch, o.dispatches, data),
          data.weights,
          {
            device,
          },
        );
        const [raw] = (await c.model.run(data.inputs, o.batch)) as [Float32Array];
        const out = withoutPadding(raw, unit);
        if (!reference) reference = out;
        else {
          const diff = relDiff(out, reference);
          if (!(diff < TUNE_TOLERANCE))
            c.rejected = `output differs from the default's (rel ${diff.toExponential(1)})`;
        }
        if (!c.rejected) await c.model.time(data.inputs, o.batch, { repeats: 1 });
      } catch (e) {
        c.rejected = `failed on the adapter: ${(e as Error).message.split('\n')[0]}`;
      }
      // Without the default there is nothing to compare with, and the model cannot run either.
      if (c === first && c.rejected) {
        throw new RuntimeError('gpu-error', `the default kernel ${c.kernel.name} failed: ${c.rejected}`);
      }
    }
    const timed = candidates.filter((c) => c.model && !c.rejected);
    /** `runs` samples of each of `list`, interleaved, so that a drift of the machine's speed touches them alike. */
    const sample = async (list: readonly Candidate[], into: (c: Candidate) => number[]) => {
      for (let r = 0; r < o.runs; r++) {
        for (const c of list) {
          const t = await c.model!.time(data.inputs, o.batch, { repeats: 1 });
          timing = t.timing;
          into(c).push(t.ms[0]! / o.dispatches);
        }
      }
    };
    await sample(timed, (c) => c.samples);
    for (const c of timed) if (median(c.samples) < median(best.samples)) best = c;
    defaultMs = median(first.samples);
    bestMs = median(best.samples);
    if (best !== first) {
      // The fastest of several noisy medians won partly by luck (its median is biased low): the
      // default and it are timed again, and it is chosen only if it still wins by CONFIRM_MARGIN.
      const again = new Map<Candidate, number[]>([
        [first, []],
        [best, []],
      ]);
      await sample([first, best], (c) => again.get(c)!);
      defaultMs = median(again.get(first)!);
      bestMs = median(again.get(best)!);
      if (!(bestMs < defaultMs * (1 - CONFIRM_MARGIN))) {
        best = first;
        bestMs = defaultMs;
      }
    }
  } finally {
    for (const c of candidates) c.model?.destroy();
  }
  const results: TuneCandidate[] = candidates.map((c) => {
    const src = c.same ?? c;
    const rejected = src.rejected;
    const ms = rejected || src.samples.length === 0 ? undefined : median(src.samples);
    return { variant: c.variant, ...(ms === undefined ? {} : { ms }), ...(rejected ? { rejected } : {}) };
  });
  return {
    entry: {
      variant: best.variant,
      ms: bestMs,
      defaultMs,
      batch: o.batch,
      kernel: first.kernel!.name,
      candidates: results,
    },
    timing,
  };
}

interface UnitData {
  /** Per source slot: the arena input index, or the weights offset. */
  readonly layout: readonly { readonly buffer: 'arena' | 'weights'; readonly offset: number }[];
  readonly tensors: readonly PlanTensor[];
  readonly output: PlanTensor;
  readonly arenaFloats: number;
  readonly inputs: readonly Float32Array[];
  readonly weights: Float32Array;
}

const align4 = (n: number) => Math.ceil(n / 4) * 4;

/**
 * Random operands for `unit` at `batch`: its arena sources as inputs after the output in a
 * small arena, its weight sources packed in a weights buffer; offsets aligned to 4 floats, as
 * the planner aligns them (the vec4 templates need it).
 */
function unitData(unit: Unit, batch: number): UnitData {
  const byId = new Map(unit.ops.map((o) => [o.id, o]));
  // NC4HW4 values (assign-layouts) take their padded size, as in the model's arena.
  const perBatch = (type: TensorType, layout: Layout | undefined) =>
    storageFloatsPerImage(layout ? { ...type, layout } : type);
  const batchShape = (shape: readonly (number | string)[]): (number | 'batch')[] =>
    shape.map((d) => (typeof d === 'number' ? d : 'batch'));
  const root = byId.get(unit.result)!;
  const output: PlanTensor = {
    name: 'output',
    shape: batchShape(root.type.shape),
    offset: 0,
    perBatch: perBatch(root.type, unit.layout),
  };
  let arena = align4(output.perBatch * batch);
  let weightFloats = 0;
  const tensors: PlanTensor[] = [];
  const inputs: Float32Array[] = [];
  const parts: Float32Array[] = [];
  const layout = unit.sources.map((s, index) => {
    const arg = unit.ops.find((o) => o.op === 'arg' && o.attrs.index === index)!;
    const shape = arg.type.shape;
    if (s.buffer === 'arena') {
      const t: PlanTensor = {
        name: `arg${index}`,
        shape: batchShape(shape),
        offset: arena,
        perBatch: perBatch(arg.type, s.layout),
      };
      tensors.push(t);
      inputs.push(randomInput([t.perBatch * batch], 1 + index).data);
      arena += align4(t.perBatch * batch);
      return { buffer: s.buffer, offset: t.offset };
    }
    const offset = weightFloats;
    const values = randomInput([numel(shape.map((d) => (typeof d === 'number' ? d : 1)))], 101 + index).data;
    parts.push(values);
    weightFloats += align4(values.length);
    return { buffer: s.buffer, offset };
  });
  const weights = new Float32Array(Math.max(4, weightFloats));
  let at = 0;
  for (const p of parts) {
    weights.set(p, at);
    at += align4(p.length);
  }
  return { layout, tensors, output, arenaFloats: Math.max(4, arena), inputs, weights };
}

/** A plan of `dispatches` back-to-back steps of `kernel` computing `unit` (each writes the same output). */
function unitPlan(unit: Unit, kernel: RenderedKernel, batch: number, dispatches: number, d: UnitData): Plan {
  const key = `${kernel.name}#${hash(kernel.wgsl)}`;
  const offsets = [0, ...d.layout.map((l) => l.offset)];
  const step = {
    kernel: key,
    label: kernel.name,
    offsets,
    invocationsPerBatch: kernel.invocationsPerBatch,
    bytesPerBatch: 0,
  };
  return {
    version: 1,
    name: `tune ${unit.family}`,
    maxBatch: batch,
    arenaFloats: d.arenaFloats,
    weightFloats: d.weights.length,
    inputs: d.tensors,
    outputs: [d.output],
    kernels: [{ name: kernel.name, key, wgsl: kernel.wgsl, workgroupSize: kernel.workgroupSize }],
    steps: Array.from({ length: dispatches }, () => step),
    memory: {
      plannedBytes: 4 * d.arenaFloats,
      lowerBoundBytes: 0,
      noReuseBytes: 0,
      weightBytes: 4 * d.weights.length,
    },
  };
}

/**
 * `out` with the padding lanes of an NC4HW4 result zeroed: they hold whatever a variant stored there
 * (block stores write the clamped channels' values, scalar stores nothing), never data.
 */
function withoutPadding(out: Float32Array, unit: Unit): Float32Array {
  const root = unit.ops.find((o) => o.id === unit.result)!;
  const channels = root.type.shape[1];
  if (unit.layout !== 'nc4hw4' || typeof channels !== 'number' || channels % 4 === 0) return out;
  const hw = root.type.shape.slice(2).reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1);
  const data = out.slice();
  for (let i = 0; i < data.length; i++) {
    // i = ((b * blocks + block) * hw + pixel) * 4 + lane: channel block * 4 + lane.
    if ((Math.floor(i / (4 * hw)) % Math.ceil(channels / 4)) * 4 + (i % 4) >= channels) data[i] = 0;
  }
  return data;
}

/** The largest absolute difference from `reference`, relative to the reference's largest magnitude. */
export function relDiff(a: Float32Array, reference: Float32Array): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < reference.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - reference[i]!));
    s = Math.max(s, Math.abs(reference[i]!));
  }
  return s > 0 ? d / s : d;
}
