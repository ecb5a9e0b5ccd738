/**
 * IEEE 754 binary16 ("half", float16) weights: a package compiled with `--weights-dtype f16` ships
 * weights.bin as little-endian binary16, apart from its small tensors (norm gains, biases,
 * per-channel scales), which stay little-endian float32 where the compiler says so, and the
 * runtime widens it all to float32 on load, for both backends (every binary16 value is exact in
 * float32, so the widening itself loses nothing).
 */

let table: Float32Array | undefined;

/** The value of every binary16 bit pattern (65536 floats, 256 KiB), built on first use. */
function halfTable(): Float32Array {
  if (table) return table;
  table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) table[h] = float16Value(h);
  return table;
}

/** The value of one binary16 bit pattern: sign, 5-bit exponent (bias 15), 10-bit fraction. */
export function float16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 31) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Element ranges [start, end) of the weights stored as float32, ascending and disjoint. */
export type Float32Runs = readonly (readonly [number, number])[];

/**
 * weights.bin bytes widened to a Float32Array on a fresh buffer: little-endian binary16, except
 * the element ranges `float32Runs`, stored as little-endian float32 in place (so the file is
 * 2 bytes per element plus 2 more per float32 element). Reads bytes, so neither the host's byte
 * order nor the bytes' alignment matters.
 */
export function float16ToFloat32(bytes: Uint8Array, float32Runs: Float32Runs = []): Float32Array {
  const values = halfTable();
  const wide = float32Runs.reduce((n, [start, end]) => n + end - start, 0);
  const out = new Float32Array((bytes.byteLength >> 1) - wide);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let j = 0;
  let i = 0;
  for (const [start, end] of [...float32Runs, [out.length, out.length] as const]) {
    for (; i < start; i++, j += 2) out[i] = values[bytes[j]! | (bytes[j + 1]! << 8)]!;
    for (; i < end; i++, j += 4) out[i] = view.getFloat32(j, true);
  }
  return out;
}
