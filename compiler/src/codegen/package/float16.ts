import { float16ToFloat32 } from '../../../../runtime/src/package/float16.js';
import { fail, note } from '../../diagnostics/diagnostic.js';
import type { Module } from '../../ir/types.js';

/**
 * `polyc compile --weights-dtype f16`: the packed weights (float32, in the kernels' layouts, folds
 * applied) rounded element by element to IEEE binary16, round to nearest, ties to even, with
 * gradual underflow (subnormals down to 2^-24; below half of that, zero), except the small tensors
 * (`FLOAT16_MIN_ELEMENTS`), which stay float32 in place. The tensors keep their offsets in
 * elements once widened, so every layout the kernels read is unchanged.
 *
 * A finite value beyond binary16's range (|x| >= 65520, which rounds to infinity) is refused
 * (E1003, naming the tensor) rather than clamped: a clamped weight changes the model silently,
 * and such a value (a folded BatchNorm scale of a near-zero variance, say) needs float32 anyway.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bit pattern nearest to `x` (ties to even); NaN stays NaN, overflow gives infinity. */
export function float16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exponent = (b >>> 23) & 0xff;
  const fraction = b & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (fraction === 0 ? 0 : 0x200);
  const e = exponent - 127 + 15; // binary16's biased exponent
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal in binary16 (or zero): the value in units of 2^-24, rounded.
    if (e < -10) return sign; // below 2^-25: rounds to zero
    const full = fraction | 0x800000;
    const shift = 14 - e;
    const m = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    // m + 1 may be 0x400, the smallest normal: its encoding is exactly that.
    return sign | (rest > halfway || (rest === halfway && m & 1) ? m + 1 : m);
  }
  const bits = sign | (e << 10) | (fraction >>> 13);
  const rest = fraction & 0x1fff;
  // A carry out of the fraction increments the exponent, up to infinity: the right encoding too.
  return rest > 0x1000 || (rest === 0x1000 && bits & 1) ? bits + 1 : bits;
}

/**
 * Tensors of fewer elements than this stay float32 in a float16 weights.bin. They are few bytes
 * (a few percent of a PolyNeXt's weights) but matter most: norm gains, biases, per-channel scales
 * and the small filters of the early layers each multiply a whole feature map, so their rounding
 * error reaches every logit (measured: docs/package.md, "Float16 weights").
 */
export const FLOAT16_MIN_ELEMENTS = 4096;

/** A packed tensor: its module value id and where it lies, in floats. */
export interface PackedTensor {
  readonly id: number;
  readonly offset: number;
  readonly size: number;
}

/** Where a tensor lies in a float16 weights.bin, and in which element type. */
export interface EncodedTensor extends PackedTensor {
  readonly dtype: 'float16' | 'float32';
  readonly byteOffset: number;
}

export interface Float16Weights {
  /** weights.bin: little-endian binary16, the small tensors' ranges little-endian float32. */
  readonly bytes: Uint8Array;
  /** The same values widened back to float32 (by the runtime's decoder): what the package computes with. */
  readonly values: Float32Array;
  /** Every tensor with its dtype and byte offset, in file order. */
  readonly tensors: readonly EncodedTensor[];
  /** The element ranges stored as float32 (adjacent tensors merged): the runtime's `WEIGHTS.float32`. */
  readonly float32Runs: readonly (readonly [number, number])[];
  /** Tensors kept float32, and their bytes in the file. */
  readonly float32Tensors: number;
  readonly float32Bytes: number;
  /** Nonzero weights that became subnormal (fewer significant bits) or zero. */
  readonly subnormal: number;
  readonly flushed: number;
}

/**
 * `packed` as binary16, tensors of fewer than `minElements` elements as float32 in place; throws
 * E1003 naming the first float16 tensor with a value beyond binary16's range. Each tensor's range
 * runs to the next one's offset (the plan pads tensors to multiples of 4 elements), so every range
 * starts at a multiple of 8 bytes in either dtype.
 */
export function encodeFloat16(
  packed: Float32Array,
  tensors: readonly PackedTensor[],
  m: Module,
  minElements = FLOAT16_MIN_ELEMENTS,
): Float16Weights {
  const order = [...tensors].sort((a, b) => a.offset - b.offset);
  const wide = (t: PackedTensor) => t.size < minElements;
  const rangeEnd = (k: number) => order[k + 1]?.offset ?? packed.length;
  let float32Elements = 0;
  order.forEach((t, k) => {
    if (wide(t)) float32Elements += rangeEnd(k) - t.offset;
  });
  const bytes = new Uint8Array(packed.length * 2 + float32Elements * 2);
  const view = new DataView(bytes.buffer);
  const encoded: EncodedTensor[] = [];
  const runs: [number, number][] = [];
  let subnormal = 0;
  let flushed = 0;
  let at = 0;
  order.forEach((t, k) => {
    const end = rangeEnd(k);
    if (wide(t)) {
      encoded.push({ ...t, dtype: 'float32', byteOffset: at });
      const last = runs[runs.length - 1];
      if (last && last[1] === t.offset) last[1] = end;
      else runs.push([t.offset, end]);
      for (let i = t.offset; i < end; i++, at += 4) view.setFloat32(at, packed[i]!, true);
      return;
    }
    encoded.push({ ...t, dtype: 'float16', byteOffset: at });
    for (let i = t.offset; i < end; i++, at += 2) {
      const x = packed[i]!;
      const h = float16Bits(x);
      if ((h & 0x7fff) === 0x7c00 && Number.isFinite(x)) overflow(t, i - t.offset, x, m);
      if ((h & 0x7c00) === 0 && x !== 0) {
        if ((h & 0x3ff) === 0) flushed++;
        else subnormal++;
      }
      bytes[at] = h & 0xff;
      bytes[at + 1] = h >>> 8;
    }
  });
  return {
    bytes,
    values: float16ToFloat32(bytes, runs),
    tensors: encoded,
    float32Runs: runs,
    float32Tensors: encoded.filter((t) => t.dtype === 'float32').length,
    float32Bytes: float32Elements * 4,
    subnormal,
    flushed,
  };
}

function overflow(t: PackedTensor, index: number, x: number, m: Module): never {
  const op = m.ops.find((o) => o.id === t.id);
  const what =
    op?.op === 'param'
      ? `checkpoint tensor '${op.attrs.key}'`
      : `load-time constant %${t.id} (${op ? `${op.op} in ${op.scope || 'the model'}` : 'unknown'}, folded from the checkpoint)`;
  fail(
    'E1003',
    `the ${what} has a value ${x} at element ${index}, beyond float16's range (|x| <= 65504): --weights-dtype f16 cannot store it`,
    op?.loc ?? undefined,
    [note('compile with --weights-dtype f32 (the default), or rescale that tensor in the checkpoint')],
  );
}
