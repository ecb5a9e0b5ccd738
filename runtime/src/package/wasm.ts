/**
 * The WebAssembly SIMD kernels of a package's CPU backend: feature detection and instantiation of
 * the module polyc generated (codegen/wasm/kernels.ts), embedded in cpu.js as base64.
 */

/** A module with one function returning an f32x4 splat: valid only where 128-bit SIMD is supported. */
const SIMD_PROBE = Uint8Array.of(
  0,
  97,
  115,
  109,
  1,
  0,
  0,
  0,
  1,
  5,
  1,
  96,
  0,
  1,
  123,
  3,
  2,
  1,
  0,
  10,
  10,
  1,
  8,
  0,
  65,
  0,
  253,
  15,
  253,
  98,
  11,
);

/** Whether this JavaScript engine runs WebAssembly with 128-bit SIMD. */
export function wasmSimdSupported(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
}

export interface WasmKernels {
  /** The arena (from byte 0) and the packed weights live in this memory. */
  readonly memory: WebAssembly.Memory;
  /** Kernel `k<i>(y, x0, x1, ...)`, byte pointers into `memory`. */
  readonly kernels: Readonly<Record<string, (...pointers: number[]) => void>>;
}

/** Compiles and instantiates the kernels, or null where WebAssembly SIMD is unavailable. */
export async function instantiateKernels(base64: string): Promise<WasmKernels | null> {
  if (!wasmSimdSupported()) return null;
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const { instance } = await WebAssembly.instantiate(bytes);
  const { memory, ...kernels } = instance.exports as Record<string, unknown>;
  return {
    memory: memory as WebAssembly.Memory,
    kernels: kernels as Record<string, (...pointers: number[]) => void>,
  };
}
