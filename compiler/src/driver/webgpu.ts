import {
  type ModelStats,
  type Profile,
  type ProfileOptions,
  WebGpuModel,
} from '../../../runtime/src/index.js';
import { constnessAnalysis } from '../analysis/constness.js';
import { AnalysisContext } from '../analysis/context.js';
import { buildPlan, type CompiledPlan } from '../codegen/wgsl/plan.js';
import { type KernelVariant, renderChosen } from '../codegen/wgsl/variants.js';
import { interpret, type Tensor } from '../ir/interpret.js';
import type { Module } from '../ir/types.js';

/**
 * The WebGPU path of the driver: a module (normally after the default pipeline) becomes a runtime
 * plan, and a checkpoint becomes the plan's packed weights buffer: every load-time constant the
 * kernels read (folded weights, BN affine maps, scales), evaluated once here by the interpreter.
 * These are entry points: pass the compile's analysis context to share its analyses; without one,
 * each call makes its own.
 */
export function compileForWebGpu(
  m: Module,
  maxBatch: number,
  ctx = new AnalysisContext(),
  tuned?: TunedKernels,
): TunedPlan {
  const used = { chosen: 0, stale: 0 };
  const compiled = buildPlan(m, maxBatch, ctx, renderChosen(tuned ?? new Map(), used));
  return { ...compiled, tuned: used };
}

/** Kernel signature -> the variant to render it as (from a tune cache, driver/tune-cache.ts). */
export type TunedKernels = ReadonlyMap<string, KernelVariant>;

export interface TunedPlan extends CompiledPlan {
  /** Steps rendered as a tuned choice, and choices that no longer apply (rendered by the default rule). */
  readonly tuned: { readonly chosen: number; readonly stale: number };
}

/** What a compile did with its tuned choices, in one line. */
export function describeTuned(compiled: TunedPlan): string {
  const { chosen, stale } = compiled.tuned;
  const steps = compiled.plan.steps.length;
  return `${chosen} of ${steps} steps use a tuned kernel variant${
    stale > 0 ? `; ${stale} whose cached choice no longer applies use the default` : ''
  }`;
}

export function packWeights(
  m: Module,
  compiled: CompiledPlan,
  weights: ReadonlyMap<string, Float32Array>,
  ctx = new AnalysisContext(),
): Float32Array {
  const constant = ctx.get(constnessAnalysis, m);
  const prep: Module = {
    ...m,
    ops: m.ops.filter((o) => constant.has(o.id)),
    outputs: compiled.constants.map((c) => c.id),
  };
  const values = interpret(prep, [], weights);
  const packed = new Float32Array(compiled.plan.weightFloats);
  compiled.constants.forEach((c, i) => {
    packed.set(values[i]!.data.subarray(0, c.size), c.offset);
  });
  return packed;
}

export interface WebGpuRun {
  readonly outputs: Tensor[];
  readonly stats: ModelStats;
  readonly plan: CompiledPlan['plan'];
  /** How many steps used tuned choices (see `describeTuned`). */
  readonly compiled: TunedPlan;
  /** With `profile` options: every step timed after the run. */
  readonly profile?: Profile;
}

/**
 * `polyc run --backend webgpu`: compiles `m` for the input's batch (with `tuned` choices where
 * given), runs it once on WebGPU (then
 * profiles it, given `profile`) and releases the device's buffers. Planning and packing share one
 * analysis context.
 */
export async function runOnWebGpu(
  m: Module,
  weights: ReadonlyMap<string, Float32Array>,
  input: Tensor,
  profile?: ProfileOptions,
  ctx = new AnalysisContext(),
  tuned?: TunedKernels,
): Promise<WebGpuRun> {
  const batch = input.shape[0] ?? 1;
  const compiled = compileForWebGpu(m, batch, ctx, tuned);
  const model = await WebGpuModel.create(compiled.plan, packWeights(m, compiled, weights, ctx), {
    profiling: profile !== undefined,
  });
  try {
    const outs = await model.run([input.data], batch);
    const outputs = compiled.plan.outputs.map((o, i) => ({
      shape: o.shape.map((d) => (d === 'batch' ? batch : d)),
      data: outs[i]!,
    }));
    const stats = model.stats;
    if (!profile) return { outputs, stats, plan: compiled.plan, compiled };
    return {
      outputs,
      stats,
      plan: compiled.plan,
      compiled,
      profile: await model.profile([input.data], batch, profile),
    };
  } finally {
    model.destroy();
  }
}

export function formatWebGpuStats(r: WebGpuRun): string {
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const m = r.plan.memory;
  return [
    `webgpu: ${r.stats.dispatches} dispatches, ${r.stats.submits} submit, ${r.plan.kernels.length} kernels, ${mb(r.stats.bytesMoved)} moved`,
    `memory: activations ${mb(m.plannedBytes)} planned (lower bound ${mb(m.lowerBoundBytes)}, no reuse ${mb(m.noReuseBytes)}), weights ${mb(m.weightBytes)}, peak ${mb(r.stats.peakMemoryBytes)}`,
  ].join('\n');
}
