import { fail, note } from '../diagnostics/diagnostic.js';
import { matchCheckpoint, openCheckpoint } from '../import/checkpoint.js';
import { interpret, type Tensor } from '../ir/interpret.js';
import { formatShape } from '../ir/shapes.js';
import type { Module } from '../ir/types.js';
import { calibrateRunningStats } from './calibrate.js';
import { isNpy, readF32, readNpy } from './npy.js';
import { randomInput, randomWeights } from './random-weights.js';

export { topk } from '../../../runtime/src/tensor.js';

/** The checkpoint tensors a module needs, in op order. */
export function expectedParams(m: Module): { key: string; shape: number[]; role: 'param' | 'buffer' }[] {
  return m.ops.flatMap((o) =>
    o.op === 'param' ? [{ key: o.attrs.key, shape: o.type.shape as number[], role: o.attrs.role }] : [],
  );
}

/**
 * Reads a `.pt`/`.pth`/`.safetensors` file and pairs it with the module's parameters by key; keys and
 * shapes are checked before any tensor is read, and only the module's tensors are read.
 */
export function loadWeights(m: Module, bytes: Uint8Array, fileName: string): Map<string, Float32Array> {
  return matchCheckpoint(expectedParams(m), m.ignoredKeys, openCheckpoint(bytes, fileName)).weights;
}

/**
 * Reads an input tensor (`.npy`, or raw float32 with `shape`) and checks it against the model's
 * input type; the batch dimension may be any positive size.
 */
export function loadInput(
  m: Module,
  bytes: Uint8Array,
  fileName: string,
  shape: readonly number[] | null,
): Tensor {
  let t: Tensor;
  if (isNpy(bytes)) {
    t = readNpy(bytes, fileName);
    if (shape && shape.join(',') !== t.shape.join(',')) {
      fail(
        'E0703',
        `--input-shape ${formatShape(shape)} disagrees with the shape ${formatShape(t.shape)} of ${fileName}`,
      );
    }
  } else {
    if (!shape) fail('E0701', `${fileName} is raw float32: give its shape with --input-shape N,C,H,W`);
    const data = readF32(bytes, fileName);
    const count = shape.reduce((a, b) => a * b, 1);
    if (data.length !== count) {
      fail(
        'E0703',
        `${fileName} holds ${data.length} floats, but --input-shape ${formatShape(shape)} needs ${count}`,
      );
    }
    t = { shape, data };
  }
  const input = m.ops.find((o) => o.op === 'input')!;
  const want = input.type.shape;
  const fits =
    t.shape.length === want.length &&
    t.shape.every((d, i) => (typeof want[i] === 'string' ? d >= 1 : d === want[i]));
  if (!fits) {
    fail(
      'E0703',
      `the input ${fileName} has shape ${formatShape(t.shape)}, but model '${m.name}' takes ${formatShape(want)}`,
      undefined,
      [
        note(
          `${want.find((d) => typeof d === 'string') ?? 'no'} dimension is the batch; the others are fixed at compile time (see --set image_size=...)`,
        ),
      ],
    );
  }
  for (const v of t.data)
    if (!Number.isFinite(v)) fail('E0703', `${fileName} contains a non-finite value (${v})`);
  return t;
}

/**
 * The most elements one tensor of the interpreter may hold (4 GiB of float32): its tensors hold
 * the whole batch, so the batch of the input, not the model, decides whether one fits.
 */
export const MAX_INTERPRETED_ELEMENTS = 2 ** 30;

export function runModel(m: Module, input: Tensor, weights: ReadonlyMap<string, Float32Array>): Tensor[] {
  const batch = input.shape[0] ?? 1;
  const largest = m.ops.reduce(
    (best, op) => {
      const n = op.type.shape.reduce<number>((a, d) => a * (typeof d === 'number' ? d : batch), 1);
      return n > best.n ? { n, op } : best;
    },
    { n: 0, op: m.ops[0] },
  );
  if (largest.n > MAX_INTERPRETED_ELEMENTS) {
    fail(
      'E0703',
      `a batch of ${batch} needs a tensor of ${largest.n} elements (%${largest.op?.id}), more than the interpreter's ${MAX_INTERPRETED_ELEMENTS}: run fewer images at a time`,
    );
  }
  return interpret(m, [input], weights);
}

/**
 * Deterministic random weights for a module, with running statistics calibrated on a random batch
 * so that BatchNorm variants stay bounded (see calibrate.ts).
 */
export function syntheticWeights(m: Module, seed = 0): Map<string, Float32Array> {
  const weights = randomWeights(m, seed);
  const input = m.ops.find((o) => o.op === 'input')!;
  const shape = input.type.shape.map((d) => (typeof d === 'number' ? d : 2));
  calibrateRunningStats(m, weights, randomInput(shape, seed + 1));
  return weights;
}
