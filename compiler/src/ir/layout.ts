import type { TensorType } from './types.js';

/**
 * Index math for strided views of flat row-major data, shared by the interpreter, checkpoint import
 * (PyTorch's strided storages) and the CPU code generator.
 */

/** Row-major (C order) strides of a contiguous tensor, in elements. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    stride[d] = s;
    s *= shape[d]!;
  }
  return stride;
}

/**
 * Strides that read a contiguous tensor of `shape` broadcast (NumPy rules) to `out`, one per axis of
 * `out`: 0 on the axes it is broadcast along.
 */
export function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const own = contiguousStrides(shape);
  const lead = out.length - shape.length;
  return out.map((_, i) => (i < lead || shape[i - lead] === 1 ? 0 : own[i - lead]!));
}

/**
 * Walks the index space of `shape` in C order like an odometer, keeping the position of each strided
 * view (`strides[k]`, starting at `offsets[k]`) in step: `visit(i, pos)` sees the i-th element and
 * `pos[k]`, its position in view k. `pos` is reused between calls.
 */
export function walkStrided(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  offsets: readonly number[],
  visit: (i: number, pos: readonly number[]) => void,
): void {
  const rank = shape.length;
  const views = strides.length;
  let n = 1;
  for (const d of shape) n *= d;
  const idx = new Array<number>(rank).fill(0);
  const pos = [...offsets];
  for (let i = 0; i < n; i++) {
    visit(i, pos);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      for (let k = 0; k < views; k++) pos[k]! += strides[k]![d]!;
      if (idx[d]! < shape[d]!) break;
      for (let k = 0; k < views; k++) pos[k]! -= strides[k]![d]! * shape[d]!;
      idx[d] = 0;
    }
  }
}

/**
 * A row-major walk over `shape` as an inner loop and the outer dimensions around it, for operands
 * stepping through memory with the given strides per dimension (0 where broadcast or reduced).
 * Dimensions of size 1 are dropped and neighbours every operand steps through alike are merged, so
 * the inner loop is as long as possible: elementwise ops on weights (a per-channel scale times a
 * convolution kernel) then run as a few long loops instead of paying an index carry per element.
 */
export function loopNest(
  shape: readonly number[],
  operandStrides: readonly (readonly number[])[],
): { dims: number[]; strides: number[][]; length: number; inner: number[] } {
  const dims: number[] = [];
  const strides: number[][] = operandStrides.map(() => []);
  shape.forEach((size, d) => {
    if (size === 1) return;
    const k = dims.length - 1;
    if (k >= 0 && operandStrides.every((s, o) => strides[o]![k] === s[d]! * size)) {
      dims[k]! *= size;
      operandStrides.forEach((s, o) => {
        strides[o]![k] = s[d]!;
      });
      return;
    }
    dims.push(size);
    operandStrides.forEach((s, o) => {
      strides[o]!.push(s[d]!);
    });
  });
  const length = dims.pop() ?? 1;
  const inner = strides.map((s) => s.pop() ?? 0);
  return { dims, strides, length, inner };
}

/**
 * Floats one image of a value takes in memory (`shape` without the batch axis, `layout` the value's
 * memory layout): NC4HW4 pads the channels to a multiple of 4. Every arena planner sizes values
 * with this, so the padding is counted in its lower bound too.
 */
export function storageFloatsPerImage(type: TensorType): number {
  const dims = type.shape.slice(1).map((d) => (typeof d === 'number' ? d : 1));
  if (type.layout === 'nc4hw4') dims[0] = Math.ceil(dims[0]! / 4) * 4;
  return dims.reduce((a, b) => a * b, 1);
}
