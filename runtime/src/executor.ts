/**
 * `WebGpuModel`, the executor of a compiled `Plan` (`polyc run --backend webgpu`, benchmarks): it
 * validates the plan and the inputs, adapts the plan into a `GpuProgram` (a generic `encode` that
 * loops over the plan's steps) and runs it on the shared engine (engine.ts), which owns the device,
 * the buffers, the single submit per inference, readback and device loss.
 */

import { RuntimeError } from './device.js';
import { bufferSizes, dispatch, type EngineOptions, GpuEngine, type GpuProgram } from './engine.js';
import { type Kernel, MAX_OFFSETS, PARAMS_BYTES, PLAN_VERSION, type Plan, type Step } from './plan.js';
import { type Profile, type ProfileOptions, type ProgramTimes, summarizeProfile } from './profile.js';

const U32_MAX = 0xffff_ffff;
const PARAMS_WORDS = PARAMS_BYTES / 4;

export interface ModelOptions extends EngineOptions {}

export interface ModelStats {
  /** Dispatches encoded by the last run (steps with no work are skipped). */
  readonly dispatches: number;
  /** `queue.submit` calls since creation (one per run). */
  readonly submits: number;
  /** Sum over steps of `bytesPerBatch * batch` for the last run (the plan's estimate). */
  readonly bytesMoved: number;
  /** GPU memory held: arena + weights + uniforms + readback buffers, in bytes. */
  readonly peakMemoryBytes: number;
  /** Compute pipelines compiled (one per distinct kernel key). */
  readonly pipelines: number;
  /** Times the device was lost and recreated. */
  readonly deviceRecreations: number;
}

const tensors = (list: Plan['outputs']) => list.map((t) => ({ offset: t.offset, perImage: t.perBatch }));

/** The device limits a plan needs (to pass as `requiredLimits`). */
export function planLimits(plan: Plan): Record<string, number> {
  const s = bufferSizes({ ...plan, steps: plan.steps.length, outputs: tensors(plan.outputs) });
  const workgroup = plan.kernels.reduce((m, k) => Math.max(m, k.workgroupSize), 1);
  return {
    maxStorageBufferBindingSize: Math.max(s.arenaBytes, s.weightBytes),
    maxBufferSize: Math.max(s.arenaBytes, s.weightBytes, s.uniformBytes, s.readbackBytes),
    maxComputeInvocationsPerWorkgroup: workgroup,
    maxComputeWorkgroupSizeX: workgroup,
  };
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** Checks a plan's structure (and the weights' length); throws `RuntimeError('bad-plan')`. */
export function validatePlan(plan: Plan, weights?: Float32Array): void {
  const bad = (msg: string): never => {
    throw new RuntimeError('bad-plan', `plan "${plan?.name ?? '?'}": ${msg}`);
  };
  if (typeof plan !== 'object' || plan === null) bad('not an object');
  if (plan.version !== PLAN_VERSION)
    bad(`version ${String(plan.version)}, this runtime reads ${PLAN_VERSION}`);
  if (!isCount(plan.maxBatch) || plan.maxBatch < 1)
    bad(`maxBatch ${plan.maxBatch} is not a positive integer`);
  if (!isCount(plan.arenaFloats)) bad(`arenaFloats ${plan.arenaFloats} is not a non-negative integer`);
  if (!isCount(plan.weightFloats)) bad(`weightFloats ${plan.weightFloats} is not a non-negative integer`);
  if (weights !== undefined) {
    if (!(weights instanceof Float32Array)) bad('weights must be a Float32Array');
    if (weights.length !== plan.weightFloats) {
      bad(`weights have ${weights.length} floats, the plan packs ${plan.weightFloats}`);
    }
  }
  for (const [kind, list] of [
    ['input', plan.inputs],
    ['output', plan.outputs],
  ] as const) {
    for (const t of list) {
      if (!isCount(t.offset) || !isCount(t.perBatch))
        bad(`${kind} ${t.name}: offset/perBatch must be integers`);
      if (t.offset + t.perBatch * plan.maxBatch > plan.arenaFloats) {
        bad(
          `${kind} ${t.name} [${t.offset}, ${t.offset + t.perBatch * plan.maxBatch}) ` +
            `lies outside the arena of ${plan.arenaFloats} floats`,
        );
      }
    }
  }
  const kernels = new Map<string, Kernel>();
  for (const k of plan.kernels) {
    if (typeof k.wgsl !== 'string' || typeof k.key !== 'string')
      bad(`kernel ${k.name}: key and wgsl must be strings`);
    if (!isCount(k.workgroupSize) || k.workgroupSize < 1) {
      bad(`kernel ${k.name}: workgroupSize ${k.workgroupSize} is not a positive integer`);
    }
    const prev = kernels.get(k.key);
    if (prev && (prev.wgsl !== k.wgsl || prev.workgroupSize !== k.workgroupSize)) {
      bad(`kernels ${prev.name} and ${k.name} share the key ${k.key} but differ`);
    }
    kernels.set(k.key, prev ?? k);
  }
  plan.steps.forEach((s, i) => {
    const where = `step ${i} (${s.label})`;
    if (!kernels.has(s.kernel)) bad(`${where} refers to the unknown kernel ${s.kernel}`);
    if (s.offsets.length > MAX_OFFSETS)
      bad(`${where} has ${s.offsets.length} offsets, at most ${MAX_OFFSETS} fit`);
    for (const o of s.offsets) if (!isCount(o) || o > U32_MAX) bad(`${where}: offset ${o} is not a u32`);
    if (!isCount(s.invocationsPerBatch) || s.invocationsPerBatch * plan.maxBatch > U32_MAX) {
      bad(`${where}: invocationsPerBatch ${s.invocationsPerBatch} is not a u32 at maxBatch`);
    }
    if (!(s.bytesPerBatch >= 0)) bad(`${where}: bytesPerBatch ${s.bytesPerBatch} is negative`);
    if (s.flopsPerBatch !== undefined && !(s.flopsPerBatch >= 0))
      bad(`${where}: flopsPerBatch ${s.flopsPerBatch} is negative`);
  });
}

/**
 * A plan as a `GpuProgram`: the kernels its steps use (in order of first use), and an `encode`
 * that loops over the steps (a generated package unrolls this loop into straight-line code).
 */
export function planProgram(plan: Plan): GpuProgram {
  const byKey = new Map<string, Kernel>(plan.kernels.map((k) => [k.key, k]));
  const firstUse = new Map<string, Step>();
  for (const s of plan.steps) if (!firstUse.has(s.kernel)) firstUse.set(s.kernel, s);
  const keys = [...firstUse.keys()];
  const shaderIndex = new Map(keys.map((key, i) => [key, i]));
  const kernel = (s: Step) => byKey.get(s.kernel)!;
  const workgroups = (s: Step, batch: number) =>
    Math.ceil((s.invocationsPerBatch * batch) / kernel(s).workgroupSize);
  let widestStep = 0;
  plan.steps.forEach((s, i) => {
    if (workgroups(s, plan.maxBatch) > workgroups(plan.steps[widestStep]!, plan.maxBatch)) widestStep = i;
  });
  const widest = plan.steps[widestStep];
  return {
    name: plan.name,
    shaders: keys.map((key) => {
      const k = byKey.get(key)!;
      return {
        name: k.name,
        code: k.wgsl,
        workgroupSize: k.workgroupSize,
        where: `kernel ${k.name} (key ${k.key}, first used by step "${firstUse.get(key)!.label}")`,
      };
    }),
    steps: plan.steps.length,
    labels: plan.steps.map((s) => s.label),
    limits: planLimits(plan),
    maxBatch: plan.maxBatch,
    arenaFloats: plan.arenaFloats,
    weightFloats: plan.weightFloats,
    inputs: tensors(plan.inputs),
    outputs: tensors(plan.outputs),
    maxWorkgroups: widest ? workgroups(widest, plan.maxBatch) : 0,
    widestStep,
    initParams(params) {
      plan.steps.forEach((s, i) => {
        params.set(s.offsets, i * PARAMS_WORDS + 4);
      });
    },
    writeParams(params, batch) {
      plan.steps.forEach((s, i) => {
        params[i * PARAMS_WORDS] = batch;
        params[i * PARAMS_WORDS + 1] = s.invocationsPerBatch * batch;
      });
    },
    encode(pass, pipelines, groups, batch, maxDim) {
      plan.steps.forEach((s, i) => {
        if (s.invocationsPerBatch === 0) return;
        pass.setPipeline(pipelines[shaderIndex.get(s.kernel)!]!);
        pass.setBindGroup(0, groups[i]!);
        dispatch(pass, workgroups(s, batch), maxDim);
      });
    },
  };
}

export class WebGpuModel {
  private dispatches = 0;
  private bytesMoved = 0;

  private constructor(
    readonly plan: Plan,
    private readonly engine: GpuEngine,
  ) {}

  /**
   * Validates the plan, acquires a device (or uses `options.device`) with the limits the plan
   * needs, uploads `weights` (packed, `plan.weightFloats` long; kept by reference to re-upload
   * after a device loss, so do not modify it) and compiles every kernel.
   */
  static async create(plan: Plan, weights: Float32Array, options: ModelOptions = {}): Promise<WebGpuModel> {
    validatePlan(plan, weights);
    return new WebGpuModel(plan, await GpuEngine.create(planProgram(plan), weights, options));
  }

  /** One line describing the adapter the model runs on. */
  get adapterInfo(): string {
    return this.engine.adapterInfo;
  }

  /** The device the model currently runs on (it changes if the device is lost and recreated). */
  get device(): GPUDevice {
    return this.engine.device;
  }

  get stats(): ModelStats {
    const s = this.engine.stats;
    return {
      dispatches: this.dispatches,
      submits: s.submits,
      bytesMoved: this.bytesMoved,
      peakMemoryBytes: s.memoryBytes,
      pipelines: s.pipelines,
      deviceRecreations: s.deviceRecreations,
    };
  }

  /**
   * Runs one inference on `batch` images. `inputs[i]` holds `plan.inputs[i].perBatch * batch`
   * floats (batch-major); returns one array per `plan.outputs` entry, `perBatch * batch` long.
   * Runs are serialised: a second call waits for the first.
   */
  async run(inputs: readonly Float32Array[], batch: number): Promise<Float32Array[]> {
    this.checkInputs(inputs, batch);
    const outputs = await this.engine.run(inputs, batch);
    const steps = this.plan.steps;
    this.dispatches = steps.filter((s) => s.invocationsPerBatch > 0).length;
    this.bytesMoved = steps.reduce((n, s) => n + s.bytesPerBatch * batch, 0);
    return outputs;
  }

  /**
   * Times every step of one inference on `batch` images (inputs as for `run`) and totals the times
   * per kernel and per kernel kind, with the plan's FLOPs and bytes and the throughput they imply.
   * Create the model with `profiling: true` for GPU timestamps where the adapter has them.
   */
  async profile(
    inputs: readonly Float32Array[],
    batch: number,
    options: ProfileOptions = {},
  ): Promise<Profile> {
    this.checkInputs(inputs, batch);
    const times = await this.engine.profile(inputs, batch, options);
    const names = new Map(this.plan.kernels.map((k) => [k.key, k.name]));
    return summarizeProfile(
      times,
      this.plan.steps.map((s) => ({
        key: s.kernel,
        name: names.get(s.kernel)!,
        flops: (s.flopsPerBatch ?? 0) * batch,
        bytes: s.bytesPerBatch * batch,
      })),
    );
  }

  /**
   * The time of one inference's dispatches on `batch` images (inputs as for `run`), once per
   * repeat, without upload or readback: GPU timestamps where the model was created with
   * `profiling: true` and the adapter has them, else host time around one submit.
   */
  time(inputs: readonly Float32Array[], batch: number, options: ProfileOptions = {}): Promise<ProgramTimes> {
    this.checkInputs(inputs, batch);
    return this.engine.time(inputs, batch, options);
  }

  /** Frees the buffers (and the device, when the model created it). Later runs throw 'destroyed'. */
  destroy(): void {
    this.engine.destroy();
  }

  private checkInputs(inputs: readonly Float32Array[], batch: number): void {
    const { plan } = this;
    if (!Number.isInteger(batch) || batch < 1 || batch > plan.maxBatch) {
      throw new RuntimeError('bad-input', `batch ${batch} must be an integer in 1..${plan.maxBatch}`);
    }
    if (!Array.isArray(inputs) || inputs.length !== plan.inputs.length) {
      throw new RuntimeError(
        'bad-input',
        `expected ${plan.inputs.length} input(s) (${plan.inputs.map((t) => t.name).join(', ')}), got ${
          Array.isArray(inputs) ? inputs.length : typeof inputs
        }`,
      );
    }
    plan.inputs.forEach((t, i) => {
      const data = inputs[i];
      if (!(data instanceof Float32Array)) {
        throw new RuntimeError('bad-input', `input ${t.name} must be a Float32Array`);
      }
      if (data.length !== t.perBatch * batch) {
        throw new RuntimeError(
          'bad-input',
          `input ${t.name} has ${data.length} floats; batch ${batch} of [${t.shape.join(', ')}] needs ${
            t.perBatch * batch
          } (${t.perBatch} per image)`,
        );
      }
      for (let j = 0; j < data.length; j++) {
        if (!Number.isFinite(data[j])) {
          throw new RuntimeError('bad-input', `input ${t.name}[${j}] is ${data[j]}, not a finite number`);
        }
      }
    });
  }
}
