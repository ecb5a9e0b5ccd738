/**
 * The contract between polyc's WGSL codegen and this runtime: a compiled model as plain data
 * (JSON-serialisable). The runtime knows nothing else about models.
 *
 * Memory: every activation lives in one `arena` storage buffer (read_write), every weight and
 * load-time constant in one `weights` storage buffer (read-only); offsets are in f32 elements and
 * were planned for `maxBatch`. So every kernel has exactly three bindings, far below the 8 storage
 * buffers per stage browsers guarantee:
 *   @group(0) @binding(0) var<storage, read_write> arena: array<f32>;
 *   @group(0) @binding(1) var<storage, read> weights: array<f32>;
 *   @group(0) @binding(2) var<uniform> params: Params;   // struct Params { batch: u32, total: u32,
 *                                                         //   _a: u32, _b: u32, off: array<vec4<u32>, 15> }
 * A kernel may declare either storage array `array<vec4<f32>>` instead (polyc's GEMMs, for vector
 * loads); polyc keeps `arenaFloats` and `weightFloats` multiples of 4 for them.
 * `params.off[i / 4][i % 4]` is the step's i-th offset (`Step.offsets[i]`); `params.total` is the
 * number of invocations that do work (`Step.invocationsPerBatch * batch`). A kernel computes its
 * invocation index as `gid.x + gid.y * nwg.x * workgroupSize` and returns when it is >= total.
 */

export const PLAN_VERSION = 1;

/** Bytes of uniform data each step gets (the size of `Params`, and the binding offset stride). */
export const PARAMS_BYTES = 256;
/** Offsets a step may pass: (PARAMS_BYTES - 16) / 4. */
export const MAX_OFFSETS = 60;

/** What a plan and the engine's `GpuProgram` both say about a model's buffers. */
export interface ProgramSizes {
  readonly name: string;
  /** The largest batch the arena was planned for; `run` accepts 1..maxBatch. */
  readonly maxBatch: number;
  /** Size of the activation arena in f32 elements (at maxBatch). */
  readonly arenaFloats: number;
  /** Size of the packed weights buffer in f32 elements. */
  readonly weightFloats: number;
}

export interface Plan extends ProgramSizes {
  readonly version: typeof PLAN_VERSION;
  readonly inputs: readonly PlanTensor[];
  readonly outputs: readonly PlanTensor[];
  /** Distinct kernels; steps refer to them by `key`. */
  readonly kernels: readonly Kernel[];
  /** The dispatches of one inference, in order. */
  readonly steps: readonly Step[];
  readonly memory: MemoryReport;
}

/** A tensor in the arena: batch-major, `perBatch` floats per image, starting at `offset`. */
export interface PlanTensor {
  readonly name: string;
  /** Shape with 'batch' for the batch dimension (always axis 0). */
  readonly shape: readonly (number | 'batch')[];
  readonly offset: number;
  readonly perBatch: number;
}

export interface Kernel {
  /** Human-readable, e.g. `gemm_96x192_56x56`. */
  readonly name: string;
  /** Pipeline cache key: equal keys mean identical WGSL. */
  readonly key: string;
  readonly wgsl: string;
  readonly workgroupSize: number;
}

export interface Step {
  readonly kernel: string;
  /** Where it comes from (DSL scope and op), for errors and profiles. */
  readonly label: string;
  readonly offsets: readonly number[];
  /** Invocations that do work per image; the runtime multiplies by the batch. */
  readonly invocationsPerBatch: number;
  /** Bytes read and written per image (an estimate from tensor sizes), for stats. */
  readonly bytesPerBatch: number;
  /** Floating-point operations per image (the cost analysis of the op it computes), for profiles. */
  readonly flopsPerBatch?: number;
}

export interface MemoryReport {
  /** Arena bytes at maxBatch with liveness-based reuse. */
  readonly plannedBytes: number;
  /** The most bytes ever live at once: no plan can use less. */
  readonly lowerBoundBytes: number;
  /** Arena bytes if no activation shared memory with another. */
  readonly noReuseBytes: number;
  readonly weightBytes: number;
}
