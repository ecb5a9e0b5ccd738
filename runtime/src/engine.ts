import { type AcquireOptions, acquireDevice, RuntimeError } from './device.js';
import { PARAMS_BYTES } from './plan.js';
import {
  type BufferSizes,
  compilePipelines,
  createBuffers,
  createStepBindGroups,
  type DeviceBuffers,
  MAP_MODE_READ,
  message,
} from './resources.js';

/**
 * The one WebGPU engine. It runs a `GpuProgram`: either a generated package's straight-line
 * dispatch code (compiler/src/codegen/ts/webgpu.ts) or a runtime `Plan` adapted by
 * `planProgram` (executor.ts, for `polyc run`). The program knows its kernels, its steps'
 * parameters and how to encode one inference; the engine owns everything else, written once:
 * device acquisition with the program's limits, buffers and pipelines (resources.ts), the run
 * queue, one submit per inference, readback, validation of the first run on each device (naming
 * the failing step), and device loss: a lost device is recreated and the run retried once, then
 * the run fails with `RuntimeError('device-lost')` naming the stage it was lost in.
 */

/** WebGPU caps each dispatch dimension at maxComputeWorkgroupsPerDimension (65535 by default). */
const MAX_WORKGROUPS_X = 65535;
const PARAMS_WORDS = PARAMS_BYTES / 4;

export interface GpuShader {
  readonly name: string;
  readonly code: string;
  readonly workgroupSize: number;
  /** How errors name the kernel; default `kernel <name> of <program>`. */
  readonly where?: string;
}

/** A tensor of the program in the arena: `perImage` floats per image from `offset`, batch-major. */
export interface ProgramTensor {
  readonly offset: number;
  readonly perImage: number;
}

export interface GpuProgram {
  readonly name: string;
  /** Distinct kernels; `encode` refers to their pipelines by index. */
  readonly shaders: readonly GpuShader[];
  /** Steps (uniform slices and bind groups), including any with no work. */
  readonly steps: number;
  /** Each step's label, for errors and GPU debug labels; default `step <i>`. */
  readonly labels?: readonly string[];
  /** Device limits the program needs (`requiredLimits`). */
  readonly limits: Readonly<Record<string, number>>;
  readonly maxBatch: number;
  readonly arenaFloats: number;
  readonly weightFloats: number;
  /** Written before each run, in this order. */
  readonly inputs: readonly ProgramTensor[];
  /** Read back after each run, in this order. */
  readonly outputs: readonly ProgramTensor[];
  /** The most workgroups any step dispatches at maxBatch, and that step. */
  readonly maxWorkgroups: number;
  readonly widestStep: number;
  /** Writes every step's operand offsets (they never change). */
  initParams(params: Uint32Array): void;
  /** Writes every step's batch and invocation count. */
  writeParams(params: Uint32Array, batch: number): void;
  /** Encodes one inference: one dispatch per step with work. */
  encode(
    pass: GPUComputePassEncoder,
    pipelines: readonly GPUComputePipeline[],
    groups: readonly GPUBindGroup[],
    batch: number,
    maxDim: number,
  ): void;
}

export interface EngineStats {
  /** `queue.submit` calls since creation (one per run). */
  readonly submits: number;
  /** Compute pipelines compiled (one per shader). */
  readonly pipelines: number;
  /** Times the device was lost and recreated. */
  readonly deviceRecreations: number;
  /** GPU memory held: arena + weights + uniforms + readback buffers, in bytes. */
  readonly memoryBytes: number;
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

/** Dispatches `groups` workgroups, split over x and y when x alone cannot hold them. */
export function dispatch(pass: GPUComputePassEncoder, groups: number, maxDim: number): void {
  if (groups <= maxDim) {
    pass.dispatchWorkgroups(groups);
  } else {
    const [x, y] = splitWorkgroups(groups, maxDim);
    pass.dispatchWorkgroups(x, y);
  }
}

/** Whether a failure to create an engine means "no usable WebGPU here" (a CPU may stand in). */
export function isGpuUnavailable(e: unknown): boolean {
  return (
    e instanceof RuntimeError &&
    (e.code === 'no-webgpu' ||
      e.code === 'no-adapter' ||
      e.code === 'limit-exceeded' ||
      e.code === 'out-of-memory')
  );
}

/** `user`'s limits raised to at least what the program needs. */
function mergeLimits(
  program: Readonly<Record<string, number>>,
  user: Readonly<Record<string, number>> | undefined,
): Record<string, number> {
  const out: Record<string, number> = { ...user };
  for (const [k, v] of Object.entries(program)) out[k] = Math.max(out[k] ?? 0, v);
  return out;
}

/** The buffers a program needs. */
export function bufferSizes(
  program: Pick<GpuProgram, 'arenaFloats' | 'weightFloats' | 'steps' | 'maxBatch' | 'outputs'>,
): BufferSizes {
  // Zero-sized buffers cannot be bound: every buffer gets at least one f32.
  const readbackFloats = program.outputs.reduce((n, t) => n + t.perImage * program.maxBatch, 0);
  return {
    arenaBytes: Math.max(1, program.arenaFloats) * 4,
    weightBytes: Math.max(1, program.weightFloats) * 4,
    uniformBytes: Math.max(1, program.steps) * PARAMS_BYTES,
    readbackBytes: Math.max(1, readbackFloats) * 4,
  };
}

const stepName = (program: GpuProgram, i: number): string => {
  const label = program.labels?.[i];
  return label === undefined ? `step ${i}` : `step "${label}"`;
};

const delay = (ms: number) => new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms));

/** Everything that lives on one device; rebuilt from scratch when the device is lost. */
interface DeviceState {
  readonly device: GPUDevice;
  readonly adapterInfo: string;
  readonly ownsDevice: boolean;
  readonly buffers: DeviceBuffers;
  readonly pipelines: readonly GPUComputePipeline[];
  readonly groups: readonly GPUBindGroup[];
  readonly maxDim: number;
  lost: GPUDeviceLostInfo | undefined;
  /** The batch the uniform buffer holds params for. */
  lastBatch: number | undefined;
  /** Whether a run has passed under a validation error scope on this device. */
  validated: boolean;
}

/** Allocates the buffers, uploads the weights and params, compiles the pipelines, makes the bind groups. */
async function build(
  program: GpuProgram,
  weights: Float32Array,
  params: Uint32Array<ArrayBuffer>,
  device: GPUDevice,
  adapterInfo: string,
  ownsDevice: boolean,
): Promise<DeviceState> {
  let buffers: DeviceBuffers | undefined;
  try {
    const maxDim = Math.min(MAX_WORKGROUPS_X, device.limits.maxComputeWorkgroupsPerDimension);
    // Grids grow with the batch: if the widest step fits at maxBatch, every batch does.
    if (program.maxWorkgroups > maxDim * maxDim) {
      throw new RuntimeError(
        'limit-exceeded',
        `${stepName(program, program.widestStep)} at batch ${program.maxBatch}: ${program.maxWorkgroups} ` +
          `workgroups exceed maxComputeWorkgroupsPerDimension² (${maxDim}²) on ${adapterInfo}`,
      );
    }
    buffers = await createBuffers(device, program.name, bufferSizes(program), weights, adapterInfo);
    device.queue.writeBuffer(buffers.uniforms, 0, params);
    const pipelines = await compilePipelines(
      device,
      buffers.pipelineLayout,
      program.shaders.map((s) => ({
        name: s.name,
        code: s.code,
        where: s.where ?? `kernel ${s.name} of ${program.name}`,
      })),
    );
    const groups = await createStepBindGroups(
      device,
      program.name,
      buffers,
      Array.from({ length: program.steps }, (_, i) => program.labels?.[i] ?? `${program.name}/step ${i}`),
    );
    const state: DeviceState = {
      device,
      adapterInfo,
      ownsDevice,
      buffers,
      pipelines,
      groups,
      maxDim,
      lost: undefined,
      lastBatch: undefined,
      validated: false,
    };
    device.lost.then(
      (info) => {
        state.lost = info;
      },
      () => undefined,
    );
    return state;
  } catch (e) {
    buffers?.destroy();
    if (ownsDevice) device.destroy();
    throw e;
  }
}

function release(state: DeviceState): void {
  state.buffers.destroy();
  if (state.ownsDevice && !state.lost) state.device.destroy();
}

/**
 * `pass` with a debug group around each step (opened when its bind group is set), so that a
 * validation error's "Debug group stack" names the step; used on the validated run only.
 */
function labelledPass(
  pass: GPUComputePassEncoder,
  state: DeviceState,
  names: (step: number, shader: number) => string,
): GPUComputePassEncoder {
  const steps = new Map(state.groups.map((g, i) => [g, i]));
  const shaders = new Map(state.pipelines.map((p, i) => [p, i]));
  let shader = -1;
  let open = false;
  const close = () => {
    if (open) pass.popDebugGroup();
    open = false;
  };
  const own: Partial<GPUComputePassEncoder> = {
    setPipeline(pipeline) {
      shader = shaders.get(pipeline) ?? -1;
      pass.setPipeline(pipeline);
    },
    setBindGroup(index: number, group: GPUBindGroup | null) {
      close();
      const step = group ? steps.get(group) : undefined;
      if (step !== undefined) {
        pass.pushDebugGroup(names(step, shader));
        open = true;
      }
      pass.setBindGroup(index, group);
    },
    end() {
      close();
      pass.end();
    },
  };
  return new Proxy(pass, {
    get(target, key) {
      const value = (own as Record<PropertyKey, unknown>)[key] ?? Reflect.get(target, key);
      return typeof value === 'function' && !(key in own) ? value.bind(target) : value;
    },
  });
}

/** How far a run got, for the error when the device is lost during it. */
type Stage =
  | 'writing the inputs'
  | 'encoding and submitting'
  | 'checking the first run for GPU validation errors'
  | 'reading back the outputs';

export class GpuEngine {
  private queue: Promise<unknown> = Promise.resolve();
  private destroyed = false;
  private submits = 0;
  private recreations = 0;
  private readonly limits: Record<string, number>;

  private constructor(
    readonly program: GpuProgram,
    private readonly weights: Float32Array,
    /** Every step's `Params`; `writeParams` refreshes batch and invocation counts. */
    private readonly params: Uint32Array<ArrayBuffer>,
    private readonly options: AcquireOptions,
    private state: DeviceState,
  ) {
    this.limits = mergeLimits(program.limits, options.requiredLimits);
  }

  /**
   * Acquires a device (or uses `options.device`) with the limits the program needs, uploads
   * `weights` (kept by reference to re-upload after a device loss, so do not modify it) and
   * compiles every kernel.
   */
  static async create(
    program: GpuProgram,
    weights: Float32Array,
    options: AcquireOptions = {},
  ): Promise<GpuEngine> {
    if (!(weights instanceof Float32Array) || weights.length !== program.weightFloats) {
      throw new RuntimeError(
        'bad-plan',
        `weights have ${weights?.length} floats, "${program.name}" packs ${program.weightFloats}`,
      );
    }
    const params = new Uint32Array(Math.max(1, program.steps) * PARAMS_WORDS);
    program.initParams(params);
    const acquired = await acquireDevice({
      ...options,
      requiredLimits: mergeLimits(program.limits, options.requiredLimits),
    });
    const state = await build(
      program,
      weights,
      params,
      acquired.device,
      acquired.adapterInfo,
      !options.device,
    );
    return new GpuEngine(program, weights, params, options, state);
  }

  /** One line describing the adapter the engine runs on. */
  get adapterInfo(): string {
    return this.state.adapterInfo;
  }

  /** The device the engine currently runs on (it changes if the device is lost and recreated). */
  get device(): GPUDevice {
    return this.state.device;
  }

  get stats(): EngineStats {
    const s = bufferSizes(this.program);
    return {
      submits: this.submits,
      pipelines: this.state.pipelines.length,
      deviceRecreations: this.recreations,
      memoryBytes: s.arenaBytes + s.weightBytes + s.uniformBytes + s.readbackBytes,
    };
  }

  /**
   * Runs one inference on `batch` images (the caller has checked `inputs`: one array per program
   * input, `perImage * batch` floats); returns one array per output. Runs are serialised.
   */
  run(inputs: readonly Float32Array[], batch: number): Promise<Float32Array[]> {
    const result = this.queue.then(() => this.runSerial(inputs, batch));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Frees the buffers (and the device, when the engine acquired it). Later runs throw 'destroyed'. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    release(this.state);
  }

  private destroyedError(during: string, cause?: unknown): RuntimeError {
    return new RuntimeError(
      'destroyed',
      `model "${this.program.name}" was destroyed${during}`,
      cause === undefined ? undefined : { cause },
    );
  }

  private async runSerial(inputs: readonly Float32Array[], batch: number): Promise<Float32Array[]> {
    if (this.destroyed) throw this.destroyedError('');
    let recreated = false;
    for (;;) {
      if (this.state.lost) {
        await this.recreate();
        recreated = true;
      }
      const progress: { stage: Stage } = { stage: 'writing the inputs' };
      const state = this.state;
      try {
        return await this.execute(state, inputs, batch, progress);
      } catch (e) {
        // A loss shows up as a failed mapAsync before (or just after) `device.lost` resolves.
        state.lost ??= await Promise.race([state.device.lost, delay(100)]);
        if (this.destroyed) throw this.destroyedError(' during the run', e);
        if (!state.lost) throw e;
        if (recreated) {
          throw new RuntimeError(
            'device-lost',
            `the WebGPU device running "${this.program.name}" was lost while ${progress.stage}, ` +
              `again after it was recreated (${state.lost.reason}: ${state.lost.message})`,
            { cause: e },
          );
        }
      }
    }
  }

  /** Acquires a new device and rebuilds everything on it; throws 'device-lost' if that fails. */
  private async recreate(): Promise<void> {
    const old = this.state;
    const reason = old.lost ? `${old.lost.reason}: ${old.lost.message}` : 'unknown';
    release(old);
    try {
      // A caller-provided device cannot be recreated here: take the platform's default.
      const { device: _, ...rest } = this.options;
      const acquired = await acquireDevice({ ...rest, requiredLimits: this.limits });
      this.state = await build(
        this.program,
        this.weights,
        this.params,
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
      release(this.state);
      throw this.destroyedError('');
    }
    this.recreations++;
  }

  private async execute(
    state: DeviceState,
    inputs: readonly Float32Array[],
    batch: number,
    progress: { stage: Stage },
  ): Promise<Float32Array[]> {
    const { program } = this;
    const { device, buffers } = state;
    if (state.lastBatch !== batch) {
      program.writeParams(this.params, batch);
      device.queue.writeBuffer(buffers.uniforms, 0, this.params);
      state.lastBatch = batch;
    }
    program.inputs.forEach((t, i) => {
      const data = inputs[i]!;
      if (data.length > 0)
        device.queue.writeBuffer(buffers.arena, t.offset * 4, data as Float32Array<ArrayBuffer>);
    });

    progress.stage = 'encoding and submitting';
    const validate = !state.validated;
    if (validate) device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder({ label: program.name });
    const raw = encoder.beginComputePass({ label: program.name });
    const pass = validate
      ? labelledPass(raw, state, (step, shader) => {
          const kernel = program.shaders[shader]?.name;
          return `${stepName(program, step)}${kernel ? ` (kernel ${kernel})` : ''}`;
        })
      : raw;
    program.encode(pass, state.pipelines, state.groups, batch, state.maxDim);
    pass.end();
    let readBytes = 0;
    const slices = program.outputs.map((t) => {
      const bytes = t.perImage * batch * 4;
      const slice = { at: readBytes, floats: t.perImage * batch };
      if (bytes > 0)
        encoder.copyBufferToBuffer(buffers.arena, t.offset * 4, buffers.readback, readBytes, bytes);
      readBytes += bytes;
      return slice;
    });
    device.queue.submit([encoder.finish()]);
    this.submits++;

    if (validate) {
      progress.stage = 'checking the first run for GPU validation errors';
      const error = await device.popErrorScope();
      if (error) {
        throw new RuntimeError(
          'gpu-error',
          `the first run of "${program.name}" failed GPU validation${this.failingStep(error.message)}: ${error.message}`,
        );
      }
      state.validated = true;
    }
    progress.stage = 'reading back the outputs';
    if (readBytes === 0) return slices.map(() => new Float32Array(0));
    await buffers.readback.mapAsync(MAP_MODE_READ, 0, readBytes);
    try {
      const mapped = buffers.readback.getMappedRange(0, readBytes);
      return slices.map((s) => new Float32Array(mapped, s.at, s.floats).slice());
    } finally {
      buffers.readback.unmap();
    }
  }

  /** ` at step "…" (kernel …)`, from the debug group stack Dawn appends to its messages, or ''. */
  private failingStep(text: string): string {
    const stack = text.slice(Math.max(0, text.indexOf('Debug group stack')));
    let best = '';
    for (let i = 0; i < this.program.steps; i++) {
      const name = stepName(this.program, i);
      // The longest match: `step 1` is a prefix of `step 12`.
      if (name.length > best.length && stack.includes(name)) best = name;
    }
    if (!best) return '';
    const kernel = stack.slice(stack.indexOf(best) + best.length).match(/^ \(kernel [^)]*\)/)?.[0] ?? '';
    return ` at ${best}${kernel}`;
  }
}
