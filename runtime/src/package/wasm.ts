import { startPool, threadsAllowed } from './threads.js';

/**
 * The WebAssembly SIMD kernels of a package's CPU backend: feature detection and instantiation of
 * the module polyc generated (codegen/wasm/kernels.ts), embedded in cpu.js as base64, on one
 * thread or on a pool of workers sharing its memory (threads.ts).
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

/**
 * `WebAssembly.Memory` where the program's types declare WebAssembly (lib.dom), else never: the
 * package's runtime.d.ts then typechecks in a Node program with Node's types only.
 */
type WasmMemory = typeof globalThis extends { WebAssembly: { Memory: { prototype: infer T } } } ? T : never;

export interface WasmKernels {
  /** The arena (from byte 0) and the packed weights live in this memory (shared with threads). */
  readonly memory: WasmMemory;
  /** Kernel `k<i>(y, x0, x1, ...)`, byte pointers into `memory`. */
  readonly kernels: Readonly<Record<string, (...pointers: number[]) => void>>;
  /** Runs a splittable kernel over output channels [0, channels), split over the threads. */
  readonly split: (index: number, channels: number, ...pointers: number[]) => void;
  /** Threads the kernels run on, the calling one included. */
  readonly threads: number;
  /** Stops the worker threads. */
  destroy(): void;
}

/**
 * Compiles and instantiates the kernels, or null where WebAssembly SIMD is unavailable. With
 * `threads` > 1, where shared memory and blocking waits are allowed (threads.ts), the memory is
 * shared and `threads - 1` workers run the same module on it; else one thread.
 */
export async function instantiateKernels(base64: string, threads = 1): Promise<WasmKernels | null> {
  if (!wasmSimdSupported()) return null;
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const pages = memoryImport(bytes).pages;
  if (threads > 1 && threadsAllowed()) {
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const module = await WebAssembly.compile(shareMemory(bytes));
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const pool = await startPool(module, memory, threads - 1);
    if (pool) {
      const kernels = instance.exports as Record<string, (...pointers: number[]) => void>;
      return {
        memory,
        kernels,
        split: (index, channels, ...pointers) => pool.run(kernels[`k${index}`]!, index, channels, pointers),
        threads,
        destroy: () => pool.destroy(),
      };
    }
  }
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const { instance } = await WebAssembly.instantiate(bytes, { env: { memory } });
  const kernels = instance.exports as Record<string, (...pointers: number[]) => void>;
  return {
    memory,
    kernels,
    split: (index, channels, ...pointers) => kernels[`k${index}`]!(...pointers, 0, channels),
    threads: 1,
    destroy: () => {},
  };
}

/** Reads an unsigned LEB128 at `at`: its value and the offset after it. */
function leb(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++]!;
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, at];
    shift += 7;
  }
}

/**
 * The memory import of a polyc kernel module (its only import, env.memory): its size in pages and
 * the offset of its limits flags byte (0x01: min and max; 0x03: shared, min and max).
 */
function memoryImport(bytes: Uint8Array): { readonly pages: number; readonly flags: number } {
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at]!;
    const [size, body] = leb(bytes, at + 1);
    if (id === 2) {
      // The import's module and field names, then its kind (2: memory) and limits.
      let p = leb(bytes, body)[1];
      for (let name = 0; name < 2; name++) {
        const [length, after] = leb(bytes, p);
        p = after + length;
      }
      if (bytes[p] !== 2) throw new Error('polyc kernels: an import other than the memory');
      const flags = p + 1;
      return { pages: leb(bytes, flags + 1)[0], flags };
    }
    at = body + size;
  }
  throw new Error('polyc kernels: no memory import');
}

/** The module with its memory import marked shared (the limits flag's bit 1), for threads. */
function shareMemory(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const copy = Uint8Array.from(bytes);
  const { flags } = memoryImport(copy);
  copy[flags] = copy[flags]! | 2;
  return copy;
}
