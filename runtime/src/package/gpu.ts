import { GpuEngine, type GpuProgram } from '../engine.js';

/** A package's backend as its generated index.ts uses it: one input, one output. */
export interface Backend {
  readonly adapterInfo: string;
  run(input: Float32Array, batch: number): Promise<Float32Array>;
  destroy(): void;
}

/**
 * The WebGPU backend of a generated package: its program (generated webgpu.ts) on the runtime's
 * engine, on `device` (typed `unknown` so that the package's API needs no WebGPU types) or on a
 * device acquired with the limits the program needs; with `hardwareOnly`, not on a software adapter
 * (`RuntimeError('software-adapter')`: `backend: 'auto'` then runs the CPU backend).
 */
export async function createGpuBackend(
  program: GpuProgram,
  weights: Float32Array,
  device?: unknown,
  hardwareOnly = false,
): Promise<Backend> {
  const engine = await GpuEngine.create(
    program,
    weights,
    device === undefined ? { hardwareOnly } : { device: device as GPUDevice },
  );
  return {
    get adapterInfo() {
      return engine.adapterInfo;
    },
    run: async (input, batch) => (await engine.run([input], batch))[0]!,
    destroy: () => engine.destroy(),
  };
}
