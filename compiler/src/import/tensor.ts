import { fail } from '../diagnostics/diagnostic.js';
import { walkStrided } from '../ir/layout.js';

/** Element types polyc can import. Everything is converted to float32 on the way in. */
export type Dtype = 'f32' | 'f16' | 'bf16' | 'f64' | 'i64' | 'i32';

/** One imported tensor: C-order float32 data, whatever its dtype was in the file. */
export interface Tensor {
  dtype: Dtype;
  shape: number[];
  data: Float32Array;
}

/** Parameter name -> tensor, in file order. */
export type StateDict = Map<string, Tensor>;

/** A tensor as a checkpoint's header or pickle describes it, before any of its data is read. */
export interface TensorInfo {
  /** null: a storage type polyc recognises but does not import (bool, uint8, ...); loading it is E0606. */
  readonly dtype: Dtype | null;
  readonly shape: readonly number[];
}

/**
 * An opened checkpoint: every tensor's description, from headers alone, and a way to read the data
 * of the tensors a model needs once their keys and shapes have been checked.
 */
export interface Checkpoint {
  /** Parameter name -> description, in file order. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /**
   * Reads the named tensors (known keys, each once), each into its own C-order Float32Array. Only the
   * bytes these tensors reach are read; throws DiagnosticError (E0601, E0606, E0608).
   */
  load(keys: readonly string[]): Map<string, Float32Array>;
}

/** Every tensor of a checkpoint, read. For small trusted files and tests; models use `load`. */
export function loadAll(ck: Checkpoint): StateDict {
  const data = ck.load([...ck.tensors.keys()]);
  const out: StateDict = new Map();
  // `load` has refused a tensor without a dtype (E0606), so every dtype here is known.
  for (const [key, t] of ck.tensors)
    out.set(key, { dtype: t.dtype!, shape: [...t.shape], data: data.get(key)! });
  return out;
}

/** Bytes per element of each dtype as stored in the file. */
export const DTYPE_SIZE: Readonly<Record<Dtype, number>> = {
  f32: 4,
  f16: 2,
  bf16: 2,
  f64: 8,
  i64: 8,
  i32: 4,
};

/**
 * A strided view may address more elements than its storage holds (stride 0, as `expand()` makes).
 * Unbounded, that would let a few bytes of pickle request gigabytes, so views larger than this must
 * fit within their storage.
 */
const MAX_EXPANSION = 1 << 20;

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** bfloat16 is the top half of a float32, so widening is a shift. */
function bf16ToFloat(h: number): number {
  u32Scratch[0] = h << 16;
  return f32Scratch[0]!;
}

/** IEEE half -> float (DataView.getFloat16 is not available on Node 20). */
function f16ToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

type ElementReader = (view: DataView, byteOffset: number, littleEndian: boolean) => number;

const READERS: Readonly<Record<Dtype, ElementReader>> = {
  f32: (v, o, le) => v.getFloat32(o, le),
  f16: (v, o, le) => f16ToFloat(v.getUint16(o, le)),
  bf16: (v, o, le) => bf16ToFloat(v.getUint16(o, le)),
  f64: (v, o, le) => v.getFloat64(o, le),
  // Integer tensors in state dicts are counters (BatchNorm's num_batches_tracked); precision is moot.
  i64: (v, o, le) => Number(v.getBigInt64(o, le)),
  i32: (v, o, le) => v.getInt32(o, le),
};

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export { contiguousStrides } from '../ir/layout.js';

/** A strided view of a raw storage, as PyTorch describes a tensor. Offsets and strides count elements. */
export interface StridedLayout {
  readonly offset: number;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
}

/**
 * How many elements of its storage a view reaches: one past its furthest element (0 for an empty
 * view). Readers compare this with the storage's size before reading, or inflating, anything.
 */
export function viewExtent(layout: StridedLayout): number {
  const { offset, shape, stride } = layout;
  if (numelOf(shape) === 0) return 0;
  let last = offset;
  for (let d = 0; d < shape.length; d++) last += (shape[d]! - 1) * stride[d]!;
  return last + 1;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isContiguous(layout: StridedLayout): boolean {
  const { shape, stride } = layout;
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}

/** E0608 unless the view stays within the `available` elements of its storage. */
export function checkExtent(layout: StridedLayout, available: number, dtype: Dtype, what: string): void {
  const extent = viewExtent(layout);
  if (extent > available) {
    fail(
      'E0608',
      `${what}: tensor needs ${extent} ${dtype} elements of storage but only ${available} are present; ` +
        'the file is truncated or corrupt',
    );
  }
}

/**
 * Copies a (possibly non-contiguous) strided view out of `storage` into a fresh C-order Float32Array.
 * `what` names the tensor in error messages. The bounds check happens up front, so a corrupt layout is
 * a diagnostic rather than a silent read of the wrong bytes or a DataView RangeError.
 */
export function gather(
  storage: Uint8Array,
  dtype: Dtype,
  littleEndian: boolean,
  layout: StridedLayout,
  what: string,
): Float32Array {
  const { offset, shape, stride } = layout;
  const n = numelOf(shape);
  const itemSize = DTYPE_SIZE[dtype];
  const available = Math.floor(storage.byteLength / itemSize);
  if (n > Math.max(available, MAX_EXPANSION)) {
    fail(
      'E0606',
      `${what}: a view of shape [${shape.join(', ')}] (${n} elements) over a storage of ${available} ` +
        'is not supported; save the tensor with .contiguous()',
    );
  }
  checkExtent(layout, available, dtype, what);
  const out = new Float32Array(n);
  if (n === 0) return out;
  if (dtype === 'f32' && littleEndian && LITTLE_ENDIAN_HOST && isContiguous(layout)) {
    // What torch.save and safetensors hold almost always: a byte copy.
    new Uint8Array(out.buffer).set(storage.subarray(offset * 4, (offset + n) * 4));
    return out;
  }
  const view = new DataView(storage.buffer, storage.byteOffset, storage.byteLength);
  const read = READERS[dtype];
  // C order, keeping the storage position in step, so transposed or expanded (stride 0) views come
  // out in the same order PyTorch would print them.
  walkStrided(shape, [stride], [offset], (i, pos) => {
    out[i] = read(view, pos[0]! * itemSize, littleEndian);
  });
  return out;
}
