import { RuntimeError } from './device.js';
import { PARAMS_BYTES } from './plan.js';

/**
 * What every polyc inference puts on a device, shared by `WebGpuModel` and the generated packages'
 * engine: one arena, one weights buffer, one uniform buffer of 256-byte step slices, a readback
 * buffer, the three-binding layout, one pipeline per kernel and one bind group per step.
 */

// WebGPU's flag values (fixed by the spec), so this works without the GPU* globals.
export const BUFFER_MAP_READ = 0x1;
export const BUFFER_COPY_SRC = 0x4;
export const BUFFER_COPY_DST = 0x8;
const BUFFER_UNIFORM = 0x40;
const BUFFER_STORAGE = 0x80;
export const BUFFER_QUERY_RESOLVE = 0x200;
const SHADER_STAGE_COMPUTE = 0x4;
export const MAP_MODE_READ = 0x1;

export const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export interface BufferSizes {
  readonly arenaBytes: number;
  readonly weightBytes: number;
  readonly uniformBytes: number;
  readonly readbackBytes: number;
}

export interface DeviceBuffers {
  readonly arena: GPUBuffer;
  readonly weights: GPUBuffer;
  readonly uniforms: GPUBuffer;
  readonly readback: GPUBuffer;
  readonly layout: GPUBindGroupLayout;
  readonly pipelineLayout: GPUPipelineLayout;
  destroy(): void;
}

/**
 * Creates the buffers (uploading `weights`) and the layouts. Allocation and validation failures
 * become `RuntimeError`s ('out-of-memory', 'gpu-error') after the buffers are freed.
 */
export async function createBuffers(
  device: GPUDevice,
  name: string,
  sizes: BufferSizes,
  weights: Float32Array,
  adapterInfo: string,
): Promise<DeviceBuffers> {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const buffer = (label: string, size: number, usage: number) =>
    device.createBuffer({ label: `${name}/${label}`, size, usage });
  const arena = buffer('arena', sizes.arenaBytes, BUFFER_STORAGE | BUFFER_COPY_DST | BUFFER_COPY_SRC);
  const weightBuf = buffer('weights', sizes.weightBytes, BUFFER_STORAGE | BUFFER_COPY_DST);
  const uniforms = buffer('params', sizes.uniformBytes, BUFFER_UNIFORM | BUFFER_COPY_DST);
  const readback = buffer('readback', sizes.readbackBytes, BUFFER_MAP_READ | BUFFER_COPY_DST);
  if (weights.length > 0) device.queue.writeBuffer(weightBuf, 0, weights as Float32Array<ArrayBuffer>);
  const layout = device.createBindGroupLayout({
    label: `${name}/layout`,
    entries: [
      { binding: 0, visibility: SHADER_STAGE_COMPUTE, buffer: { type: 'storage' } },
      { binding: 1, visibility: SHADER_STAGE_COMPUTE, buffer: { type: 'read-only-storage' } },
      {
        binding: 2,
        visibility: SHADER_STAGE_COMPUTE,
        buffer: { type: 'uniform', minBindingSize: PARAMS_BYTES },
      },
    ],
  });
  const [validation, oom] = await Promise.all([device.popErrorScope(), device.popErrorScope()]);
  const destroy = () => {
    for (const b of [arena, weightBuf, uniforms, readback]) b.destroy();
  };
  if (oom) {
    destroy();
    const total = sizes.arenaBytes + sizes.weightBytes + sizes.uniformBytes + sizes.readbackBytes;
    throw new RuntimeError(
      'out-of-memory',
      `allocating ${total} bytes for "${name}" on ${adapterInfo} failed: ${oom.message}`,
    );
  }
  if (validation) {
    destroy();
    throw new RuntimeError('gpu-error', `creating the buffers of "${name}" failed: ${validation.message}`);
  }
  const pipelineLayout = device.createPipelineLayout({ label: `${name}/layout`, bindGroupLayouts: [layout] });
  return { arena, weights: weightBuf, uniforms, readback, layout, pipelineLayout, destroy };
}

export interface ShaderSource {
  readonly name: string;
  readonly code: string;
  /** How an error names the kernel, e.g. `kernel gemm_… (key …, first used by step "…")`. */
  readonly where: string;
}

/** One compute pipeline per shader, in order; a WGSL error becomes RuntimeError('bad-kernel') with line:col. */
export async function compilePipelines(
  device: GPUDevice,
  layout: GPUPipelineLayout,
  shaders: readonly ShaderSource[],
): Promise<GPUComputePipeline[]> {
  // Push, create and pop synchronously per shader so the error scopes nest; await them together.
  const pending = shaders.map((shader) => {
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ label: shader.name, code: shader.code });
    // No entryPoint: a kernel module has exactly one compute entry point, whatever its name.
    const pipeline = device
      .createComputePipelineAsync({ label: shader.name, layout, compute: { module } })
      .then(
        (p) => ({ ok: true as const, p }),
        (e: unknown) => ({ ok: false as const, e }),
      );
    return { shader, module, pipeline, scope: device.popErrorScope() };
  });
  const pipelines: GPUComputePipeline[] = [];
  for (const { shader, module, pipeline, scope } of pending) {
    const [result, scopeError] = await Promise.all([pipeline, scope]);
    if (scopeError || !result.ok) {
      const info = await module.getCompilationInfo().catch(() => undefined);
      const errors = (info?.messages ?? [])
        .filter((m) => m.type === 'error')
        .map((m) => `${m.lineNum}:${m.linePos}: ${m.message}`);
      const cause = scopeError ?? (result.ok ? undefined : result.e);
      const detail = errors.length > 0 ? errors.join('; ') : message(cause);
      const what = errors.length > 0 ? 'failed to compile' : 'cannot be made into a pipeline';
      throw new RuntimeError('bad-kernel', `${shader.where} ${what}: ${detail}`, { cause });
    }
    pipelines.push(result.p);
  }
  return pipelines;
}

/** One bind group per step: the arena, the weights and the step's slice of the uniform buffer. */
export async function createStepBindGroups(
  device: GPUDevice,
  name: string,
  buffers: DeviceBuffers,
  labels: readonly string[],
): Promise<GPUBindGroup[]> {
  device.pushErrorScope('validation');
  const groups = labels.map((label, i) =>
    device.createBindGroup({
      label,
      layout: buffers.layout,
      entries: [
        { binding: 0, resource: { buffer: buffers.arena } },
        { binding: 1, resource: { buffer: buffers.weights } },
        { binding: 2, resource: { buffer: buffers.uniforms, offset: i * PARAMS_BYTES, size: PARAMS_BYTES } },
      ],
    }),
  );
  const error = await device.popErrorScope();
  if (error)
    throw new RuntimeError('gpu-error', `creating the bind groups of "${name}" failed: ${error.message}`);
  return groups;
}
