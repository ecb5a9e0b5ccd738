import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { encodeFloat16, float16Bits } from '../../compiler/src/codegen/package/float16.js';
import { DiagnosticError } from '../../compiler/src/diagnostics/diagnostic.js';
import type { Module } from '../../compiler/src/ir/types.js';
import { float16ToFloat32, float16Value } from '../../runtime/src/package/float16.js';

/**
 * `--weights-dtype f16`: the compiler's float32 -> binary16 rounding against an oracle that knows
 * nothing of bit tricks (the nearest of all finite binary16 values, ties to the even pattern,
 * infinity from 65520 on, as IEEE 754 rounds), and the runtime's widening.
 */

/** Every finite non-negative binary16 value with its pattern, ascending (0x0000 .. 0x7bff). */
const FINITE = Array.from({ length: 0x7c00 }, (_, h) => ({ h, v: float16Value(h) }));

/** The oracle: nearest finite binary16 to |x| (ties to the even pattern); 65520 and above overflow. */
function oracle(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = FINITE.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (FINITE[mid]!.v <= a) lo = mid;
    else hi = mid;
  }
  const below = FINITE[lo]!;
  const above = FINITE[hi]!;
  const dBelow = a - below.v;
  const dAbove = above.v - a;
  const pick = dBelow < dAbove ? below : dAbove < dBelow ? above : below.h % 2 === 0 ? below : above;
  return sign | pick.h;
}

describe('float16 weights', () => {
  it('every binary16 value round-trips: widened to float32 and rounded back, the same pattern', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const back = float16Bits(float16Value(h));
      const nan = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (nan ? (back & 0x7e00) !== 0x7e00 : back !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });

  it('edges: ties to even, subnormals, the smallest values, overflow', () => {
    const cases: [number, number][] = [
      [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1 + 2^-10: to even (1)
      [1 + 3 * 2 ** -11, 0x3c02], // halfway between 1 + 2^-10 and 1 + 2^-9: to even
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00],
      [-70000, 0xfc00],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -14 - 2 ** -25, 0x0400], // halfway below it: rounds up to even (0x400)
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // half of it: tie, to even (zero)
      [2 ** -25 * 1.0000001, 0x0001],
      [3 * 2 ** -25, 0x0002], // 1.5 units: tie, to even (2)
      [2 ** -26, 0x0000],
      [-0, 0x8000],
      [Number.POSITIVE_INFINITY, 0x7c00],
    ];
    for (const [x, h] of cases) expect([x, float16Bits(x)]).toEqual([x, h]);
    expect(float16Bits(Number.NaN) & 0x7e00).toBe(0x7e00);
  });

  test.prop([fc.float({ noNaN: true, noDefaultInfinity: true })], { numRuns: 3000 })(
    'any float32 rounds to the nearest binary16, ties to even',
    (x) => {
      expect(float16Bits(x)).toBe(oracle(x));
    },
  );

  test.prop([fc.float({ min: -(2 ** -13), max: 2 ** -13, noNaN: true })], { numRuns: 2000 })(
    'float32 values in the subnormal range round to the nearest binary16',
    (x) => {
      expect(float16Bits(x)).toBe(oracle(x));
    },
  );

  it('the runtime widens little-endian binary16 bytes whatever their alignment', () => {
    const bytes = Uint8Array.of(0xff, 0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0xff, 0x7b);
    expect(Array.from(float16ToFloat32(bytes.subarray(1)))).toEqual([1, -2, 2 ** -24, 65504]);
  });

  const module = (key: string): Module => ({
    name: 'm',
    batch: 'B',
    ops: [
      {
        id: 7,
        op: 'param',
        operands: [],
        attrs: { key, role: 'param' },
        type: { dtype: 'f32', shape: [3] },
        loc: null,
        scope: '',
      },
    ],
    outputs: [7],
    ignoredKeys: [],
  });

  it('encodes packed tensors, counting subnormals and values flushed to zero', () => {
    const packed = Float32Array.of(1, 2 ** -20, 2 ** -30, 0, -3.5, 0, 0, 0);
    const f16 = encodeFloat16(packed, [{ id: 7, offset: 0, size: 5 }], module('w'), 0);
    expect(f16.bytes.length).toBe(16);
    expect(Array.from(f16.values)).toEqual([1, 2 ** -20, 0, 0, -3.5, 0, 0, 0]);
    expect([f16.subnormal, f16.flushed]).toEqual([1, 1]);
  });

  it('refuses a weight beyond float16 range with E1003 naming the tensor and the element', () => {
    const packed = Float32Array.of(1, -1e5, 3, 0);
    try {
      encodeFloat16(packed, [{ id: 7, offset: 0, size: 3 }], module('stem.0.weight'), 0);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DiagnosticError);
      const d = (e as DiagnosticError).diagnostics[0]!;
      expect(d.code).toBe('E1003');
      expect(d.message).toMatch(/checkpoint tensor 'stem\.0\.weight' has a value -100000 at element 1/);
    }
  });

  it('keeps tensors under the threshold float32 in place, merging adjacent ones into runs', () => {
    // Tensors of 5 (padded to 8), 4, 8 and 3 (padded to 4) elements; threshold 6: the 5, 4 and 3 stay float32.
    const tensors = [
      { id: 1, offset: 0, size: 5 },
      { id: 2, offset: 8, size: 4 },
      { id: 3, offset: 12, size: 8 },
      { id: 4, offset: 20, size: 3 },
    ];
    const packed = Float32Array.from({ length: 24 }, (_, i) => (i % 8 === 7 ? 0 : 1 + i * 2 ** -13));
    packed[20] = 1e5; // beyond float16's range, but in a float32 tensor: kept exactly
    const f16 = encodeFloat16(packed, tensors, module('w'), 6);
    expect(f16.float32Runs).toEqual([
      [0, 12],
      [20, 24],
    ]);
    expect(f16.tensors.map((t) => [t.id, t.dtype, t.byteOffset])).toEqual([
      [1, 'float32', 0],
      [2, 'float32', 32],
      [3, 'float16', 48],
      [4, 'float32', 64],
    ]);
    expect([f16.float32Tensors, f16.float32Bytes, f16.bytes.length]).toEqual([3, 64, 80]);
    const rounded = Array.from(packed, (x, i) => (i >= 12 && i < 20 ? float16Value(float16Bits(x)) : x));
    expect(Array.from(f16.values)).toEqual(rounded);
    expect(rounded.slice(12, 20)).not.toEqual(Array.from(packed.slice(12, 20)));
    // The runtime decodes the same file from any byte alignment.
    const shifted = new Uint8Array(f16.bytes.length + 3);
    shifted.set(f16.bytes, 3);
    expect(Array.from(float16ToFloat32(shifted.subarray(3), f16.float32Runs))).toEqual(rounded);
  });
});
