import { type AcquireOptions, acquireDevice, RuntimeError } from './device.js';
import { PARAMS_BYTES, type ProgramSizes } from './plan.js';
import {
  median,
  type ProfileOptions,
  type ProfileTiming,
  type ProgramTimes,
  type StepTimes,
} from './profile.js';
import {
  BUFFER_COPY_DST,
  BUFFER_COPY_SRC,
  BUFFER_MAP_READ,
  BUFFER_QUERY_RESOLVE,
  type BufferSizes,
  compilePipelines,
  createBuffers,
  createStepBindGroups,
  type DeviceBuffers,
  MAP_MODE_READ,
  message,
} from './resources.js';

export interface EngineOptions extends AcquireOptions {
  /**
   * Requests 'timestamp-query' where the adapter has it, so that `profile` times steps on the GPU.
   * Off by default: some browsers quantise timestamps or warn when the feature is merely requested.
   */
  readonly profiling?: boolean;
}

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

export interface GpuProgram extends ProgramSizes {
  /** Distinct kernels; `encode` refers to their pipelines by index. */
  readonly shaders: readonly GpuShader[];
  /** Steps (uniform slices and bind groups), including any with no work. */
  readonly steps: number;
  /** Each step's label, for errors and GPU debug labels; default `step <i>`. */
  readonly labels?: readonly string[];
  /** Device limits the program needs (`requiredLimits`). */
  readonly limits: Readonly<Record<string, number>>;
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
      e.code === 'software-adapter' ||
      e.code === 'out-of-memory')
  );
}

/** The features `acquireDevice` should ask for. */
const profilingFeatures = (options: EngineOptions): Pick<AcquireOptions, 'optionalFeatures'> =>
  options.profiling ? { optionalFeatures: ['timestamp-query'] } : {};

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

/** One dispatch of a step, as a program's `encode` issued it (for profiling). */
interface RecordedDispatch {
  readonly step: number;
  readonly shader: number;
  readonly pipeline: GPUComputePipeline;
  readonly group: GPUBindGroup;
  readonly size: readonly [number, number, number];
}

/** WebGPU caps a query set at 4096 queries: two timestamps per dispatch. */
const TIMED_PER_QUERY_SET = 2048;

/**
 * The dispatches `program.encode` issues for `batch`, recorded instead of encoded, so that a
 * profile can encode each one alone: this works for a plan's loop and a package's straight-line
 * code alike, and a package needs no profiling code of its own.
 */
function recordDispatches(program: GpuProgram, state: DeviceState, batch: number): RecordedDispatch[] {
  const steps = new Map(state.groups.map((g, i) => [g, i]));
  const shaders = new Map(state.pipelines.map((p, i) => [p, i]));
  const out: RecordedDispatch[] = [];
  let pipeline: GPUComputePipeline | undefined;
  let group: GPUBindGroup | undefined;
  const recorder: Partial<GPUComputePassEncoder> = {
    setPipeline(p) {
      pipeline = p;
    },
    setBindGroup(_index: number, g: GPUBindGroup | null) {
      group = g ?? undefined;
    },
    dispatchWorkgroups(x: number, y = 1, z = 1) {
      const step = group ? steps.get(group) : undefined;
      const shader = pipeline ? shaders.get(pipeline) : undefined;
      if (step === undefined || shader === undefined) {
        throw new RuntimeError(
          'gpu-error',
          `"${program.name}" dispatched without a step's pipeline and bind group`,
        );
      }
      out.push({ step, shader, pipeline: pipeline!, group: group!, size: [x, y, z] });
    },
    pushDebugGroup() {},
    popDebugGroup() {},
    insertDebugMarker() {},
    end() {},
  };
  program.encode(recorder as GPUComputePassEncoder, state.pipelines, state.groups, batch, state.maxDim);
  return out;
}

function encodeOne(pass: GPUComputePassEncoder, d: RecordedDispatch): void {
  pass.setPipeline(d.pipeline);
  pass.setBindGroup(0, d.group);
  pass.dispatchWorkgroups(...d.size);
  pass.end();
}

/** Each dispatch's GPU time in ms: one compute pass per dispatch, timestamps at its start and end. */
async function timeWithTimestamps(
  device: GPUDevice,
  dispatches: readonly RecordedDispatch[],
): Promise<number[]> {
  const out: number[] = [];
  for (let at = 0; at < dispatches.length; at += TIMED_PER_QUERY_SET) {
    const chunk = dispatches.slice(at, at + TIMED_PER_QUERY_SET);
    const count = 2 * chunk.length;
    const querySet = device.createQuerySet({ type: 'timestamp', count });
    const resolved = device.createBuffer({ size: 8 * count, usage: BUFFER_QUERY_RESOLVE | BUFFER_COPY_SRC });
    const read = device.createBuffer({ size: 8 * count, usage: BUFFER_MAP_READ | BUFFER_COPY_DST });
    try {
      const encoder = device.createCommandEncoder({ label: 'profile' });
      chunk.forEach((d, i) => {
        const timestampWrites = {
          querySet,
          beginningOfPassWriteIndex: 2 * i,
          endOfPassWriteIndex: 2 * i + 1,
        };
        encodeOne(encoder.beginComputePass({ timestampWrites }), d);
      });
      encoder.resolveQuerySet(querySet, 0, count, resolved, 0);
      encoder.copyBufferToBuffer(resolved, 0, read, 0, 8 * count);
      device.queue.submit([encoder.finish()]);
      await read.mapAsync(MAP_MODE_READ);
      const ns = new BigUint64Array(read.getMappedRange());
      // Timestamps may be quantised or, across a power-state change, out of order: never negative.
      for (let i = 0; i < chunk.length; i++) out.push(Math.max(0, Number(ns[2 * i + 1]! - ns[2 * i]!) / 1e6));
      read.unmap();
    } finally {
      querySet.destroy();
      resolved.destroy();
      read.destroy();
    }
  }
  return out;
}

/** Each dispatch's time in ms from the host: encoded, submitted and awaited alone. */
async function timeEachAlone(device: GPUDevice, dispatches: readonly RecordedDispatch[]): Promise<number[]> {
  const out: number[] = [];
  for (const d of dispatches) {
    const started = performance.now();
    const encoder = device.createCommandEncoder({ label: 'profile' });
    encodeOne(encoder.beginComputePass(), d);
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    out.push(performance.now() - started);
  }
  return out;
}

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
    private readonly options: EngineOptions,
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
    options: EngineOptions = {},
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
      ...profilingFeatures(options),
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
    // A queued run reads its inputs later: copied now, a caller reusing its array after the call
    // (filling it with the next image while this run waits) cannot change this run's result.
    const own = inputs.map((x) => x.slice());
    const result = this.queue.then(() => this.runSerial(own, batch));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Times every step of one inference on `batch` images (inputs as for `run`), each step's time
   * the median of `repeats`; see `ProfileOptions` for how. The outputs are not read back. Queued
   * like runs; a device lost before it is recreated, but a profile is not retried.
   */
  profile(inputs: readonly Float32Array[], batch: number, options: ProfileOptions = {}): Promise<StepTimes> {
    const repeats = options.repeats ?? 3;
    if (!Number.isInteger(repeats) || repeats < 1) {
      return Promise.reject(new RuntimeError('bad-input', `repeats ${repeats} must be a positive integer`));
    }
    const result = this.queue.then(() =>
      this.profileSerial(inputs, batch, repeats, options.timing ?? 'auto'),
    );
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
      // The first device was accepted, so `hardwareOnly` is not asked again: a recreated device is
      // on the same platform, and failing here would lose a model that was running.
      const { device: _, hardwareOnly: __, ...rest } = this.options;
      const acquired = await acquireDevice({
        ...rest,
        requiredLimits: this.limits,
        ...profilingFeatures(this.options),
      });
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

  private async profileSerial(
    inputs: readonly Float32Array[],
    batch: number,
    repeats: number,
    timing: 'auto' | 'submit',
  ): Promise<StepTimes> {
    const { program } = this;
    return this.measure(inputs, batch, timing, 'profiling', async (device, dispatches, used) => {
      const samples = dispatches.map(() => [] as number[]);
      for (let r = 0; r < repeats; r++) {
        const ms =
          used === 'timestamp-query'
            ? await timeWithTimestamps(device, dispatches)
            : await timeEachAlone(device, dispatches);
        ms.forEach((t, i) => {
          samples[i]!.push(t);
        });
      }
      const stepMs = new Array<number>(program.steps).fill(0);
      const dispatched = new Array<boolean>(program.steps).fill(false);
      dispatches.forEach((d, i) => {
        stepMs[d.step]! += median(samples[i]!);
        dispatched[d.step] = true;
      });
      const kernelOf = new Map(dispatches.map((d) => [d.step, program.shaders[d.shader]?.name ?? '?']));
      return {
        timing: used,
        repeats,
        batch,
        adapterInfo: this.state.adapterInfo,
        steps: stepMs.map((ms, step) => ({
          step,
          label: program.labels?.[step] ?? `step ${step}`,
          kernel: kernelOf.get(step) ?? '(no work)',
          ms,
          dispatched: dispatched[step]!,
        })),
      };
    });
  }

  /**
   * The time of all the program's dispatches for `batch` (inputs written first, outputs not read
   * back), once per repeat: GPU timestamps summed over the dispatches where the device has
   * 'timestamp-query', else the host's time from one submit of them all, back to back in one pass,
   * to `onSubmittedWorkDone`. Queued like runs.
   */
  time(inputs: readonly Float32Array[], batch: number, options: ProfileOptions = {}): Promise<ProgramTimes> {
    const repeats = options.repeats ?? 3;
    if (!Number.isInteger(repeats) || repeats < 1) {
      return Promise.reject(new RuntimeError('bad-input', `repeats ${repeats} must be a positive integer`));
    }
    const result = this.queue.then(() =>
      this.measure(inputs, batch, options.timing ?? 'auto', 'timing', async (device, dispatches, used) => {
        const ms: number[] = [];
        for (let r = 0; r < repeats; r++) {
          if (used === 'timestamp-query') {
            ms.push((await timeWithTimestamps(device, dispatches)).reduce((a, b) => a + b, 0));
            continue;
          }
          const started = performance.now();
          const encoder = device.createCommandEncoder({ label: 'time' });
          const pass = encoder.beginComputePass();
          for (const d of dispatches) {
            pass.setPipeline(d.pipeline);
            pass.setBindGroup(0, d.group);
            pass.dispatchWorkgroups(...d.size);
          }
          pass.end();
          device.queue.submit([encoder.finish()]);
          await device.queue.onSubmittedWorkDone();
          ms.push(performance.now() - started);
        }
        return { timing: used, ms };
      }),
    );
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Writes the inputs, records the dispatches of `batch` and hands them to `measure` under a
   * validation error scope, with the timing it should use ('timestamp-query' when asked for
   * 'auto' and the device has it). A device lost before is recreated; a measurement is not retried.
   */
  private async measure<T>(
    inputs: readonly Float32Array[],
    batch: number,
    timing: 'auto' | 'submit',
    what: string,
    measure: (device: GPUDevice, dispatches: readonly RecordedDispatch[], used: ProfileTiming) => Promise<T>,
  ): Promise<T> {
    const { program } = this;
    if (this.destroyed) throw this.destroyedError('');
    if (this.state.lost) await this.recreate();
    const state = this.state;
    const { device } = state;
    this.writeInputs(state, inputs, batch);
    const dispatches = recordDispatches(program, state, batch);
    const used: ProfileTiming =
      timing === 'auto' && device.features.has('timestamp-query') ? 'timestamp-query' : 'submit';
    device.pushErrorScope('validation');
    const result = await measure(device, dispatches, used);
    const error = await device.popErrorScope();
    if (error) {
      throw new RuntimeError(
        'gpu-error',
        `${what} "${program.name}" failed GPU validation: ${error.message}`,
      );
    }
    return result;
  }

  /** Writes the step parameters (when the batch changed) and the inputs. */
  private writeInputs(state: DeviceState, inputs: readonly Float32Array[], batch: number): void {
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
  }

  private async execute(
    state: DeviceState,
    inputs: readonly Float32Array[],
    batch: number,
    progress: { stage: Stage },
  ): Promise<Float32Array[]> {
    const { program } = this;
    const { device, buffers } = state;
    this.writeInputs(state, inputs, batch);

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
