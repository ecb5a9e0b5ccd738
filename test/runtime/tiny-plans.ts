/**
 * Hand-written plans with hand-written WGSL for the runtime tests (Node and Chromium): plain data,
 * no imports, so the browser test can pass them to the page as JSON.
 */
import type { Kernel, Plan, Step } from '../../runtime/src/plan.js';

const PRELUDE = `
struct Params { batch: u32, total: u32, _a: u32, _b: u32, off: array<vec4<u32>, 15> }
@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
fn off(i: u32) -> u32 { return params.off[i / 4u][i % 4u]; }
`;

function kernel(name: string, workgroupSize: number, body: string, consts = ''): Kernel {
  const wgsl = `${PRELUDE}${consts}
@compute @workgroup_size(${workgroupSize})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * ${workgroupSize}u;
  if (i >= params.total) { return; }
${body}
}
`;
  return { name, key: `${name}#${wgsl.length}`, wgsl, workgroupSize };
}

/** Per-image size of the add/scale plan's tensors. */
export const N = 5;
export const MAX_BATCH = 4;

export interface TinyCase {
  readonly plan: Plan;
  readonly weights: Float32Array;
  /** The outputs a CPU computes for these inputs and batch. */
  readonly expected: (inputs: readonly Float32Array[], batch: number) => Float32Array[];
}

/**
 * y = x + w (per-channel weights), z = y * s (a scalar weight), u = z + w (the add kernel again,
 * with other offsets). Outputs z and u. Three steps, two kernels.
 * Arena: x at 0, y at N*MAX_BATCH, z at 2*N*MAX_BATCH, u at 3*N*MAX_BATCH. Weights: w at 0, s at N.
 */
export function addScalePlan(): TinyCase {
  const add = kernel(
    'add_weights',
    64,
    '  arena[off(1u) + i] = arena[off(0u) + i] + weights[off(2u) + i % N];',
    `const N = ${N}u;`,
  );
  const scale = kernel('scale', 32, '  arena[off(1u) + i] = arena[off(0u) + i] * weights[off(2u)];');
  const slot = N * MAX_BATCH;
  const steps: Step[] = [
    {
      kernel: add.key,
      label: 'main/y = x + w',
      offsets: [0, slot, 0],
      invocationsPerBatch: N,
      bytesPerBatch: 12 * N,
    },
    {
      kernel: scale.key,
      label: 'main/z = y * s',
      offsets: [slot, 2 * slot, N],
      invocationsPerBatch: N,
      bytesPerBatch: 8 * N,
    },
    {
      kernel: add.key,
      label: 'main/u = z + w',
      offsets: [2 * slot, 3 * slot, 0],
      invocationsPerBatch: N,
      bytesPerBatch: 12 * N,
    },
  ];
  const plan: Plan = {
    version: 1,
    name: 'add-scale',
    maxBatch: MAX_BATCH,
    arenaFloats: 4 * slot,
    weightFloats: N + 1,
    inputs: [{ name: 'x', shape: ['batch', N], offset: 0, perBatch: N }],
    outputs: [
      { name: 'z', shape: ['batch', N], offset: 2 * slot, perBatch: N },
      { name: 'u', shape: ['batch', N], offset: 3 * slot, perBatch: N },
    ],
    kernels: [add, scale],
    steps,
    memory: {
      plannedBytes: 16 * slot,
      lowerBoundBytes: 8 * slot,
      noReuseBytes: 16 * slot,
      weightBytes: 4 * (N + 1),
    },
  };
  const weights = Float32Array.of(1, 2, 3, 4, 5, 0.5);
  const expected = (inputs: readonly Float32Array[], batch: number) => {
    const x = inputs[0]!;
    const z = new Float32Array(N * batch);
    const u = new Float32Array(N * batch);
    for (let i = 0; i < N * batch; i++) {
      z[i] = Math.fround(Math.fround(x[i]! + weights[i % N]!) * 0.5);
      u[i] = Math.fround(z[i]! + weights[i % N]!);
    }
    return [z, u];
  };
  return { plan, weights, expected };
}

/** The input for `addScalePlan` at a batch: x[i] = i / 4 - 1 (exact in f32). */
export function addScaleInput(batch: number): Float32Array {
  return Float32Array.from({ length: N * batch }, (_, i) => i / 4 - 1);
}

/**
 * One step writing arena[i] = i for `count` invocations with workgroup size 1, so the dispatch
 * needs more workgroups than one dimension allows (65535) and must be split into x and y.
 */
export function iotaPlan(count: number): TinyCase {
  const iota = kernel('iota', 1, '  arena[off(0u) + i] = f32(i);');
  const plan: Plan = {
    version: 1,
    name: 'iota',
    maxBatch: 1,
    arenaFloats: count,
    weightFloats: 0,
    inputs: [],
    outputs: [{ name: 'y', shape: ['batch', count], offset: 0, perBatch: count }],
    kernels: [iota],
    steps: [
      { kernel: iota.key, label: 'iota', offsets: [0], invocationsPerBatch: count, bytesPerBatch: 4 * count },
    ],
    memory: { plannedBytes: 4 * count, lowerBoundBytes: 4 * count, noReuseBytes: 4 * count, weightBytes: 0 },
  };
  return {
    plan,
    weights: new Float32Array(0),
    expected: () => [Float32Array.from({ length: count }, (_, i) => i)],
  };
}
