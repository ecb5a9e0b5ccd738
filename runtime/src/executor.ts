/**
 * The thin WebGPU executor for a compiled `Plan`: one arena buffer, one weights buffer, one uniform
 * buffer holding every step's `Params`, one pipeline per distinct kernel key, one bind group per
 * step. `run` writes the inputs, encodes the whole inference as one compute pass (one dispatch per
 * step) plus the copies of the outputs into a readback buffer, submits once and maps the result.
 * Browser-safe (no Node imports); in Node the device comes from the `webgpu` package (see device.ts).
 */

import { type AcquireOptions, acquireDevice, RuntimeError } from './device.js';
import { type Kernel, MAX_OFFSETS, PARAMS_BYTES, PLAN_VERSION, type Plan, type Step } from './plan.js';
import {
  type BufferSizes,
  compilePipelines,
  createBuffers,
  createStepBindGroups,
  type DeviceBuffers,
  MAP_MODE_READ,
  message,
} from './resources.js';

/** WebGPU caps each dispatch dimension at maxComputeWorkgroupsPerDimension (65535 by default). */
const MAX_WORKGROUPS_X = 65535;
const U32_MAX = 0xffff_ffff;
const PARAMS_WORDS = PARAMS_BYTES / 4;

export interface ModelOptions extends AcquireOptions {}

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

/** Everything that lives on one device; rebuilt from scratch when the device is lost. */
interface GpuState {
  readonly device: GPUDevice;
  readonly adapterInfo: string;
  readonly ownsDevice: boolean;
  readonly arena: GPUBuffer;
  readonly weights: GPUBuffer;
  readonly uniforms: GPUBuffer;
  readonly readback: GPUBuffer;
  readonly pipelines: Map<string, GPUComputePipeline>;
  readonly bindGroups: GPUBindGroup[];
  lost: GPUDeviceLostInfo | undefined;
  /** The batch the uniform buffer holds params for. */
  lastBatch: number | undefined;
  /** Whether a run has passed under a validation error scope on this device. */
  validated: boolean;
}

function sizes(plan: Plan): BufferSizes {
  // Zero-sized buffers cannot be bound: every buffer gets at least one f32.
  const readbackFloats = plan.outputs.reduce((n, t) => n + t.perBatch * plan.maxBatch, 0);
  return {
    arenaBytes: Math.max(1, plan.arenaFloats) * 4,
    weightBytes: Math.max(1, plan.weightFloats) * 4,
    uniformBytes: Math.max(1, plan.steps.length) * PARAMS_BYTES,
    readbackBytes: Math.max(1, readbackFloats) * 4,
  };
}

/** The device limits a plan needs (to pass as `requiredLimits`). */
export function planLimits(plan: Plan): Record<string, number> {
  const s = sizes(plan);
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
  });
}

/** Splits `n` workgroups into x (at most `maxDim`) and y, for `gid.x + gid.y * nwg.x * size`. */
export function splitWorkgroups(n: number, maxDim: number): [number, number] {
  if (n <= maxDim) return [n, 1];
  const y = Math.ceil(n / maxDim);
  if (y > maxDim) {
    throw new RuntimeError(
      'limit-exceeded',
      `${n} workgroups exceed maxComputeWorkgroupsPerDimension² (${maxDim}²)`,
    );
  }
  return [Math.ceil(n / y), y];
}

function mergeLimits(
  plan: Record<string, number>,
  user: Readonly<Record<string, number>> | undefined,
): Record<string, number> {
  const out: Record<string, number> = { ...user };
  for (const [k, v] of Object.entries(plan)) out[k] = Math.max(out[k] ?? 0, v);
  return out;
}

const delay = (ms: number) => new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms));

export class WebGpuModel {
  private gpu: GpuState;
  private readonly kernelsByKey: Map<string, Kernel>;
  /** `Params` for every step with batch = total = 0; `run` fills in batch and total. */
  private readonly params: Uint32Array<ArrayBuffer>;
  private readonly limits: Record<string, number>;
  private readonly sizes: BufferSizes;
  private destroyed = false;
  private queue: Promise<unknown> = Promise.resolve();
  private dispatches = 0;
  private submits = 0;
  private bytesMoved = 0;
  private recreations = 0;

  private constructor(
    readonly plan: Plan,
    private readonly weightData: Float32Array,
    private readonly options: ModelOptions,
    gpu: GpuState,
  ) {
    this.gpu = gpu;
    this.kernelsByKey = new Map(plan.kernels.map((k) => [k.key, k]));
    this.limits = mergeLimits(planLimits(plan), options.requiredLimits);
    this.sizes = sizes(plan);
    this.params = new Uint32Array(Math.max(1, plan.steps.length) * PARAMS_WORDS);
    plan.steps.forEach((s, i) => {
      this.params.set(s.offsets, i * PARAMS_WORDS + 4);
    });
    this.watch(gpu);
  }

  /**
   * Validates the plan, acquires a device (or uses `options.device`) with the limits the plan
   * needs, uploads `weights` (packed, `plan.weightFloats` long; kept by reference to re-upload
   * after a device loss, so do not modify it) and compiles every kernel.
   */
  static async create(plan: Plan, weights: Float32Array, options: ModelOptions = {}): Promise<WebGpuModel> {
    validatePlan(plan, weights);
    const limits = mergeLimits(planLimits(plan), options.requiredLimits);
    const acquired = await acquireDevice({ ...options, requiredLimits: limits });
    const gpu = await WebGpuModel.build(
      plan,
      weights,
      acquired.device,
      acquired.adapterInfo,
      !options.device,
    );
    return new WebGpuModel(plan, weights, options, gpu);
  }

  /** One line describing the adapter the model runs on. */
  get adapterInfo(): string {
    return this.gpu.adapterInfo;
  }

  /** The device the model currently runs on (it changes if the device is lost and recreated). */
  get device(): GPUDevice {
    return this.gpu.device;
  }

  get stats(): ModelStats {
    const s = this.sizes;
    return {
      dispatches: this.dispatches,
      submits: this.submits,
      bytesMoved: this.bytesMoved,
      peakMemoryBytes: s.arenaBytes + s.weightBytes + s.uniformBytes + s.readbackBytes,
      pipelines: this.gpu.pipelines.size,
      deviceRecreations: this.recreations,
    };
  }

  /**
   * Runs one inference on `batch` images. `inputs[i]` holds `plan.inputs[i].perBatch * batch`
   * floats (batch-major); returns one array per `plan.outputs` entry, `perBatch * batch` long.
   * Runs are serialised: a second call waits for the first.
   */
  run(inputs: readonly Float32Array[], batch: number): Promise<Float32Array[]> {
    const result = this.queue.then(() => this.runSerial(inputs, batch));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Frees the buffers (and the device, when the model created it). Later runs throw 'destroyed'. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    WebGpuModel.release(this.gpu);
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

  private async runSerial(inputs: readonly Float32Array[], batch: number): Promise<Float32Array[]> {
    if (this.destroyed) throw new RuntimeError('destroyed', `model "${this.plan.name}" was destroyed`);
    this.checkInputs(inputs, batch);
    let recreated = false;
    if (this.gpu.lost) {
      await this.recreate();
      recreated = true;
    }
    try {
      return await this.execute(this.gpu, inputs, batch);
    } catch (e) {
      const gpu = this.gpu;
      // A loss shows up as a failed mapAsync before (or just after) `device.lost` resolves.
      gpu.lost ??= await Promise.race([gpu.device.lost, delay(100)]);
      if (this.destroyed) {
        throw new RuntimeError('destroyed', `model "${this.plan.name}" was destroyed during the run`, {
          cause: e,
        });
      }
      if (!gpu.lost) throw e;
      if (recreated) {
        throw new RuntimeError(
          'device-lost',
          `the WebGPU device was lost again after being recreated (${gpu.lost.reason}: ${gpu.lost.message})`,
          { cause: e },
        );
      }
      await this.recreate();
      return await this.execute(this.gpu, inputs, batch);
    }
  }

  /** Acquires a new device and rebuilds everything on it; throws 'device-lost' if that fails. */
  private async recreate(): Promise<void> {
    const old = this.gpu;
    const reason = old.lost ? `${old.lost.reason}: ${old.lost.message}` : 'unknown';
    WebGpuModel.release(old);
    try {
      // A caller-provided device cannot be recreated by its owner here: take the platform's default.
      const { device: _, ...rest } = this.options;
      const acquired = await acquireDevice({ ...rest, requiredLimits: this.limits });
      this.gpu = await WebGpuModel.build(
        this.plan,
        this.weightData,
        acquired.device,
        acquired.adapterInfo,
        true,
      );
    } catch (e) {
      throw new RuntimeError(
        'device-lost',
        `the WebGPU device was lost (${reason}) and recreating it failed: ${message(e)}`,
        { cause: e },
      );
    }
    if (this.destroyed) {
      // destroy() ran while the device was being recreated.
      WebGpuModel.release(this.gpu);
      throw new RuntimeError('destroyed', `model "${this.plan.name}" was destroyed`);
    }
    this.recreations++;
    this.watch(this.gpu);
  }

  private watch(gpu: GpuState): void {
    gpu.device.lost.then(
      (info) => {
        gpu.lost = info;
      },
      () => undefined,
    );
  }

  private static release(gpu: GpuState): void {
    for (const b of [gpu.arena, gpu.weights, gpu.uniforms, gpu.readback]) b.destroy();
    gpu.pipelines.clear();
    gpu.bindGroups.length = 0;
    if (gpu.ownsDevice && !gpu.lost) gpu.device.destroy();
  }

  /** Allocates the buffers, uploads the weights, compiles the pipelines and makes the bind groups. */
  private static async build(
    plan: Plan,
    weights: Float32Array,
    device: GPUDevice,
    adapterInfo: string,
    ownsDevice: boolean,
  ): Promise<GpuState> {
    let buffers: DeviceBuffers | undefined;
    try {
      buffers = await createBuffers(device, plan.name, sizes(plan), weights, adapterInfo);
      // Grids grow with the batch: if maxBatch fits, every batch does.
      dispatchGrids(plan, new Map(plan.kernels.map((k) => [k.key, k])), plan.maxBatch, device);
      const pipelines = await compileKernels(plan, device, buffers.pipelineLayout);
      const bindGroups = await createStepBindGroups(
        device,
        plan.name,
        buffers,
        plan.steps.map((step) => step.label),
      );
      const { arena, weights: weightBuf, uniforms, readback } = buffers;
      return {
        device,
        adapterInfo,
        ownsDevice,
        arena,
        weights: weightBuf,
        uniforms,
        readback,
        pipelines,
        bindGroups,
        lost: undefined,
        lastBatch: undefined,
        validated: false,
      };
    } catch (e) {
      buffers?.destroy();
      if (ownsDevice) device.destroy();
      throw e;
    }
  }

  private async execute(
    gpu: GpuState,
    inputs: readonly Float32Array[],
    batch: number,
  ): Promise<Float32Array[]> {
    const { plan } = this;
    const { device } = gpu;
    const steps = plan.steps;
    if (gpu.lastBatch !== batch) {
      steps.forEach((s, i) => {
        this.params[i * PARAMS_WORDS] = batch;
        this.params[i * PARAMS_WORDS + 1] = s.invocationsPerBatch * batch;
      });
      device.queue.writeBuffer(gpu.uniforms, 0, this.params);
      gpu.lastBatch = batch;
    }
    plan.inputs.forEach((t, i) => {
      const data = inputs[i]!;
      if (data.length > 0)
        device.queue.writeBuffer(gpu.arena, t.offset * 4, data as Float32Array<ArrayBuffer>);
    });

    const grids = dispatchGrids(plan, this.kernelsByKey, batch, device);
    const validate = !gpu.validated;
    if (validate) device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder({ label: plan.name });
    const pass = encoder.beginComputePass({ label: plan.name });
    let dispatches = 0;
    let bytesMoved = 0;
    steps.forEach((step, i) => {
      bytesMoved += step.bytesPerBatch * batch;
      const [x, y] = grids[i]!;
      if (x === 0) return;
      if (validate) pass.pushDebugGroup(step.label);
      pass.setPipeline(gpu.pipelines.get(step.kernel)!);
      pass.setBindGroup(0, gpu.bindGroups[i]!);
      pass.dispatchWorkgroups(x, y);
      if (validate) pass.popDebugGroup();
      dispatches++;
    });
    pass.end();
    let readBytes = 0;
    const slices = plan.outputs.map((t) => {
      const bytes = t.perBatch * batch * 4;
      const slice = { at: readBytes, floats: t.perBatch * batch };
      if (bytes > 0) encoder.copyBufferToBuffer(gpu.arena, t.offset * 4, gpu.readback, readBytes, bytes);
      readBytes += bytes;
      return slice;
    });
    device.queue.submit([encoder.finish()]);
    this.submits++;
    this.dispatches = dispatches;
    this.bytesMoved = bytesMoved;
    if (validate) {
      const error = await device.popErrorScope();
      if (error) {
        // Dawn ends its messages with the debug group stack: the step's label.
        const stack = error.message.slice(Math.max(0, error.message.indexOf('Debug group stack')));
        const step =
          steps.find((s) => stack.includes(s.label)) ?? steps.find((s) => error.message.includes(s.label));
        const where = step
          ? ` at step "${step.label}" (kernel ${this.kernelsByKey.get(step.kernel)?.name})`
          : '';
        throw new RuntimeError(
          'gpu-error',
          `the first run of "${plan.name}" failed GPU validation${where}: ${error.message}`,
        );
      }
      gpu.validated = true;
    }
    if (readBytes === 0) return slices.map(() => new Float32Array(0));
    await gpu.readback.mapAsync(MAP_MODE_READ, 0, readBytes);
    try {
      const mapped = gpu.readback.getMappedRange(0, readBytes);
      return slices.map((s) => new Float32Array(mapped, s.at, s.floats).slice());
    } finally {
      gpu.readback.unmap();
    }
  }
}

/** Each step's workgroup grid [x, y] at `batch` ([0, 1] for a step with no work). */
function dispatchGrids(
  plan: Plan,
  kernels: ReadonlyMap<string, Kernel>,
  batch: number,
  device: GPUDevice,
): [number, number][] {
  const maxDim = Math.min(MAX_WORKGROUPS_X, device.limits.maxComputeWorkgroupsPerDimension);
  return plan.steps.map((step) => {
    const groups = Math.ceil((step.invocationsPerBatch * batch) / kernels.get(step.kernel)!.workgroupSize);
    try {
      return splitWorkgroups(groups, maxDim);
    } catch (e) {
      throw new RuntimeError('limit-exceeded', `step "${step.label}" at batch ${batch}: ${message(e)}`);
    }
  });
}

/** Compiles one pipeline per distinct kernel key used by a step; errors name the kernel and a step using it. */
async function compileKernels(
  plan: Plan,
  device: GPUDevice,
  layout: GPUPipelineLayout,
): Promise<Map<string, GPUComputePipeline>> {
  const used = new Map<string, Step>();
  for (const s of plan.steps) if (!used.has(s.kernel)) used.set(s.kernel, s);
  const kernels = [...new Map(plan.kernels.map((k) => [k.key, k])).values()].filter((k) => used.has(k.key));
  const pipelines = await compilePipelines(
    device,
    layout,
    kernels.map((k) => ({
      name: k.name,
      code: k.wgsl,
      where: `kernel ${k.name} (key ${k.key}, first used by step "${used.get(k.key)?.label}")`,
    })),
  );
  return new Map(kernels.map((k, i) => [k.key, pipelines[i]!]));
}
