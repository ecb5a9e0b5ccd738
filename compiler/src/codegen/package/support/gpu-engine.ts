import {
  acquireDevice,
  PARAMS_BYTES,
  RuntimeError,
  splitWorkgroups,
} from '../../../../../runtime/src/index.js';
import {
  compilePipelines,
  createBuffers,
  createStepBindGroups,
  type DeviceBuffers,
  MAP_MODE_READ,
  message,
} from '../../../../../runtime/src/resources.js';

/**
 * The device side of a generated package's WebGPU backend. The model-specific part (the kernels'
 * WGSL, every step's offsets and invocation counts, and `encode`, the straight-line dispatch
 * sequence) is generated TypeScript (compiler/src/codegen/ts/webgpu.ts) handed in as a
 * `GpuProgram`; this file owns the buffers, pipelines, bind groups, the single submit per
 * inference, readback and device loss. Same contract as runtime/src/plan.ts: one arena, one
 * weights buffer, one 256-byte uniform slice per step.
 */

const MAX_WORKGROUPS_X = 65535;
const PARAMS_WORDS = PARAMS_BYTES / 4;

export interface GpuShader {
  readonly name: string;
  readonly code: string;
  readonly workgroupSize: number;
}

export interface GpuProgram {
  readonly name: string;
  /** Distinct kernels; `encode` refers to their pipelines by index. */
  readonly shaders: readonly GpuShader[];
  /** Steps (uniform slices and bind groups), including any with no work. */
  readonly steps: number;
  /** Device limits the program needs (`requiredLimits`). */
  readonly limits: Readonly<Record<string, number>>;
  readonly maxBatch: number;
  readonly arenaFloats: number;
  readonly weightFloats: number;
  readonly input: { readonly offset: number; readonly perImage: number };
  readonly output: { readonly offset: number; readonly perImage: number };
  /** The most workgroups any step dispatches at maxBatch. */
  readonly maxWorkgroups: number;
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

/** Dispatches `groups` workgroups, split over x and y when x alone cannot hold them. */
export function dispatch(pass: GPUComputePassEncoder, groups: number, maxDim: number): void {
  if (groups <= maxDim) {
    pass.dispatchWorkgroups(groups);
  } else {
    const [x, y] = splitWorkgroups(groups, maxDim);
    pass.dispatchWorkgroups(x, y);
  }
}

/** Whether a failure to create the WebGPU backend means "no usable WebGPU here" (then 'auto' uses the CPU). */
export function isGpuUnavailable(e: unknown): boolean {
  return (
    e instanceof RuntimeError &&
    (e.code === 'no-webgpu' ||
      e.code === 'no-adapter' ||
      e.code === 'limit-exceeded' ||
      e.code === 'out-of-memory')
  );
}

interface State {
  readonly device: GPUDevice;
  readonly adapterInfo: string;
  readonly ownsDevice: boolean;
  readonly buffers: readonly GPUBuffer[];
  readonly arena: GPUBuffer;
  readonly uniforms: GPUBuffer;
  readonly readback: GPUBuffer;
  readonly pipelines: readonly GPUComputePipeline[];
  readonly groups: readonly GPUBindGroup[];
  readonly maxDim: number;
  lost: GPUDeviceLostInfo | undefined;
  lastBatch: number | undefined;
  validated: boolean;
}

async function build(
  program: GpuProgram,
  weights: Float32Array,
  device: GPUDevice,
  adapterInfo: string,
  ownsDevice: boolean,
): Promise<State> {
  const maxDim = Math.min(MAX_WORKGROUPS_X, device.limits.maxComputeWorkgroupsPerDimension);
  const fail = (e: unknown): never => {
    if (ownsDevice) device.destroy();
    throw e;
  };
  if (program.maxWorkgroups > maxDim * maxDim) {
    fail(
      new RuntimeError(
        'limit-exceeded',
        `${program.name} dispatches up to ${program.maxWorkgroups} workgroups at batch ${program.maxBatch}, ` +
          `more than maxComputeWorkgroupsPerDimension² (${maxDim}²) on ${adapterInfo}`,
      ),
    );
  }
  let resources: DeviceBuffers | undefined;
  let pipelines: GPUComputePipeline[];
  let groups: GPUBindGroup[];
  try {
    resources = await createBuffers(
      device,
      program.name,
      {
        arenaBytes: Math.max(1, program.arenaFloats) * 4,
        weightBytes: Math.max(1, program.weightFloats) * 4,
        uniformBytes: Math.max(1, program.steps) * PARAMS_BYTES,
        readbackBytes: Math.max(1, program.output.perImage * program.maxBatch) * 4,
      },
      weights,
      adapterInfo,
    );
    const params = new Uint32Array(Math.max(1, program.steps) * PARAMS_WORDS);
    program.initParams(params);
    device.queue.writeBuffer(resources.uniforms, 0, params);
    pipelines = await compilePipelines(
      device,
      resources.pipelineLayout,
      program.shaders.map((shader) => ({
        name: shader.name,
        code: shader.code,
        where: `kernel ${shader.name} of ${program.name}`,
      })),
    );
    groups = await createStepBindGroups(
      device,
      program.name,
      resources,
      Array.from({ length: program.steps }, (_, i) => `${program.name}/step ${i}`),
    );
  } catch (e) {
    resources?.destroy();
    return fail(e);
  }
  const { arena, uniforms, readback } = resources;
  const buffers = [arena, resources.weights, uniforms, readback];
  const state: State = {
    device,
    adapterInfo,
    ownsDevice,
    buffers,
    arena,
    uniforms,
    readback,
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
}

function release(state: State): void {
  for (const b of state.buffers) b.destroy();
  if (state.ownsDevice && !state.lost) state.device.destroy();
}

export class GpuEngine {
  private queue: Promise<unknown> = Promise.resolve();
  private destroyed = false;
  private readonly params: Uint32Array<ArrayBuffer>;

  private constructor(
    private readonly program: GpuProgram,
    private readonly weights: Float32Array,
    private state: State,
  ) {
    this.params = new Uint32Array(Math.max(1, program.steps) * PARAMS_WORDS);
    program.initParams(this.params);
  }

  /** Acquires a device (or uses `device`) with the program's limits, uploads the weights, compiles the kernels. */
  static async create(program: GpuProgram, weights: Float32Array, device?: GPUDevice): Promise<GpuEngine> {
    if (weights.length !== program.weightFloats) {
      throw new RuntimeError(
        'bad-plan',
        `weights have ${weights.length} floats, ${program.name} packs ${program.weightFloats}`,
      );
    }
    const acquired = await acquireDevice({
      ...(device ? { device } : {}),
      requiredLimits: program.limits,
    });
    const state = await build(program, weights, acquired.device, acquired.adapterInfo, !device);
    return new GpuEngine(program, weights, state);
  }

  get adapterInfo(): string {
    return this.state.adapterInfo;
  }

  get device(): GPUDevice {
    return this.state.device;
  }

  /** Runs `batch` images (the caller has checked the input); runs are serialised. */
  run(input: Float32Array, batch: number): Promise<Float32Array> {
    const result = this.queue.then(() => this.runSerial(input, batch));
    this.queue = result.catch(() => undefined);
    return result;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    release(this.state);
  }

  private async runSerial(input: Float32Array, batch: number): Promise<Float32Array> {
    if (this.destroyed) throw new RuntimeError('destroyed', `${this.program.name} was destroyed`);
    if (this.state.lost) {
      const old = this.state;
      const reason = `${old.lost?.reason}: ${old.lost?.message}`;
      release(old);
      if (!old.ownsDevice) {
        throw new RuntimeError(
          'device-lost',
          `the WebGPU device passed to Model.create was lost (${reason})`,
        );
      }
      try {
        const acquired = await acquireDevice({ requiredLimits: this.program.limits });
        this.state = await build(this.program, this.weights, acquired.device, acquired.adapterInfo, true);
      } catch (e) {
        throw new RuntimeError(
          'device-lost',
          `the WebGPU device was lost (${reason}) and recreating it failed: ${message(e)}`,
          {
            cause: e,
          },
        );
      }
    }
    return this.execute(this.state, input, batch);
  }

  private async execute(state: State, input: Float32Array, batch: number): Promise<Float32Array> {
    const { device } = state;
    const program = this.program;
    if (state.lastBatch !== batch) {
      program.writeParams(this.params, batch);
      device.queue.writeBuffer(state.uniforms, 0, this.params);
      state.lastBatch = batch;
    }
    device.queue.writeBuffer(state.arena, program.input.offset * 4, input as Float32Array<ArrayBuffer>);
    const validate = !state.validated;
    if (validate) device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder({ label: program.name });
    const pass = encoder.beginComputePass({ label: program.name });
    program.encode(pass, state.pipelines, state.groups, batch, state.maxDim);
    pass.end();
    const bytes = program.output.perImage * batch * 4;
    encoder.copyBufferToBuffer(state.arena, program.output.offset * 4, state.readback, 0, bytes);
    device.queue.submit([encoder.finish()]);
    if (validate) {
      const error = await device.popErrorScope();
      if (error) {
        throw new RuntimeError(
          'gpu-error',
          `the first run of ${program.name} failed GPU validation: ${error.message}`,
        );
      }
      state.validated = true;
    }
    await state.readback.mapAsync(MAP_MODE_READ, 0, bytes);
    try {
      return new Float32Array(state.readback.getMappedRange(0, bytes).slice(0));
    } finally {
      state.readback.unmap();
    }
  }
}
