import { defaultThreads } from '../../../runtime/src/package/threads.js';
import { instantiateKernels, type WasmKernels } from '../../../runtime/src/package/wasm.js';

/**
 * A package's CPU backend inside the compiler: the generated cpu.js (codegen/ts/cpu-source.ts,
 * its WebAssembly SIMD kernels and loops) imported as it is, with no file written, and started on
 * packed weights, as the package's `Model.create({ backend: 'cpu' })` starts it. `polyc eval
 * --backend cpu` and the float16 error `polyc compile` measures run on it.
 */

/** What a generated cpu.js exports. */
interface CpuModule {
  readonly KERNELS: string | null;
  createCpu(weights: Float32Array, kernels: WasmKernels | null): CpuEngine;
}

export interface CpuEngine {
  readonly adapterInfo: string;
  run(input: Float32Array, batch: number): Float32Array;
  destroy(): void;
}

/** Starts engines of one generated cpu.js on any weights packed for it. */
export type CpuEngineFactory = (packed: Float32Array) => Promise<CpuEngine>;

/** Loads generated cpu.js `source` (JavaScript); each engine gets its own kernels' memory. */
export async function loadCpuEngines(source: string): Promise<CpuEngineFactory> {
  // The generated module imports nothing, so it loads from a data: URL.
  const url = `data:text/javascript;base64,${Buffer.from(source).toString('base64')}`;
  const cpu = (await import(/* @vite-ignore */ url)) as CpuModule;
  const threads = await defaultThreads();
  return async (packed) => {
    const kernels = cpu.KERNELS === null ? null : await instantiateKernels(cpu.KERNELS, threads);
    return cpu.createCpu(packed, kernels);
  };
}
